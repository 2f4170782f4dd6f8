package vectors

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// Limits of a search and of a collection.
const (
	DefaultTopK = 10   // Query.TopK when it is zero or negative
	MaxTopK     = 100  // larger Query.TopK values are lowered to this
	MaxDim      = 8192 // the largest vector sqlite-vec's vec0 accepts; Qdrant is held to the same

	// MaxDocumentIDs is the most Query.DocumentIDs a search takes (SQLite binds each one).
	MaxDocumentIDs = 1000
)

var (
	// ErrDimension is returned when a point's or a query's vector does not have the
	// collection's dimension.
	ErrDimension = errors.New("vectors: vector dimension does not match the collection")
	// ErrInvalid is returned for any other input that can never succeed: a tenant without a
	// user, a nil id, a collection without a model, a zero or non-finite vector.
	ErrInvalid = errors.New("vectors: invalid input")
)

// Store is a vector store partitioned by tenant. Both implementations, [SQLite] and [Qdrant],
// pass the same contract tests. Every method is safe for concurrent use.
type Store interface {
	// Upsert writes points, replacing those with the same ID, and creates the collection on
	// first use. A vector of the wrong dimension fails with ErrDimension and writes nothing.
	Upsert(ctx context.Context, c Collection, points []Point) error
	// Search returns the points closest to q.Vector, best first, among those the tenant may
	// read: owner == t's user, or group among t's groups, narrowed by q's optional filters.
	// A collection that does not exist yet has no hits.
	Search(ctx context.Context, c Collection, t Tenant, q Query) ([]Hit, error)
	// DeleteDocument removes a document's points from c (nothing to do is not an error).
	DeleteDocument(ctx context.Context, c Collection, documentID uuid.UUID) error
	// DeleteOwner removes every point the owner owns, personal and group ones, in every
	// collection (account deletion).
	DeleteOwner(ctx context.Context, ownerID uuid.UUID) error
	// CountDocument counts a document's points in c.
	CountDocument(ctx context.Context, c Collection, documentID uuid.UUID) (int, error)
	// Ping checks that the store answers.
	Ping(ctx context.Context) error
	Close() error
}

// Tenant is the reader of a search: a user and the groups they belong to. It cannot be built
// without a user, so a search without a tenant filter cannot be written; the zero Tenant is
// rejected by Search.
type Tenant struct {
	user   uuid.UUID
	groups []uuid.UUID
}

// NewTenant returns the tenant for user, a member of groups (duplicates are dropped). It fails
// with ErrInvalid for a nil user or a nil group.
func NewTenant(user uuid.UUID, groups []uuid.UUID) (Tenant, error) {
	if user == uuid.Nil {
		return Tenant{}, fmt.Errorf("%w: a tenant needs a user", ErrInvalid)
	}
	gs := make([]uuid.UUID, 0, len(groups))
	for _, g := range groups {
		if g == uuid.Nil {
			return Tenant{}, fmt.Errorf("%w: nil group id", ErrInvalid)
		}
		if !slices.Contains(gs, g) {
			gs = append(gs, g)
		}
	}
	return Tenant{user: user, groups: gs}, nil
}

// User is the tenant's user.
func (t Tenant) User() uuid.UUID { return t.user }

// Groups are the tenant's groups (a copy).
func (t Tenant) Groups() []uuid.UUID { return slices.Clone(t.groups) }

// Collection identifies the vectors of one embedding model and dimension: vectors of
// different models are never compared.
type Collection struct {
	Model string
	Dim   int
}

// Name is the collection's name in the store: "yw_<model>_<dim>", the model lower-cased with
// every character other than a-z, 0-9, '_' and '-' replaced by '_' (so "nomic-embed-text" at
// 768 dimensions is "yw_nomic-embed-text_768" and "qwen3-embedding:0.6b" becomes
// "yw_qwen3-embedding_0_6b_1024"). Two models that differ only in those characters share a
// collection.
func (c Collection) Name() string {
	return collectionPrefix + sanitizeModel(c.Model) + "_" + strconv.Itoa(c.Dim)
}

// collectionPrefix starts the name of every collection this package creates; DeleteOwner
// visits exactly those.
const collectionPrefix = "yw_"

func sanitizeModel(model string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		default:
			return '_'
		}
	}, strings.TrimSpace(model))
}

func (c Collection) validate() error {
	if strings.TrimSpace(c.Model) == "" {
		return fmt.Errorf("%w: collection without a model", ErrInvalid)
	}
	if c.Dim < 1 || c.Dim > MaxDim {
		return fmt.Errorf("%w: collection dimension %d outside 1..%d", ErrInvalid, c.Dim, MaxDim)
	}
	return nil
}

// Point is one chunk's vector and who may read it.
type Point struct {
	ID         uuid.UUID // deterministic, chosen by the caller (document + chunk index), so re-upserting never duplicates
	Vector     []float32
	OwnerID    uuid.UUID
	GroupID    *uuid.UUID // nil = personal document
	DocumentID uuid.UUID
	ChunkIndex int
}

// Query is a similarity search.
type Query struct {
	Vector      []float32
	TopK        int         // default DefaultTopK, at most MaxTopK
	GroupID     *uuid.UUID  // optional: only this group's points (must be one of the tenant's groups, else no results)
	DocumentIDs []uuid.UUID // optional: only these documents (at most MaxDocumentIDs)
}

// Hit is a search result.
type Hit struct {
	ID         uuid.UUID
	DocumentID uuid.UUID
	ChunkIndex int
	Score      float32 // cosine similarity in [-1, 1], higher is better
}

// preparePoints validates points for c and returns copies whose vectors are unit length.
func preparePoints(c Collection, points []Point) ([]Point, error) {
	out := make([]Point, len(points))
	for i, p := range points {
		switch {
		case p.ID == uuid.Nil:
			return nil, fmt.Errorf("%w: point %d has a nil id", ErrInvalid, i)
		case p.OwnerID == uuid.Nil:
			return nil, fmt.Errorf("%w: point %s has no owner", ErrInvalid, p.ID)
		case p.DocumentID == uuid.Nil:
			return nil, fmt.Errorf("%w: point %s has no document", ErrInvalid, p.ID)
		case p.GroupID != nil && *p.GroupID == uuid.Nil:
			return nil, fmt.Errorf("%w: point %s has a nil group id", ErrInvalid, p.ID)
		case p.ChunkIndex < 0:
			return nil, fmt.Errorf("%w: point %s has chunk index %d", ErrInvalid, p.ID, p.ChunkIndex)
		}
		v, err := normalize(p.Vector, c.Dim)
		if err != nil {
			return nil, fmt.Errorf("point %s: %w", p.ID, err)
		}
		p.Vector = v
		out[i] = p
	}
	return out, nil
}

// normalize checks v's dimension and returns v scaled to unit length, so that the dot product
// of two stored vectors is their cosine similarity.
func normalize(v []float32, dim int) ([]float32, error) {
	if len(v) != dim {
		return nil, fmt.Errorf("%w: got %d, want %d", ErrDimension, len(v), dim)
	}
	var sum float64
	for _, x := range v {
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%w: vector has a non-finite component", ErrInvalid)
		}
		sum += f * f
	}
	if sum == 0 {
		return nil, fmt.Errorf("%w: zero vector", ErrInvalid)
	}
	n := math.Sqrt(sum)
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(float64(x) / n)
	}
	return out, nil
}

// search is a validated query: what a store has to run.
type search struct {
	vector []float32 // unit length
	topK   int
	user   uuid.UUID   // the tenant's points: owner_id = user ...
	groups []uuid.UUID // ... or group_id among these
	group  *uuid.UUID  // only this group (one of groups), if set
	docs   []uuid.UUID // only these documents, if any
}

// plan validates a search and decides which points it may read. ok is false when nothing can
// match (a GroupID that is not one of the tenant's groups).
func plan(c Collection, t Tenant, q Query) (s search, ok bool, err error) {
	if t.user == uuid.Nil {
		return search{}, false, fmt.Errorf("%w: search without a tenant", ErrInvalid)
	}
	if err := c.validate(); err != nil {
		return search{}, false, err
	}
	v, err := normalize(q.Vector, c.Dim)
	if err != nil {
		return search{}, false, fmt.Errorf("query: %w", err)
	}
	s = search{vector: v, topK: q.TopK, user: t.user, groups: t.groups}
	if s.topK <= 0 {
		s.topK = DefaultTopK
	}
	s.topK = min(s.topK, MaxTopK)
	if len(q.DocumentIDs) > MaxDocumentIDs {
		return search{}, false, fmt.Errorf("%w: %d document ids, at most %d", ErrInvalid, len(q.DocumentIDs), MaxDocumentIDs)
	}
	seen := make(map[uuid.UUID]bool, len(q.DocumentIDs))
	for _, d := range q.DocumentIDs {
		if !seen[d] {
			seen[d] = true
			s.docs = append(s.docs, d)
		}
	}
	if q.GroupID != nil {
		if !slices.Contains(t.groups, *q.GroupID) {
			return search{}, false, nil
		}
		g := *q.GroupID
		s.group = &g
	}
	return s, true, nil
}

// sortHits orders hits best first, ties by id so that results are deterministic.
func sortHits(hits []Hit) {
	slices.SortFunc(hits, func(a, b Hit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return slices.Compare(a.ID[:], b.ID[:])
	})
}
