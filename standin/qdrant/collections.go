package qdrant

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	pb "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

const (
	maxDim           = 65536
	maxCollectionLen = 255
)

// database is the in-memory state shared by the services.
type database struct {
	mu          sync.RWMutex
	collections map[string]*collection
	opID        uint64 // last operation id, under mu
}

func newDatabase() *database {
	return &database{collections: map[string]*collection{}}
}

type collection struct {
	name     string
	params   *pb.VectorParams
	metadata map[string]*pb.Value
	indexes  map[string]pb.PayloadSchemaType
	points   map[string]*point // by pointKey
}

type point struct {
	key     string
	id      *pb.PointId
	vector  []float32 // normalised (Cosine)
	payload map[string]*pb.Value
	version uint64 // operation that last wrote it
}

// get returns the collection, or NotFound. The caller holds db.mu.
func (db *database) get(name string) (*collection, error) {
	c, ok := db.collections[name]
	if !ok {
		return nil, collectionNotFound(name)
	}
	return c, nil
}

// nextOp returns a new operation id. The caller holds db.mu for writing.
func (db *database) nextOp() uint64 {
	db.opID++
	return db.opID
}

type collections struct {
	pb.UnimplementedCollectionsServer
	db *database
}

func validCollectionName(name string) error {
	if name == "" || len(name) > maxCollectionLen {
		return status.Errorf(codes.InvalidArgument, "Validation error in body: [collection_name: length: value must be between 1 and %d]", maxCollectionLen)
	}
	if strings.ContainsAny(name, "<>:\"/\\|?*\x00\x1f") {
		return badInput("Collection name must not contain any of the characters <>:\"/\\|?*")
	}
	return nil
}

func (s *collections) Create(_ context.Context, req *pb.CreateCollection) (*pb.CollectionOperationResponse, error) {
	start := time.Now()
	name := req.GetCollectionName()
	if err := validCollectionName(name); err != nil {
		return nil, err
	}
	vc := req.GetVectorsConfig()
	if vc.GetParamsMap() != nil {
		return nil, unimplemented("named vectors")
	}
	params := vc.GetParams()
	switch {
	case params == nil:
		return nil, unimplemented("collections without a dense vector")
	case req.GetSparseVectorsConfig() != nil:
		return nil, unimplemented("sparse vectors")
	case params.GetMultivectorConfig() != nil:
		return nil, unimplemented("multivectors")
	case params.GetSize() == 0 || params.GetSize() > maxDim:
		return nil, status.Errorf(codes.InvalidArgument, "Validation error in body: [vectors_config.size: value %d invalid, must be from 1 to %d]", params.GetSize(), maxDim)
	case params.GetDistance() != pb.Distance_Cosine:
		return nil, unimplemented("distance %s (only Cosine)", params.GetDistance())
	}
	s.db.mu.Lock()
	defer s.db.mu.Unlock()
	if _, ok := s.db.collections[name]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "Wrong input: Collection `%s` already exists!", name)
	}
	md := make(map[string]*pb.Value, len(req.GetMetadata()))
	for k, v := range req.GetMetadata() {
		md[k] = proto.CloneOf(v)
	}
	s.db.collections[name] = &collection{
		name:     name,
		params:   proto.CloneOf(params),
		metadata: md,
		indexes:  map[string]pb.PayloadSchemaType{},
		points:   map[string]*point{},
	}
	return &pb.CollectionOperationResponse{Result: true, Time: since(start)}, nil
}

func (s *collections) Get(_ context.Context, req *pb.GetCollectionInfoRequest) (*pb.GetCollectionInfoResponse, error) {
	start := time.Now()
	s.db.mu.RLock()
	defer s.db.mu.RUnlock()
	c, err := s.db.get(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	schema := make(map[string]*pb.PayloadSchemaInfo, len(c.indexes))
	for field, typ := range c.indexes {
		var n uint64
		for _, p := range c.points {
			if _, ok := p.payload[field]; ok {
				n++
			}
		}
		schema[field] = &pb.PayloadSchemaInfo{DataType: typ, Points: &n}
	}
	count := uint64(len(c.points))
	indexed := uint64(0)
	one := uint32(1)
	md := make(map[string]*pb.Value, len(c.metadata))
	for k, v := range c.metadata {
		md[k] = proto.CloneOf(v)
	}
	return &pb.GetCollectionInfoResponse{
		Result: &pb.CollectionInfo{
			Status:          pb.CollectionStatus_Green,
			OptimizerStatus: &pb.OptimizerStatus{Ok: true},
			SegmentsCount:   1,
			Config: &pb.CollectionConfig{
				Params: &pb.CollectionParams{
					ShardNumber:            1,
					VectorsConfig:          pb.NewVectorsConfig(proto.CloneOf(c.params)),
					ReplicationFactor:      &one,
					WriteConsistencyFactor: &one,
				},
				HnswConfig:      &pb.HnswConfigDiff{},
				OptimizerConfig: &pb.OptimizersConfigDiff{},
				WalConfig:       &pb.WalConfigDiff{},
				Metadata:        md,
			},
			PayloadSchema:       schema,
			PointsCount:         &count,
			IndexedVectorsCount: &indexed,
		},
		Time: since(start),
	}, nil
}

func (s *collections) List(context.Context, *pb.ListCollectionsRequest) (*pb.ListCollectionsResponse, error) {
	start := time.Now()
	s.db.mu.RLock()
	names := slices.Sorted(maps.Keys(s.db.collections))
	s.db.mu.RUnlock()
	out := make([]*pb.CollectionDescription, len(names))
	for i, n := range names {
		out[i] = &pb.CollectionDescription{Name: n}
	}
	return &pb.ListCollectionsResponse{Collections: out, Time: since(start)}, nil
}

func (s *collections) CollectionExists(_ context.Context, req *pb.CollectionExistsRequest) (*pb.CollectionExistsResponse, error) {
	start := time.Now()
	s.db.mu.RLock()
	_, ok := s.db.collections[req.GetCollectionName()]
	s.db.mu.RUnlock()
	return &pb.CollectionExistsResponse{Result: &pb.CollectionExists{Exists: ok}, Time: since(start)}, nil
}

func (s *collections) Delete(_ context.Context, req *pb.DeleteCollection) (*pb.CollectionOperationResponse, error) {
	start := time.Now()
	s.db.mu.Lock()
	defer s.db.mu.Unlock()
	_, ok := s.db.collections[req.GetCollectionName()]
	delete(s.db.collections, req.GetCollectionName())
	return &pb.CollectionOperationResponse{Result: ok, Time: since(start)}, nil
}
