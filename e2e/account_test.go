package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/fernet/fernet-go"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/encryption"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/testenv"
	"github.com/youworker/youworker/workflows"
)

// TestKeyRotation re-encrypts everything at rest with a new key through the RotateKeys workflow,
// after which the old key can be dropped. The data starts as a deployment upgraded from before
// ciphertext was bound to its row has it: Fernet tokens. They read, and the rotation leaves every
// value bound to its row, on the new key.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil)
	worker, api := p.startWorker(), p.startAPI()
	u := p.signup("rhea")
	sid := u.newSession([]string{"time_now"})
	_, events := u.send(sid, `remember the turquoise pelican and call time_now {"timezone": "UTC"}`)
	collect(t, must(u.stream(context.Background(), events, 0)), 30*time.Second)
	doc, last := u.ingested(u.do("POST", "/v1/ingest", map[string]any{"text": "Rotation notes about a turquoise pelican."}), 60*time.Second)
	require.Equal(t, "run.completed", last.Type)

	oldKey := p.env["FERNET_KEYS"]
	db := openDB(t, p)
	st, err := store.Open(store.Options{URL: p.db.DSN, PoolSize: 1, Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	docID := uuid.MustParse(doc)
	require.Greater(t, makeLegacy(t, p, db, st, oldKey, docID), 10)
	s := u.do("GET", "/v1/sessions/"+sid, nil)
	require.Equal(t, http.StatusOK, s.status, "legacy rows read: %s", s.body)
	require.Contains(t, string(s.body), "turquoise pelican")

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
	recordHistory(t, p, workflows.RekeyWorkflowID, "rotate_keys")

	// Every sealed value is now bound to its row and opens with the new key alone, also where
	// unbound ciphertext is refused.
	onlyNew, err := encryption.New([]string{newKey}, encryption.LegacyReads(false))
	require.NoError(t, err)
	checked := 0
	forEachSealed(t, db, func(_ sealedAt, where encryption.Binding, ct []byte) {
		_, err := onlyNew.Decrypt(where, ct)
		require.NoError(t, err, "%s", where)
		checked++
	})
	require.Greater(t, checked, 10)
	_, err = onlyNew.Decrypt(store.ExtractedText(docID), extractedText(t, st, docID))
	require.NoError(t, err, "the extracted text")

	// Drop the old key, and refuse unbound ciphertext: everything still reads.
	p.env["FERNET_KEYS"], p.env["ENCRYPTION_LEGACY_READS"] = newKey, "false"
	p.startAPI()
	s = u.do("GET", "/v1/sessions/"+sid, nil)
	require.Equal(t, http.StatusOK, s.status, "%s", s.body)
	require.Contains(t, string(s.body), "turquoise pelican")
	replay := collect(t, must(u.stream(context.Background(), events, 0)), 10*time.Second)
	require.Equal(t, "turn.completed", replay[len(replay)-1].Type)

	// A Fernet token put back into a row, even under the current key, is refused now.
	fk, err := fernet.DecodeKey(newKey)
	require.NoError(t, err)
	tok, err := fernet.EncryptAndSign([]byte("planted"), fk)
	require.NoError(t, err)
	_, err = db.Exec(`UPDATE messages SET content = $1 WHERE session_id = $2 AND role = 'user'`, tok, sid)
	require.NoError(t, err)
	s = u.do("GET", "/v1/sessions/"+sid, nil)
	require.Equal(t, http.StatusInternalServerError, s.status, "%s", s.body)
	require.NotContains(t, string(s.body), "planted")
}

// sealedAt is where a sealed value is: table, column and the row's ctid.
type sealedAt struct{ table, column, ctid string }

// forEachSealed visits every sealed value in the database with its place and binding. Values are
// read a column at a time before they are visited, so visit may rewrite them.
func forEachSealed(t *testing.T, db *sql.DB, visit func(at sealedAt, where encryption.Binding, ct []byte)) {
	t.Helper()
	for _, table := range store.SealedTables {
		for _, col := range table.Columns {
			bind := make([]string, len(table.Bind))
			for i, b := range table.Bind {
				bind[i] = b + "::text"
			}
			rows, err := db.Query(`SELECT ctid::text, ` + strings.Join(bind, ", ") + `, ` + col + ` FROM ` + table.Name + ` WHERE ` + col + ` IS NOT NULL`)
			require.NoError(t, err)
			type value struct {
				ctid string
				key  []string
				ct   []byte
			}
			var vals []value
			for rows.Next() {
				v := value{key: make([]string, len(bind))}
				dest := []any{&v.ctid}
				for i := range v.key {
					dest = append(dest, &v.key[i])
				}
				require.NoError(t, rows.Scan(append(dest, &v.ct)...))
				vals = append(vals, v)
			}
			require.NoError(t, rows.Close())
			for _, v := range vals {
				visit(sealedAt{table.Name, col, v.ctid}, encryption.Bind(table.Name, col, v.key...), v.ct)
			}
		}
	}
}

// makeLegacy turns every sealed value, the extracted text of doc included, into the Fernet token
// of its plaintext under key, as it was stored before ciphertext was bound to its row, and
// returns how many it rewrote.
func makeLegacy(t *testing.T, p *platform, db *sql.DB, st *store.Store, key string, doc uuid.UUID) int {
	t.Helper()
	fk, err := fernet.DecodeKey(key)
	require.NoError(t, err)
	token := func(where encryption.Binding, ct []byte) []byte {
		pt, err := p.box.Decrypt(where, ct)
		require.NoError(t, err, "%s", where)
		tok, err := fernet.EncryptAndSign(pt, fk)
		require.NoError(t, err)
		return tok
	}
	n := 0
	forEachSealed(t, db, func(at sealedAt, where encryption.Binding, ct []byte) {
		_, err := db.Exec(`UPDATE `+at.table+` SET `+at.column+` = $1 WHERE ctid = $2::tid`, token(where, ct), at.ctid)
		require.NoError(t, err)
		n++
	})
	blob, err := st.Blobs("").Put(context.Background(), bytes.NewReader(token(store.ExtractedText(doc), extractedText(t, st, doc))),
		"application/vnd.youworker.extracted+fernet")
	require.NoError(t, err)
	require.NoError(t, st.UpdateDocument(context.Background(), doc, map[string]any{"extracted_blob_id": blob.ID}))
	return n
}

// extractedText reads the sealed extracted text of doc.
func extractedText(t *testing.T, st *store.Store, doc uuid.UUID) []byte {
	t.Helper()
	d, err := st.DocumentByID(context.Background(), doc)
	require.NoError(t, err)
	var buf bytes.Buffer
	_, err = st.Blobs("").CopyTo(context.Background(), *d.ExtractedBlobID, &buf)
	require.NoError(t, err)
	return buf.Bytes()
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

	del := leaver.do("DELETE", "/v1/account", nil)
	require.Equal(t, http.StatusAccepted, del.status, "%s", del.body)
	require.Equal(t, "deleting", del.json(t)["status"])
	require.Equal(t, http.StatusUnauthorized, leaver.do("GET", "/v1/auth/me", nil).status, "locked out at once")
	wid := del.json(t)["workflow_id"].(string)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var res workflows.DeleteAccountResult
	require.NoError(t, testenv.TemporalClient(t).GetWorkflow(ctx, wid, "").Get(ctx, &res), "the DeleteAccount workflow finishes")
	require.Equal(t, 1, res.Documents, "the one document the leaver owned")
	recordHistory(t, p, wid, "delete_account")
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
