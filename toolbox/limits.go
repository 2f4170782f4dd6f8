package toolbox

import (
	"fmt"
	"unicode/utf8"
)

// Limits bound what a registered (third-party) MCP server may put in front of the model: its
// tools are copied into every model call of a turn, so an unbounded list would cost every turn
// and could crowd out the conversation. Zero fields mean no limit.
type Limits struct {
	MaxTools       int // tools per server
	MaxDescription int // characters of one tool's description
	MaxSchemaBytes int // bytes of one tool's argument schema (JSON)
}

// LimitError says how a server's tools exceed the Limits.
type LimitError struct {
	Tool   string // "" when the server offers too many tools
	What   string // "tools", "description" or "schema"
	Actual int
	Limit  int
}

func (e *LimitError) Error() string {
	switch e.What {
	case "tools":
		return fmt.Sprintf("the server offers %d tools; the limit is %d", e.Actual, e.Limit)
	case "description":
		return fmt.Sprintf("tool %s has a description of %d characters; the limit is %d", e.Tool, e.Actual, e.Limit)
	default:
		return fmt.Sprintf("tool %s has an argument schema of %d bytes; the limit is %d", e.Tool, e.Actual, e.Limit)
	}
}

// Fit checks one tool against the size limits.
func (l Limits) Fit(t Tool) *LimitError {
	if n := utf8.RuneCountInString(t.Description); l.MaxDescription > 0 && n > l.MaxDescription {
		return &LimitError{Tool: t.Name, What: "description", Actual: n, Limit: l.MaxDescription}
	}
	if n := len(t.InputSchema); l.MaxSchemaBytes > 0 && n > l.MaxSchemaBytes {
		return &LimitError{Tool: t.Name, What: "schema", Actual: n, Limit: l.MaxSchemaBytes}
	}
	return nil
}

// Check checks a whole tool list: the first way it exceeds the limits, nil when it fits.
func (l Limits) Check(tools []Tool) *LimitError {
	if l.MaxTools > 0 && len(tools) > l.MaxTools {
		return &LimitError{What: "tools", Actual: len(tools), Limit: l.MaxTools}
	}
	for _, t := range tools {
		if err := l.Fit(t); err != nil {
			return err
		}
	}
	return nil
}
