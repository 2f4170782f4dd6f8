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
	"github.com/youworker/youworker/extract"
	"github.com/youworker/youworker/extract/fixtures"
)

// OCR_MAX_PDF_PAGES reaches the extractor: 0 turns the OCR of PDFs off, a positive value bounds it.
func TestOCRMaxPDFPagesReachesTheExtractor(t *testing.T) {
	t.Parallel()
	key, err := encryption.GenerateKey()
	require.NoError(t, err)
	pdf, err := fixtures.ScannedPDF([]string{"Zebras graze near quiet lagoons", "Walruses sunbathe on pebbly beaches"})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "scan.pdf")
	require.NoError(t, os.WriteFile(path, pdf, 0o600))
	for value, want := range map[string]error{"0": extract.ErrEmpty, "1": extract.ErrLimit} {
		cfg, err := config.FromMap(map[string]string{"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none", "FERNET_KEYS": key,
			"JWT_SECRET": "wiring-secret-wiring-secret-wiring-secret", "OCR_MAX_PDF_PAGES": value})
		require.NoError(t, err)
		x, err := newExtractor(cfg, slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		_, err = x.Extract(context.Background(), extract.MediaPDF, path)
		require.ErrorIs(t, err, want, "OCR_MAX_PDF_PAGES=%s", value)
	}
}
