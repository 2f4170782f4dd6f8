package toolbox

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"
)

// render turns a tool result into text for the model: text contents joined by newlines, other
// contents summarised ("[image/png, 1234 bytes]"), structured content as JSON when there is
// nothing else. The text is cut to max bytes, marker included.
func render(res *mcp.CallToolResult, max int) Result {
	var parts []string
	for _, content := range res.Content {
		parts = append(parts, contentText(content))
	}
	text := strings.Join(parts, "\n")
	if text == "" {
		text = structuredText(res)
	}
	out := Result{Text: text, IsError: res.IsError, Bytes: len(text)}
	if len(text) > max {
		out.Text, out.Truncated = truncate(text, max), true
	}
	return out
}

func contentText(content mcp.Content) string {
	switch c := content.(type) {
	case mcp.TextContent:
		return c.Text
	case mcp.ImageContent:
		return summary(c.MIMEType, c.Data)
	case mcp.AudioContent:
		return summary(c.MIMEType, c.Data)
	case mcp.ResourceLink:
		return fmt.Sprintf("[resource link %s: %s]", c.Name, c.URI)
	case mcp.EmbeddedResource:
		switch r := c.Resource.(type) {
		case mcp.TextResourceContents:
			return r.Text
		case mcp.BlobResourceContents:
			return summary(r.MIMEType, r.Blob)
		}
	}
	return fmt.Sprintf("[%T content]", content)
}

// summary describes base64 data without including it.
func summary(mime, data string) string {
	if mime == "" {
		mime = "application/octet-stream"
	}
	return fmt.Sprintf("[%s, %d bytes]", mime, base64.StdEncoding.DecodedLen(len(data))-padding(data))
}

func padding(data string) int {
	return len(data) - len(strings.TrimRight(data, "="))
}

func structuredText(res *mcp.CallToolResult) string {
	if len(res.RawStructuredContent) > 0 {
		var buf bytes.Buffer
		if json.Compact(&buf, res.RawStructuredContent) == nil {
			return buf.String()
		}
		return string(res.RawStructuredContent)
	}
	if res.StructuredContent != nil {
		if b, err := json.Marshal(res.StructuredContent); err == nil {
			return string(b)
		}
	}
	return ""
}

// truncate cuts text (longer than max) to at most max bytes on a rune boundary, ending with a
// marker that tells the model the result is incomplete.
func truncate(text string, max int) string {
	marker := func(kept int) string {
		return fmt.Sprintf("\n[truncated: showing %d of %d bytes]", kept, len(text))
	}
	keep := max - len(marker(len(text))) // kept <= len(text): the real marker is no longer
	withMarker := keep > 0
	if !withMarker {
		keep = max
	}
	for keep > 0 && !utf8.RuneStart(text[keep]) {
		keep--
	}
	if !withMarker {
		return text[:keep]
	}
	return text[:keep] + marker(keep)
}
