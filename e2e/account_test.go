package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/encryption"
	"github.com/youworker/youworker/store"
)

// TestKeyRotation re-encrypts everything at rest with a new key through the RotateKeys workflow,
// after which the old key can be dropped.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil)
	worker, api := p.startWorker(), p.startAPI()
	u := p.signup("rhea")
	sid := u.newSession([]string{"time_now"})
	_, events := u.send(sid, `remember the turquoise pelican and call time_now {"timezone": "UTC"}`)
	collect(t, must(u.stream(context.Background(), events, 0)), 30*time.Second)
	_, last := u.ingested(u.do("POST", "/v1/ingest", map[string]any{"text": "Rotation notes about a turquoise pelican."}), 60*time.Second)
	require.Equal(t, "run.completed", last.Type)

	oldKey := p.env["FERNET_KEYS"]
	newKey, err := encryption.GenerateKey()
	require.NoError(t, err)
	worker.kill()
	api.kill()
	p.env["FERNET_KEYS"] = newKey + "," + oldKey
	p.startWorker()
	p.startAPI()

	cmd := exec.Command(binary, "keys", "rotate", "--batch", "3")
	for k, v := range p.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "done:")

	// Every sealed value now opens with the new key alone.
	onlyNew, err := encryption.New([]string{newKey})
	require.NoError(t, err)
	db := openDB(t, p)
	checked := 0
	for _, table := range store.SealedTables {
		for _, col := range table.Columns {
			rows, err := db.Query(`SELECT ` + col + ` FROM ` + table.Name + ` WHERE ` + col + ` IS NOT NULL`)
			require.NoError(t, err)
			for rows.Next() {
				var ct []byte
				require.NoError(t, rows.Scan(&ct))
				_, err := onlyNew.Decrypt(ct)
				require.NoError(t, err, "%s.%s", table.Name, col)
				checked++
			}
			require.NoError(t, rows.Close())
		}
	}
	require.Greater(t, checked, 10)

	// Drop the old key: everything still reads.
	p.env["FERNET_KEYS"] = newKey
	p.startAPI()
	s := u.do("GET", "/v1/sessions/"+sid, nil)
	require.Equal(t, http.StatusOK, s.status, "%s", s.body)
	require.Contains(t, string(s.body), "turquoise pelican")
	replay := collect(t, must(u.stream(context.Background(), events, 0)), 10*time.Second)
	require.Equal(t, "turn.completed", replay[len(replay)-1].Type)
}

// TestAccountExportAndDeletion exports everything a user owns (decrypted), then deletes the
// account: their sessions, documents and vectors go; group content owned by others stays; a group
// they administered alone gets a new admin. Neither is possible with an API key, whatever its
// scopes; both take a login that proved its user lately (here: reauthenticated).
func TestAccountExportAndDeletion(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil).start()
	leaver := p.signup("leaver")
	stayer := p.signup("stayer")
	minted := leaver.do("POST", "/v1/account/api-keys", map[string]any{"name": "all", "scopes": []string{"chat", "documents", "read", "admin"}})
	require.Equal(t, http.StatusCreated, minted.status, "%s", minted.body)
	key := map[string]string{"X-API-Key": minted.json(t)["key"].(string)}
	g := leaver.do("POST", "/v1/groups", map[string]any{"name": "book club"}).json(t)["id"].(string)
	require.Equal(t, http.StatusCreated, leaver.do("POST", "/v1/groups/"+g+"/members", map[string]any{"username": "stayer", "role": "member"}).status)

	sid := leaver.newSession([]string{})
	_, events := leaver.send(sid, "my vermilion secret")
	collect(t, must(leaver.stream(context.Background(), events, 0)), 30*time.Second)
	doc, _ := leaver.ingested(leaver.do("POST", "/v1/ingest", map[string]any{"text": "Leaver's vermilion diary."}), 60*time.Second)
	shared, _ := stayer.ingested(stayer.do("POST", "/v1/ingest", map[string]any{"text": "Stayer's shared vermilion list.", "group_id": g}), 60*time.Second)

	for _, method := range []string{"GET", "DELETE"} {
		path := map[string]string{"GET": "/v1/account/export", "DELETE": "/v1/account"}[method]
		r := p.request(method, path, "", nil, key)
		require.Equal(t, http.StatusForbidden, r.status, "%s %s with an API key: %s", method, path, r.body)
		require.Equal(t, "API_KEY_NOT_ALLOWED", r.json(t)["error"].(map[string]any)["code"])
	}
	leaver.reauthenticate()
	exp := leaver.do("GET", "/v1/account/export", nil)
	require.Equal(t, http.StatusOK, exp.status)
	require.Contains(t, exp.header.Get("Content-Disposition"), "attachment")
	var export map[string]any
	require.NoError(t, json.Unmarshal(exp.body, &export))
	require.Equal(t, "leaver", export["user"].(map[string]any)["username"])
	require.Contains(t, string(exp.body), "my vermilion secret", "messages are decrypted")
	require.Contains(t, string(exp.body), "vermilion diary", "document text is included")
	require.NotContains(t, string(exp.body), "Stayer's shared", "only what the user owns")
	require.False(t, bytes.Contains(exp.body, []byte("secret_hash")))

	db := openDB(t, p)
	var blobs []any
	rows, err := db.Query(`SELECT unnest(ARRAY[blob_id, extracted_blob_id]) FROM documents WHERE id = $1`, doc)
	require.NoError(t, err)
	for rows.Next() {
		var b *string
		require.NoError(t, rows.Scan(&b))
		if b != nil {
			blobs = append(blobs, *b)
		}
	}
	require.NoError(t, rows.Close())
	require.NotEmpty(t, blobs, "the document's bytes are stored")

	require.Equal(t, http.StatusNoContent, leaver.do("DELETE", "/v1/account", nil).status)
	require.Equal(t, http.StatusUnauthorized, leaver.do("GET", "/v1/auth/me", nil).status)
	var n int
	for _, b := range blobs {
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM document_blobs WHERE id = $1`, b).Scan(&n))
		require.Zero(t, n, "the document's bytes are deleted")
	}
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM chat_sessions WHERE id = $1`, sid).Scan(&n))
	require.Zero(t, n)
	require.Zero(t, countVectors(t, p, doc))
	require.Positive(t, countVectors(t, p, shared), "group content owned by others stays")
	grp := stayer.do("GET", "/v1/groups/"+g, nil)
	require.Equal(t, http.StatusOK, grp.status)
	require.Equal(t, "admin", grp.json(t)["role"], "the remaining member became admin")
	hits := stayer.search("vermilion")
	require.Len(t, hits, 1)
	require.Equal(t, shared, hits[0]["document_id"])
	require.Equal(t, http.StatusUnauthorized, p.request("POST", "/v1/auth/login", "",
		map[string]any{"username": "leaver", "password": "correct horse battery staple"}, nil).status)
}

// reauthenticate confirms the user's password, making their login fresh for the sensitive
// routes, and takes the re-issued access token.
func (u *user) reauthenticate() {
	u.p.t.Helper()
	r := u.do("POST", "/v1/auth/reauthenticate", map[string]any{"password": "correct horse battery staple"})
	require.Equal(u.p.t, http.StatusOK, r.status, "%s", r.body)
	u.token = r.json(u.p.t)["access_token"].(string)
}
