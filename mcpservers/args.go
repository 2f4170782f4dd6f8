package mcpservers

import (
	"fmt"
	"math"
	"strings"

	"github.com/google/uuid"
	"github.com/mark3labs/mcp-go/mcp"
)

// ArgError is a tool error naming the argument at fault.
func ArgError(name, format string, args ...any) error {
	return fmt.Errorf("invalid argument %q: %s", name, fmt.Sprintf(format, args...))
}

// StringArg returns the string argument name, trimmed; "" when it is absent, null or empty. A
// required argument must be present and non-blank; none may be longer than maxLen bytes.
func StringArg(req mcp.CallToolRequest, name string, required bool, maxLen int) (string, error) {
	v, ok := req.GetArguments()[name]
	if !ok || v == nil {
		if required {
			return "", fmt.Errorf("missing required argument %q", name)
		}
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", ArgError(name, "must be a string, got %T", v)
	}
	if len(s) > maxLen {
		return "", ArgError(name, "longer than %d characters", maxLen)
	}
	s = strings.TrimSpace(s)
	if s == "" && required {
		return "", fmt.Errorf("missing required argument %q", name)
	}
	return s, nil
}

// IntArg returns the integer argument name, def when it is absent or null; it must lie in
// [lo, hi].
func IntArg(req mcp.CallToolRequest, name string, def, lo, hi int) (int, error) {
	v, ok := req.GetArguments()[name]
	if !ok || v == nil {
		return def, nil
	}
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) {
		return 0, ArgError(name, "must be an integer")
	}
	if f < float64(lo) || f > float64(hi) {
		return 0, ArgError(name, "must be between %d and %d", lo, hi)
	}
	return int(f), nil
}

// UUIDArg returns the id argument name, nil when it is absent, null or blank; what names the kind
// of object in the error ("group").
func UUIDArg(req mcp.CallToolRequest, name, what string, required bool) (*uuid.UUID, error) {
	raw, err := StringArg(req, name, required, 64)
	if err != nil || raw == "" {
		return nil, err
	}
	id, err := uuid.Parse(raw)
	if err != nil {
		return nil, ArgError(name, "%q is not a %s id", raw, what)
	}
	return &id, nil
}

// UUIDsArg returns the optional list of ids name, at most maxItems of them; what names the kind of
// object in the error ("document").
func UUIDsArg(req mcp.CallToolRequest, name, what string, maxItems int) ([]uuid.UUID, error) {
	v, ok := req.GetArguments()[name]
	if !ok || v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, ArgError(name, "must be a list of %s ids, got %T", what, v)
	}
	if len(list) > maxItems {
		return nil, ArgError(name, "at most %d ids", maxItems)
	}
	out := make([]uuid.UUID, 0, len(list))
	for _, item := range list {
		raw, _ := item.(string)
		id, err := uuid.Parse(raw)
		if err != nil {
			return nil, ArgError(name, "%v is not a %s id", item, what)
		}
		out = append(out, id)
	}
	return out, nil
}
