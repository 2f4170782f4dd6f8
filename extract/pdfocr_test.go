package extract_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/extract"
	"github.com/youworker/youworker/extract/fixtures"
)

// memCheckpoint is an OCRCheckpoint in memory that records the pages saved.
type memCheckpoint struct {
	mu    sync.Mutex
	done  map[int]string
	saved []extract.OCRPage
	asked int
}

func (c *memCheckpoint) OCRDone(context.Context) (map[int]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asked++
	out := map[int]string{}
	for p, t := range c.done {
		out[p] = t
	}
	return out, nil
}

func (c *memCheckpoint) SaveOCR(_ context.Context, p extract.OCRPage) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.saved = append(c.saved, p)
	if c.done == nil {
		c.done = map[int]string{}
	}
	c.done[p.Page] = p.Text
	return nil
}

func scannedPDF(t *testing.T, texts []string, textPages ...int) string {
	t.Helper()
	b, err := fixtures.ScannedPDF(texts, textPages...)
	require.NoError(t, err)
	return writeFile(t, "scan.pdf", b)
}

func requireOCRTools(t *testing.T) {
	t.Helper()
	requireTool(t, "pdftotext", "poppler-utils")
	requireTool(t, "pdftoppm", "poppler-utils")
	requireTool(t, "tesseract", "tesseract-ocr")
}

// TestScannedPDFIsOCRed: a PDF of page images has no text layer; its pages are rendered and OCRed,
// each paragraph keeping its page number, and every page goes to the checkpoint once.
func TestScannedPDFIsOCRed(t *testing.T) {
	t.Parallel()
	requireOCRTools(t)
	path := scannedPDF(t, []string{"Zebras graze near quiet lagoons", "Walruses sunbathe on pebbly beaches"})
	cp := &memCheckpoint{}
	doc, err := extract.New(extract.Options{MaxMemory: 1 << 30}).ExtractResumable(context.Background(), extract.MediaPDF, path, cp)
	require.NoError(t, err)
	require.Len(t, doc.Blocks, 2, "%v", kinds(doc))
	require.Contains(t, strings.ToLower(doc.Blocks[0].Text), "zebras graze")
	require.Equal(t, 1, doc.Blocks[0].Page)
	require.Contains(t, strings.ToLower(doc.Blocks[1].Text), "walruses sunbathe")
	require.Equal(t, 2, doc.Blocks[1].Page)
	require.Len(t, cp.saved, 2)
	require.Equal(t, extract.OCRPage{Page: 2, Text: cp.saved[1].Text, Done: 2, Total: 2}, cp.saved[1])
}

// TestMixedPDFKeepsItsTextPages: the page with a text layer keeps its text exactly; only the pages
// without one are OCRed, and the blocks stay in page order.
func TestMixedPDFKeepsItsTextPages(t *testing.T) {
	t.Parallel()
	requireOCRTools(t)
	path := scannedPDF(t, []string{"Zebras graze near quiet lagoons", "Typed page text, with a comma; kept as typed.",
		"Walruses sunbathe on pebbly beaches"}, 2)
	cp := &memCheckpoint{}
	doc, err := extract.New(extract.Options{}).ExtractResumable(context.Background(), extract.MediaPDF, path, cp)
	require.NoError(t, err)
	require.Len(t, doc.Blocks, 3, "%v", kinds(doc))
	require.Equal(t, extract.Block{Kind: extract.KindParagraph, Page: 2, Text: "Typed page text, with a comma; kept as typed."}, doc.Blocks[1])
	require.Equal(t, []int{1, 3}, []int{doc.Blocks[0].Page, doc.Blocks[2].Page})
	require.Contains(t, strings.ToLower(doc.Blocks[2].Text), "walruses")
	require.Equal(t, []int{1, 3}, []int{cp.saved[0].Page, cp.saved[1].Page}, "the text page is not OCRed")
}

// TestScannedPDFResumesAfterDonePages: pages the checkpoint has are taken from it, not OCRed again.
func TestScannedPDFResumesAfterDonePages(t *testing.T) {
	t.Parallel()
	requireOCRTools(t)
	path := scannedPDF(t, []string{"Zebras graze near quiet lagoons", "Walruses sunbathe on pebbly beaches", "Otters juggle smooth stones"})
	cp := &memCheckpoint{done: map[int]string{1: "Remembered from the first attempt\n", 2: ""}}
	doc, err := extract.New(extract.Options{}).ExtractResumable(context.Background(), extract.MediaPDF, path, cp)
	require.NoError(t, err)
	require.Equal(t, "Remembered from the first attempt", doc.Blocks[0].Text)
	require.Len(t, doc.Blocks, 2, "page 2 was done and empty: %v", kinds(doc))
	require.Equal(t, 3, doc.Blocks[1].Page)
	require.Contains(t, strings.ToLower(doc.Blocks[1].Text), "otters juggle")
	require.Len(t, cp.saved, 1)
	require.Equal(t, extract.OCRPage{Page: 3, Text: cp.saved[0].Text, Done: 3, Total: 3}, cp.saved[0])
}

// TestTextPDFIsNotOCRed: a PDF with text on every page never reaches the checkpoint, nor OCR.
func TestTextPDFIsNotOCRed(t *testing.T) {
	t.Parallel()
	requireTool(t, "pdftotext", "poppler-utils")
	cp := &memCheckpoint{}
	x := extract.New(extract.Options{Tesseract: "/nonexistent/tesseract"})
	doc, err := x.ExtractResumable(context.Background(), extract.MediaPDF, writeFile(t, "doc.pdf", makePDF(t, pdfOptions{pages: []string{"One.", "Two."}})), cp)
	require.NoError(t, err)
	require.Len(t, doc.Blocks, 2)
	require.Zero(t, cp.asked)
	require.Empty(t, cp.saved)
}

// TestScannedPDFPageLimit: pages past MaxPages are neither read nor OCRed.
func TestScannedPDFPageLimit(t *testing.T) {
	t.Parallel()
	requireOCRTools(t)
	path := scannedPDF(t, []string{"Zebras graze near quiet lagoons", "Walruses sunbathe on pebbly beaches"})
	cp := &memCheckpoint{}
	doc, err := extract.New(extract.Options{MaxPages: 1}).ExtractResumable(context.Background(), extract.MediaPDF, path, cp)
	require.NoError(t, err)
	require.Len(t, doc.Blocks, 1)
	require.Len(t, cp.saved, 1)
	require.Equal(t, 1, cp.saved[0].Total)
}

// TestScannedPDFUnderThePixelLimit: with a pixel limit below a 300 dpi A4 page (8.7 MP), the page
// is rendered smaller rather than refused, and still read.
func TestScannedPDFUnderThePixelLimit(t *testing.T) {
	t.Parallel()
	requireOCRTools(t)
	path := scannedPDF(t, []string{"Zebras graze near quiet lagoons"})
	doc, err := extract.New(extract.Options{MaxPixels: 4_000_000}).Extract(context.Background(), extract.MediaPDF, path)
	require.NoError(t, err)
	require.Contains(t, strings.ToLower(allText(doc)), "zebras graze")
}

// TestScannedPDFOCRPageLimit: a PDF with more pages without text than MaxOCRPages fails at once
// with ErrLimit, before any page is OCRed, when it has no text page; with one it keeps that page
// alone, as before OCR. A negative MaxOCRPages turns the OCR of PDFs off likewise.
func TestScannedPDFOCRPageLimit(t *testing.T) {
	t.Parallel()
	requireOCRTools(t)
	texts := []string{"Zebras graze near quiet lagoons", "Typed page.", "Walruses sunbathe on pebbly beaches"}
	path := scannedPDF(t, texts, 2)
	noOCR := "/nonexistent/tesseract"
	textPage := []extract.Block{{Kind: extract.KindParagraph, Page: 2, Text: "Typed page."}}

	cp := &memCheckpoint{}
	_, err := extract.New(extract.Options{MaxOCRPages: 1, Tesseract: noOCR}).ExtractResumable(context.Background(), extract.MediaPDF,
		scannedPDF(t, []string{texts[0], texts[2]}), cp)
	require.ErrorIs(t, err, extract.ErrLimit)
	require.True(t, extract.Permanent(err))
	require.Contains(t, err.Error(), "2 pages without a text layer; OCR is limited to 1")

	doc, err := extract.New(extract.Options{MaxOCRPages: 1, Tesseract: noOCR}).ExtractResumable(context.Background(), extract.MediaPDF, path, cp)
	require.NoError(t, err)
	require.Equal(t, textPage, doc.Blocks)
	require.Zero(t, cp.asked)

	doc, err = extract.New(extract.Options{MaxOCRPages: -1, Tesseract: noOCR}).ExtractResumable(context.Background(), extract.MediaPDF, path, cp)
	require.NoError(t, err)
	require.Equal(t, textPage, doc.Blocks)

	_, err = extract.New(extract.Options{MaxOCRPages: -1, Tesseract: noOCR}).Extract(context.Background(), extract.MediaPDF, scannedPDF(t, texts[:1]))
	require.ErrorIs(t, err, extract.ErrEmpty)
	require.Contains(t, err.Error(), "OCR of PDFs is off")
	require.Zero(t, cp.asked)

	doc, err = extract.New(extract.Options{MaxOCRPages: 2}).ExtractResumable(context.Background(), extract.MediaPDF, path, cp)
	require.NoError(t, err)
	require.Len(t, doc.Blocks, 3, "two pages to OCR are within a limit of two")
}

// TestBlankScannedPageIsNotOCRed: a page without a text layer whose image is blank (a scanned
// book's empty verso) is not handed to tesseract; it goes to the checkpoint empty, and the pages
// around it are OCRed as usual.
func TestBlankScannedPageIsNotOCRed(t *testing.T) {
	t.Parallel()
	requireOCRTools(t)
	real, err := exec.LookPath("tesseract")
	require.NoError(t, err)
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	tess := filepath.Join(dir, "tesseract")
	require.NoError(t, os.WriteFile(tess, []byte("#!/bin/sh\necho run >> '"+runs+"'\nexec '"+real+"' \"$@\"\n"), 0o755))

	path := scannedPDF(t, []string{"Zebras graze near quiet lagoons", "", "Walruses sunbathe on pebbly beaches"})
	cp := &memCheckpoint{}
	doc, err := extract.New(extract.Options{Tesseract: tess}).ExtractResumable(context.Background(), extract.MediaPDF, path, cp)
	require.NoError(t, err)
	require.Len(t, doc.Blocks, 2, "%v", kinds(doc))
	require.Contains(t, strings.ToLower(doc.Blocks[0].Text), "zebras graze")
	require.Contains(t, strings.ToLower(doc.Blocks[1].Text), "walruses sunbathe")
	require.Equal(t, 3, doc.Blocks[1].Page)
	require.Equal(t, []extract.OCRPage{{Page: 1, Text: cp.saved[0].Text, Done: 1, Total: 3}, {Page: 2, Text: "", Done: 2, Total: 3},
		{Page: 3, Text: cp.saved[2].Text, Done: 3, Total: 3}}, cp.saved)
	b, err := os.ReadFile(runs)
	require.NoError(t, err)
	require.Equal(t, 2, strings.Count(string(b), "run"), "tesseract ran for the two pages with text only")
}
