// Package extract turns stored documents (text, Markdown, HTML, PDF, DOCX, CSV, JSON, images and
// audio) into structured text: a title and a list of blocks (headings, paragraphs, lists, tables,
// code) that the chunk package splits for embedding.
//
// The media type is decided from the content by Sniff; Extract then reads a file on local disk.
// PDFs go through poppler's pdftotext/pdfinfo (pages without text are rendered with pdftoppm and
// OCRed), images through the tesseract CLI and audio through
// a Whisper-compatible HTTP endpoint; everything else is parsed in Go, in this process or in a
// sandbox process (Options.Sandbox). The tools and the sandbox run under kernel resource limits
// (memory and CPU time, set by util-linux prlimit) and a wall-clock timeout; images are measured from their headers before OCR; the parts of zip-based formats
// are read within a per-part and a per-document budget. Failures that a retry cannot fix (a
// damaged, encrypted, empty or unsupported file, one over a limit, or no audio backend) wrap one
// of the sentinel errors below and make Permanent report true.
package extract

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"os/exec"
	"slices"
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
	// ErrLimit: the document needs more than the extraction limits allow (pixels, uncompressed
	// bytes, or a tool's memory, CPU time or wall-clock time), or a tool was killed.
	ErrLimit = errors.New("the document exceeds an extraction limit")
)

// Permanent reports whether err must not be retried: the file is unsupported, corrupt, encrypted,
// empty or over a limit (a tool that was killed or ran out of time included), or audio
// transcription is not configured. Missing tools, files and network errors are not permanent.
func Permanent(err error) bool {
	for _, p := range []error{ErrUnsupported, ErrCorrupt, ErrEncrypted, ErrNoAudio, ErrEmpty, ErrLimit} {
		if errors.Is(err, p) {
			return true
		}
	}
	return false
}

// Options configure an Extractor. The zero value works for everything but audio.
type Options struct {
	Tesseract string // path to the tesseract binary, default "tesseract" from PATH
	Pdftotext string // path to pdftotext, default "pdftotext"; pdfinfo and pdftoppm are looked up beside it
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

	// Limits of the external tools (pdfinfo, pdftotext, tesseract) and of the Sandbox, applied
	// through Prlimit (util-linux prlimit, default "prlimit" from PATH): MaxMemory bytes of data
	// (RLIMIT_DATA) and MaxCPU of CPU time per run; 0 leaves that resource unlimited, and when
	// both are 0 the processes run without prlimit.
	Prlimit   string
	MaxMemory int64
	MaxCPU    time.Duration
	// MaxPixels bounds the pixels of an image (of every page of a TIFF) given to OCR; larger
	// images are refused with ErrLimit before tesseract runs. Default 40 million.
	MaxPixels int64
	// MaxOCRPages bounds the pages without a text layer of one PDF that are rendered and OCRed: a
	// PDF with more fails with ErrLimit. Default 500; a negative value turns the OCR of PDFs off
	// (their pages without text are left out).
	MaxOCRPages int
	// MaxPartBytes bounds the uncompressed size of one part of a zip-based document (DOCX) and
	// MaxUnpackedBytes the uncompressed bytes read from all its parts together; over either the
	// document fails with ErrLimit. Defaults 64 MiB and 128 MiB.
	MaxPartBytes     int64
	MaxUnpackedBytes int64
	// Sandbox, when set, is the command line of a process that runs RunChild (youworker's
	// "extract-file" command): the formats parsed in Go (text, Markdown, HTML, CSV, JSON, DOCX)
	// are then parsed in such a process, under the same limits as the tools, so that a parser
	// bomb exhausts that process and not the caller. Empty parses them in this process.
	Sandbox []string
	// SandboxMinBytes: files of a format parsed in Go smaller than this are parsed in this process
	// even with a Sandbox, saving the child's start for short notes (the worst input measured of
	// 32 KiB, nested Markdown block quotes, takes 0.7 s and 15 MB here). DOCX, whose compressed
	// size says nothing of what it unpacks to, always goes to the Sandbox. 0 sends everything.
	SandboxMinBytes int64
}

// Default limits.
const (
	DefaultMaxPixels        = 40_000_000
	DefaultMaxOCRPages      = 500
	DefaultMaxPartBytes     = 64 << 20
	DefaultMaxUnpackedBytes = 128 << 20
)

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
	prlimit      string
	maxMemory    int64
	maxCPU       time.Duration
	maxPixels    int64
	maxOCRPages  int
	maxPart      int64
	maxUnpacked  int64
	sandbox      []string
	sandboxMin   int64
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
		prlimit:      opts.Prlimit,
		maxMemory:    max(opts.MaxMemory, 0),
		maxCPU:       max(opts.MaxCPU, 0),
		maxPixels:    opts.MaxPixels,
		maxOCRPages:  opts.MaxOCRPages,
		maxPart:      opts.MaxPartBytes,
		maxUnpacked:  opts.MaxUnpackedBytes,
		sandbox:      slices.Clone(opts.Sandbox),
		sandboxMin:   max(opts.SandboxMinBytes, 0),
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
	if e.prlimit == "" {
		e.prlimit = "prlimit"
	}
	if e.maxPixels <= 0 {
		e.maxPixels = DefaultMaxPixels
	}
	if e.maxOCRPages == 0 {
		e.maxOCRPages = DefaultMaxOCRPages
	}
	if e.maxPart <= 0 {
		e.maxPart = DefaultMaxPartBytes
	}
	if e.maxUnpacked <= 0 {
		e.maxUnpacked = DefaultMaxUnpackedBytes
	}
	return e
}

// Check reports whether the tool limits can be enforced: with a memory or CPU limit set, prlimit
// must be installed. A worker calls it at start, so that it fails at once rather than running
// the tools without limits or failing every PDF and image.
func (e *Extractor) Check() error {
	if !e.limited() {
		return nil
	}
	if _, err := exec.LookPath(e.prlimit); err != nil {
		return fmt.Errorf("the extraction limits need prlimit (Debian package util-linux), or set both limits to 0: %w", err)
	}
	return nil
}

// limited reports whether the tools run under resource limits.
func (e *Extractor) limited() bool { return e.maxMemory > 0 || e.maxCPU > 0 }

// Extract reads the file at path, of the given media type (as Sniff returns it; parameters such
// as "; charset=utf-8" are ignored; "application/octet-stream" is sniffed from the content), into
// a Document with at least one block.
func (e *Extractor) Extract(ctx context.Context, mediaType, path string) (Document, error) {
	return e.ExtractResumable(ctx, mediaType, path, nil)
}

// ExtractResumable is Extract keeping the OCR of a scanned PDF's pages in cp (nil: nowhere), so
// that a repeated extraction of the same file OCRs only the pages earlier ones did not.
func (e *Extractor) ExtractResumable(ctx context.Context, mediaType, path string, cp OCRCheckpoint) (Document, error) {
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
	case parsedInGo(mt) && len(e.sandbox) > 0 && (mt == MediaDOCX || st.Size() >= e.sandboxMin):
		doc, err = e.extractInSandbox(ctx, mt, path)
	case parsedInGo(mt):
		doc, err = e.extractInProcess(ctx, mt, path)
	case mt == MediaPDF:
		doc, err = e.extractPDF(ctx, path, cp)
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

// parsedInGo reports whether a media type is parsed by this package's Go code (rather than by an
// external tool or service).
func parsedInGo(mt string) bool {
	switch mt {
	case MediaPlain, MediaMarkdown, "text/x-markdown", MediaHTML, "application/xhtml+xml", MediaCSV, MediaJSON, MediaDOCX:
		return true
	}
	return false
}

// extractInProcess parses a format of parsedInGo in this process.
func (e *Extractor) extractInProcess(ctx context.Context, mt, path string) (Document, error) {
	switch mt {
	case MediaPlain:
		return extractPlain(path)
	case MediaMarkdown, "text/x-markdown":
		return extractMarkdown(path)
	case MediaHTML, "application/xhtml+xml":
		return extractHTML(path)
	case MediaCSV:
		return e.extractCSV(ctx, path)
	case MediaJSON:
		return e.extractJSON(ctx, path)
	case MediaDOCX:
		return e.extractDOCX(path)
	}
	return Document{}, fmt.Errorf("%w: %s", ErrUnsupported, mt)
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
