package extract_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/extract/fixtures"
)

// writeFile writes data to a new file in a test directory and returns its path.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path
}

// requireTool fails the test when a system tool the extractor relies on is missing.
func requireTool(t *testing.T, tool, pkg string) {
	t.Helper()
	_, err := exec.LookPath(tool)
	require.NoError(t, err, "%s is needed: apt-get install %s", tool, pkg)
}

// pdfOptions describe a generated PDF.
type pdfOptions struct {
	title     string
	pages     []string
	userPass  string
	ownerPass string
}

func makePDF(t *testing.T, o pdfOptions) []byte {
	t.Helper()
	b, err := fixtures.PDF(fixtures.PDFOptions{Title: o.title, Pages: o.pages, UserPass: o.userPass, OwnerPass: o.ownerPass})
	require.NoError(t, err)
	return b
}

func makeZip(t *testing.T, files ...[2]string) []byte {
	t.Helper()
	b, err := fixtures.Zip(files...)
	require.NoError(t, err)
	return b
}

func makeDOCX(t *testing.T, body, title, styles string) []byte {
	t.Helper()
	b, err := fixtures.DOCX(body, title, styles)
	require.NoError(t, err)
	return b
}

func para(style, text string) string { return fixtures.Para(style, text) }

func oleFile(streams ...string) []byte { return fixtures.OLE(streams...) }

func renderPNG(t *testing.T, text string, size float64) []byte {
	t.Helper()
	b, err := fixtures.PNG(text, size)
	require.NoError(t, err)
	return b
}
