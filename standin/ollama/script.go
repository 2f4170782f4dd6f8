package ollama

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ollama/ollama/api"
)

const (
	plainReplyWords  = 12
	toolQuoteRunes   = 200
	maxReplyTokens   = 1_000_000
	doneReasonStop   = "stop"
	doneReasonLength = "length"
)

type directiveKind int

const (
	directiveCall directiveKind = iota
	directiveForceCall
	directiveLoop
)

var directiveKinds = map[string]directiveKind{
	"call":       directiveCall,
	"force-call": directiveForceCall,
	"loop":       directiveLoop,
}

type toolDirective struct {
	kind directiveKind
	name string
	args api.ToolCallFunctionArguments
}

var (
	toolDirectiveRE   = regexp.MustCompile(`(force-call|call|loop)[ \t\r\n]+([\p{L}\p{N}_][\p{L}\p{N}_.:\-]*)`)
	replyDirectiveRE  = regexp.MustCompile(`reply[ \t\r\n]+"`)
	tokensDirectiveRE = regexp.MustCompile(`reply-tokens[ \t\r\n]+([0-9]+)`)
)

// startsWord reports whether a directive may start at byte offset i of text.
func startsWord(text string, i int) bool {
	if i == 0 {
		return true
	}
	r, _ := utf8.DecodeLastRuneInString(text[:i])
	return !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-')
}

// findDirective returns the submatch indexes (relative to text) of the first
// match of re at or after pos that starts a word, or nil.
func findDirective(re *regexp.Regexp, text string, pos int) []int {
	for pos < len(text) {
		loc := re.FindStringSubmatchIndex(text[pos:])
		if loc == nil {
			return nil
		}
		for i := range loc {
			if loc[i] >= 0 {
				loc[i] += pos
			}
		}
		if startsWord(text, loc[0]) {
			return loc
		}
		pos = loc[0] + 1 // directives start with an ASCII letter
	}
	return nil
}

// parseToolDirectives returns the call, force-call and loop directives of
// text in order. The JSON object after a directive is consumed, so a
// directive quoted inside another one's arguments is not a directive.
func parseToolDirectives(text string) []toolDirective {
	var out []toolDirective
	pos := 0
	for {
		loc := findDirective(toolDirectiveRE, text, pos)
		if loc == nil {
			return out
		}
		name := strings.TrimRight(text[loc[4]:loc[5]], ".:-")
		end := loc[4] + len(name)
		d := toolDirective{
			kind: directiveKinds[text[loc[2]:loc[3]]],
			name: name,
			args: api.NewToolCallFunctionArguments(),
		}
		rest := strings.TrimLeft(text[end:], " \t")
		if strings.HasPrefix(rest, "{") {
			dec := json.NewDecoder(strings.NewReader(rest))
			var raw json.RawMessage
			if err := dec.Decode(&raw); err == nil {
				var args api.ToolCallFunctionArguments
				if err := json.Unmarshal(raw, &args); err == nil {
					d.args = args
				}
				end = len(text) - len(rest) + int(dec.InputOffset())
			}
		}
		out = append(out, d)
		pos = end
	}
}

// parseReplyDirective returns the text of the first `reply "text"` directive.
func parseReplyDirective(text string) (string, bool) {
	for pos := 0; ; {
		loc := findDirective(replyDirectiveRE, text, pos)
		if loc == nil {
			return "", false
		}
		var reply string
		quote := loc[1] - 1
		if err := json.NewDecoder(strings.NewReader(text[quote:])).Decode(&reply); err == nil {
			return reply, true
		}
		pos = loc[1]
	}
}

// parseTokensDirective returns N of the first `reply-tokens N` directive.
func parseTokensDirective(text string) (int, bool) {
	loc := findDirective(tokensDirectiveRE, text, 0)
	if loc == nil {
		return 0, false
	}
	n, err := strconv.Atoi(text[loc[2]:loc[3]])
	if err != nil || n > maxReplyTokens {
		n = maxReplyTokens
	}
	return n, true
}

// chatPlan is what the scripted model answers.
type chatPlan struct {
	toolCalls []api.ToolCall
	tokens    []string
}

// planChat applies the script documented in the package comment to req.
func planChat(req *api.ChatRequest) chatPlan {
	user := -1
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == "user" {
			user = i
			break
		}
	}
	var u string
	if user >= 0 {
		u = req.Messages[user].Content
	}
	after := req.Messages[user+1:]

	var lastTool *api.Message
	for i := range after {
		if after[i].Role == "tool" {
			lastTool = &after[i]
		}
	}
	offered := func(name string) bool {
		for _, t := range req.Tools {
			if t.Function.Name == name {
				return true
			}
		}
		return false
	}

	// Rule 1: directives in U.
	var issue []toolDirective
	for _, d := range parseToolDirectives(u) {
		switch d.kind {
		case directiveCall:
			if lastTool == nil && offered(d.name) {
				issue = append(issue, d)
			}
		case directiveForceCall:
			if lastTool == nil {
				issue = append(issue, d)
			}
		case directiveLoop:
			if offered(d.name) {
				issue = append(issue, d)
			}
		}
	}

	// Rule 2: directives injected through the latest tool result.
	if len(issue) == 0 && lastTool != nil {
		done := make(map[string]bool)
		for _, m := range after {
			if m.Role != "assistant" {
				continue
			}
			for _, tc := range m.ToolCalls {
				done[callKey(tc.Function.Name, tc.Function.Arguments)] = true
			}
		}
		for _, d := range parseToolDirectives(lastTool.Content) {
			if d.kind == directiveLoop || done[callKey(d.name, d.args)] {
				continue
			}
			if d.kind == directiveForceCall || offered(d.name) {
				issue = append(issue, d)
			}
		}
	}

	if len(issue) > 0 {
		calls := make([]api.ToolCall, len(issue))
		for i, d := range issue {
			calls[i] = api.ToolCall{
				ID: toolCallID(len(req.Messages), i, d.name, d.args),
				Function: api.ToolCallFunction{
					Index:     i,
					Name:      d.name,
					Arguments: d.args,
				},
			}
		}
		return chatPlan{toolCalls: calls}
	}

	// Rule 3: text replies (held to the request's format, if any).
	if reply, ok := parseReplyDirective(u); ok {
		return chatPlan{tokens: splitTokens(formatted(req.Format, reply))}
	}
	if n, ok := parseTokensDirective(u); ok {
		tokens := make([]string, n)
		for i := range n {
			tokens[i] = "w" + strconv.Itoa(i+1)
			if i < n-1 {
				tokens[i] += " "
			}
		}
		if hasFormat(req.Format) {
			return chatPlan{tokens: splitTokens(formatted(req.Format, strings.Join(tokens, "")))}
		}
		return chatPlan{tokens: tokens}
	}
	var b strings.Builder
	b.WriteString("You said:")
	words := strings.Fields(u)
	if len(words) > 0 {
		b.WriteString(" ")
		b.WriteString(strings.Join(words[:min(len(words), plainReplyWords)], " "))
	}
	if user >= 0 {
		for i, img := range req.Messages[user].Images {
			fmt.Fprintf(&b, " Image %d: %s, %d bytes.", i+1, http.DetectContentType(img), len(img))
		}
	}
	for _, m := range after {
		if m.Role != "tool" {
			continue
		}
		name := m.ToolName
		if name == "" {
			name = "tool"
		}
		fmt.Fprintf(&b, " Tool %s returned: %s", name, firstRunes(m.Content, toolQuoteRunes))
	}
	return chatPlan{tokens: splitTokens(formatted(req.Format, b.String()))}
}

// hasFormat reports whether a request asks for a format ("json" or a JSON Schema).
func hasFormat(format json.RawMessage) bool {
	f := strings.TrimSpace(string(format))
	return f != "" && f != "null" && f != `""`
}

// formatted is a text reply held to the request's format, as a model constrained by it would
// answer: without one, the text; for "json", {"reply": text}; for a JSON Schema, an object with
// each of its top-level properties (strings the text, numbers 0, booleans false, arrays [],
// objects {}, anything else null), or {"reply": text} when it names none.
func formatted(format json.RawMessage, text string) string {
	if !hasFormat(format) {
		return text
	}
	var schema struct {
		Properties map[string]struct {
			Type any `json:"type"`
		} `json:"properties"`
	}
	out := map[string]any{}
	if json.Unmarshal(format, &schema) == nil && len(schema.Properties) > 0 {
		for name, p := range schema.Properties {
			t, _ := p.Type.(string)
			if ts, ok := p.Type.([]any); ok && len(ts) > 0 { // ["string", "null"]
				t, _ = ts[0].(string)
			}
			switch t {
			case "string":
				out[name] = text
			case "number", "integer":
				out[name] = 0
			case "boolean":
				out[name] = false
			case "array":
				out[name] = []any{}
			case "object":
				out[name] = map[string]any{}
			default:
				out[name] = nil
			}
		}
	} else {
		out["reply"] = text
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// callKey identifies a tool call by its name and canonical arguments.
func callKey(name string, args api.ToolCallFunctionArguments) string {
	return name + "\x00" + canonicalJSON(args)
}

// canonicalJSON re-encodes v with object keys sorted.
func canonicalJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return string(b)
	}
	out, err := json.Marshal(generic)
	if err != nil {
		return string(b)
	}
	return string(out)
}

// toolCallID is a deterministic stand-in for Ollama's random "call_xxxxxxxx".
func toolCallID(messages, index int, name string, args api.ToolCallFunctionArguments) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%d\x00%d\x00%s", messages, index, callKey(name, args))
	return fmt.Sprintf("call_%08x", h.Sum32())
}

// splitTokens splits s into tokens: a word with the whitespace after it.
// Leading whitespace belongs to the first token. The tokens concatenate to s.
func splitTokens(s string) []string {
	var tokens []string
	start, seenWord, inSpace := 0, false, false
	for i, r := range s {
		space := unicode.IsSpace(r)
		if !space && inSpace && seenWord {
			tokens = append(tokens, s[start:i])
			start, seenWord = i, false
		}
		inSpace = space
		if !space {
			seenWord = true
		}
	}
	if start < len(s) {
		tokens = append(tokens, s[start:])
	}
	return tokens
}

// firstRunes returns the first n runes of s.
func firstRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// promptWords counts the words of the request messages' contents.
func promptWords(msgs []api.Message) int {
	n := 0
	for _, m := range msgs {
		n += len(strings.Fields(m.Content))
	}
	return n
}
