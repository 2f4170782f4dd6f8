package vectors_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/vectors"
)

func TestSQLitePersistsAcrossReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "vectors.db")
	s, err := vectors.OpenSQLite(path)
	require.NoError(t, err)
	f := newFixture(t, s, 16)
	user, group := uuid.New(), uuid.New()
	doc, pts := f.doc(user, &group, 12)
	gone, _ := f.doc(user, nil, 3)
	require.NoError(t, s.DeleteDocument(t.Context(), f.c, gone))
	require.NoError(t, s.Close())

	s, err = vectors.OpenSQLite(path)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	f.s = s
	require.Equal(t, 12, f.count(doc))
	require.Equal(t, 0, f.count(gone))
	hits := f.search(f.tenant(uuid.New(), group), vectors.Query{Vector: pts[7].Vector, TopK: 3})
	require.Len(t, hits, 3)
	require.Equal(t, pts[7].ID, hits[0].ID)
	require.InDelta(t, 1.0, hits[0].Score, 1e-5)

	// The reopened store keeps writing into the same collection.
	more, _ := f.doc(user, nil, 4)
	require.Equal(t, 4, f.count(more))
	require.NoError(t, s.DeleteOwner(t.Context(), user))
	require.Equal(t, 0, f.count(doc))
}

func TestSQLiteConcurrentUse(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "vectors.db")
	open := func() *vectors.SQLite {
		s, err := vectors.OpenSQLite(path)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		return s
	}
	// Two stores on one file stand for two processes sharing DATA_DIR.
	stores := []*vectors.SQLite{open(), open()}
	c := vectors.Collection{Model: "concurrent", Dim: 8}
	group := uuid.New()
	const writers, docsPerWriter, chunks = 6, 5, 8

	var wg sync.WaitGroup
	docs := make([][]uuid.UUID, writers)
	errs := make(chan error, 1000)
	for w := range writers {
		wg.Go(func() {
			s := stores[w%len(stores)]
			f := newFixture(t, s, c.Dim)
			f.c = c
			owner := uuid.New()
			for range docsPerWriter {
				docID := uuid.New()
				pts := make([]vectors.Point, chunks)
				for i := range pts {
					pts[i] = vectors.Point{ID: uuid.NewSHA1(docID, fmt.Appendf(nil, "%d", i)), Vector: f.vec(),
						OwnerID: owner, GroupID: &group, DocumentID: docID, ChunkIndex: i}
				}
				if err := s.Upsert(t.Context(), c, pts); err != nil {
					errs <- err
					return
				}
				// Re-upsert half of them right away: replacing races with the searches below.
				if err := s.Upsert(t.Context(), c, pts[:chunks/2]); err != nil {
					errs <- err
					return
				}
				docs[w] = append(docs[w], docID)
			}
		})
	}
	for r := range 4 {
		wg.Go(func() {
			s := stores[r%len(stores)]
			tn, err := vectors.NewTenant(uuid.New(), []uuid.UUID{group})
			if err != nil {
				errs <- err
				return
			}
			q := vectors.Query{Vector: []float32{1, 2, 3, 4, 5, 6, 7, 8}, TopK: 20}
			for range 30 {
				hits, err := s.Search(t.Context(), c, tn, q)
				if err != nil {
					errs <- err
					return
				}
				if len(distinct(idsOf(hits))) != len(hits) {
					errs <- fmt.Errorf("a point came back twice: %v", idsOf(hits))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	tn, err := vectors.NewTenant(uuid.New(), []uuid.UUID{group})
	require.NoError(t, err)
	hits, err := stores[0].Search(t.Context(), c, tn, vectors.Query{Vector: []float32{1, 0, 0, 0, 0, 0, 0, 0}, TopK: vectors.MaxTopK})
	require.NoError(t, err)
	require.Len(t, hits, vectors.MaxTopK)
	for w := range writers {
		require.Len(t, docs[w], docsPerWriter)
		for _, d := range docs[w] {
			for _, s := range stores {
				n, err := s.CountDocument(t.Context(), c, d)
				require.NoError(t, err)
				require.Equal(t, chunks, n)
			}
		}
	}
}

func TestOpenSQLite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name    string
		path    string
		wantErr bool
	}{
		{"empty path", "", true},
		{"in memory", ":memory:", true},
		{"missing directory", filepath.Join(dir, "no", "such", "dir", "v.db"), true},
		{"path needing escapes", filepath.Join(dir, "a dir?#%", "v.db"), false},
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "a dir?#%"), 0o700))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := vectors.OpenSQLite(tt.path)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.NoError(t, s.Close())
			_, err = os.Stat(tt.path)
			require.NoError(t, err, "the file is where it was asked to be")
		})
	}
}
