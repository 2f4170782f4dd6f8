package qdrant

import (
	"cmp"
	"context"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	pb "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

const defaultLimit = 10

type points struct {
	pb.UnimplementedPointsServer
	db *database
}

// pointKey is the map key of a point id, and the id in canonical form.
func pointKey(id *pb.PointId) (string, *pb.PointId, error) {
	switch v := id.GetPointIdOptions().(type) {
	case *pb.PointId_Num:
		return "n:" + strconv.FormatUint(v.Num, 10), pb.NewIDNum(v.Num), nil
	case *pb.PointId_Uuid:
		u, err := uuid.Parse(v.Uuid)
		if err != nil {
			return "", nil, status.Errorf(codes.InvalidArgument, "Unable to parse UUID: %s", v.Uuid)
		}
		return "u:" + u.String(), pb.NewIDUUID(u.String()), nil
	default:
		return "", nil, status.Error(codes.InvalidArgument, "Wrong input: point id is missing")
	}
}

// denseOf is the dense vector of an upserted point.
func denseOf(v *pb.Vectors) ([]float32, error) {
	switch o := v.GetVectorsOptions().(type) {
	case *pb.Vectors_Vector:
		return denseVector(o.Vector)
	case *pb.Vectors_Vectors:
		for name, vec := range o.Vectors.GetVectors() {
			if name != "" {
				return nil, badInput("Not existing vector name error: %s", name)
			}
			return denseVector(vec)
		}
	}
	return nil, badInput("point has no vector")
}

func denseVector(v *pb.Vector) ([]float32, error) {
	switch o := v.GetVector().(type) {
	case *pb.Vector_Dense:
		return o.Dense.GetData(), nil
	case nil:
		//lint:ignore SA1019 older clients send dense vectors in the deprecated fields, and Qdrant accepts them
		if v.GetIndices() != nil || v.GetVectorsCount() != 0 {
			return nil, unimplemented("sparse and multi vectors")
		}
		//lint:ignore SA1019 as above
		return v.GetData(), nil
	default:
		return nil, unimplemented("vector type %T", o)
	}
}

// normalize returns v scaled to unit length, as Qdrant stores vectors of a Cosine collection;
// a zero vector is returned unchanged.
func normalize(v []float32) []float32 {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	out := slices.Clone(v)
	if sum == 0 {
		return out
	}
	n := math.Sqrt(sum)
	for i, x := range v {
		out[i] = float32(float64(x) / n)
	}
	return out
}

func dimensionError(want uint64, got int) error {
	return badInput("Vector dimension error: expected dim: %d, got %d", want, got)
}

func updateResponse(op uint64, wait bool, start time.Time) *pb.PointsOperationResponse {
	st := pb.UpdateStatus_Acknowledged
	if wait {
		st = pb.UpdateStatus_Completed
	}
	return &pb.PointsOperationResponse{Result: &pb.UpdateResult{OperationId: &op, Status: st}, Time: since(start)}
}

func (s *points) Upsert(_ context.Context, req *pb.UpsertPoints) (*pb.PointsOperationResponse, error) {
	start := time.Now()
	switch {
	case req.UpdateFilter != nil:
		return nil, unimplemented("conditional upserts (update_filter)")
	case req.UpdateMode != nil && req.GetUpdateMode() != pb.UpdateMode_Upsert:
		return nil, unimplemented("update_mode %s", req.GetUpdateMode())
	case req.ShardKeySelector != nil:
		return nil, unimplemented("shard keys")
	}
	s.db.mu.Lock()
	defer s.db.mu.Unlock()
	c, err := s.db.get(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	batch := make([]*point, 0, len(req.GetPoints()))
	for _, ps := range req.GetPoints() {
		key, id, err := pointKey(ps.GetId())
		if err != nil {
			return nil, err
		}
		v, err := denseOf(ps.GetVectors())
		if err != nil {
			return nil, err
		}
		if uint64(len(v)) != c.params.GetSize() {
			return nil, dimensionError(c.params.GetSize(), len(v))
		}
		payload := make(map[string]*pb.Value, len(ps.GetPayload()))
		for k, val := range ps.GetPayload() {
			payload[k] = proto.CloneOf(val)
		}
		batch = append(batch, &point{key: key, id: id, vector: normalize(v), payload: payload})
	}
	op := s.db.nextOp()
	for _, p := range batch {
		p.version = op
		c.points[p.key] = p
	}
	return updateResponse(op, req.GetWait(), start), nil
}

func (s *points) Delete(_ context.Context, req *pb.DeletePoints) (*pb.PointsOperationResponse, error) {
	start := time.Now()
	if req.ShardKeySelector != nil {
		return nil, unimplemented("shard keys")
	}
	if err := checkFilter(req.GetPoints().GetFilter()); err != nil {
		return nil, err
	}
	s.db.mu.Lock()
	defer s.db.mu.Unlock()
	c, err := s.db.get(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	switch sel := req.GetPoints().GetPointsSelectorOneOf().(type) {
	case *pb.PointsSelector_Points:
		keys := make([]string, 0, len(sel.Points.GetIds()))
		for _, id := range sel.Points.GetIds() {
			k, _, err := pointKey(id)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		}
		for _, k := range keys {
			delete(c.points, k)
		}
	case *pb.PointsSelector_Filter:
		for k, p := range c.points {
			if matchFilter(sel.Filter, p) {
				delete(c.points, k)
			}
		}
	default:
		return nil, badInput("points selector is missing")
	}
	return updateResponse(s.db.nextOp(), req.GetWait(), start), nil
}

func (s *points) Count(_ context.Context, req *pb.CountPoints) (*pb.CountResponse, error) {
	start := time.Now()
	if req.ShardKeySelector != nil {
		return nil, unimplemented("shard keys")
	}
	if err := checkFilter(req.GetFilter()); err != nil {
		return nil, err
	}
	s.db.mu.RLock()
	defer s.db.mu.RUnlock()
	c, err := s.db.get(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	n := uint64(0)
	for _, p := range c.points {
		if matchFilter(req.GetFilter(), p) {
			n++
		}
	}
	return &pb.CountResponse{Result: &pb.CountResult{Count: n}, Time: since(start)}, nil
}

func (s *points) CreateFieldIndex(_ context.Context, req *pb.CreateFieldIndexCollection) (*pb.PointsOperationResponse, error) {
	start := time.Now()
	if req.GetFieldName() == "" {
		return nil, badInput("field_name is empty")
	}
	if req.FieldType == nil {
		return nil, badInput("field_type is required")
	}
	schema, ok := schemaTypes[req.GetFieldType()]
	if !ok {
		return nil, badInput("unknown field_type %d", req.GetFieldType())
	}
	s.db.mu.Lock()
	defer s.db.mu.Unlock()
	c, err := s.db.get(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	c.indexes[req.GetFieldName()] = schema
	return updateResponse(s.db.nextOp(), req.GetWait(), start), nil
}

var schemaTypes = map[pb.FieldType]pb.PayloadSchemaType{
	pb.FieldType_FieldTypeKeyword:  pb.PayloadSchemaType_Keyword,
	pb.FieldType_FieldTypeInteger:  pb.PayloadSchemaType_Integer,
	pb.FieldType_FieldTypeFloat:    pb.PayloadSchemaType_Float,
	pb.FieldType_FieldTypeGeo:      pb.PayloadSchemaType_Geo,
	pb.FieldType_FieldTypeText:     pb.PayloadSchemaType_Text,
	pb.FieldType_FieldTypeBool:     pb.PayloadSchemaType_Bool,
	pb.FieldType_FieldTypeDatetime: pb.PayloadSchemaType_Datetime,
	pb.FieldType_FieldTypeUuid:     pb.PayloadSchemaType_Uuid,
}

// nearest is a validated similarity search, common to Query and Search.
type nearest struct {
	collection  string
	vector      []float32
	filter      *pb.Filter
	limit       uint64
	offset      uint64
	threshold   *float32
	withPayload *pb.WithPayloadSelector
	withVectors *pb.WithVectorsSelector
}

func (s *points) Query(_ context.Context, req *pb.QueryPoints) (*pb.QueryResponse, error) {
	start := time.Now()
	switch {
	case len(req.GetPrefetch()) > 0:
		return nil, unimplemented("prefetch")
	case req.LookupFrom != nil:
		return nil, unimplemented("lookup_from")
	case req.ShardKeySelector != nil:
		return nil, unimplemented("shard keys")
	case req.GetUsing() != "":
		return nil, badInput("Not existing vector name error: %s", req.GetUsing())
	case req.Query == nil:
		return nil, unimplemented("queries without a query (scroll through Query)")
	}
	n := nearest{
		collection:  req.GetCollectionName(),
		filter:      req.GetFilter(),
		limit:       defaultLimit,
		offset:      req.GetOffset(),
		threshold:   req.ScoreThreshold,
		withPayload: req.GetWithPayload(),
		withVectors: req.GetWithVectors(),
	}
	if req.Limit != nil {
		n.limit = req.GetLimit()
	}
	nq, ok := req.GetQuery().GetVariant().(*pb.Query_Nearest)
	if !ok {
		return nil, unimplemented("query %T (only nearest)", req.GetQuery().GetVariant())
	}
	in, ok := nq.Nearest.GetVariant().(*pb.VectorInput_Dense)
	if !ok {
		return nil, unimplemented("nearest to %T (only dense vectors)", nq.Nearest.GetVariant())
	}
	n.vector = in.Dense.GetData()
	res, err := s.search(n)
	if err != nil {
		return nil, err
	}
	return &pb.QueryResponse{Result: res, Time: since(start)}, nil
}

func (s *points) Search(_ context.Context, req *pb.SearchPoints) (*pb.SearchResponse, error) {
	start := time.Now()
	switch {
	case req.GetVectorName() != "":
		return nil, badInput("Not existing vector name error: %s", req.GetVectorName())
	case req.SparseIndices != nil:
		return nil, unimplemented("sparse vectors")
	case req.ShardKeySelector != nil:
		return nil, unimplemented("shard keys")
	}
	res, err := s.search(nearest{
		collection:  req.GetCollectionName(),
		vector:      req.GetVector(),
		filter:      req.GetFilter(),
		limit:       req.GetLimit(),
		offset:      req.GetOffset(),
		threshold:   req.ScoreThreshold,
		withPayload: req.GetWithPayload(),
		withVectors: req.GetWithVectors(),
	})
	if err != nil {
		return nil, err
	}
	return &pb.SearchResponse{Result: res, Time: since(start)}, nil
}

// search scores every point that passes the filter against the query vector.
func (s *points) search(n nearest) ([]*pb.ScoredPoint, error) {
	if n.limit == 0 {
		return nil, status.Error(codes.InvalidArgument, "Validation error in body: [limit: value 0 invalid, must be 1 or larger]")
	}
	if err := checkFilter(n.filter); err != nil {
		return nil, err
	}
	if err := checkSelectors(n.withPayload, n.withVectors); err != nil {
		return nil, err
	}
	s.db.mu.RLock()
	defer s.db.mu.RUnlock()
	c, err := s.db.get(n.collection)
	if err != nil {
		return nil, err
	}
	if uint64(len(n.vector)) != c.params.GetSize() {
		return nil, dimensionError(c.params.GetSize(), len(n.vector))
	}
	query := normalize(n.vector)

	type scored struct {
		p     *point
		score float32
	}
	var found []scored
	for _, p := range c.points {
		if !matchFilter(n.filter, p) {
			continue
		}
		var dot float64
		for i, x := range p.vector {
			dot += float64(x) * float64(query[i])
		}
		sc := float32(dot)
		if n.threshold != nil && sc < *n.threshold {
			continue
		}
		found = append(found, scored{p, sc})
	}
	slices.SortFunc(found, func(a, b scored) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Compare(a.p.key, b.p.key)
	})
	if n.offset >= uint64(len(found)) {
		return []*pb.ScoredPoint{}, nil
	}
	found = found[n.offset:]
	found = found[:min(uint64(len(found)), n.limit)]
	out := make([]*pb.ScoredPoint, len(found))
	for i, f := range found {
		out[i] = &pb.ScoredPoint{
			Id:      proto.CloneOf(f.p.id),
			Payload: selectPayload(n.withPayload, f.p.payload),
			Score:   f.score,
			Version: f.p.version,
			Vectors: selectVectors(n.withVectors, f.p.vector),
		}
	}
	return out, nil
}

func checkSelectors(wp *pb.WithPayloadSelector, wv *pb.WithVectorsSelector) error {
	if _, ok := wv.GetSelectorOptions().(*pb.WithVectorsSelector_Include); ok {
		return unimplemented("with_vectors by name")
	}
	for _, f := range append(slices.Clone(wp.GetInclude().GetFields()), wp.GetExclude().GetFields()...) {
		if err := checkKey(f); err != nil {
			return err
		}
	}
	return nil
}

// selectPayload is the part of payload that sel asks for: none when sel is nil.
func selectPayload(sel *pb.WithPayloadSelector, payload map[string]*pb.Value) map[string]*pb.Value {
	keep := func(string) bool { return false }
	switch o := sel.GetSelectorOptions().(type) {
	case *pb.WithPayloadSelector_Enable:
		keep = func(string) bool { return o.Enable }
	case *pb.WithPayloadSelector_Include:
		keep = func(k string) bool { return slices.Contains(o.Include.GetFields(), k) }
	case *pb.WithPayloadSelector_Exclude:
		keep = func(k string) bool { return !slices.Contains(o.Exclude.GetFields(), k) }
	}
	out := map[string]*pb.Value{}
	for k, v := range payload {
		if keep(k) {
			out[k] = proto.CloneOf(v)
		}
	}
	return out
}

func selectVectors(sel *pb.WithVectorsSelector, v []float32) *pb.VectorsOutput {
	if !sel.GetEnable() {
		return nil
	}
	return &pb.VectorsOutput{VectorsOptions: &pb.VectorsOutput_Vector{Vector: &pb.VectorOutput{
		Vector: &pb.VectorOutput_Dense{Dense: &pb.DenseVector{Data: slices.Clone(v)}},
	}}}
}
