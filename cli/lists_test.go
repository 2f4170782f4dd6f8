package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestListOutputs(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	api.lists["GET /v1/sessions"] = `{"items":[{"id":"s1","title":"Quarterly   report\nplanning","model":"llama3.1:8b","last_turn_at":"2026-12-01T10:00:00Z","created_at":"2026-12-01T09:00:00Z","updated_at":"2026-12-01T10:00:00Z"}],"next_cursor":null}`
	api.lists["GET /v1/ingestion-runs"] = `{"items":[{"id":"r1","document_id":"d1","status":"failed","stage":"extract","chunks_done":0,"chunks_total":0,"attempts":1,"error":{"code":"BAD_DOCUMENT","message":"not a PDF"},"created_at":"2026-12-01T09:00:00Z"},{"id":"r2","document_id":"d2","status":"completed","stage":"finalize","chunks_done":12,"chunks_total":12,"attempts":1,"created_at":"2026-12-01T09:00:00Z"}],"next_cursor":null}`
	api.lists["POST /v1/search"] = `{"items":[{"document_id":"d2","document_title":"Orchard report","chunk_index":3,"text":"Apricot trees bloom early.","score":0.91234,"page":2,"heading_path":[]}]}`

	cases := []struct {
		args  []string
		table []string // lines of the table, columns split on runs of spaces
		json  func(t *testing.T, v any)
	}{
		{args: []string{"sessions"}, table: []string{"ID TITLE LAST TURN MODEL", "s1 Quarterly report planning"}, json: func(t *testing.T, v any) {
			require.Equal(t, "s1", v.([]any)[0].(map[string]any)["id"])
		}},
		{args: []string{"runs"}, table: []string{"ID STATUS STAGE CHUNKS DOCUMENT CREATED ERROR", "r1 failed extract - d1", "r2 completed finalize 12/12 d2"}, json: func(t *testing.T, v any) {
			require.Len(t, v, 2)
			require.Equal(t, map[string]any{"code": "BAD_DOCUMENT", "message": "not a PDF"}, v.([]any)[0].(map[string]any)["error"])
		}},
		{args: []string{"search", "apricot", "trees"}, table: []string{"SCORE DOCUMENT PAGE TEXT", "0.912 Orchard report 2 Apricot trees bloom early."}, json: func(t *testing.T, v any) {
			require.Equal(t, "Orchard report", v.([]any)[0].(map[string]any)["document_title"])
		}},
	}
	for _, tc := range cases {
		t.Run(tc.args[0], func(t *testing.T) {
			t.Parallel()
			r := api.run(t, runOpts{stdoutTTY: true}, tc.args...)
			require.Equal(t, 0, r.code, r.stderr)
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			require.Len(t, lines, len(tc.table), r.stdout)
			for i, want := range tc.table {
				require.True(t, strings.HasPrefix(strings.Join(strings.Fields(lines[i]), " "), want), "line %d: %q, want %q…", i, lines[i], want)
			}
			r = api.run(t, runOpts{stdoutTTY: true}, append(tc.args, "--json")...)
			require.Equal(t, 0, r.code, r.stderr)
			var v any
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &v), r.stdout)
			tc.json(t, v)
		})
	}

	r := api.run(t, runOpts{}, "search")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "no query")
	r = api.run(t, runOpts{}, "runs", "--limit", "0")
	require.Equal(t, 2, r.code)
	r = api.run(t, runOpts{}, "sessions", "extra")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, `unexpected argument "extra"`)
}

func TestCollectSources(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(rel string) {
		p := filepath.Join(dir, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("x"), 0o644))
	}
	write("docs/a.md")
	write("docs/sub/b.pdf")
	write("docs/.hidden.md")
	write("docs/.git/config")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "empty"), 0o755))

	got, err := collectSources([]string{filepath.Join(dir, "docs"), "https://example.com/page"})
	require.NoError(t, err)
	var names []string
	for _, s := range got {
		names = append(names, s.name)
	}
	require.Equal(t, []string{filepath.Join(dir, "docs/a.md"), filepath.Join(dir, "docs/sub/b.pdf"), "https://example.com/page"}, names)

	for _, tc := range []struct{ arg, want string }{
		{filepath.Join(dir, "missing.md"), "no such file or directory"},
		{filepath.Join(dir, "empty"), "has no files to ingest"},
		{"ftp://example.com/x", "only http:// and https:// URLs"},
		{"https://", "is not a valid URL"},
	} {
		_, err := collectSources([]string{tc.arg})
		require.ErrorContains(t, err, tc.want, tc.arg)
	}
}
