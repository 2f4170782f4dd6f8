package e2e

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDeduplicationStaysInItsScope: a personal document uploaded again into a group is ingested
// for the group (chunks, vectors, found by the other members), not marked a duplicate of the
// personal copy that the group cannot see; the same bytes again in the same group, or personally
// again, are duplicates.
func TestDeduplicationStaysInItsScope(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil).start()
	owner := p.signup("gwen")
	member := p.signup("hugo")
	g := owner.do("POST", "/v1/groups", map[string]any{"name": "gardeners"})
	require.Equal(t, http.StatusCreated, g.status, "%s", g.body)
	group := g.json(t)["id"].(string)
	require.Equal(t, http.StatusCreated, owner.do("POST", "/v1/groups/"+group+"/members", map[string]any{"username": "hugo", "role": "member"}).status)

	note := []byte("Rhubarb crowns are divided in early spring, before the pink buds open.\n")
	personal, last := owner.ingested(owner.upload("rhubarb.txt", note, nil), 60*time.Second)
	require.Equal(t, "run.completed", last.Type, "%v", last.Data)

	shared, last := owner.ingested(owner.upload("rhubarb.txt", note, map[string]string{"group_id": group}), 60*time.Second)
	require.Equal(t, "run.completed", last.Type, "%v", last.Data)
	require.Nil(t, last.Data["duplicate_of"], "a personal copy does not stand in for the group's")
	d := owner.do("GET", "/v1/documents/"+shared, nil).json(t)
	require.Nil(t, d["duplicate_of"])
	require.Positive(t, d["chunk_count"])
	require.Positive(t, countVectors(t, p, shared))
	hits := member.search("rhubarb crowns divided early spring")
	require.NotEmpty(t, hits, "the group's members find the group's copy")
	require.Equal(t, shared, hits[0]["document_id"])

	// Within one scope identical content is still a duplicate.
	again, last := owner.ingested(owner.upload("rhubarb.txt", note, map[string]string{"group_id": group}), 60*time.Second)
	require.Equal(t, "run.completed", last.Type)
	require.Equal(t, shared, last.Data["duplicate_of"])
	require.Zero(t, countVectors(t, p, again))
	_, last = owner.ingested(owner.upload("rhubarb.txt", note, nil), 60*time.Second)
	require.Equal(t, personal, last.Data["duplicate_of"])
	// Another member's upload of the same bytes into the group is theirs, not a duplicate.
	_, last = member.ingested(member.upload("rhubarb.txt", note, map[string]string{"group_id": group}), 60*time.Second)
	require.Nil(t, last.Data["duplicate_of"])
}

// TestIdempotentIngestion: a retried upload or ingest request (same Idempotency-Key, same body),
// sequential or concurrent, answers with the same document and run and stores one document, one
// run and one blob; the same key with a different body is a 409 and stores nothing.
func TestIdempotentIngestion(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil).start()
	u := p.signup("ines")
	db := openDB(t, p)
	counts := func() (docs, runs, blobs int) {
		t.Helper()
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM documents`).Scan(&docs))
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM ingestion_runs`).Scan(&runs))
		// The bytes of documents, not the extracted text the worker stores beside them.
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM document_blobs WHERE content_type NOT LIKE 'application/vnd.youworker.extracted%'`).Scan(&blobs))
		return docs, runs, blobs
	}
	note := []byte("Idempotent notes about the quince tree by the gate.\n")
	key := map[string]string{"Idempotency-Key": "upload-1"}
	fields := map[string]string{"title": "Quince", "tags": "garden"}

	replies := make([]reply, 4)
	var wg sync.WaitGroup
	for i := range replies {
		wg.Go(func() { replies[i] = u.uploadWith("quince.txt", note, fields, key) })
	}
	wg.Wait()
	replies = append(replies, u.uploadWith("quince.txt", note, fields, key)) // a late retry
	ids := map[string]bool{}
	for _, r := range replies {
		require.Contains(t, []int{http.StatusAccepted, http.StatusOK}, r.status, "%s", r.body)
		m := r.json(t)
		ids[m["document_id"].(string)+"/"+m["ingestion_run_id"].(string)] = true
	}
	require.Len(t, ids, 1, "every retry answers with the same document and run")
	docs, runs, blobs := counts()
	require.Equal(t, [3]int{1, 1, 1}, [3]int{docs, runs, blobs}, "documents, runs, blobs")

	for name, r := range map[string]reply{
		"other bytes":  u.uploadWith("quince.txt", []byte("Something else entirely.\n"), fields, key),
		"other title":  u.uploadWith("quince.txt", note, map[string]string{"title": "Pear", "tags": "garden"}, key),
		"other tags":   u.uploadWith("quince.txt", note, map[string]string{"title": "Quince"}, key),
		"ingest route": p.request("POST", "/v1/ingest", u.token, map[string]any{"text": string(note)}, key),
	} {
		require.Equal(t, http.StatusConflict, r.status, "%s: %s", name, r.body)
		require.Equal(t, "IDEMPOTENCY_KEY_REUSED", r.json(t)["error"].(map[string]any)["code"], name)
	}
	docs, runs, blobs = counts()
	require.Equal(t, [3]int{1, 1, 1}, [3]int{docs, runs, blobs}, "a conflicting request stores nothing")

	// /v1/ingest: the same text twice under a key is one run; another text under it a 409.
	textKey := map[string]string{"Idempotency-Key": "text-1"}
	first := p.request("POST", "/v1/ingest", u.token, map[string]any{"text": "Medlar jelly needs bletted fruit.", "title": "Medlar"}, textKey)
	require.Equal(t, http.StatusAccepted, first.status, "%s", first.body)
	again := p.request("POST", "/v1/ingest", u.token, map[string]any{"text": "Medlar jelly needs bletted fruit.", "title": "Medlar"}, textKey)
	require.Equal(t, http.StatusOK, again.status, "%s", again.body)
	require.Equal(t, first.json(t)["ingestion_run_id"], again.json(t)["ingestion_run_id"])
	other := p.request("POST", "/v1/ingest", u.token, map[string]any{"text": "Sloe gin needs frost.", "title": "Medlar"}, textKey)
	require.Equal(t, http.StatusConflict, other.status, "%s", other.body)
	docs, runs, blobs = counts()
	require.Equal(t, [3]int{2, 2, 2}, [3]int{docs, runs, blobs})
}
