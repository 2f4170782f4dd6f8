package api

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/config"
	"github.com/youworker/youworker/toolbox"
)

type fakeCatalog []toolbox.Tool

func (f fakeCatalog) Tools(context.Context) ([]toolbox.Tool, error) { return f, nil }

// GET /v1/tools lists the built-in tools with what the operator's rules make of them: a tool in
// TOOLS_REQUIRE_APPROVAL and an outbound tool need approval, unless auto-approved.
func TestListToolsHandler(t *testing.T) {
	t.Parallel()
	e := newAPI(t, func(c *config.Config, _ *[]Check) {
		c.ApprovalTools = []string{"delete_notes"}
		c.AutoApprove = []string{"fetch_allowed"}
	})
	cl, _ := e.signup("tilda")
	e.srv.tools = fakeCatalog{
		{Name: "time_now", Server: "datetime"},
		{Name: "delete_notes", Server: "notes"},
		{Name: "fetch_page", Server: "web", Outbound: true, Untrusted: true},
		{Name: "fetch_allowed", Server: "web", Outbound: true},
	}
	r := cl.do("GET", "/v1/tools", nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	got := map[string]map[string]any{}
	for _, it := range r.JSON(t)["items"].([]any) {
		m := it.(map[string]any)
		got[m["name"].(string)] = m
	}
	require.Len(t, got, 4)
	for name, want := range map[string]bool{"time_now": false, "delete_notes": true, "fetch_page": true, "fetch_allowed": false} {
		require.Equal(t, want, got[name]["requires_approval"], name)
		require.Equal(t, true, got[name]["builtin"], name)
	}
	require.Equal(t, true, got["fetch_page"]["untrusted_output"])
	require.Equal(t, "web", got["fetch_page"]["server"])
}
