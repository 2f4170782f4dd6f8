package qdrant_test

import (
	"context"
	"io"
	"log/slog"
	"math"
	"net"
	"strconv"
	"testing"
	"time"

	pb "github.com/qdrant/go-client/qdrant"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/youworker/youworker/standin/qdrant"
)

const coll = "things"

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// connect starts a stand-in and a real client on it.
func connect(t *testing.T, opts qdrant.Options, apiKey string) (*qdrant.Server, *pb.Client) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet()
	}
	srv, err := qdrant.Listen(opts)
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	host, p, err := net.SplitHostPort(srv.Addr())
	require.NoError(t, err)
	port, err := strconv.Atoi(p)
	require.NoError(t, err)
	c, err := pb.NewClient(&pb.Config{Host: host, Port: port, APIKey: apiKey, SkipCompatibilityCheck: true, PoolSize: 1})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return srv, c
}

func create(t *testing.T, c *pb.Client, name string, dim uint64) {
	t.Helper()
	require.NoError(t, c.CreateCollection(t.Context(), &pb.CreateCollection{
		CollectionName: name,
		VectorsConfig:  pb.NewVectorsConfig(&pb.VectorParams{Size: dim, Distance: pb.Distance_Cosine}),
	}))
}

func upsert(t *testing.T, c *pb.Client, pts ...*pb.PointStruct) {
	t.Helper()
	wait := true
	res, err := c.Upsert(t.Context(), &pb.UpsertPoints{CollectionName: coll, Wait: &wait, Points: pts})
	require.NoError(t, err)
	require.Equal(t, pb.UpdateStatus_Completed, res.GetStatus())
}

func pt(id uint64, vec []float32, payload map[string]any) *pb.PointStruct {
	return &pb.PointStruct{Id: pb.NewIDNum(id), Vectors: pb.NewVectorsDense(vec), Payload: pb.NewValueMap(payload)}
}

func requireCode(t *testing.T, err error, code codes.Code, contains string) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, code, status.Code(err), "%v", err)
	require.Contains(t, err.Error(), contains)
}

func TestHealthCheck(t *testing.T) {
	t.Parallel()
	srv, c := connect(t, qdrant.Options{APIKey: "k"}, "")
	res, err := c.HealthCheck(t.Context())
	require.NoError(t, err, "the health check needs no key")
	require.Contains(t, res.GetTitle(), "stand-in")
	require.Equal(t, qdrant.Version, res.GetVersion())
	require.True(t, pb.IsCompatible("1.17.1", res.GetVersion()))
	require.Equal(t, int64(1), srv.Calls("Qdrant/HealthCheck"))
}

func TestAPIKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		key  string
		want codes.Code
	}{
		{"right key", "k3y", codes.OK},
		{"wrong key", "nope", codes.PermissionDenied},
		{"no key", "", codes.PermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, c := connect(t, qdrant.Options{APIKey: "k3y"}, tt.key)
			_, err := c.ListCollections(t.Context())
			require.Equal(t, tt.want, status.Code(err), "%v", err)
			require.Equal(t, int64(1), srv.Calls("Collections/List"), "rejected calls are counted too")
		})
	}
}

func TestCollections(t *testing.T) {
	t.Parallel()
	_, c := connect(t, qdrant.Options{}, "")
	ctx := t.Context()

	exists, err := c.CollectionExists(ctx, coll)
	require.NoError(t, err)
	require.False(t, exists)
	_, err = c.GetCollectionInfo(ctx, coll)
	requireCode(t, err, codes.NotFound, "Collection `things` doesn't exist!")

	create(t, c, coll, 3)
	create(t, c, "another", 5)
	err = c.CreateCollection(ctx, &pb.CreateCollection{
		CollectionName: coll,
		VectorsConfig:  pb.NewVectorsConfig(&pb.VectorParams{Size: 3, Distance: pb.Distance_Cosine}),
	})
	requireCode(t, err, codes.AlreadyExists, "Collection `things` already exists!")

	names, err := c.ListCollections(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"another", coll}, names)
	exists, err = c.CollectionExists(ctx, coll)
	require.NoError(t, err)
	require.True(t, exists)

	wait := true
	_, err = c.CreateFieldIndex(ctx, &pb.CreateFieldIndexCollection{CollectionName: coll, Wait: &wait,
		FieldName: "owner_id", FieldType: pb.FieldType_FieldTypeKeyword.Enum()})
	require.NoError(t, err)
	upsert(t, c, pt(1, []float32{1, 0, 0}, map[string]any{"owner_id": "a"}), pt(2, []float32{0, 1, 0}, nil))
	info, err := c.GetCollectionInfo(ctx, coll)
	require.NoError(t, err)
	require.Equal(t, pb.CollectionStatus_Green, info.GetStatus())
	require.Equal(t, uint64(2), info.GetPointsCount())
	require.Equal(t, uint64(3), info.GetConfig().GetParams().GetVectorsConfig().GetParams().GetSize())
	require.Equal(t, pb.PayloadSchemaType_Keyword, info.GetPayloadSchema()["owner_id"].GetDataType())
	require.Equal(t, uint64(1), info.GetPayloadSchema()["owner_id"].GetPoints())

	require.NoError(t, c.DeleteCollection(ctx, coll))
	require.Error(t, c.DeleteCollection(ctx, coll), "the client reports result=false as an error")
	_, err = c.Count(ctx, &pb.CountPoints{CollectionName: coll})
	requireCode(t, err, codes.NotFound, "doesn't exist")
}

func TestCreateCollectionRejects(t *testing.T) {
	t.Parallel()
	_, c := connect(t, qdrant.Options{}, "")
	tests := []struct {
		name string
		req  *pb.CreateCollection
		code codes.Code
	}{
		{"empty name", &pb.CreateCollection{VectorsConfig: pb.NewVectorsConfig(&pb.VectorParams{Size: 3, Distance: pb.Distance_Cosine})}, codes.InvalidArgument},
		{"slash in the name", &pb.CreateCollection{CollectionName: "a/b", VectorsConfig: pb.NewVectorsConfig(&pb.VectorParams{Size: 3, Distance: pb.Distance_Cosine})}, codes.InvalidArgument},
		{"size zero", &pb.CreateCollection{CollectionName: "z", VectorsConfig: pb.NewVectorsConfig(&pb.VectorParams{Distance: pb.Distance_Cosine})}, codes.InvalidArgument},
		{"dot distance", &pb.CreateCollection{CollectionName: "d", VectorsConfig: pb.NewVectorsConfig(&pb.VectorParams{Size: 3, Distance: pb.Distance_Dot})}, codes.Unimplemented},
		{"named vectors", &pb.CreateCollection{CollectionName: "n", VectorsConfig: pb.NewVectorsConfigMap(map[string]*pb.VectorParams{"text": {Size: 3, Distance: pb.Distance_Cosine}})}, codes.Unimplemented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.code, status.Code(c.CreateCollection(t.Context(), tt.req)))
		})
	}
	names, err := c.ListCollections(t.Context())
	require.NoError(t, err)
	require.Empty(t, names)
}

func TestUpsertRejectsABadBatchWhole(t *testing.T) {
	t.Parallel()
	_, c := connect(t, qdrant.Options{}, "")
	create(t, c, coll, 3)
	good := pt(1, []float32{1, 2, 3}, nil)
	tests := []struct {
		name     string
		bad      *pb.PointStruct
		code     codes.Code
		contains string
	}{
		{"short vector", pt(2, []float32{1, 2}, nil), codes.InvalidArgument, "Vector dimension error: expected dim: 3, got 2"},
		{"long vector", pt(2, []float32{1, 2, 3, 4}, nil), codes.InvalidArgument, "expected dim: 3, got 4"},
		{"bad uuid", &pb.PointStruct{Id: pb.NewIDUUID("not-a-uuid"), Vectors: pb.NewVectorsDense([]float32{1, 2, 3})}, codes.InvalidArgument, "Unable to parse UUID: not-a-uuid"},
		{"no vector", &pb.PointStruct{Id: pb.NewIDNum(3)}, codes.InvalidArgument, "no vector"},
		{"named vector", &pb.PointStruct{Id: pb.NewIDNum(3), Vectors: pb.NewVectorsMap(map[string]*pb.Vector{"text": pb.NewVectorDense([]float32{1, 2, 3})})}, codes.InvalidArgument, "Not existing vector name error: text"},
		{"sparse vector", &pb.PointStruct{Id: pb.NewIDNum(3), Vectors: pb.NewVectorsSparse([]uint32{1}, []float32{1})}, codes.Unimplemented, "does not implement"},
	}
	wait := true
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Upsert(t.Context(), &pb.UpsertPoints{CollectionName: coll, Wait: &wait, Points: []*pb.PointStruct{good, tt.bad}})
			requireCode(t, err, tt.code, tt.contains)
		})
	}
	n, err := c.Count(t.Context(), &pb.CountPoints{CollectionName: coll})
	require.NoError(t, err)
	require.Zero(t, n, "the good point of each rejected batch was not written")
	_, err = c.Upsert(t.Context(), &pb.UpsertPoints{CollectionName: "missing", Points: []*pb.PointStruct{good}})
	requireCode(t, err, codes.NotFound, "Collection `missing` doesn't exist!")
}

func TestUpsertReplacesAndCanonicalisesIDs(t *testing.T) {
	t.Parallel()
	_, c := connect(t, qdrant.Options{}, "")
	create(t, c, coll, 2)
	id := "6F9619FF-8B86-D011-B42D-00CF4FC964FF"
	upsert(t, c, &pb.PointStruct{Id: pb.NewIDUUID(id), Vectors: pb.NewVectorsDense([]float32{1, 0}), Payload: pb.NewValueMap(map[string]any{"v": 1})})
	upsert(t, c, &pb.PointStruct{Id: pb.NewIDUUID("6f9619ff-8b86-d011-b42d-00cf4fc964ff"), Vectors: pb.NewVectorsDense([]float32{0, 1}), Payload: pb.NewValueMap(map[string]any{"v": 2})})
	n, err := c.Count(t.Context(), &pb.CountPoints{CollectionName: coll})
	require.NoError(t, err)
	require.Equal(t, uint64(1), n)
	res := query(t, c, &pb.QueryPoints{Query: pb.NewQueryDense([]float32{0, 1}), WithPayload: pb.NewWithPayload(true)})
	require.Len(t, res, 1)
	require.Equal(t, "6f9619ff-8b86-d011-b42d-00cf4fc964ff", res[0].GetId().GetUuid())
	require.Equal(t, int64(2), res[0].GetPayload()["v"].GetIntegerValue())
	require.InDelta(t, 1.0, res[0].GetScore(), 1e-6)
}

func query(t *testing.T, c *pb.Client, req *pb.QueryPoints) []*pb.ScoredPoint {
	t.Helper()
	req.CollectionName = coll
	res, err := c.Query(t.Context(), req)
	require.NoError(t, err)
	return res
}

func ids(res []*pb.ScoredPoint) []uint64 {
	out := make([]uint64, len(res))
	for i, p := range res {
		out[i] = p.GetId().GetNum()
	}
	return out
}

func TestQueryScoresAndOptions(t *testing.T) {
	t.Parallel()
	_, c := connect(t, qdrant.Options{}, "")
	create(t, c, coll, 2)
	// Angles 0°, 30°, 60°, 90°, 180° from the x axis, at various lengths.
	deg := func(d float64, r float32) []float32 {
		a := d * math.Pi / 180
		return []float32{r * float32(math.Cos(a)), r * float32(math.Sin(a))}
	}
	upsert(t, c,
		pt(1, deg(0, 5), map[string]any{"k": "a", "n": 1}),
		pt(2, deg(30, 0.1), map[string]any{"k": "b", "n": 2}),
		pt(3, deg(60, 2), map[string]any{"k": "c", "n": 3}),
		pt(4, deg(90, 1), map[string]any{"k": "d", "n": 4}),
		pt(5, deg(180, 7), map[string]any{"k": "e", "n": 5}),
	)
	q := pb.NewQueryDense([]float32{3, 0})

	res := query(t, c, &pb.QueryPoints{Query: q})
	require.Equal(t, []uint64{1, 2, 3, 4, 5}, ids(res), "best first")
	want := []float64{1, math.Sqrt(3) / 2, 0.5, 0, -1}
	for i, p := range res {
		require.InDelta(t, want[i], p.GetScore(), 1e-6, "cosine of point %d", p.GetId().GetNum())
		require.Empty(t, p.GetPayload(), "no payload unless asked")
		require.Nil(t, p.GetVectors(), "no vectors unless asked")
	}

	limit, offset, threshold := uint64(2), uint64(1), float32(0.4)
	require.Equal(t, []uint64{2, 3}, ids(query(t, c, &pb.QueryPoints{Query: q, Limit: &limit, Offset: &offset})))
	require.Equal(t, []uint64{1, 2, 3}, ids(query(t, c, &pb.QueryPoints{Query: q, ScoreThreshold: &threshold})))
	big := uint64(99)
	require.Empty(t, query(t, c, &pb.QueryPoints{Query: q, Offset: &big}))

	res = query(t, c, &pb.QueryPoints{Query: q, Limit: &limit, WithPayload: pb.NewWithPayloadInclude("k")})
	require.Len(t, res[0].GetPayload(), 1)
	require.Equal(t, "a", res[0].GetPayload()["k"].GetStringValue())
	res = query(t, c, &pb.QueryPoints{Query: q, Limit: &limit, WithPayload: pb.NewWithPayloadExclude("k")})
	require.Len(t, res[0].GetPayload(), 1)
	require.Equal(t, int64(1), res[0].GetPayload()["n"].GetIntegerValue())

	res = query(t, c, &pb.QueryPoints{Query: q, Limit: &limit, WithVectors: pb.NewWithVectors(true)})
	require.InDeltaSlice(t, []float32{1, 0}, res[0].GetVectors().GetVector().GetDenseVector().GetData(), 1e-6, "stored normalised")

	// The older Search API runs the same engine.
	sres, err := c.GetPointsClient().Search(t.Context(), &pb.SearchPoints{CollectionName: coll, Vector: []float32{0, 2}, Limit: 2,
		Filter: &pb.Filter{MustNot: []*pb.Condition{pb.NewMatchKeyword("k", "d")}}})
	require.NoError(t, err)
	require.Equal(t, []uint64{3, 2}, ids(sres.GetResult()))
	require.InDelta(t, math.Sqrt(3)/2, sres.GetResult()[0].GetScore(), 1e-6)
}

func TestQueryRejects(t *testing.T) {
	t.Parallel()
	_, c := connect(t, qdrant.Options{}, "")
	create(t, c, coll, 2)
	zero := uint64(0)
	name := "text"
	tests := []struct {
		name     string
		req      *pb.QueryPoints
		code     codes.Code
		contains string
	}{
		{"wrong dimension", &pb.QueryPoints{Query: pb.NewQueryDense([]float32{1, 2, 3})}, codes.InvalidArgument, "expected dim: 2, got 3"},
		{"limit zero", &pb.QueryPoints{Query: pb.NewQueryDense([]float32{1, 2}), Limit: &zero}, codes.InvalidArgument, "limit"},
		{"named vector", &pb.QueryPoints{Query: pb.NewQueryDense([]float32{1, 2}), Using: &name}, codes.InvalidArgument, "Not existing vector name error: text"},
		{"no query", &pb.QueryPoints{}, codes.Unimplemented, "does not implement"},
		{"by id", &pb.QueryPoints{Query: pb.NewQueryID(pb.NewIDNum(1))}, codes.Unimplemented, "does not implement"},
		{"fusion", &pb.QueryPoints{Query: pb.NewQueryFusion(pb.Fusion_RRF)}, codes.Unimplemented, "does not implement"},
		{"range filter", &pb.QueryPoints{Query: pb.NewQueryDense([]float32{1, 2}), Filter: &pb.Filter{Must: []*pb.Condition{pb.NewRange("n", &pb.Range{Gt: ptr(1.0)})}}}, codes.Unimplemented, "does not implement"},
		{"full-text filter", &pb.QueryPoints{Query: pb.NewQueryDense([]float32{1, 2}), Filter: &pb.Filter{Should: []*pb.Condition{pb.NewMatchText("k", "a")}}}, codes.Unimplemented, "does not implement"},
		{"nested key", &pb.QueryPoints{Query: pb.NewQueryDense([]float32{1, 2}), Filter: &pb.Filter{Must: []*pb.Condition{pb.NewMatchKeyword("a.b", "x")}}}, codes.Unimplemented, "nested payload keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.CollectionName = coll
			_, err := c.Query(t.Context(), tt.req)
			requireCode(t, err, tt.code, tt.contains)
		})
	}
	_, err := c.Query(t.Context(), &pb.QueryPoints{CollectionName: "missing", Query: pb.NewQueryDense([]float32{1, 2})})
	requireCode(t, err, codes.NotFound, "Collection `missing` doesn't exist!")
	_, err = c.Scroll(t.Context(), &pb.ScrollPoints{CollectionName: coll})
	require.Equal(t, codes.Unimplemented, status.Code(err), "methods YouWorker does not call are not implemented")
}

func ptr[T any](v T) *T { return &v }

func TestFilters(t *testing.T) {
	t.Parallel()
	_, c := connect(t, qdrant.Options{}, "")
	create(t, c, coll, 2)
	v := []float32{1, 1}
	upsert(t, c,
		pt(1, v, map[string]any{"owner": "u1", "group": "g1", "tags": []any{"x", "y"}, "n": 1, "ok": true}),
		pt(2, v, map[string]any{"owner": "u2", "group": "g1", "tags": []any{"y"}, "n": 2, "ok": false}),
		pt(3, v, map[string]any{"owner": "u2", "group": "g2", "tags": []any{}, "n": 3}),
		pt(4, v, map[string]any{"owner": "u3", "n": "4", "gone": nil}),
	)
	match := pb.NewMatchKeyword
	tests := []struct {
		name   string
		filter *pb.Filter
		want   []uint64
	}{
		{"no filter", nil, []uint64{1, 2, 3, 4}},
		{"empty filter", &pb.Filter{}, []uint64{1, 2, 3, 4}},
		{"keyword", &pb.Filter{Must: []*pb.Condition{match("owner", "u2")}}, []uint64{2, 3}},
		{"keyword on a missing key", &pb.Filter{Must: []*pb.Condition{match("group", "g2")}}, []uint64{3}},
		{"keyword is not integer", &pb.Filter{Must: []*pb.Condition{match("n", "1")}}, nil},
		{"integer is not keyword", &pb.Filter{Must: []*pb.Condition{pb.NewMatchInt("n", 4)}}, nil},
		{"integer", &pb.Filter{Must: []*pb.Condition{pb.NewMatchInt("n", 2)}}, []uint64{2}},
		{"integers (any)", &pb.Filter{Must: []*pb.Condition{pb.NewMatchInts("n", 1, 3, 9)}}, []uint64{1, 3}},
		{"keywords (any)", &pb.Filter{Must: []*pb.Condition{pb.NewMatchKeywords("owner", "u1", "u3")}}, []uint64{1, 4}},
		{"keywords (any), none given", &pb.Filter{Must: []*pb.Condition{pb.NewMatchKeywords("owner")}}, nil},
		{"boolean", &pb.Filter{Must: []*pb.Condition{pb.NewMatchBool("ok", false)}}, []uint64{2}},
		{"array element", &pb.Filter{Must: []*pb.Condition{match("tags", "y")}}, []uint64{1, 2}},
		{"must is AND", &pb.Filter{Must: []*pb.Condition{match("owner", "u2"), match("group", "g1")}}, []uint64{2}},
		{"should is OR", &pb.Filter{Should: []*pb.Condition{match("owner", "u1"), match("group", "g2")}}, []uint64{1, 3}},
		{"must_not", &pb.Filter{MustNot: []*pb.Condition{match("group", "g1")}}, []uint64{3, 4}},
		{"min_should", &pb.Filter{MinShould: &pb.MinShould{MinCount: 2, Conditions: []*pb.Condition{
			match("owner", "u2"), match("group", "g1"), match("tags", "y")}}}, []uint64{1, 2}},
		{"tenant shape: must[should[owner, group any]] + group", &pb.Filter{Must: []*pb.Condition{
			pb.NewFilterAsCondition(&pb.Filter{Should: []*pb.Condition{match("owner", "u3"), pb.NewMatchKeywords("group", "g2")}}),
			pb.NewMatchKeywords("group", "g2"),
		}}, []uint64{3}},
		{"has_id", &pb.Filter{Must: []*pb.Condition{pb.NewHasID(pb.NewIDNum(2), pb.NewIDNum(4), pb.NewIDNum(99))}}, []uint64{2, 4}},
		{"is_empty", &pb.Filter{Must: []*pb.Condition{pb.NewIsEmpty("tags")}}, []uint64{3, 4}},
		{"is_null", &pb.Filter{Must: []*pb.Condition{pb.NewIsNull("gone")}}, []uint64{4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exact := true
			n, err := c.Count(t.Context(), &pb.CountPoints{CollectionName: coll, Filter: tt.filter, Exact: &exact})
			require.NoError(t, err)
			require.Equal(t, uint64(len(tt.want)), n)
			res := query(t, c, &pb.QueryPoints{Query: pb.NewQueryDense(v), Filter: tt.filter})
			require.ElementsMatch(t, tt.want, ids(res))
		})
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	_, c := connect(t, qdrant.Options{}, "")
	create(t, c, coll, 2)
	v := []float32{1, 0}
	upsert(t, c, pt(1, v, map[string]any{"doc": "a"}), pt(2, v, map[string]any{"doc": "a"}), pt(3, v, map[string]any{"doc": "b"}), pt(4, v, nil))
	wait := true
	del := func(sel *pb.PointsSelector) {
		t.Helper()
		res, err := c.Delete(t.Context(), &pb.DeletePoints{CollectionName: coll, Wait: &wait, Points: sel})
		require.NoError(t, err)
		require.Equal(t, pb.UpdateStatus_Completed, res.GetStatus())
	}
	del(pb.NewPointsSelectorFilter(&pb.Filter{Must: []*pb.Condition{pb.NewMatchKeyword("doc", "a")}}))
	require.ElementsMatch(t, []uint64{3, 4}, ids(query(t, c, &pb.QueryPoints{Query: pb.NewQueryDense(v)})))
	del(pb.NewPointsSelector(pb.NewIDNum(4), pb.NewIDNum(77)))
	require.ElementsMatch(t, []uint64{3}, ids(query(t, c, &pb.QueryPoints{Query: pb.NewQueryDense(v)})))
	_, err := c.Delete(t.Context(), &pb.DeletePoints{CollectionName: "missing", Points: pb.NewPointsSelector(pb.NewIDNum(1))})
	requireCode(t, err, codes.NotFound, "doesn't exist")

	noWait, err := c.Delete(t.Context(), &pb.DeletePoints{CollectionName: coll, Points: pb.NewPointsSelector(pb.NewIDNum(3))})
	require.NoError(t, err)
	require.Equal(t, pb.UpdateStatus_Acknowledged, noWait.GetStatus())
	require.Empty(t, query(t, c, &pb.QueryPoints{Query: pb.NewQueryDense(v)}), "applied before the answer all the same")
}

func TestStart(t *testing.T) {
	t.Parallel()
	addr, stop, err := qdrant.Start()
	require.NoError(t, err)
	host, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	port, err := strconv.Atoi(p)
	require.NoError(t, err)
	c, err := pb.NewClient(&pb.Config{Host: host, Port: port, SkipCompatibilityCheck: true, PoolSize: 1})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.HealthCheck(t.Context())
	require.NoError(t, err)
	stop()
	stop()
	// The port may be reused by another process at once (a plain dial would race with it);
	// what must be gone is the stand-in's answer.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	_, err = c.HealthCheck(ctx)
	require.Error(t, err, "nothing answers after stop")
}
