// Package extract turns stored documents (text, Markdown, HTML, PDF, DOCX, CSV, JSON, images and
// audio) into structured text: a title and a list of blocks (headings, paragraphs, lists, tables,
// code) that the chunk package splits for embedding.
//
// The media type is decided from the content by Sniff; Extract then reads a file on local disk.
// PDFs go through poppler's pdftotext/pdfinfo, images through the tesseract CLI and audio through
// a Whisper-compatible HTTP endpoint; everything else is parsed in process. Failures that a retry
// cannot fix (a damaged, encrypted, empty or unsupported file, or no audio backend) wrap one of the
// sentinel errors below and make Permanent report true.
package extract

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode"
)

// BlockKind is the structural role of a block.
type BlockKind string

// The kinds of block.
const (
	KindHeading   BlockKind = "heading"
	KindParagraph BlockKind = "paragraph"
	KindList      BlockKind = "list"  // one item a line, "- " or "1. " first, nested items indented
	KindTable     BlockKind = "table" // one row a line, cells joined by " | "
	KindCode      BlockKind = "code"  // verbatim lines
)

// Block is one structural unit of a document. Text is never empty and has no leading or trailing
// white space, except for the indentation of a code block's first line.
type Block struct {
	Kind  BlockKind `json:"kind"`
	Level int       `json:"level,omitempty"` // heading level 1..6, 0 for other kinds
	Text  string    `json:"text"`
	Page  int       `json:"page,omitempty"` // 1-based page for paged formats (PDF, multi-page TIFF), 0 when unknown
}

// Document is the structured text of a file.
type Document struct {
	// Title comes from the content when it has one (HTML <title> or first <h1>, Markdown front
	// matter or first H1, PDF metadata, DOCX core properties or Title paragraph), else "".
	Title  string  `json:"title,omitempty"`
	Blocks []Block `json:"blocks"`
}

// withHeadingTitle gives a document without a title the text of its first level-1 heading.
func withHeadingTitle(d Document) Document {
	if d.Title != "" {
		return d
	}
	for _, b := range d.Blocks {
		if b.Kind == KindHeading && b.Level == 1 {
			d.Title = b.Text
			return d
		}
	}
	return d
}

// Media types that Sniff returns and Extract accepts.
const (
	MediaPlain    = "text/plain"
	MediaMarkdown = "text/markdown"
	MediaHTML     = "text/html"
	MediaCSV      = "text/csv"
	MediaJSON     = "application/json"
	MediaPDF      = "application/pdf"
	MediaDOCX     = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	MediaPNG      = "image/png"
	MediaJPEG     = "image/jpeg"
	MediaTIFF     = "image/tiff"
	MediaWebP     = "image/webp"
	MediaMP3      = "audio/mpeg"
	MediaWAV      = "audio/wav"
	MediaOGG      = "audio/ogg"
	MediaFLAC     = "audio/flac"
	MediaM4A      = "audio/mp4"
)

// Errors of Sniff and Extract. All but plain I/O, tool and network errors are permanent.
var (
	ErrUnsupported = errors.New("unsupported file type")
	ErrCorrupt     = errors.New("the file is damaged or not in the format it claims")
	ErrEncrypted   = errors.New("the file is password-protected")
	ErrNoAudio     = errors.New("audio transcription is not configured (set WHISPER_URL)")
	ErrEmpty       = errors.New("no text found in the file")
)

// Permanent reports whether err must not be retried: the file is unsupported, corrupt, encrypted
// or empty, or audio transcription is not configured. Timeouts, missing tools and network errors
// are not permanent.
func Permanent(err error) bool {
	for _, p := range []error{ErrUnsupported, ErrCorrupt, ErrEncrypted, ErrNoAudio, ErrEmpty} {
		if errors.Is(err, p) {
			return true
		}
	}
	return false
}

// Options configure an Extractor. The zero value works for everything but audio.
type Options struct {
	Tesseract string // path to the tesseract binary, default "tesseract" from PATH
	Pdftotext string // path to pdftotext, default "pdftotext"; pdfinfo is looked up beside it
	// WhisperURL is a Whisper-compatible transcription endpoint (OpenAI's
	// /v1/audio/transcriptions: multipart file, model, response_format=json). "" means audio
	// is unsupported and Extract returns ErrNoAudio.
	WhisperURL    string
	WhisperModel  string // default "whisper-1"
	WhisperAPIKey string // sent as "Authorization: Bearer ..." when set
	HTTPClient    *http.Client
	MaxPages      int           // PDF pages extracted, default 2000; later pages are dropped with a warning
	Timeout       time.Duration // per external tool run or transcription request, default 2 minutes
	Logger        *slog.Logger
}

// Extractor extracts text from files. It is safe for concurrent use.
type Extractor struct {
	tesseract    string
	pdftotext    string
	pdfinfo      string
	whisperURL   string
	whisperModel string
	whisperKey   string
	client       *http.Client
	maxPages     int
	timeout      time.Duration
	log          *slog.Logger
}

// New returns an Extractor with the defaults filled in.
func New(opts Options) *Extractor {
	e := &Extractor{
		tesseract:    opts.Tesseract,
		pdftotext:    opts.Pdftotext,
		whisperURL:   opts.WhisperURL,
		whisperModel: opts.WhisperModel,
		whisperKey:   opts.WhisperAPIKey,
		client:       opts.HTTPClient,
		maxPages:     opts.MaxPages,
		timeout:      opts.Timeout,
		log:          opts.Logger,
	}
	if e.tesseract == "" {
		e.tesseract = "tesseract"
	}
	if e.pdftotext == "" {
		e.pdftotext = "pdftotext"
	}
	e.pdfinfo = siblingTool(e.pdftotext, "pdfinfo")
	if e.whisperModel == "" {
		e.whisperModel = "whisper-1"
	}
	if e.client == nil {
		e.client = &http.Client{}
	}
	if e.maxPages <= 0 {
		e.maxPages = 2000
	}
	if e.timeout <= 0 {
		e.timeout = 2 * time.Minute
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	return e
}

// Extract reads the file at path, of the given media type (as Sniff returns it; parameters such
// as "; charset=utf-8" are ignored; "application/octet-stream" is sniffed from the content), into
// a Document with at least one block.
func (e *Extractor) Extract(ctx context.Context, mediaType, path string) (Document, error) {
	mt, _, err := mime.ParseMediaType(mediaType)
	if err != nil {
		return Document{}, fmt.Errorf("%w: media type %q", ErrUnsupported, mediaType)
	}
	st, err := os.Stat(path)
	if err != nil {
		return Document{}, err
	}
	if st.Size() == 0 {
		return Document{}, fmt.Errorf("%w: the file is empty", ErrEmpty)
	}
	if mt == "application/octet-stream" {
		// The client did not know: decide from the content like at upload.
		if mt, err = sniffFile(path); err != nil {
			return Document{}, err
		}
	}
	var doc Document
	switch {
	case mt == MediaPlain:
		doc, err = extractPlain(path)
	case mt == MediaMarkdown || mt == "text/x-markdown":
		doc, err = extractMarkdown(path)
	case mt == MediaHTML || mt == "application/xhtml+xml":
		doc, err = extractHTML(path)
	case mt == MediaCSV:
		doc, err = e.extractCSV(ctx, path)
	case mt == MediaJSON:
		doc, err = e.extractJSON(ctx, path)
	case mt == MediaPDF:
		doc, err = e.extractPDF(ctx, path)
	case mt == MediaDOCX:
		doc, err = extractDOCX(path)
	case mt == MediaPNG || mt == MediaJPEG || mt == MediaTIFF || mt == MediaWebP:
		doc, err = e.extractImage(ctx, mt, path)
	case strings.HasPrefix(mt, "audio/"):
		doc, err = e.extractAudio(ctx, mt, path)
	default:
		return Document{}, fmt.Errorf("%w: %s", ErrUnsupported, mt)
	}
	if err != nil {
		return Document{}, err
	}
	doc.Blocks = cleanBlocks(doc.Blocks)
	doc.Title = collapseSpace(doc.Title)
	if len(doc.Blocks) == 0 {
		return Document{}, ErrEmpty
	}
	e.log.DebugContext(ctx, "document extracted", "media_type", mt, "blocks", len(doc.Blocks))
	return doc, nil
}

// cleanBlocks trims every block (keeping code indentation) and drops the empty ones.
func cleanBlocks(in []Block) []Block {
	out := in[:0]
	for _, b := range in {
		if b.Kind == KindCode {
			b.Text = strings.TrimRightFunc(dropBlankLines(b.Text), unicode.IsSpace)
		} else {
			b.Text = strings.TrimSpace(b.Text)
		}
		if b.Text == "" {
			continue
		}
		if b.Kind != KindHeading {
			b.Level = 0
		} else {
			b.Level = min(max(b.Level, 1), 6)
		}
		out = append(out, b)
	}
	return out
}

// dropBlankLines removes the white-space-only lines at the start of s.
func dropBlankLines(s string) string {
	for {
		nl := strings.IndexByte(s, '\n')
		if nl < 0 || strings.TrimSpace(s[:nl]) != "" {
			return s
		}
		s = s[nl+1:]
	}
}

func sniffFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	return Sniff(f, st.Size(), path)
}
