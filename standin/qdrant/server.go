package qdrant

import (
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	pb "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Version is the version HealthCheck reports: the Qdrant release whose API the stand-in
// follows, so that the go-client's compatibility check passes.
const Version = "1.17.0"

const (
	title          = "qdrant - vector search engine (YouWorker stand-in)"
	commit         = "youworker-standin"
	maxMessageSize = 32 << 20 // Qdrant's default max_request_size_mb
	healthMethod   = "/qdrant.Qdrant/HealthCheck"
)

// Options configures a [Server]. The zero value is usable.
type Options struct {
	Addr   string       // listen address; "" means 127.0.0.1 and an ephemeral port
	APIKey string       // when set, required on every call but HealthCheck
	Logger *slog.Logger // default slog.Default()
}

// Server is a running stand-in. It is safe for concurrent use.
type Server struct {
	grpc   *grpc.Server
	lis    net.Listener
	apiKey string

	mu    sync.Mutex
	calls map[string]int64

	stopOnce sync.Once
}

// Start serves a stand-in with default options on 127.0.0.1 and an ephemeral port. addr is
// "127.0.0.1:PORT" (the gRPC endpoint, for vectors.QdrantConfig.URL prefix it with
// "http://"); stop shuts it down and may be called more than once.
func Start() (addr string, stop func(), err error) {
	s, err := Listen(Options{})
	if err != nil {
		return "", nil, err
	}
	return s.Addr(), s.Stop, nil
}

// Listen serves a stand-in on opts.Addr (default 127.0.0.1 and an ephemeral port) until [Server.Stop].
func Listen(opts Options) (*Server, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("qdrant stand-in: %w", err)
	}
	s := &Server{lis: lis, apiKey: opts.APIKey, calls: map[string]int64{}}
	s.grpc = grpc.NewServer(
		grpc.UnaryInterceptor(s.intercept),
		grpc.MaxRecvMsgSize(maxMessageSize),
		// The go-client pings every 10 s, with or without calls in flight.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
	)
	db := newDatabase()
	pb.RegisterQdrantServer(s.grpc, health{})
	pb.RegisterCollectionsServer(s.grpc, &collections{db: db})
	pb.RegisterPointsServer(s.grpc, &points{db: db})
	go func() { _ = s.grpc.Serve(lis) }()
	log.Warn("Qdrant stand-in serving: a test double, not Qdrant", "addr", s.Addr())
	return s, nil
}

// Addr is the "host:port" the server listens on.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Stop closes the listener and every connection at once.
func (s *Server) Stop() {
	s.stopOnce.Do(s.grpc.Stop)
}

// Calls is the number of calls received for method, named "Service/Method" without the
// "qdrant." package: "Points/Upsert", "Collections/Create", "Qdrant/HealthCheck".
func (s *Server) Calls(method string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

func (s *Server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	s.mu.Lock()
	s.calls[strings.TrimPrefix(info.FullMethod, "/qdrant.")]++
	s.mu.Unlock()
	if s.apiKey != "" && info.FullMethod != healthMethod && !s.authorized(ctx) {
		return nil, status.Error(codes.PermissionDenied, "Invalid api-key")
	}
	return next(ctx, req)
}

func (s *Server) authorized(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	keys := md.Get("api-key")
	for _, a := range md.Get("authorization") {
		if k, ok := strings.CutPrefix(a, "Bearer "); ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		if subtle.ConstantTimeCompare([]byte(k), []byte(s.apiKey)) == 1 {
			return true
		}
	}
	return false
}

type health struct {
	pb.UnimplementedQdrantServer
}

func (health) HealthCheck(context.Context, *pb.HealthCheckRequest) (*pb.HealthCheckReply, error) {
	c := commit
	return &pb.HealthCheckReply{Title: title, Version: Version, Commit: &c}, nil
}

// Errors worded as Qdrant words them.

func collectionNotFound(name string) error {
	return status.Errorf(codes.NotFound, "Not found: Collection `%s` doesn't exist!", name)
}

func badInput(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, "Wrong input: "+format, args...)
}

func unimplemented(format string, args ...any) error {
	return status.Errorf(codes.Unimplemented, "the Qdrant stand-in does not implement "+format, args...)
}

func since(start time.Time) float64 { return time.Since(start).Seconds() }
