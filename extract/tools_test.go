package extract_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/extract"
)

func TestExtractPDF(t *testing.T) {
	t.Parallel()
	requireTool(t, "pdftotext", "poppler-utils")
	requireTool(t, "pdfinfo", "poppler-utils")
	tests := []struct {
		name      string
		opts      pdfOptions
		maxPages  int
		wantTitle string
		want      []extract.Block
	}{
		{
			name: "two pages with title",
			opts: pdfOptions{title: "Quarterly Report", pages: []string{
				"The first page talks about apples and their many well known varieties grown in orchards across the northern hemisphere.",
				"The second page mentions bananas.",
			}},
			wantTitle: "Quarterly Report",
			want: []extract.Block{
				{Kind: extract.KindParagraph, Page: 1, Text: "The first page talks about apples and their many well known varieties grown in orchards across the northern hemisphere."},
				{Kind: extract.KindParagraph, Page: 2, Text: "The second page mentions bananas."},
			},
		},
		{
			name: "blank first page keeps numbering",
			opts: pdfOptions{pages: []string{"", "Only the second page has text."}},
			want: []extract.Block{{Kind: extract.KindParagraph, Page: 2, Text: "Only the second page has text."}},
		},
		{
			name:     "page limit",
			opts:     pdfOptions{pages: []string{"Page one.", "Page two.", "Page three."}},
			maxPages: 2,
			want: []extract.Block{
				{Kind: extract.KindParagraph, Page: 1, Text: "Page one."},
				{Kind: extract.KindParagraph, Page: 2, Text: "Page two."},
			},
		},
		{
			name: "owner password only is readable",
			opts: pdfOptions{ownerPass: "owner", pages: []string{"Copying is restricted but text extraction works."}},
			want: []extract.Block{{Kind: extract.KindParagraph, Page: 1, Text: "Copying is restricted but text extraction works."}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			x := extract.New(extract.Options{MaxPages: tc.maxPages})
			doc, err := x.Extract(context.Background(), extract.MediaPDF, writeFile(t, "doc.pdf", makePDF(t, tc.opts)))
			require.NoError(t, err)
			require.Equal(t, tc.want, doc.Blocks)
			if tc.opts.ownerPass == "" { // fpdf garbles the metadata of encrypted files
				require.Equal(t, tc.wantTitle, doc.Title)
			}
		})
	}
}

func TestExtractImageOCR(t *testing.T) {
	t.Parallel()
	requireTool(t, "tesseract", "tesseract-ocr tesseract-ocr-eng")
	x := extract.New(extract.Options{})
	doc, err := x.Extract(context.Background(), extract.MediaPNG, writeFile(t, "scan.png", renderPNG(t, "Invoice total paid", 40)))
	require.NoError(t, err)
	text := strings.ToLower(allText(doc))
	require.Contains(t, text, "invoice")
	require.Contains(t, text, "total")
	require.Equal(t, 0, doc.Blocks[0].Page)
}

// whisperServer answers like OpenAI's /v1/audio/transcriptions, checking the request.
func whisperServer(t *testing.T, status int, answer string, got *atomic.Value) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, fh, err := r.FormFile("file")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		data, _ := io.ReadAll(f)
		got.Store(map[string]string{
			"model": r.FormValue("model"), "format": r.FormValue("response_format"), "filename": fh.Filename,
			"content-type": fh.Header.Get("Content-Type"), "data": string(data), "auth": r.Header.Get("Authorization"),
			"length": r.Header.Get("Content-Length"),
		})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestExtractAudio(t *testing.T) {
	t.Parallel()
	audio := append([]byte("RIFF\x24\x00\x00\x00WAVEfmt "), make([]byte, 64)...)
	tests := []struct {
		name      string
		status    int
		answer    string
		want      string
		wantErr   error
		permanent bool
	}{
		{name: "transcript", status: 200, answer: `{"text": " Hello from the meeting recording. "}`, want: "Hello from the meeting recording."},
		{name: "silence", status: 200, answer: `{"text": ""}`, wantErr: extract.ErrEmpty, permanent: true},
		{name: "refused file", status: 400, answer: `{"error": {"message": "Invalid file format."}}`, wantErr: extract.ErrCorrupt, permanent: true},
		{name: "too large", status: 413, answer: `{"error": {"message": "Maximum content size exceeded."}}`, wantErr: extract.ErrUnsupported, permanent: true},
		{name: "server error is retryable", status: 503, answer: `overloaded`},
		{name: "rate limit is retryable", status: 429, answer: `{"error": {"message": "slow down"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got atomic.Value
			srv := whisperServer(t, tc.status, tc.answer, &got)
			x := extract.New(extract.Options{WhisperURL: srv.URL + "/v1/audio/transcriptions", WhisperAPIKey: "k1", HTTPClient: srv.Client()})
			doc, err := x.Extract(context.Background(), extract.MediaWAV, writeFile(t, "upload-1234", audio))
			req, _ := got.Load().(map[string]string)
			require.Equal(t, map[string]string{"model": "whisper-1", "format": "json", "filename": "audio.wav",
				"content-type": "audio/wav", "data": string(audio), "auth": "Bearer k1", "length": req["length"]}, req)
			require.NotEmpty(t, req["length"], "the request has a Content-Length")
			switch {
			case tc.want != "":
				require.NoError(t, err)
				require.Equal(t, tc.want, allText(doc))
			case tc.wantErr != nil:
				require.ErrorIs(t, err, tc.wantErr)
				require.Equal(t, tc.permanent, extract.Permanent(err))
			default:
				require.Error(t, err)
				require.False(t, extract.Permanent(err), "%v", err)
				require.Contains(t, err.Error(), "answered")
			}
		})
	}
}

func TestExtractFailures(t *testing.T) {
	t.Parallel()
	requireTool(t, "pdftotext", "poppler-utils")
	requireTool(t, "tesseract", "tesseract-ocr tesseract-ocr-eng")
	pdf := makePDF(t, pdfOptions{pages: []string{"Some text that will be cut off."}})
	tests := []struct {
		name      string
		mediaType string
		data      []byte
		opts      extract.Options
		wantErr   error
	}{
		{name: "truncated pdf", mediaType: extract.MediaPDF, data: pdf[:len(pdf)/2], wantErr: extract.ErrCorrupt},
		{name: "not a pdf", mediaType: extract.MediaPDF, data: []byte("hello, I am text"), wantErr: extract.ErrCorrupt},
		{name: "encrypted pdf", mediaType: extract.MediaPDF, data: makePDF(t, pdfOptions{userPass: "secret", ownerPass: "owner", pages: []string{"Top secret."}}), wantErr: extract.ErrEncrypted},
		{name: "pdf without text layer", mediaType: extract.MediaPDF, data: makePDF(t, pdfOptions{}), wantErr: extract.ErrEmpty},
		{name: "encrypted docx", mediaType: extract.MediaDOCX, data: oleFile("EncryptionInfo", "EncryptedPackage"), wantErr: extract.ErrEncrypted},
		{name: "broken docx zip", mediaType: extract.MediaDOCX, data: makeDOCX(t, para("", "x"), "", "")[:100], wantErr: extract.ErrCorrupt},
		{name: "zip without document.xml", mediaType: extract.MediaDOCX, data: makeZip(t, [2]string{"a.txt", "x"}), wantErr: extract.ErrCorrupt},
		{name: "docx with bad xml", mediaType: extract.MediaDOCX, data: makeZip(t, [2]string{"word/document.xml", "<w:document><w:body>"}), wantErr: extract.ErrCorrupt},
		{name: "blank image", mediaType: extract.MediaPNG, data: renderPNG(t, "", 40), wantErr: extract.ErrEmpty},
		{name: "damaged image", mediaType: extract.MediaPNG, data: renderPNG(t, "x", 20)[:60], wantErr: extract.ErrCorrupt},
		{name: "audio without whisper", mediaType: extract.MediaMP3, data: []byte("ID3\x04\x00\x00\x00\x00\x00\x00"), wantErr: extract.ErrNoAudio},
		{name: "invalid json", mediaType: extract.MediaJSON, data: []byte(`{"a": [1, 2}`), wantErr: extract.ErrCorrupt},
		{name: "json with trailing garbage", mediaType: extract.MediaJSON, data: []byte(`{"a": 1} }`), wantErr: extract.ErrCorrupt},
		{name: "binary as text", mediaType: extract.MediaPlain, data: []byte("\x00\x01\x02\x03binary\x00"), wantErr: extract.ErrCorrupt},
		{name: "whitespace only", mediaType: extract.MediaPlain, data: []byte(" \n\t\n"), wantErr: extract.ErrEmpty},
		{name: "empty file", mediaType: extract.MediaHTML, data: nil, wantErr: extract.ErrEmpty},
		{name: "unknown media type", mediaType: "application/x-msdownload", data: []byte("MZ"), wantErr: extract.ErrUnsupported},
		{name: "unknown audio type", mediaType: "audio/x-aiff", data: []byte("FORM"), wantErr: extract.ErrUnsupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			x := extract.New(tc.opts)
			start := time.Now()
			_, err := x.Extract(context.Background(), tc.mediaType, writeFile(t, "input", tc.data))
			require.ErrorIs(t, err, tc.wantErr)
			require.True(t, extract.Permanent(err), "%v must not be retried", err)
			require.Less(t, time.Since(start), 10*time.Second, "fails fast")
		})
	}
}

// fakeTool writes an executable script standing in for a tool.
func fakeTool(t *testing.T, dir, name, script string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte("#!/bin/sh\n"+script+"\n"), 0o700))
	return path
}

func TestExtractToolProblemsAreRetryable(t *testing.T) {
	t.Parallel()
	pdf := makePDF(t, pdfOptions{pages: []string{"x"}})
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string) extract.Options
		wantErr error // besides not being permanent
	}{
		{
			name: "tool missing",
			setup: func(t *testing.T, dir string) extract.Options {
				return extract.Options{Pdftotext: filepath.Join(dir, "pdftotext")}
			},
			wantErr: os.ErrNotExist,
		},
		{
			name: "our temp file went missing",
			setup: func(t *testing.T, dir string) extract.Options {
				fakeTool(t, dir, "pdfinfo", `echo "I/O Error: Couldn't open file '$3': No such file or directory." >&2; exit 1`)
				return extract.Options{Pdftotext: fakeTool(t, dir, "pdftotext", "exit 0")}
			},
		},
		{
			name: "prlimit missing",
			setup: func(t *testing.T, dir string) extract.Options {
				fakeTool(t, dir, "pdfinfo", "exit 0")
				return extract.Options{Prlimit: filepath.Join(dir, "prlimit"), MaxMemory: 1 << 30,
					Pdftotext: fakeTool(t, dir, "pdftotext", "exit 0")}
			},
			wantErr: os.ErrNotExist,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			x := extract.New(tc.setup(t, t.TempDir()))
			start := time.Now()
			_, err := x.Extract(context.Background(), extract.MediaPDF, writeFile(t, "in.pdf", pdf))
			require.Error(t, err)
			require.False(t, extract.Permanent(err), "%v", err)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			}
			require.Less(t, time.Since(start), 10*time.Second)
		})
	}
}

func TestExtractCancelled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fakeTool(t, dir, "pdfinfo", "exec sleep 30")
	x := extract.New(extract.Options{Pdftotext: fakeTool(t, dir, "pdftotext", "exit 0")})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err := x.Extract(ctx, extract.MediaPDF, writeFile(t, "in.pdf", []byte("%PDF-1.4")))
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, extract.Permanent(err))
}

func TestDocumentJSONRoundTrip(t *testing.T) {
	t.Parallel()
	doc := extract.Document{Title: "T", Blocks: []extract.Block{{Kind: extract.KindHeading, Level: 2, Text: "H", Page: 3}}}
	raw, err := json.Marshal(doc)
	require.NoError(t, err)
	var back extract.Document
	require.NoError(t, json.Unmarshal(raw, &back))
	require.Equal(t, doc, back)
}
