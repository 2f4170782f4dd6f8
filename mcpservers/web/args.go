package web

import (
	"fmt"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/youworker/youworker/mcpservers"
)

func argError(name, format string, args ...any) error {
	return mcpservers.ArgError(name, format, args...)
}

func stringArg(req mcp.CallToolRequest, name string, required bool, maxLen int) (string, error) {
	return mcpservers.StringArg(req, name, required, maxLen)
}

// intArg returns the integer argument name, def when it is absent or null; it must lie in
// [lo, hi].
func intArg(req mcp.CallToolRequest, name string, def, lo, hi int) (int, error) {
	v, ok := req.GetArguments()[name]
	if !ok || v == nil {
		return def, nil
	}
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) {
		return 0, argError(name, "must be an integer")
	}
	if f < float64(lo) || f > float64(hi) {
		return 0, argError(name, "must be between %d and %d", lo, hi)
	}
	return int(f), nil
}

// cut returns s limited to limit characters (runes) and whether it was cut; a cut text ends with
// a note giving the total, so that the model knows it has not seen everything.
func cut(s string, limit int) (string, bool) {
	total := utf8.RuneCountInString(s)
	if total <= limit {
		return s, false
	}
	i := 0
	for range limit {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return strings.TrimRightFunc(s[:i], unicode.IsSpace) +
		fmt.Sprintf("\n\n[truncated: showing the first %d of %d characters]", limit, total), true
}

// oneLine collapses all white space runs in s to single spaces.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
