package ingest_test

import (
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/mcpservers"
	"github.com/youworker/youworker/mcpservers/ingest"
	"github.com/youworker/youworker/mcpservers/mcptest"
)

// Ingestions that start run end to end in e2e (TestKnowledgeSearchTool); here the arguments are
// checked, which happens before the store or Temporal is touched.
func TestBadArgumentsAreToolErrors(t *testing.T) {
	t.Parallel()
	secret := []byte("ingest-test-identity-secret")
	srv := httptest.NewServer(ingest.Handler(ingest.Deps{IdentityKeys: [][]byte{secret}, Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	c := mcptest.Dial(t, srv.URL+mcpservers.EndpointPath, ingest.Name, mcptest.AsUser(t, secret))

	for _, tt := range []struct {
		name string
		args map[string]any
		want string
	}{
		{"no url", map[string]any{}, `missing required argument "url"`},
		{"url not a string", map[string]any{"url": []any{"x"}}, `invalid argument "url": must be a string`},
		{"huge url", map[string]any{"url": "https://example.com/" + strings.Repeat("a", 2048)}, `invalid argument "url": longer than 2048`},
		{"huge title", map[string]any{"url": "https://example.com/", "title": strings.Repeat("t", 501)}, `invalid argument "title": longer than 500`},
		{"bad group", map[string]any{"url": "https://example.com/", "group_id": "book club"}, `invalid argument "group_id": "book club" is not a group id`},
	} {
		res := mcptest.Call(t, c, "ingest_url", tt.args)
		require.True(t, res.IsError, "%s: got a result: %s", tt.name, res.Text)
		require.True(t, strings.HasPrefix(res.Text, tt.want), "%s: %s", tt.name, res.Text)
	}
}
