package account

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// A failure midway ends the document as valid JSON with an error member, whatever was open.
func TestJSONStreamAbortStaysValid(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	j := &jsonStream{w: w}
	j.open('{')
	j.member("user", map[string]any{"name": "x"})
	j.openMember("sessions", '[')
	j.openObjectWith(map[string]any{"id": 1})
	j.openMember("messages", '[')
	j.element("first")
	j.err = errors.New("database gone")
	j.abort(map[string]any{"code": "EXPORT_INCOMPLETE"})
	require.NoError(t, w.Flush())
	var doc map[string]any
	require.NoError(t, json.Unmarshal(b.Bytes(), &doc), "%s", b.String())
	require.Equal(t, "EXPORT_INCOMPLETE", doc["error"].(map[string]any)["code"])
	require.Equal(t, []any{"first"}, doc["sessions"].([]any)[0].(map[string]any)["messages"])

	b.Reset()
	w = bufio.NewWriter(&b)
	j = &jsonStream{w: w}
	j.abort(map[string]any{"code": "EXPORT_INCOMPLETE"}) // nothing written yet
	require.NoError(t, w.Flush())
	require.JSONEq(t, `{"error":{"code":"EXPORT_INCOMPLETE"}}`, b.String())
}
