package e2e

import (
	"net/http"
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
