package vectors_test

import (
	"net"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/qdrant/go-client/qdrant"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	qdrantstandin "github.com/youworker/youworker/standin/qdrant"
	"github.com/youworker/youworker/vectors"
)

func TestOpenQdrant(t *testing.T) {
	t.Parallel()
	srv, err := qdrantstandin.Listen(qdrantstandin.Options{APIKey: "s3cret"})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedAddr := closed.Addr().String()
	require.NoError(t, closed.Close())

	tests := []struct {
		name     string
		cfg      vectors.QdrantConfig
		wantCode codes.Code // of the gRPC error, when the server is reached
		invalid  bool       // rejected before dialling
	}{
		{"right key", vectors.QdrantConfig{URL: "http://" + srv.Addr(), APIKey: "s3cret"}, codes.OK, false},
		{"no scheme", vectors.QdrantConfig{URL: srv.Addr(), APIKey: "s3cret"}, codes.OK, false},
		{"wrong key", vectors.QdrantConfig{URL: "http://" + srv.Addr(), APIKey: "nope"}, codes.PermissionDenied, false},
		{"no key", vectors.QdrantConfig{URL: "http://" + srv.Addr()}, codes.PermissionDenied, false},
		{"nobody listening", vectors.QdrantConfig{URL: "http://" + closedAddr}, codes.Unavailable, false},
		{"empty URL", vectors.QdrantConfig{}, codes.OK, true},
		{"other scheme", vectors.QdrantConfig{URL: "ftp://" + srv.Addr()}, codes.OK, true},
		{"port out of range", vectors.QdrantConfig{URL: "http://localhost:70000"}, codes.OK, true},
		{"a path", vectors.QdrantConfig{URL: "http://" + srv.Addr() + "/collections"}, codes.OK, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := vectors.OpenQdrant(t.Context(), tt.cfg)
			switch {
			case tt.invalid:
				require.ErrorIs(t, err, vectors.ErrInvalid)
			case tt.wantCode != codes.OK:
				require.Error(t, err)
				require.Equal(t, tt.wantCode, status.Code(err), "%v", err)
			default:
				require.NoError(t, err)
				require.NoError(t, s.Ping(t.Context()))
				require.NoError(t, s.Close())
			}
		})
	}
}

func TestQdrantCollectionSetup(t *testing.T) {
	t.Parallel()
	srv, err := qdrantstandin.Listen(qdrantstandin.Options{})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	s, err := vectors.OpenQdrant(t.Context(), vectors.QdrantConfig{URL: "http://" + srv.Addr()})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	client, err := qdrant.NewClient(&qdrant.Config{Host: "127.0.0.1", Port: port(t, srv.Addr()), SkipCompatibilityCheck: true})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, client.Close()) })

	f := newFixture(t, s, 8)
	f.c.Model = "nomic-embed-text:latest"
	user, group := uuid.New(), uuid.New()
	hits := f.search(f.tenant(user), vectors.Query{Vector: f.vec()})
	require.Empty(t, hits)
	require.Zero(t, srv.Calls("Collections/Create"), "searching does not create the collection")

	personal, _ := f.doc(user, nil, 1)
	shared, _ := f.doc(user, &group, 1)
	f.doc(user, nil, 1)
	require.Equal(t, int64(1), srv.Calls("Collections/Create"))
	require.Equal(t, int64(1), srv.Calls("Collections/CollectionExists"), "checked once per process")
	require.Equal(t, int64(3), srv.Calls("Points/CreateFieldIndex"))

	info, err := client.GetCollectionInfo(t.Context(), "yw_nomic-embed-text_latest_8")
	require.NoError(t, err)
	params := info.GetConfig().GetParams().GetVectorsConfig().GetParams()
	require.Equal(t, uint64(8), params.GetSize())
	require.Equal(t, qdrant.Distance_Cosine, params.GetDistance())
	require.Len(t, info.GetPayloadSchema(), 3)
	for _, field := range []string{"owner_id", "group_id", "document_id"} {
		require.Equal(t, qdrant.PayloadSchemaType_Keyword, info.GetPayloadSchema()[field].GetDataType(), field)
	}

	// The payload layout is what other tools (and older data) rely on.
	limit := uint64(10)
	res, err := client.Query(t.Context(), &qdrant.QueryPoints{
		CollectionName: "yw_nomic-embed-text_latest_8",
		Query:          qdrant.NewQueryDense(f.vec()),
		Limit:          &limit,
		WithPayload:    qdrant.NewWithPayload(true),
	})
	require.NoError(t, err)
	require.Len(t, res, 3)
	for _, p := range res {
		pl := p.GetPayload()
		require.Equal(t, user.String(), pl["owner_id"].GetStringValue())
		require.Equal(t, int64(0), pl["chunk_index"].GetIntegerValue())
		_, isInt := pl["chunk_index"].GetKind().(*qdrant.Value_IntegerValue)
		require.True(t, isInt)
		switch pl["document_id"].GetStringValue() {
		case personal.String():
			require.NotContains(t, pl, "group_id", "a personal point has no group_id")
		case shared.String():
			require.Equal(t, group.String(), pl["group_id"].GetStringValue())
		}
	}

	// A collection dropped behind the store's back is created again by the next upsert.
	require.NoError(t, client.DeleteCollection(t.Context(), "yw_nomic-embed-text_latest_8"))
	again, _ := f.doc(user, nil, 2)
	require.Equal(t, 2, f.count(again))
	require.Equal(t, 0, f.count(personal))
	require.Equal(t, int64(2), srv.Calls("Collections/Create"))
}

func TestQdrantToleratesCreationRaces(t *testing.T) {
	t.Parallel()
	srv, err := qdrantstandin.Listen(qdrantstandin.Options{})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	c := vectors.Collection{Model: "race", Dim: 4}
	const processes = 8
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, processes)
	docs := make([]uuid.UUID, processes)
	for i := range processes {
		// Each store is a separate process: its own connection and its own cache.
		s, err := vectors.OpenQdrant(t.Context(), vectors.QdrantConfig{URL: "http://" + srv.Addr()})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		docs[i] = uuid.New()
		wg.Go(func() {
			<-start
			errs[i] = s.Upsert(t.Context(), c, []vectors.Point{{ID: uuid.New(), Vector: []float32{1, 2, 3, float32(i)},
				OwnerID: uuid.New(), DocumentID: docs[i]}})
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	s := openQdrantOn(t, srv)
	for _, d := range docs {
		n, err := s.CountDocument(t.Context(), c, d)
		require.NoError(t, err)
		require.Equal(t, 1, n)
	}
}

func openQdrantOn(t *testing.T, srv *qdrantstandin.Server) *vectors.Qdrant {
	t.Helper()
	s, err := vectors.OpenQdrant(t.Context(), vectors.QdrantConfig{URL: "http://" + srv.Addr()})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	n, err := net.LookupPort("tcp", p)
	require.NoError(t, err)
	return n
}
