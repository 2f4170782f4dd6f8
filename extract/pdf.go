package extract

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// extractPDF reads a PDF's text layer with poppler: pdfinfo for the title and page count (and
// to tell an encrypted or damaged file early), then one pdftotext run over the first MaxPages
// pages. pdftotext runs in its default reading-order mode, not -layout: -layout keeps columns side
// by side on each line, which interleaves the sentences of multi-column pages. Pages end with a
// form feed; blank lines separate paragraphs, whose lines are joined with spaces. Pages without
// text (scanned) are OCRed one at a time (ocrPDFPages), resuming after the pages cp says are done;
// a PDF whose every page has text is read as before, with no more tool runs. A PDF with more pages
// without text than MaxOCRPages keeps only its text pages, and fails with ErrLimit when it has none.
func (e *Extractor) extractPDF(ctx context.Context, path string, cp OCRCheckpoint) (Document, error) {
	path, err := filepath.Abs(path) // never an argument that starts with "-"
	if err != nil {
		return Document{}, err
	}
	info, err := e.run(ctx, nil, e.pdfinfo, "-enc", "UTF-8", path)
	if err != nil {
		return Document{}, err
	}
	if info.exitCode != 0 {
		return Document{}, popplerError("pdfinfo", info)
	}
	title, pages := parsePDFInfo(info.stdout)
	last := e.maxPages
	if pages > e.maxPages {
		e.log.WarnContext(ctx, "pdf page limit reached, later pages dropped", "pages", pages, "max_pages", e.maxPages)
	}
	res, err := e.run(ctx, nil, e.pdftotext, "-enc", "UTF-8", "-l", strconv.Itoa(last), path, "-")
	if err != nil {
		return Document{}, err
	}
	if res.exitCode != 0 {
		return Document{}, popplerError("pdftotext", res)
	}
	if res.truncated {
		e.log.WarnContext(ctx, "pdf text output limit reached, rest dropped", "limit_bytes", maxToolOutput)
	}
	out := string(bytes.ToValidUTF8(res.stdout, []byte("\uFFFD")))
	doc := Document{Title: title, Blocks: pdfBlocks(out)}
	var scanned []int
	if !res.truncated && e.maxOCRPages > 0 {
		scanned = scannedPages(out, min(pages, last))
	}
	if e.maxOCRPages > 0 && len(scanned) > e.maxOCRPages {
		// Over the limit a PDF is read as it was before OCR: its text pages, when it has any.
		if len(doc.Blocks) == 0 {
			return Document{}, fmt.Errorf("%w: the PDF has %d pages without a text layer; OCR is limited to %d pages of a PDF",
				ErrLimit, len(scanned), e.maxOCRPages)
		}
		e.log.WarnContext(ctx, "pdf ocr page limit reached, pages without text left out", "pages", len(scanned), "max_ocr_pages", e.maxOCRPages)
		scanned = nil
	}
	if len(scanned) > 0 {
		ocred, err := e.ocrPDFPages(ctx, path, scanned, cp)
		if err != nil {
			return Document{}, err
		}
		doc.Blocks = ocrBlocks(doc.Blocks, ocred, scanned)
	}
	switch {
	case len(doc.Blocks) > 0:
	case e.maxOCRPages < 0:
		return Document{}, fmt.Errorf("%w: the PDF has no text layer (the OCR of PDFs is off: OCR_MAX_PDF_PAGES=0)", ErrEmpty)
	default:
		return Document{}, fmt.Errorf("%w: the PDF has no text layer, and OCR found no text on its pages (%d read)", ErrEmpty, len(scanned))
	}
	return doc, nil
}

// popplerError classifies a failed pdfinfo/pdftotext run. Poppler exits 1 when it cannot open the
// document (damaged, not a PDF, wrong password, missing file) and 3 on a permission error.
func popplerError(tool string, r toolResult) error {
	msg := lastLine(r.stderr)
	switch {
	case strings.Contains(r.stderr, "Incorrect password"), r.exitCode == 3:
		return fmt.Errorf("%w: the PDF needs a password to open (%s: %s)", ErrEncrypted, tool, msg)
	case strings.Contains(r.stderr, "Couldn't open file"):
		return fmt.Errorf("%s: %s", tool, msg) // our temp file went missing: worth a retry
	case r.exitCode == 1:
		return fmt.Errorf("%w: the PDF cannot be opened (%s: %s)", ErrCorrupt, tool, msg)
	}
	return fmt.Errorf("%s exited with code %d: %s", tool, r.exitCode, msg)
}

// parsePDFInfo reads the Title and Pages fields of pdfinfo's output.
func parsePDFInfo(out []byte) (title string, pages int) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Title":
			title = cleanPDFTitle(v)
		case "Pages":
			pages, _ = strconv.Atoi(v)
		}
	}
	return title, pages
}

// cleanPDFTitle drops titles that are not text (control characters, undecodable bytes) and the
// "Microsoft Word - " prefix that Office's PDF printer puts before the file name.
func cleanPDFTitle(t string) string {
	if !utf8.ValidString(t) || strings.ContainsRune(t, utf8.RuneError) ||
		strings.ContainsFunc(t, func(r rune) bool { return unicode.IsControl(r) }) {
		return ""
	}
	for _, p := range []string{"Microsoft Word - ", "Microsoft PowerPoint - "} {
		t = strings.TrimPrefix(t, p)
	}
	return t
}

// pdfBlocks splits pdftotext output into paragraphs with their 1-based page numbers.
func pdfBlocks(out string) []Block {
	pages := textPages(out)
	var blocks []Block
	for i, page := range pages {
		for _, p := range paragraphs(page) {
			blocks = append(blocks, Block{Kind: KindParagraph, Text: joinLines(p), Page: i + 1})
		}
	}
	return blocks
}

// joinLines joins the lines of a paragraph with spaces, undoing end-of-line hyphenation between
// lower-case letters ("exam-\nple" becomes "example").
func joinLines(p string) string {
	var out []byte
	for l := range strings.SplitSeq(p, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if n := len(out); n > 0 {
			last, _ := utf8.DecodeLastRune(out[:n-1])
			first, _ := utf8.DecodeRuneInString(l)
			if out[n-1] == '-' && unicode.IsLower(last) && unicode.IsLower(first) {
				out = out[:n-1]
			} else {
				out = append(out, ' ')
			}
		}
		out = append(out, l...)
	}
	return string(out)
}
