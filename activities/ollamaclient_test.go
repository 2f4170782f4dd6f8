package activities

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"

	ollama "github.com/ollama/ollama/api"
	"github.com/stretchr/testify/require"
)

// The Ollama client is the patched copy in third_party/ollama (see its README): a streamed call
// allocates as much line buffer as its longest line needs, not the 8 MB line limit up front, and
// lines up to that limit still arrive whole.
func TestOllamaClientBuffersByTheLineNotByTheLimit(t *testing.T) {
	const long = 1 << 20 // one streamed chunk of a MiB
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req ollama.ChatRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		tokens := strings.Fields(strings.Repeat("token ", 20))
		if req.Model == "long" {
			tokens = []string{strings.Repeat("x", long)}
		}
		for _, tok := range tokens {
			_ = enc.Encode(ollama.ChatResponse{Model: req.Model, Message: ollama.Message{Role: "assistant", Content: tok}})
		}
		_ = enc.Encode(ollama.ChatResponse{Model: req.Model, Done: true, DoneReason: "stop"})
	}))
	defer srv.Close()
	base, err := url.Parse(srv.URL)
	require.NoError(t, err)
	client := ollama.NewClient(base, srv.Client())
	chat := func(model string) string {
		var got strings.Builder
		err := client.Chat(context.Background(), &ollama.ChatRequest{Model: model, Messages: []ollama.Message{{Role: "user", Content: "hi"}}},
			func(r ollama.ChatResponse) error { got.WriteString(r.Message.Content); return nil })
		require.NoError(t, err)
		return got.String()
	}

	require.Len(t, chat("long"), long, "a line longer than the first buffer arrives whole")

	chat("short") // warm the connection
	const calls = 10
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range calls {
		require.Equal(t, strings.Repeat("token", 20), chat("short"))
	}
	runtime.ReadMemStats(&after)
	perCall := (after.TotalAlloc - before.TotalAlloc) / calls
	require.Less(t, perCall, uint64(512<<10), "bytes allocated per streamed call (client and test server together)")
}
