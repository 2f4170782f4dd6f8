package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/config"
	"github.com/youworker/youworker/encryption"
)

// A process whose setup fails part-way closes what it opened and reports why (it once
// dereferenced a nil app instead, hiding the error).
func TestNewAppFailsCleanly(t *testing.T) {
	key, err := encryption.GenerateKey()
	require.NoError(t, err)
	notADir := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(notADir, nil, 0o600))
	cfg, err := config.FromMap(map[string]string{
		"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none", "FERNET_KEYS": key,
		"JWT_SECRET": "wiring-secret-wiring-secret-wiring-secret", "DATA_DIR": notADir,
	})
	require.NoError(t, err)
	a, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler), false)
	require.ErrorContains(t, err, "DATA_DIR")
	require.Nil(t, a)
}
