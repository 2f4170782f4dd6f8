package web

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

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
