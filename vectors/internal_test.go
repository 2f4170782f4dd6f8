package vectors

import (
	"testing"

	"github.com/google/uuid"

	"github.com/stretchr/testify/require"
)

func TestQdrantClientConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		url     string
		host    string
		port    int
		tls     bool
		invalid bool
	}{
		{"http with port", "http://qdrant:6334", "qdrant", 6334, false, false},
		{"https turns TLS on", "https://q.example.com:443", "q.example.com", 443, true, false},
		{"default port", "http://qdrant", "qdrant", 6334, false, false},
		{"no scheme", "qdrant:7000", "qdrant", 7000, false, false},
		{"trailing slash", "http://qdrant:6334/", "qdrant", 6334, false, false},
		{"IPv6 literal", "http://[::1]:6334", "[::1]", 6334, false, false},
		{"spaces around", "  http://qdrant:6334 ", "qdrant", 6334, false, false},
		{"empty", "", "", 0, false, true},
		{"grpc scheme", "grpc://qdrant:6334", "", 0, false, true},
		{"no host", "http://:6334", "", 0, false, true},
		{"bad port", "http://qdrant:x", "", 0, false, true},
		{"port zero", "http://qdrant:0", "", 0, false, true},
		{"query", "http://qdrant:6334?api-key=x", "", 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := qdrantClientConfig(QdrantConfig{URL: tt.url, APIKey: "k"})
			if tt.invalid {
				require.ErrorIs(t, err, ErrInvalid)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.host, cfg.Host)
			require.Equal(t, tt.port, cfg.Port)
			require.Equal(t, tt.tls, cfg.UseTLS)
			require.Equal(t, "k", cfg.APIKey)
			require.True(t, cfg.SkipCompatibilityCheck)
		})
	}
}

func TestCollectionName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		c    Collection
		want string
	}{
		{"plain", Collection{Model: "nomic-embed-text", Dim: 768}, "yw_nomic-embed-text_768"},
		{"tag and dot", Collection{Model: "qwen3-embedding:0.6b", Dim: 1024}, "yw_qwen3-embedding_0_6b_1024"},
		{"upper case and path", Collection{Model: "hf.co/BAAI/bge-M3", Dim: 1024}, "yw_hf_co_baai_bge-m3_1024"},
		{"spaces trimmed", Collection{Model: " all-minilm ", Dim: 384}, "yw_all-minilm_384"},
		{"quote cannot escape an identifier", Collection{Model: `a"b`, Dim: 8}, "yw_a_b_8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.c.Name())
		})
	}
}

func TestNewTenant(t *testing.T) {
	t.Parallel()
	user := uuid.MustParse("00000001-0000-0000-0000-000000000000")
	g1 := uuid.MustParse("00000002-0000-0000-0000-000000000000")
	g2 := uuid.MustParse("00000003-0000-0000-0000-000000000000")
	tests := []struct {
		name   string
		user   uuid.UUID
		groups []uuid.UUID
		want   []uuid.UUID
	}{
		{"no groups", user, nil, []uuid.UUID{}},
		{"duplicates dropped", user, []uuid.UUID{g1, g2, g1}, []uuid.UUID{g1, g2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn, err := NewTenant(tt.user, tt.groups)
			require.NoError(t, err)
			require.Equal(t, tt.user, tn.User())
			require.Equal(t, tt.want, tn.Groups())
		})
	}

	_, err := NewTenant(uuid.Nil, []uuid.UUID{g1})
	require.ErrorIs(t, err, ErrInvalid, "a tenant needs a user")
	_, err = NewTenant(user, []uuid.UUID{g1, uuid.Nil})
	require.ErrorIs(t, err, ErrInvalid, "no nil group")

	// Groups returns a copy: the tenant cannot be widened after it is built.
	tn, err := NewTenant(user, []uuid.UUID{g1})
	require.NoError(t, err)
	tn.Groups()[0] = g2
	require.Equal(t, []uuid.UUID{g1}, tn.Groups())
}
