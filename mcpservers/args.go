package mcpservers

import (
	"fmt"
	"math"
	"strings"

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
