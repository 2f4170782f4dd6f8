package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/youworker/youworker/chat"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/toolbox"
)

// completionMessage is one message of a chat completion request. Content is a string, null, or
// an array of content parts (text; image_url on user messages).
type completionMessage struct {
	Role       string           `json:"role" binding:"required,oneof=system developer user assistant tool"`
	Content    json.RawMessage  `json:"content"`
	Name       string           `json:"name" binding:"max=64"` // accepted, not used (a participant's name)
	Refusal    string           `json:"refusal"`               // an assistant's refusal: its text when it has no content
	ToolCalls  []openAIToolCall `json:"tool_calls" binding:"max=128"`
	ToolCallID string           `json:"tool_call_id" binding:"max=200"`
}

// completionTool is a client-side function the request offers the model.
type completionTool struct {
	Type     string          `json:"type"`
	Custom   json.RawMessage `json:"custom"` // a custom tool: refused by its type
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
		Strict      *bool           `json:"strict"` // accepted: Ollama has no strict mode
	} `json:"function"`
}

// contentPart is one element of an array content.
type contentPart struct {
	Type     string          `json:"type"`
	Text     *string         `json:"text"`
	Refusal  *string         `json:"refusal"`
	ImageURL json.RawMessage `json:"image_url"`
}

// conversation is a completion request's messages sorted out: the system prompt, the history
// the session starts with and the turn's own message (none when the request ends with tool
// results: the turn then answers the history).
type conversation struct {
	System   []string
	History  []chat.Imported
	Last     chat.Imported
	Continue bool
	// firstImage names the first image's field, for the error when the model takes no images.
	firstImage string
}

// imageLimits bound the images of one request (IMAGE_MAX_BYTES, IMAGE_MAX_COUNT).
type imageLimits struct {
	MaxBytes, MaxCount int
}

// functionName is OpenAI's rule for function names.
var functionName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// parseConversation checks the request's messages and sorts them out. length checks a text's
// length (MAX_MESSAGE_CHARS), naming the field.
func parseConversation(msgs []completionMessage, lim imageLimits, length func(field, text string) error) (conversation, error) {
	var conv conversation
	var all []chat.Imported
	images := 0
	calls := map[string]string{} // tool call id → function name, of the assistant messages so far
	var pending []string         // ids of the last assistant message's calls without a result yet
	for i, m := range msgs {
		field := fmt.Sprintf("messages[%d]", i)
		if len(pending) > 0 && m.Role != models.RoleTool {
			return conv, models.Invalid(field, "%s must be a tool message answering tool_call_id %q: every tool call of an assistant message is followed by its result", field, pending[0])
		}
		text, imgs, err := parseContent(field, m, lim)
		if err != nil {
			return conv, err
		}
		if err := length(field+".content", text); err != nil {
			return conv, err
		}
		if len(imgs) > 0 {
			if conv.firstImage == "" {
				conv.firstImage = field + ".content"
			}
			if images += len(imgs); images > lim.MaxCount {
				return conv, models.Invalid(field+".content", "a request may carry at most %d images (IMAGE_MAX_COUNT)", lim.MaxCount)
			}
		}
		im := chat.Imported{Role: m.Role, Content: text, Images: imgs}
		switch m.Role {
		case models.RoleSystem, "developer":
			conv.System = append(conv.System, text)
			continue
		case models.RoleAssistant:
			if im.ToolCalls, err = parseToolCalls(field, m.ToolCalls); err != nil {
				return conv, err
			}
			for _, tc := range im.ToolCalls {
				calls[tc.ID] = tc.Name
				pending = append(pending, tc.ID)
			}
		case models.RoleTool:
			if m.ToolCallID == "" {
				return conv, models.Invalid(field+".tool_call_id", "%s.tool_call_id is required on a tool message", field)
			}
			j := slices.Index(pending, m.ToolCallID)
			if j < 0 {
				return conv, models.Invalid(field+".tool_call_id", "%s.tool_call_id %q answers no tool call of the assistant message before it", field, m.ToolCallID)
			}
			pending = slices.Delete(pending, j, j+1)
			im.ToolCallID, im.ToolName = m.ToolCallID, calls[m.ToolCallID]
		}
		if m.Role != models.RoleAssistant && len(m.ToolCalls) > 0 {
			return conv, models.Invalid(field+".tool_calls", "only assistant messages have tool_calls")
		}
		all = append(all, im)
	}
	last := len(msgs) - 1
	switch {
	case len(pending) > 0:
		return conv, models.Invalid("messages", "the tool calls of the last assistant message need their results (tool messages) before the model can answer")
	case len(all) == 0:
		return conv, models.Invalid("messages", "the messages must hold a user message")
	case msgs[last].Role == models.RoleTool:
		conv.History, conv.Continue = all, true
	case msgs[last].Role == models.RoleUser && (strings.TrimSpace(all[len(all)-1].Content) != "" || len(all[len(all)-1].Images) > 0):
		conv.History, conv.Last = all[:len(all)-1], all[len(all)-1]
	default:
		return conv, models.Invalid(fmt.Sprintf("messages[%d]", last), "the last message must be a user message with content, or the results of tool calls")
	}
	return conv, nil
}

// parseContent returns a message's text (text parts joined by a blank line) and images.
func parseContent(field string, m completionMessage, lim imageLimits) (string, [][]byte, error) {
	field += ".content"
	raw := bytes.TrimSpace(m.Content)
	if len(raw) == 0 || string(raw) == "null" {
		if m.Role == models.RoleAssistant {
			return m.Refusal, nil, nil
		}
		return "", nil, nil
	}
	var text string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return "", nil, models.Invalid(field, "%s must be a string or an array of content parts", field)
		}
		return text, nil, nil
	}
	var parts []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &parts) != nil {
		return "", nil, models.Invalid(field, "%s must be a string or an array of content parts", field)
	}
	var texts []string
	var images [][]byte
	for j, rawPart := range parts {
		pf := fmt.Sprintf("%s[%d]", field, j)
		var p contentPart
		if json.Unmarshal(rawPart, &struct {
			Type *string `json:"type"`
		}{&p.Type}) == nil && p.Type != "text" && p.Type != "image_url" && p.Type != "refusal" {
			return "", nil, models.Invalid(pf+".type", "content parts of type %q are not supported (text and image_url are)", p.Type)
		}
		dec := json.NewDecoder(bytes.NewReader(rawPart))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			why := "malformed"
			var me *models.Error
			if errors.As(decodeError(err), &me) {
				why = me.Message
			}
			return "", nil, models.Invalid(pf, "%s must be a content part: {\"type\": \"text\", \"text\": …} or {\"type\": \"image_url\", \"image_url\": {\"url\": …}} (%s)", pf, why)
		}
		switch {
		case p.Type == "text" && p.Text != nil:
			texts = append(texts, *p.Text)
		case p.Type == "refusal" && p.Refusal != nil && m.Role == models.RoleAssistant:
			texts = append(texts, *p.Refusal)
		case p.Type == "image_url" && m.Role == models.RoleUser:
			img, err := parseImage(pf+".image_url", p.ImageURL, lim)
			if err != nil {
				return "", nil, err
			}
			images = append(images, img)
		case p.Type == "text" || p.Type == "refusal":
			return "", nil, models.Invalid(pf, "%s of type %s needs its %s", pf, p.Type, p.Type)
		case p.Type == "image_url":
			return "", nil, models.Invalid(pf+".type", "only user messages may hold images")
		default:
			return "", nil, models.Invalid(pf+".type", "content parts of type %q are not supported (text and image_url are)", p.Type)
		}
	}
	return strings.Join(texts, "\n\n"), images, nil
}

// imageTypes are the data: URL media types Ollama takes (as its own OpenAI layer does).
var imageTypes = []string{"image/png", "image/jpeg", "image/jpg", "image/webp"}

// parseImage decodes an image_url part's image. Only data: URLs: the server never fetches an
// image from a URL the client names (no outbound request on a client's behalf, and the durable
// turn holds the very bytes the client sent).
func parseImage(field string, raw json.RawMessage, lim imageLimits) ([]byte, error) {
	var u struct {
		URL    string `json:"url"`
		Detail string `json:"detail"` // accepted, not used: Ollama has no such setting
	}
	if err := json.Unmarshal(raw, &u); err != nil {
		var s string // Ollama also takes the URL as a plain string
		if json.Unmarshal(raw, &s) != nil {
			return nil, models.Invalid(field, "%s must be an object with a url", field)
		}
		u.URL = s
	}
	field += ".url"
	if lim.MaxCount == 0 {
		return nil, models.Invalid(field, "this server takes no images (IMAGE_MAX_COUNT is 0)")
	}
	mediaType, data, ok := strings.Cut(strings.TrimPrefix(u.URL, "data:"), ";base64,")
	switch {
	case strings.HasPrefix(u.URL, "http://") || strings.HasPrefix(u.URL, "https://"):
		return nil, models.Invalid(field, "%s must be a data: URL (data:image/png;base64,…): the server does not fetch images", field)
	case !strings.HasPrefix(u.URL, "data:") || !ok:
		return nil, models.Invalid(field, "%s must be a base64 data: URL (data:image/png;base64,…)", field)
	case !slices.Contains(imageTypes, strings.ToLower(mediaType)):
		return nil, models.Invalid(field, "%s has media type %q; images must be PNG, JPEG or WebP", field, mediaType)
	}
	if base64.StdEncoding.DecodedLen(len(data)) > lim.MaxBytes+2 {
		return nil, models.Invalid(field, "%s holds an image over %d bytes (IMAGE_MAX_BYTES)", field, lim.MaxBytes)
	}
	img, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, models.Invalid(field, "%s is not valid base64", field)
	}
	if len(img) > lim.MaxBytes {
		return nil, models.Invalid(field, "%s holds an image of %d bytes; the limit is %d (IMAGE_MAX_BYTES)", field, len(img), lim.MaxBytes)
	}
	if len(img) == 0 {
		return nil, models.Invalid(field, "%s holds no image", field)
	}
	return img, nil
}

// parseToolCalls checks the tool calls of an assistant message the client sends back.
func parseToolCalls(field string, in []openAIToolCall) ([]models.ToolCall, error) {
	out := make([]models.ToolCall, 0, len(in))
	for j, tc := range in {
		f := fmt.Sprintf("%s.tool_calls[%d]", field, j)
		switch {
		case tc.ID == "":
			return nil, models.Invalid(f+".id", "%s.id is required", f)
		case tc.Type != "function":
			return nil, models.Invalid(f+".type", "%s.type must be \"function\"", f)
		case !functionName.MatchString(tc.Function.Name):
			return nil, models.Invalid(f+".function.name", "%s.function.name must be 1 to 64 letters, digits, '_' or '-'", f)
		case slices.ContainsFunc(out, func(c models.ToolCall) bool { return c.ID == tc.ID }):
			return nil, models.Invalid(f+".id", "%s.id %q is used twice", f, tc.ID)
		}
		args := map[string]any{}
		if a := strings.TrimSpace(tc.Function.Arguments); a != "" {
			if err := json.Unmarshal([]byte(a), &args); err != nil || args == nil {
				return nil, models.Invalid(f+".function.arguments", "%s.function.arguments must be a JSON object (as a string)", f)
			}
		}
		out = append(out, models.ToolCall{ID: tc.ID, ModelID: tc.ID, Name: tc.Function.Name, Arguments: args, Client: true})
	}
	return out, nil
}

// parseTools checks the request's client-side functions and tool_choice and returns the functions
// to offer the model: none for tool_choice "none". Ollama cannot be made to call a function, so
// "required" and a named function are refused. A function may not be named like one of the
// platform's tools (taken): a call's name must say who runs it.
func parseTools(in []completionTool, choice json.RawMessage, lim toolbox.Limits, taken func(string) bool) ([]models.ClientTool, error) {
	if lim.MaxTools > 0 && len(in) > lim.MaxTools {
		return nil, models.Invalid("tools", "at most %d tools (MCP_MAX_TOOLS_PER_SERVER)", lim.MaxTools)
	}
	out := make([]models.ClientTool, 0, len(in))
	for i, t := range in {
		f := fmt.Sprintf("tools[%d]", i)
		fn := t.Function
		switch {
		case t.Type != "function":
			return nil, models.Invalid(f+".type", "%s.type must be \"function\" (the only kind of tool Ollama takes)", f)
		case !functionName.MatchString(fn.Name):
			return nil, models.Invalid(f+".function.name", "%s.function.name must be 1 to 64 letters, digits, '_' or '-'", f)
		case slices.ContainsFunc(out, func(c models.ClientTool) bool { return c.Name == fn.Name }):
			return nil, models.Invalid(f+".function.name", "%s.function.name %q is used twice", f, fn.Name)
		case taken(fn.Name):
			return nil, models.Invalid(f+".function.name", "%s.function.name %q is the name of one of the platform's tools; rename the function", f, fn.Name)
		}
		params, err := schemaObject(f+".function.parameters", fn.Parameters)
		if err != nil {
			return nil, err
		}
		if err := fits(lim, f+".function.", "parameters", fn.Description, params); err != nil {
			return nil, err
		}
		out = append(out, models.ClientTool{Name: fn.Name, Description: fn.Description, Parameters: params})
	}
	raw := bytes.TrimSpace(choice)
	if len(raw) == 0 || string(raw) == "null" {
		return out, nil
	}
	var mode string
	if json.Unmarshal(raw, &mode) == nil {
		switch mode {
		case "auto":
			return out, nil
		case "none":
			return nil, nil
		case "required":
			return nil, models.Invalid("tool_choice", "tool_choice \"required\" is not supported: Ollama cannot be made to call a tool (use \"auto\" or \"none\")")
		}
		return nil, models.Invalid("tool_choice", "tool_choice must be \"auto\" or \"none\"")
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if json.Unmarshal(raw, &named) == nil && named.Type == "function" {
		return nil, models.Invalid("tool_choice", "tool_choice naming a function (%q) is not supported: Ollama cannot be made to call a particular function (use \"auto\" or \"none\")", named.Function.Name)
	}
	return nil, models.Invalid("tool_choice", "tool_choice must be \"auto\" or \"none\"")
}

// schemaObject is the JSON Schema a request sent in field: nil when absent or null, a 400 naming
// the field unless it is a JSON object.
func schemaObject(field string, raw json.RawMessage) (json.RawMessage, error) {
	schema := bytes.TrimSpace(raw)
	if len(schema) == 0 || string(schema) == "null" {
		return nil, nil
	}
	var obj map[string]any
	if json.Unmarshal(schema, &obj) != nil {
		return nil, models.Invalid(field, "%s must be a JSON Schema object", field)
	}
	return schema, nil
}

// fits holds a definition the request sent (a function, a response format) to the limits of a
// registered tool (MCP_MAX_TOOL_DESCRIPTION, MCP_MAX_TOOL_SCHEMA_BYTES), naming the field over
// them under prefix; schemaField is what its schema is called there.
func fits(lim toolbox.Limits, prefix, schemaField, description string, schema json.RawMessage) error {
	le := lim.Fit(toolbox.Tool{Description: description, InputSchema: schema})
	if le == nil {
		return nil
	}
	what := map[string]string{"description": "description", "schema": schemaField}[le.What]
	return models.Invalid(prefix+what, "%s%s is %d long; the limit is %d", prefix, what, le.Actual, le.Limit)
}

// responseFormat turns response_format into Ollama's format value: nil for text, "json" for
// json_object, the schema for json_schema (without one, "json"), held to the limits of a tool's
// schema. Ollama constrains every reply of the turn to the format, so a model held to it could
// not call a function: with tools it is refused.
func responseFormat(raw json.RawMessage, tools bool, lim toolbox.Limits) (json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var rf struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Schema      json.RawMessage `json:"schema"`
			Strict      *bool           `json:"strict"` // accepted: Ollama holds the output to the schema anyway
		} `json:"json_schema"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rf); err != nil {
		return nil, models.Invalid("response_format", `response_format must be {"type": "text"}, {"type": "json_object"} or {"type": "json_schema", "json_schema": {"name", "schema"}}`)
	}
	format := json.RawMessage(`"json"`)
	switch rf.Type {
	case "text":
		return nil, nil
	case "json_object":
	case "json_schema":
		js := rf.JSONSchema
		const f = "response_format.json_schema"
		if js == nil {
			return nil, models.Invalid(f, "%s is required with type json_schema", f)
		}
		if !functionName.MatchString(js.Name) {
			return nil, models.Invalid(f+".name", "%s.name must be 1 to 64 letters, digits, underscores or dashes", f)
		}
		schema, err := schemaObject(f+".schema", js.Schema)
		if err != nil {
			return nil, err
		}
		if err := fits(lim, f+".", "schema", js.Description, schema); err != nil {
			return nil, err
		}
		if schema != nil {
			format = schema
		}
	default:
		return nil, models.Invalid("response_format.type", "response_format.type must be text, json_object or json_schema")
	}
	if tools {
		return nil, models.Invalid("response_format", "response_format with tools is not supported: the model, held to the format, could not call a function")
	}
	return format, nil
}
