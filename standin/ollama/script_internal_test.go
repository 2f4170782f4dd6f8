package ollama

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseToolDirectives(t *testing.T) {
	t.Parallel()

	type directive struct {
		kind directiveKind
		name string
		args string // canonical JSON
	}
	tests := []struct {
		name string
		text string
		want []directive
	}{
		{name: "none", text: "what time is it?"},
		{name: "call with arguments", text: `call time_now {"timezone":"UTC"}`, want: []directive{{directiveCall, "time_now", `{"timezone":"UTC"}`}}},
		{name: "call without arguments", text: "please call clock", want: []directive{{directiveCall, "clock", `{}`}}},
		{name: "force-call is not also a call", text: `force-call rm {"path":"/"}`, want: []directive{{directiveForceCall, "rm", `{"path":"/"}`}}},
		{name: "loop", text: "loop poll {}", want: []directive{{directiveLoop, "poll", `{}`}}},
		{name: "several in order", text: "call b then force-call a\nloop c", want: []directive{
			{directiveCall, "b", `{}`}, {directiveForceCall, "a", `{}`}, {directiveLoop, "c", `{}`},
		}},
		{name: "keyword inside a word", text: "recall x, callback y, loophole z, no-call w"},
		{name: "trailing punctuation dropped", text: "call clock. call mcp.search:", want: []directive{
			{directiveCall, "clock", `{}`}, {directiveCall, "mcp.search", `{}`},
		}},
		{name: "nested arguments keep their order", text: `call f {"b":{"y":1,"x":[1,2]},"a":"call g"}`, want: []directive{
			{directiveCall, "f", `{"a":"call g","b":{"x":[1,2],"y":1}}`},
		}},
		{name: "malformed arguments become empty", text: "call f {not json} call g", want: []directive{
			{directiveCall, "f", `{}`}, {directiveCall, "g", `{}`},
		}},
		{name: "arguments on the next line are not arguments", text: "call f\n{\"a\":1}", want: []directive{{directiveCall, "f", `{}`}}},
		{name: "unicode letter before the keyword", text: "écall f 東call g"},
		{name: "unicode punctuation before the keyword", text: "«call f»", want: []directive{{directiveCall, "f", `{}`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []directive
			for _, d := range parseToolDirectives(tt.text) {
				got = append(got, directive{d.kind, d.name, canonicalJSON(d.args)})
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParseToolDirectivesKeepsArgumentOrder(t *testing.T) {
	t.Parallel()
	got := parseToolDirectives(`call f {"z":1,"a":2}`)
	require.Len(t, got, 1)
	b, err := got[0].args.MarshalJSON()
	require.NoError(t, err)
	require.JSONEq(t, `{"z":1,"a":2}`, string(b))
	require.Equal(t, `{"z":1,"a":2}`, string(b))
}

func TestParseReplyDirectives(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		text       string
		wantReply  string
		wantOK     bool
		wantTokens int
		wantTokOK  bool
	}{
		{name: "none", text: "hello"},
		{name: "reply", text: `reply "Hi there."`, wantReply: "Hi there.", wantOK: true},
		{name: "first reply wins", text: `reply "one" reply "two"`, wantReply: "one", wantOK: true},
		{name: "unterminated reply is skipped", text: `reply "one`},
		{name: "reply inside a word", text: `noreply "x"`},
		{name: "reply-tokens", text: "reply-tokens 12", wantTokens: 12, wantTokOK: true},
		{name: "reply-tokens is capped", text: "reply-tokens 99999999999999999999", wantTokens: maxReplyTokens, wantTokOK: true},
		{name: "reply-tokens without a number", text: "reply-tokens many"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reply, ok := parseReplyDirective(tt.text)
			require.Equal(t, tt.wantOK, ok)
			require.Equal(t, tt.wantReply, reply)
			n, ok := parseTokensDirective(tt.text)
			require.Equal(t, tt.wantTokOK, ok)
			require.Equal(t, tt.wantTokens, n)
		})
	}
}

func TestSplitTokens(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		text string
		want []string
	}{
		{name: "empty", text: ""},
		{name: "one word", text: "hi", want: []string{"hi"}},
		{name: "punctuation stays attached", text: "Hello, world!", want: []string{"Hello, ", "world!"}},
		{name: "trailing space", text: "a b ", want: []string{"a ", "b "}},
		{name: "leading space joins the first token", text: "  a b", want: []string{"  a ", "b"}},
		{name: "newlines and tabs", text: "a\n\tb\u00a0c", want: []string{"a\n\t", "b\u00a0", "c"}},
		{name: "only spaces", text: "   ", want: []string{"   "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := splitTokens(tt.text)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.text, strings.Join(got, ""))
		})
	}
}

func TestFirstRunes(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		s    string
		n    int
		want string
	}{
		{name: "shorter", s: "abc", n: 5, want: "abc"},
		{name: "exact", s: "abc", n: 3, want: "abc"},
		{name: "cut", s: "abcdef", n: 2, want: "ab"},
		{name: "multibyte", s: "ééé", n: 2, want: "éé"},
		{name: "zero", s: "abc", n: 0, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, firstRunes(tt.s, tt.n))
		})
	}
}
