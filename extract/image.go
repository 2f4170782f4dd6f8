package extract

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
)

// extractImage reads the text of an image with the tesseract CLI ("tesseract FILE stdout -l
// eng"), one thread per run (OMP_THREAD_LIMIT=1: OpenMP threads only slow down concurrent runs).
// Tesseract ends every page with a form feed; the pages of a multi-page TIFF get page numbers.
// An image over the pixel limit is refused from its header, before tesseract runs.
func (e *Extractor) extractImage(ctx context.Context, mediaType, path string) (Document, error) {
	path, err := filepath.Abs(path) // "-" or "stdin" would make tesseract read standard input
	if err != nil {
		return Document{}, err
	}
	if err := e.checkPixels(mediaType, path); err != nil {
		return Document{}, err
	}
	out, err := e.tesseractText(ctx, "the "+mediaType+" image", path)
	if err != nil {
		return Document{}, err
	}
	pages := strings.Split(out, "\f")
	if len(pages) > 1 && strings.TrimSpace(pages[len(pages)-1]) == "" {
		pages = pages[:len(pages)-1]
	}
	var doc Document
	for i, page := range pages {
		n := 0
		if len(pages) > 1 {
			n = i + 1
		}
		for _, p := range paragraphs(page) {
			doc.Blocks = append(doc.Blocks, Block{Kind: KindParagraph, Text: p, Page: n})
		}
	}
	if len(doc.Blocks) == 0 {
		return Document{}, fmt.Errorf("%w: OCR found no text in the image", ErrEmpty)
	}
	return doc, nil
}

// tesseractText runs tesseract on the image at path (an absolute path), named what in errors, and
// returns what it read.
func (e *Extractor) tesseractText(ctx context.Context, what, path string) (string, error) {
	res, err := e.run(ctx, []string{"OMP_THREAD_LIMIT=1"}, e.tesseract, path, "stdout", "-l", "eng")
	if err != nil {
		return "", err
	}
	if res.exitCode != 0 {
		msg := lastLine(res.stderr)
		if strings.Contains(res.stderr, "Failed loading language") || strings.Contains(res.stderr, "Could not initialize tesseract") {
			return "", fmt.Errorf("tesseract is not set up (install tesseract-ocr-eng): %s", msg)
		}
		return "", fmt.Errorf("%w: tesseract could not read %s: %s", ErrCorrupt, what, msg)
	}
	if res.truncated {
		e.log.WarnContext(ctx, "ocr output limit reached, rest dropped", "limit_bytes", maxToolOutput)
	}
	return string(bytes.ToValidUTF8(res.stdout, []byte("\uFFFD"))), nil
}
