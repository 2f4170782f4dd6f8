package extract_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/extract"
)

// The test binary doubles as the sandbox process: with YW_EXTRACT_CHILD=1 it runs RunChild, as
// youworker's extract-file command does.
func TestMain(m *testing.M) {
	if os.Getenv("YW_EXTRACT_CHILD") == "1" {
		if err := extract.RunChild(context.Background(), os.Args[1:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// sandbox is the command line that runs this test binary as the sandbox process.
func sandbox(t *testing.T) []string {
	t.Helper()
	env, err := exec.LookPath("env")
	require.NoError(t, err)
	self, err := filepath.Abs(os.Args[0])
	require.NoError(t, err)
	return []string{env, "YW_EXTRACT_CHILD=1", self}
}

// TestSandboxParsesLikeThisProcess: every format parsed in Go gives the same document, and the
// same errors, in the sandbox process as in this one.
func TestSandboxParsesLikeThisProcess(t *testing.T) {
	t.Parallel()
	requireTool(t, "prlimit", "util-linux")
	docx := makeDOCX(t, para("Heading1", "Kitchen manual")+para("", "Copper &lt;saucepans&gt; &amp; lemons."), "Kitchen", "")
	tests := []struct {
		name, mediaType string
		data            []byte
		wantErr         error
	}{
		{name: "plain", mediaType: extract.MediaPlain, data: []byte("One <paragraph>.\n\nTwo \"quoted\" \\ paragraphs.")},
		{name: "markdown", mediaType: extract.MediaMarkdown, data: []byte("# Title\n\n- a\n- b\n\n| x | y |\n|---|---|\n| 1 | 2 |\n")},
		{name: "html", mediaType: extract.MediaHTML, data: []byte("<html><title>T</title><body><h1>H</h1><p>Text &amp; more</p></body></html>")},
		{name: "csv", mediaType: extract.MediaCSV, data: []byte("name,qty\napple,3\npear,4\n")},
		{name: "json", mediaType: extract.MediaJSON, data: []byte(`{"a": {"b": [1, "two", null]}, "c": "<tag>"}`)},
		{name: "docx", mediaType: extract.MediaDOCX, data: docx},
		{name: "corrupt json", mediaType: extract.MediaJSON, data: []byte(`{"a": [1, 2}`), wantErr: extract.ErrCorrupt},
		{name: "blank text", mediaType: extract.MediaPlain, data: []byte(" \n\t\n"), wantErr: extract.ErrEmpty},
		{name: "docx over a part budget", mediaType: extract.MediaDOCX, data: docx, wantErr: extract.ErrLimit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, "doc", tc.data)
			opts := extract.Options{MaxMemory: 512 << 20, MaxCPU: time.Minute}
			if strings.Contains(tc.name, "budget") {
				opts.MaxPartBytes = 100
			}
			here, hereErr := extract.New(opts).Extract(context.Background(), tc.mediaType, path)
			opts.Sandbox = sandbox(t)
			there, thereErr := extract.New(opts).Extract(context.Background(), tc.mediaType, path)
			if tc.wantErr != nil {
				require.ErrorIs(t, hereErr, tc.wantErr)
				require.ErrorIs(t, thereErr, tc.wantErr)
				require.Equal(t, hereErr.Error(), thereErr.Error())
				require.True(t, extract.Permanent(thereErr))
				return
			}
			require.NoError(t, hereErr)
			require.NoError(t, thereErr)
			require.Equal(t, here, there)
		})
	}
}

// TestParserBombsStayInTheSandbox: Markdown that makes the parser allocate some two hundred
// bytes per byte of input, and link definitions that make it work quadratically, exhaust the
// sandbox's memory and CPU limits and fail with ErrLimit; this process allocates nothing for them.
func TestParserBombsStayInTheSandbox(t *testing.T) {
	t.Parallel()
	requireTool(t, "prlimit", "util-linux")
	tests := []struct {
		name    string
		data    []byte
		opts    extract.Options
		wantMsg string
	}{
		{name: "paragraphs", data: bytes.Repeat([]byte("a\n\n"), (16<<20)/3),
			opts: extract.Options{MaxMemory: 768 << 20, MaxCPU: time.Minute}, wantMsg: "out of memory (memory limit 768 MiB)"},
		{name: "link definitions", data: bytes.Repeat([]byte("[a]: b\n"), (1<<20)/7),
			opts: extract.Options{MaxMemory: 1 << 30, MaxCPU: 2 * time.Second}, wantMsg: "used more than 2s of CPU time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.opts.Sandbox = sandbox(t)
			start := time.Now()
			_, err := extract.New(tc.opts).Extract(context.Background(), extract.MediaMarkdown, writeFile(t, "bomb.md", tc.data))
			require.ErrorIs(t, err, extract.ErrLimit)
			require.True(t, extract.Permanent(err))
			require.Contains(t, err.Error(), tc.wantMsg)
			require.Less(t, time.Since(start), 45*time.Second)
		})
	}
}

// TestSandboxFailures: a sandbox that panics is the document's fault (its parser failed on it);
// one that cannot start or exits otherwise is worth a retry.
func TestSandboxFailures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name      string
		sandbox   []string
		permanent bool
	}{
		{name: "parser panics", sandbox: []string{fakeTool(t, dir, "panics", `echo "panic: runtime error: index out of range" >&2; exit 2`)}, permanent: true},
		{name: "exits otherwise", sandbox: []string{fakeTool(t, dir, "fails", `echo "disk full" >&2; exit 1`)}},
		{name: "answers nonsense", sandbox: []string{fakeTool(t, dir, "nonsense", `echo "not json"`)}},
		{name: "missing", sandbox: []string{filepath.Join(dir, "missing")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := extract.New(extract.Options{Sandbox: tc.sandbox}).Extract(context.Background(), extract.MediaPlain, writeFile(t, "a.txt", []byte("hello")))
			require.Error(t, err)
			require.Equal(t, tc.permanent, extract.Permanent(err), "%v", err)
		})
	}
}

// TestSmallFilesStayInProcess: below SandboxMinBytes a format parsed in Go is parsed here (the
// child's start would cost more than the parse); from it on, and for every DOCX whatever its
// size, in the sandbox. The sandbox here always fails, so the outcome shows where each went.
func TestSmallFilesStayInProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	broken := []string{fakeTool(t, dir, "broken-sandbox", `echo "disk full" >&2; exit 1`)}
	x := extract.New(extract.Options{Sandbox: broken, SandboxMinBytes: 1 << 10})
	small := writeFile(t, "small.md", []byte("# Notes\n\nA short note about tulips.\n"))
	doc, err := x.Extract(context.Background(), extract.MediaMarkdown, small)
	require.NoError(t, err, "parsed in this process")
	require.Equal(t, "Notes", doc.Title)

	large := writeFile(t, "large.md", bytes.Repeat([]byte("A longer note about tulips.\n\n"), 100))
	_, err = x.Extract(context.Background(), extract.MediaMarkdown, large)
	require.ErrorContains(t, err, "disk full", "parsed in the sandbox")

	docx := writeFile(t, "small.docx", makeDOCX(t, para("", "Tiny."), "", ""))
	_, err = x.Extract(context.Background(), extract.MediaDOCX, docx)
	require.ErrorContains(t, err, "disk full", "a DOCX always goes to the sandbox")
}
