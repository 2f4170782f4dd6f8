package vectors

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/youworker/youworker/telemetry"
)

// Payload keys of a Qdrant point.
const (
	payloadOwner    = "owner_id"
	payloadGroup    = "group_id" // absent for a personal point
	payloadDocument = "document_id"
	payloadChunk    = "chunk_index"
)

// qdrantBatch is the most points sent in one Upsert request: 256 points of 768 dimensions
// are about 0.8 MB, well under gRPC's default 4 MB message limit.
const qdrantBatch = 256

// QdrantConfig locates a Qdrant server.
type QdrantConfig struct {
	URL    string // the gRPC endpoint, e.g. http://qdrant:6334; https:// turns TLS on; the port defaults to 6334
	APIKey string // sent as the "api-key" header when set
}

// Qdrant is the Store backed by a Qdrant server, through its gRPC API.
type Qdrant struct {
	client *qdrant.Client

	mu    sync.Mutex
	ready map[string]bool // collections this process has created or found, with their indexes
}

var _ Store = (*Qdrant)(nil)

// OpenQdrant connects to Qdrant and lists its collections, so that an unreachable server or a
// wrong API key fails here rather than on the first upload. Later outages are survived: gRPC
// reconnects on its own.
func OpenQdrant(ctx context.Context, cfg QdrantConfig) (*Qdrant, error) {
	qc, err := qdrantClientConfig(cfg)
	if err != nil {
		return nil, err
	}
	client, err := qdrant.NewClient(qc)
	if err != nil {
		return nil, fmt.Errorf("vectors: qdrant client: %w", err)
	}
	if _, err := client.ListCollections(ctx); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("vectors: qdrant at %s: %w", cfg.URL, err)
	}
	return &Qdrant{client: client, ready: map[string]bool{}}, nil
}

func qdrantClientConfig(cfg QdrantConfig) (*qdrant.Config, error) {
	raw := strings.TrimSpace(cfg.URL)
	if raw == "" {
		return nil, fmt.Errorf("%w: QDRANT_URL is empty", ErrInvalid)
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: QDRANT_URL: %w", ErrInvalid, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w: QDRANT_URL scheme %q, want http or https", ErrInvalid, u.Scheme)
	}
	if u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("%w: QDRANT_URL %q, want scheme://host[:port]", ErrInvalid, cfg.URL)
	}
	port := 6334
	if p := u.Port(); p != "" {
		port, err = strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return nil, fmt.Errorf("%w: QDRANT_URL port %q", ErrInvalid, p)
		}
	}
	host := u.Hostname()
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // the client joins host and port with a plain ":"
	}
	return &qdrant.Config{
		Host:   host,
		Port:   port,
		APIKey: cfg.APIKey,
		UseTLS: u.Scheme == "https",
		// The check runs a HealthCheck with its own one-minute timeout and only logs through
		// slog.Default; OpenQdrant checks reachability with the caller's context instead.
		SkipCompatibilityCheck: true,
		// A client span per call, the trace context in its metadata, when tracing is on.
		GrpcOptions: telemetry.GRPCDialOptions(),
	}, nil
}

// Close closes the connections.
func (s *Qdrant) Close() error { return s.client.Close() }

// Ping runs Qdrant's health check.
func (s *Qdrant) Ping(ctx context.Context) error {
	if _, err := s.client.HealthCheck(ctx); err != nil {
		return fmt.Errorf("vectors: qdrant ping: %w", err)
	}
	return nil
}

// ensureCollection creates c with cosine distance and its keyword payload indexes, unless
// this process has done so already. A collection created meanwhile by another process is fine.
func (s *Qdrant) ensureCollection(ctx context.Context, c Collection) error {
	name := c.Name()
	s.mu.Lock()
	done := s.ready[name]
	s.mu.Unlock()
	if done {
		return nil
	}
	exists, err := s.client.CollectionExists(ctx, name)
	if err != nil {
		return fmt.Errorf("vectors: qdrant collection %s: %w", name, err)
	}
	if !exists {
		err := s.client.CreateCollection(ctx, &qdrant.CreateCollection{
			CollectionName: name,
			VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{
				Size:     uint64(c.Dim),
				Distance: qdrant.Distance_Cosine,
			}),
			Metadata: qdrant.NewValueMap(map[string]any{"model": c.Model, "created_by": "youworker"}),
		})
		if err != nil && status.Code(err) != codes.AlreadyExists {
			// Older servers answer a creation race with InvalidArgument; look before failing.
			if ok, err2 := s.client.CollectionExists(ctx, name); err2 != nil || !ok {
				return fmt.Errorf("vectors: qdrant create collection %s: %w", name, err)
			}
		}
	}
	wait := true
	for _, field := range []string{payloadOwner, payloadGroup, payloadDocument} {
		if _, err := s.client.CreateFieldIndex(ctx, &qdrant.CreateFieldIndexCollection{
			CollectionName: name,
			Wait:           &wait,
			FieldName:      field,
			FieldType:      qdrant.FieldType_FieldTypeKeyword.Enum(),
		}); err != nil {
			return fmt.Errorf("vectors: qdrant index %s.%s: %w", name, field, err)
		}
	}
	s.mu.Lock()
	s.ready[name] = true
	s.mu.Unlock()
	return nil
}

func (s *Qdrant) forget(name string) {
	s.mu.Lock()
	delete(s.ready, name)
	s.mu.Unlock()
}

// Upsert writes the points in batches of 256, each applied before the next is sent
// (wait=true). Batches are not one transaction: a failure may leave earlier batches written,
// which a retry with the same ids overwrites.
func (s *Qdrant) Upsert(ctx context.Context, c Collection, points []Point) error {
	if err := c.validate(); err != nil {
		return err
	}
	if len(points) == 0 {
		return nil
	}
	prepared, err := preparePoints(c, points)
	if err != nil {
		return err
	}
	if err := s.ensureCollection(ctx, c); err != nil {
		return err
	}
	name := c.Name()
	wait := true
	for start := 0; start < len(prepared); start += qdrantBatch {
		batch := prepared[start:min(start+qdrantBatch, len(prepared))]
		structs := make([]*qdrant.PointStruct, len(batch))
		for i, p := range batch {
			payload := map[string]*qdrant.Value{
				payloadOwner:    qdrant.NewValueString(p.OwnerID.String()),
				payloadDocument: qdrant.NewValueString(p.DocumentID.String()),
				payloadChunk:    qdrant.NewValueInt(int64(p.ChunkIndex)),
			}
			if p.GroupID != nil {
				payload[payloadGroup] = qdrant.NewValueString(p.GroupID.String())
			}
			structs[i] = &qdrant.PointStruct{
				Id:      qdrant.NewIDUUID(p.ID.String()),
				Vectors: qdrant.NewVectorsDense(p.Vector),
				Payload: payload,
			}
		}
		req := &qdrant.UpsertPoints{CollectionName: name, Wait: &wait, Points: structs}
		_, err := s.client.Upsert(ctx, req)
		if status.Code(err) == codes.NotFound {
			// Dropped behind this process's back: create it again, once.
			s.forget(name)
			if err := s.ensureCollection(ctx, c); err != nil {
				return err
			}
			_, err = s.client.Upsert(ctx, req)
		}
		if err != nil {
			if status.Code(err) == codes.InvalidArgument && strings.Contains(err.Error(), "dimension") {
				return fmt.Errorf("vectors: qdrant upsert into %s: %w: %w", name, ErrDimension, err)
			}
			return fmt.Errorf("vectors: qdrant upsert into %s: %w", name, err)
		}
	}
	return nil
}

// tenantFilter is must[ should[owner_id = user, group_id ∈ groups], group_id = q.GroupID if
// set, document_id ∈ q.DocumentIDs if set ].
func tenantFilter(sr search) *qdrant.Filter {
	readable := []*qdrant.Condition{qdrant.NewMatchKeyword(payloadOwner, sr.user.String())}
	if len(sr.groups) > 0 {
		readable = append(readable, qdrant.NewMatchKeywords(payloadGroup, uuidStrings(sr.groups)...))
	}
	must := []*qdrant.Condition{qdrant.NewFilterAsCondition(&qdrant.Filter{Should: readable})}
	if sr.group != nil {
		must = append(must, qdrant.NewMatchKeyword(payloadGroup, sr.group.String()))
	}
	if len(sr.docs) > 0 {
		must = append(must, qdrant.NewMatchKeywords(payloadDocument, uuidStrings(sr.docs)...))
	}
	return &qdrant.Filter{Must: must}
}

func uuidStrings(ids []uuid.UUID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

// Search runs one Query request with the tenant filter.
func (s *Qdrant) Search(ctx context.Context, c Collection, t Tenant, q Query) ([]Hit, error) {
	sr, ok, err := plan(c, t, q)
	if err != nil || !ok {
		return nil, err
	}
	limit := uint64(sr.topK)
	res, err := s.client.Query(ctx, &qdrant.QueryPoints{
		CollectionName: c.Name(),
		Query:          qdrant.NewQueryDense(sr.vector),
		Filter:         tenantFilter(sr),
		Limit:          &limit,
		WithPayload:    qdrant.NewWithPayloadInclude(payloadDocument, payloadChunk),
	})
	if status.Code(err) == codes.NotFound {
		s.forget(c.Name())
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("vectors: qdrant search %s: %w", c.Name(), err)
	}
	hits := make([]Hit, 0, len(res))
	for _, p := range res {
		h, err := hitOf(p)
		if err != nil {
			return nil, fmt.Errorf("vectors: qdrant search %s: %w", c.Name(), err)
		}
		hits = append(hits, h)
	}
	sortHits(hits)
	return hits, nil
}

func hitOf(p *qdrant.ScoredPoint) (Hit, error) {
	id, err := uuid.Parse(p.GetId().GetUuid())
	if err != nil {
		return Hit{}, fmt.Errorf("point id %v: %w", p.GetId(), err)
	}
	doc, err := uuid.Parse(p.GetPayload()[payloadDocument].GetStringValue())
	if err != nil {
		return Hit{}, fmt.Errorf("point %s: %s: %w", id, payloadDocument, err)
	}
	chunk, ok := p.GetPayload()[payloadChunk].GetKind().(*qdrant.Value_IntegerValue)
	if !ok {
		return Hit{}, fmt.Errorf("point %s: %s is not an integer", id, payloadChunk)
	}
	return Hit{ID: id, DocumentID: doc, ChunkIndex: int(chunk.IntegerValue), Score: p.GetScore()}, nil
}

// DeleteDocument deletes by filter document_id = documentID.
func (s *Qdrant) DeleteDocument(ctx context.Context, c Collection, documentID uuid.UUID) error {
	if err := c.validate(); err != nil {
		return err
	}
	return s.deleteWhere(ctx, c.Name(), payloadDocument, documentID)
}

// DeleteOwner deletes by filter owner_id = ownerID in every collection whose name starts
// with "yw_".
func (s *Qdrant) DeleteOwner(ctx context.Context, ownerID uuid.UUID) error {
	if ownerID == uuid.Nil {
		return fmt.Errorf("%w: nil owner", ErrInvalid)
	}
	names, err := s.client.ListCollections(ctx)
	if err != nil {
		return fmt.Errorf("vectors: qdrant list collections: %w", err)
	}
	var errs []error
	for _, name := range names {
		if strings.HasPrefix(name, collectionPrefix) {
			errs = append(errs, s.deleteWhere(ctx, name, payloadOwner, ownerID))
		}
	}
	return errors.Join(errs...)
}

// deleteWhere deletes the points whose payload key equals value; a missing collection has
// nothing to delete.
func (s *Qdrant) deleteWhere(ctx context.Context, name, key string, value uuid.UUID) error {
	wait := true
	_, err := s.client.Delete(ctx, &qdrant.DeletePoints{
		CollectionName: name,
		Wait:           &wait,
		Points: qdrant.NewPointsSelectorFilter(&qdrant.Filter{
			Must: []*qdrant.Condition{qdrant.NewMatchKeyword(key, value.String())},
		}),
	})
	if status.Code(err) == codes.NotFound {
		s.forget(name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("vectors: qdrant delete from %s: %w", name, err)
	}
	return nil
}

// CountDocument counts exactly, with filter document_id = documentID.
func (s *Qdrant) CountDocument(ctx context.Context, c Collection, documentID uuid.UUID) (int, error) {
	if err := c.validate(); err != nil {
		return 0, err
	}
	exact := true
	n, err := s.client.Count(ctx, &qdrant.CountPoints{
		CollectionName: c.Name(),
		Exact:          &exact,
		Filter: &qdrant.Filter{
			Must: []*qdrant.Condition{qdrant.NewMatchKeyword(payloadDocument, documentID.String())},
		},
	})
	if status.Code(err) == codes.NotFound {
		s.forget(c.Name())
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("vectors: qdrant count in %s: %w", c.Name(), err)
	}
	return int(n), nil
}
