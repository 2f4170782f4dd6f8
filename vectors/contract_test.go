package vectors_test

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	qdrantstandin "github.com/youworker/youworker/standin/qdrant"
	"github.com/youworker/youworker/vectors"
)

func TestSQLiteContract(t *testing.T) {
	t.Parallel()
	runContract(t, func(t *testing.T) vectors.Store {
		s, err := vectors.OpenSQLite(filepath.Join(t.TempDir(), "vectors.db"))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		return s
	})
}

func TestQdrantContract(t *testing.T) {
	t.Parallel()
	runContract(t, func(t *testing.T) vectors.Store {
		addr, stop, err := qdrantstandin.Start()
		require.NoError(t, err)
		t.Cleanup(stop)
		s, err := vectors.OpenQdrant(t.Context(), vectors.QdrantConfig{URL: "http://" + addr})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		return s
	})
}

// fixture builds points and tenants for one test.
type fixture struct {
	t    *testing.T
	s    vectors.Store
	c    vectors.Collection
	rand *rand.Rand
}

func newFixture(t *testing.T, s vectors.Store, dim int) *fixture {
	return &fixture{t: t, s: s, c: vectors.Collection{Model: "contract-embed:v1", Dim: dim}, rand: rand.New(rand.NewPCG(uint64(dim), 7))}
}

// vec is a random vector (components in [-1, 1)).
func (f *fixture) vec() []float32 {
	v := make([]float32, f.c.Dim)
	for i := range v {
		v[i] = f.rand.Float32()*2 - 1
	}
	return v
}

// doc upserts n random chunks of a new document and returns its id and points.
func (f *fixture) doc(owner uuid.UUID, group *uuid.UUID, n int) (uuid.UUID, []vectors.Point) {
	f.t.Helper()
	docID := uuid.New()
	pts := make([]vectors.Point, n)
	for i := range pts {
		pts[i] = vectors.Point{ID: uuid.NewSHA1(docID, fmt.Appendf(nil, "chunk/%d", i)), Vector: f.vec(),
			OwnerID: owner, GroupID: group, DocumentID: docID, ChunkIndex: i}
	}
	require.NoError(f.t, f.s.Upsert(f.t.Context(), f.c, pts))
	return docID, pts
}

func (f *fixture) tenant(user uuid.UUID, groups ...uuid.UUID) vectors.Tenant {
	f.t.Helper()
	tn, err := vectors.NewTenant(user, groups)
	require.NoError(f.t, err)
	return tn
}

func (f *fixture) search(tn vectors.Tenant, q vectors.Query) []vectors.Hit {
	f.t.Helper()
	hits, err := f.s.Search(f.t.Context(), f.c, tn, q)
	require.NoError(f.t, err)
	return hits
}

func (f *fixture) count(doc uuid.UUID) int {
	f.t.Helper()
	n, err := f.s.CountDocument(f.t.Context(), f.c, doc)
	require.NoError(f.t, err)
	return n
}

func docsOf(hits []vectors.Hit) []uuid.UUID {
	var out []uuid.UUID
	for _, h := range hits {
		if !slices.Contains(out, h.DocumentID) {
			out = append(out, h.DocumentID)
		}
	}
	return out
}

func idsOf(hits []vectors.Hit) []uuid.UUID {
	out := make([]uuid.UUID, len(hits))
	for i, h := range hits {
		out[i] = h.ID
	}
	return out
}

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na*nb)
}

// runContract is the behaviour every vectors.Store must have. open returns a new, empty store.
func runContract(t *testing.T, open func(t *testing.T) vectors.Store) {
	t.Run("tenant isolation", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, open(t), 16)
		alice, bob, aliceGroup := uuid.New(), uuid.New(), uuid.New()
		bobDoc, bobPts := f.doc(bob, nil, 20)
		query := bobPts[3].Vector
		// Canaries: Alice's points identical to Bob's query, personal and in a group Bob is not in.
		canaryDoc, personal := uuid.New(), uuid.New()
		groupDoc, inGroup := uuid.New(), uuid.New()
		require.NoError(t, f.s.Upsert(t.Context(), f.c, []vectors.Point{
			{ID: personal, Vector: query, OwnerID: alice, DocumentID: canaryDoc},
			{ID: inGroup, Vector: query, OwnerID: alice, GroupID: &aliceGroup, DocumentID: groupDoc},
		}))
		f.doc(alice, nil, 30)

		hits := f.search(f.tenant(bob), vectors.Query{Vector: query, TopK: vectors.MaxTopK})
		require.Len(t, hits, 20, "Bob sees exactly his own 20 points")
		require.Equal(t, []uuid.UUID{bobDoc}, docsOf(hits))
		require.Equal(t, bobPts[3].ID, hits[0].ID)

		hits = f.search(f.tenant(bob), vectors.Query{Vector: query, DocumentIDs: []uuid.UUID{canaryDoc, groupDoc}})
		require.Empty(t, hits, "naming Alice's documents does not reveal them")

		hits = f.search(f.tenant(alice, aliceGroup), vectors.Query{Vector: query, TopK: 2})
		require.ElementsMatch(t, []uuid.UUID{personal, inGroup}, idsOf(hits), "the canaries are there to be found")
		for _, h := range hits {
			require.InDelta(t, 1.0, h.Score, 1e-5)
		}
	})

	t.Run("group members see group points, others do not", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, open(t), 8)
		owner, member, outsider, group, other := uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()
		groupDoc, groupPts := f.doc(owner, &group, 10)
		ownerDoc, _ := f.doc(owner, nil, 5)
		memberDoc, _ := f.doc(member, nil, 5)
		q := vectors.Query{Vector: groupPts[0].Vector, TopK: vectors.MaxTopK}

		tests := []struct {
			name   string
			tenant vectors.Tenant
			want   []uuid.UUID
		}{
			{"member", f.tenant(member, group), []uuid.UUID{groupDoc, memberDoc}},
			{"member of another group", f.tenant(outsider, other), nil},
			{"owner in the group", f.tenant(owner, group), []uuid.UUID{groupDoc, ownerDoc}},
			{"owner no longer in the group still reads what they own", f.tenant(owner), []uuid.UUID{groupDoc, ownerDoc}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				hits := f.search(tt.tenant, q)
				require.ElementsMatch(t, tt.want, docsOf(hits))
				require.Len(t, hits, len(distinct(idsOf(hits))), "no point twice")
			})
		}
	})

	t.Run("GroupID and DocumentIDs filters", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, open(t), 8)
		user, colleague, g1, g2, g3 := uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()
		personalDoc, _ := f.doc(user, nil, 4)
		g1Doc, _ := f.doc(colleague, &g1, 4)
		g1OwnDoc, _ := f.doc(user, &g1, 4)
		g2Doc, _ := f.doc(colleague, &g2, 4)
		g3OwnDoc, _ := f.doc(user, &g3, 4) // user owns it but is not in g3
		strangerDoc, _ := f.doc(uuid.New(), nil, 4)
		tn := f.tenant(user, g1, g2)

		tests := []struct {
			name  string
			group *uuid.UUID
			docs  []uuid.UUID
			want  []uuid.UUID
		}{
			{"no filter", nil, nil, []uuid.UUID{personalDoc, g1Doc, g1OwnDoc, g2Doc, g3OwnDoc}},
			{"group g1", &g1, nil, []uuid.UUID{g1Doc, g1OwnDoc}},
			{"group g2", &g2, nil, []uuid.UUID{g2Doc}},
			{"group the tenant is not in", &g3, nil, nil},
			{"documents", nil, []uuid.UUID{personalDoc, g2Doc}, []uuid.UUID{personalDoc, g2Doc}},
			{"documents, one unreadable", nil, []uuid.UUID{g1Doc, strangerDoc}, []uuid.UUID{g1Doc}},
			{"group and documents", &g1, []uuid.UUID{g1Doc, g2Doc, personalDoc}, []uuid.UUID{g1Doc}},
			{"unknown document", nil, []uuid.UUID{uuid.New()}, nil},
			{"as many documents as allowed", nil, append(manyIDs(vectors.MaxDocumentIDs-1), g2Doc), []uuid.UUID{g2Doc}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				hits := f.search(tn, vectors.Query{Vector: f.vec(), TopK: vectors.MaxTopK, GroupID: tt.group, DocumentIDs: tt.docs})
				require.ElementsMatch(t, tt.want, docsOf(hits))
				require.Len(t, hits, 4*len(tt.want), "every chunk of every matching document")
			})
		}
	})

	t.Run("ranking by cosine similarity", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, open(t), 32)
		user := uuid.New()
		var all []vectors.Point
		for range 6 {
			_, pts := f.doc(user, nil, 50)
			all = append(all, pts...)
		}
		tn := f.tenant(user)

		target := all[117]
		// A scaled copy of a stored vector is the same direction: cosine 1.
		scaled := make([]float32, len(target.Vector))
		for i, x := range target.Vector {
			scaled[i] = 3 * x
		}
		hits := f.search(tn, vectors.Query{Vector: scaled, TopK: 1})
		require.Len(t, hits, 1)
		require.Equal(t, target.ID, hits[0].ID)
		require.Equal(t, target.DocumentID, hits[0].DocumentID)
		require.Equal(t, target.ChunkIndex, hits[0].ChunkIndex)
		require.InDelta(t, 1.0, hits[0].Score, 1e-5)

		q := f.vec()
		hits = f.search(tn, vectors.Query{Vector: q, TopK: 25})
		want := slices.Clone(all)
		sort.SliceStable(want, func(i, j int) bool { return cosine(q, want[i].Vector) > cosine(q, want[j].Vector) })
		require.Len(t, hits, 25)
		for i, h := range hits {
			require.Equal(t, want[i].ID, h.ID, "rank %d", i)
			require.InDelta(t, cosine(q, want[i].Vector), h.Score, 1e-5, "rank %d", i)
		}
		require.True(t, slices.IsSortedFunc(hits, func(a, b vectors.Hit) int { return cmp.Compare(b.Score, a.Score) }))

		// The opposite direction scores -1 and ranks its source last.
		opposite := make([]float32, len(target.Vector))
		for i, x := range target.Vector {
			opposite[i] = -x
		}
		hits = f.search(tn, vectors.Query{Vector: opposite, TopK: vectors.MaxTopK, DocumentIDs: []uuid.UUID{target.DocumentID}})
		require.Len(t, hits, 50)
		require.Equal(t, target.ID, hits[len(hits)-1].ID)
		require.InDelta(t, -1.0, hits[len(hits)-1].Score, 1e-5)
	})

	t.Run("TopK", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, open(t), 8)
		user := uuid.New()
		f.doc(user, nil, 120)
		tests := []struct {
			name string
			topK int
			want int
		}{
			{"zero means the default", 0, vectors.DefaultTopK},
			{"negative means the default", -5, vectors.DefaultTopK},
			{"as asked", 3, 3},
			{"capped", 1000, vectors.MaxTopK},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				require.Len(t, f.search(f.tenant(user), vectors.Query{Vector: f.vec(), TopK: tt.topK}), tt.want)
			})
		}
	})

	t.Run("re-upserting the same ids replaces, never duplicates", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, open(t), 8)
		owner, member, group := uuid.New(), uuid.New(), uuid.New()
		doc, pts := f.doc(owner, nil, 5)
		require.NoError(t, f.s.Upsert(t.Context(), f.c, pts))
		require.Equal(t, 5, f.count(doc))

		// New vectors, and the document moves into a group.
		moved := slices.Clone(pts)
		for i := range moved {
			moved[i].Vector = f.vec()
			moved[i].GroupID = &group
		}
		require.NoError(t, f.s.Upsert(t.Context(), f.c, moved))
		require.Equal(t, 5, f.count(doc))

		hits := f.search(f.tenant(member, group), vectors.Query{Vector: moved[2].Vector, TopK: vectors.MaxTopK})
		require.Len(t, hits, 5)
		require.Equal(t, moved[2].ID, hits[0].ID)
		require.InDelta(t, 1.0, hits[0].Score, 1e-5)
		hits = f.search(f.tenant(owner), vectors.Query{Vector: pts[2].Vector, TopK: vectors.MaxTopK})
		require.Len(t, hits, 5, "the old vectors are gone")
		require.Less(t, hits[0].Score, float32(0.9999))

		// Duplicates within one batch: the last one wins.
		last := moved[0]
		last.Vector = f.vec()
		require.NoError(t, f.s.Upsert(t.Context(), f.c, []vectors.Point{moved[0], last}))
		require.Equal(t, 5, f.count(doc))
		hits = f.search(f.tenant(owner), vectors.Query{Vector: last.Vector, TopK: 1})
		require.Equal(t, last.ID, hits[0].ID)
		require.InDelta(t, 1.0, hits[0].Score, 1e-5)
	})

	t.Run("DeleteDocument", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, open(t), 8)
		user, group := uuid.New(), uuid.New()
		gone, gonePts := f.doc(user, &group, 7)
		kept, _ := f.doc(user, nil, 3)
		require.NoError(t, f.s.DeleteDocument(t.Context(), f.c, gone))
		require.Equal(t, 0, f.count(gone))
		require.Equal(t, 3, f.count(kept))
		hits := f.search(f.tenant(user, group), vectors.Query{Vector: gonePts[0].Vector, TopK: vectors.MaxTopK})
		require.Equal(t, []uuid.UUID{kept}, docsOf(hits))
		require.NoError(t, f.s.DeleteDocument(t.Context(), f.c, gone), "deleting twice is fine")
		other := vectors.Collection{Model: "never-used", Dim: 8}
		require.NoError(t, f.s.DeleteDocument(t.Context(), other, kept), "a missing collection has nothing to delete")
		require.Equal(t, 3, f.count(kept))
	})

	t.Run("DeleteOwner removes the owner's points in every collection", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		f := newFixture(t, s, 8)
		g := newFixture(t, s, 12) // another collection
		g.c.Model = "other-embed"
		leaving, staying, group := uuid.New(), uuid.New(), uuid.New()
		d1, _ := f.doc(leaving, nil, 4)
		d2, _ := f.doc(leaving, &group, 4)
		d3, _ := g.doc(leaving, nil, 4)
		k1, _ := f.doc(staying, &group, 4)
		k2, _ := g.doc(staying, nil, 4)

		require.NoError(t, s.DeleteOwner(t.Context(), leaving))
		for _, d := range []uuid.UUID{d1, d2} {
			require.Equal(t, 0, f.count(d))
		}
		require.Equal(t, 0, g.count(d3))
		require.Equal(t, 4, f.count(k1))
		require.Equal(t, 4, g.count(k2))
		require.Empty(t, f.search(f.tenant(leaving, group), vectors.Query{Vector: f.vec(), DocumentIDs: []uuid.UUID{d1, d2}}))
		require.Equal(t, []uuid.UUID{k1}, docsOf(f.search(f.tenant(staying, group), vectors.Query{Vector: f.vec()})))
		require.NoError(t, s.DeleteOwner(t.Context(), leaving), "deleting twice is fine")
	})

	t.Run("wrong dimension", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, open(t), 8)
		user := uuid.New()
		doc := uuid.New()
		good := vectors.Point{ID: uuid.New(), Vector: f.vec(), OwnerID: user, DocumentID: doc}
		bad := vectors.Point{ID: uuid.New(), Vector: make([]float32, 9), OwnerID: user, DocumentID: doc}
		bad.Vector[0] = 1
		err := f.s.Upsert(t.Context(), f.c, []vectors.Point{good, bad})
		require.ErrorIs(t, err, vectors.ErrDimension)
		require.Equal(t, 0, f.count(doc), "nothing of the batch is written")

		f.doc(user, nil, 2)
		_, err = f.s.Search(t.Context(), f.c, f.tenant(user), vectors.Query{Vector: []float32{1, 2, 3}})
		require.ErrorIs(t, err, vectors.ErrDimension)
	})

	t.Run("a missing collection is empty", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		c := vectors.Collection{Model: "nobody-uses-this", Dim: 4}
		user := uuid.New()
		tn, err := vectors.NewTenant(user, []uuid.UUID{uuid.New()})
		require.NoError(t, err)
		hits, err := s.Search(t.Context(), c, tn, vectors.Query{Vector: []float32{1, 0, 0, 0}})
		require.NoError(t, err)
		require.Empty(t, hits)
		n, err := s.CountDocument(t.Context(), c, uuid.New())
		require.NoError(t, err)
		require.Zero(t, n)
		require.NoError(t, s.DeleteDocument(t.Context(), c, uuid.New()))
		require.NoError(t, s.DeleteOwner(t.Context(), user))
		hits, err = s.Search(t.Context(), c, tn, vectors.Query{Vector: []float32{1, 0, 0, 0}})
		require.NoError(t, err)
		require.Empty(t, hits, "reading did not create anything")
	})

	t.Run("invalid input", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		c := vectors.Collection{Model: "m", Dim: 2}
		user := uuid.New()
		tn, err := vectors.NewTenant(user, nil)
		require.NoError(t, err)
		valid := vectors.Point{ID: uuid.New(), Vector: []float32{1, 0}, OwnerID: user, DocumentID: uuid.New()}
		with := func(edit func(p *vectors.Point)) []vectors.Point {
			p := valid
			edit(&p)
			return []vectors.Point{p}
		}
		tests := []struct {
			name string
			call func(ctx context.Context) error
		}{
			{"nil point id", func(ctx context.Context) error {
				return s.Upsert(ctx, c, with(func(p *vectors.Point) { p.ID = uuid.Nil }))
			}},
			{"no owner", func(ctx context.Context) error {
				return s.Upsert(ctx, c, with(func(p *vectors.Point) { p.OwnerID = uuid.Nil }))
			}},
			{"no document", func(ctx context.Context) error {
				return s.Upsert(ctx, c, with(func(p *vectors.Point) { p.DocumentID = uuid.Nil }))
			}},
			{"nil group", func(ctx context.Context) error {
				return s.Upsert(ctx, c, with(func(p *vectors.Point) { p.GroupID = &uuid.Nil }))
			}},
			{"negative chunk index", func(ctx context.Context) error {
				return s.Upsert(ctx, c, with(func(p *vectors.Point) { p.ChunkIndex = -1 }))
			}},
			{"zero vector", func(ctx context.Context) error {
				return s.Upsert(ctx, c, with(func(p *vectors.Point) { p.Vector = []float32{0, 0} }))
			}},
			{"NaN", func(ctx context.Context) error {
				return s.Upsert(ctx, c, with(func(p *vectors.Point) { p.Vector = []float32{float32(math.NaN()), 1} }))
			}},
			{"collection without a model", func(ctx context.Context) error {
				return s.Upsert(ctx, vectors.Collection{Dim: 2}, []vectors.Point{valid})
			}},
			{"collection without a dimension", func(ctx context.Context) error {
				return s.Upsert(ctx, vectors.Collection{Model: "m"}, nil)
			}},
			{"tenant without a user", func(context.Context) error {
				_, err := vectors.NewTenant(uuid.Nil, []uuid.UUID{uuid.New()})
				return err
			}},
			{"search by the zero tenant", func(ctx context.Context) error {
				_, err := s.Search(ctx, c, vectors.Tenant{}, vectors.Query{Vector: []float32{1, 0}})
				return err
			}},
			{"search for the zero vector", func(ctx context.Context) error {
				_, err := s.Search(ctx, c, tn, vectors.Query{Vector: []float32{0, 0}})
				return err
			}},
			{"too many document ids", func(ctx context.Context) error {
				_, err := s.Search(ctx, c, tn, vectors.Query{Vector: []float32{1, 0}, DocumentIDs: make([]uuid.UUID, vectors.MaxDocumentIDs+1)})
				return err
			}},
			{"delete the nil owner", func(ctx context.Context) error {
				return s.DeleteOwner(ctx, uuid.Nil)
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				require.ErrorIs(t, tt.call(t.Context()), vectors.ErrInvalid)
			})
		}
		n, err := s.CountDocument(t.Context(), c, valid.DocumentID)
		require.NoError(t, err)
		require.Zero(t, n)
	})

	t.Run("768 dimensions", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, open(t), 768)
		f.c.Model = "nomic-embed-text"
		user := uuid.New()
		doc, pts := f.doc(user, nil, 40)
		hits := f.search(f.tenant(user), vectors.Query{Vector: pts[31].Vector, TopK: 5})
		require.Len(t, hits, 5)
		require.Equal(t, pts[31].ID, hits[0].ID)
		require.Equal(t, doc, hits[0].DocumentID)
		require.Equal(t, 31, hits[0].ChunkIndex)
		require.InDelta(t, 1.0, hits[0].Score, 1e-5)
		require.InDelta(t, cosine(pts[31].Vector, vectorOf(pts, hits[1].ID)), hits[1].Score, 1e-5)
	})

	t.Run("Ping", func(t *testing.T) {
		t.Parallel()
		require.NoError(t, open(t).Ping(t.Context()))
	})
}

func vectorOf(pts []vectors.Point, id uuid.UUID) []float32 {
	for _, p := range pts {
		if p.ID == id {
			return p.Vector
		}
	}
	return nil
}

func manyIDs(n int) []uuid.UUID {
	out := make([]uuid.UUID, n)
	for i := range out {
		out[i] = uuid.New()
	}
	return out
}

func distinct(ids []uuid.UUID) []uuid.UUID {
	var out []uuid.UUID
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}
