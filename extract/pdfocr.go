package extract

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// OCRCheckpoint keeps the OCR of a scanned PDF's pages across attempts of one extraction, so that
// an attempt that is cut short (a killed worker, a timeout) is resumed at the next page rather
// than from the first: ExtractResumable asks it once which pages earlier attempts did and hands it
// every page as soon as it is OCRed.
type OCRCheckpoint interface {
	// OCRDone returns the text of the pages OCRed by earlier attempts, by 1-based page number.
	OCRDone(ctx context.Context) (map[int]string, error)
	// SaveOCR records one page's OCR; an error stops the extraction.
	SaveOCR(ctx context.Context, p OCRPage) error
}

// OCRPage is one OCRed page of a PDF and the progress of the document's OCR.
type OCRPage struct {
	Page  int    // 1-based
	Text  string // what OCR read, "" for a page without text
	Done  int    // pages OCRed in this document so far, by any attempt, this one included
	Total int    // pages of this document that need OCR
}

// OCR rendering: pages are rendered at ocrDPI, or lower when that would exceed the pixel limit.
const ocrDPI = 300

// textPages splits pdftotext output at its form feeds into the text of each page.
func textPages(out string) []string {
	pages := strings.Split(out, "\f")
	if len(pages) > 0 && strings.TrimSpace(pages[len(pages)-1]) == "" {
		pages = pages[:len(pages)-1] // the text after the last page's form feed
	}
	return pages
}

// scannedPages returns the 1-based numbers of the first n pages that have no text in pdftotext's
// output: scanned pages (or blank ones, which OCR finds empty).
func scannedPages(out string, n int) []int {
	pages := textPages(out)
	var scanned []int
	for i := range n {
		if i >= len(pages) || len(paragraphs(pages[i])) == 0 {
			scanned = append(scanned, i+1)
		}
	}
	return scanned
}

// ocrPDFPages OCRs the given pages of the PDF at path, one at a time: each is rendered with
// pdftoppm (grey, at ocrDPI or the highest resolution that keeps it under the pixel limit, checked
// again on the rendered image) into a directory beside path, then read by tesseract, both under
// the tool limits. Pages that cp says are done are not OCRed again. It returns the text by page.
func (e *Extractor) ocrPDFPages(ctx context.Context, path string, pages []int, cp OCRCheckpoint) (map[int]string, error) {
	done := map[int]string{}
	if cp != nil {
		prev, err := cp.OCRDone(ctx)
		if err != nil {
			return nil, err
		}
		for _, p := range pages {
			if text, ok := prev[p]; ok {
				done[p] = text
			}
		}
	}
	if len(done) == len(pages) {
		return done, nil
	}
	sizes, err := e.pageSizes(ctx, path, pages[0], pages[len(pages)-1])
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), "yw-pdfpage-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	for _, p := range pages {
		if _, ok := done[p]; ok {
			continue
		}
		size, ok := sizes[p]
		if !ok {
			return nil, fmt.Errorf("%w: pdfinfo gives no size for page %d", ErrCorrupt, p)
		}
		text, err := e.ocrPDFPage(ctx, path, dir, p, size)
		if err != nil {
			return nil, err
		}
		done[p] = text
		if cp != nil {
			if err := cp.SaveOCR(ctx, OCRPage{Page: p, Text: text, Done: len(done), Total: len(pages)}); err != nil {
				return nil, err
			}
		}
		e.log.DebugContext(ctx, "pdf page ocred", "page", p, "done", len(done), "total", len(pages))
	}
	return done, nil
}

// ocrPDFPage renders page p of the PDF at path (size in points) into dir and OCRs it.
func (e *Extractor) ocrPDFPage(ctx context.Context, path, dir string, p int, size [2]float64) (string, error) {
	dpi := renderDPI(size, e.maxPixels)
	if dpi < 1 {
		return "", fmt.Errorf("%w: page %d is %.0f×%.0f points, too large to render under the OCR limit of %d pixels",
			ErrLimit, p, size[0], size[1], e.maxPixels)
	}
	out := filepath.Join(dir, "page"+strconv.Itoa(p))
	res, err := e.run(ctx, nil, siblingTool(e.pdftotext, "pdftoppm"), "-r", strconv.FormatFloat(dpi, 'f', 2, 64),
		"-f", strconv.Itoa(p), "-l", strconv.Itoa(p), "-gray", "-png", "-singlefile", path, out)
	if err != nil {
		return "", err
	}
	if res.exitCode != 0 {
		return "", popplerError("pdftoppm", res)
	}
	img := out + ".png"
	defer os.Remove(img)
	if err := e.checkPixels(MediaPNG, img); err != nil {
		return "", fmt.Errorf("page %d: %w", p, err)
	}
	if blank, err := blankPage(img); err != nil {
		return "", fmt.Errorf("page %d: %w", p, err)
	} else if blank {
		// A blank page (a scanned book's empty verso, a separator sheet) has nothing to read:
		// tesseract would take about a second to say so.
		return "", nil
	}
	text, err := e.tesseractText(ctx, fmt.Sprintf("rendered page %d of the PDF", p), img)
	return strings.ReplaceAll(text, "\f", "\n"), err // tesseract ends its page with a form feed
}

// Blank page detection: a pixel is ink when darker than blankInk (0 black, 255 white); a page is
// blank when at most blankInkShare of its pixels are ink, which scanner specks stay under and a
// line of text (thousands of ink pixels at 300 dpi) does not.
const (
	blankInk      = 128
	blankInkShare = 0.00002 // 1 pixel in 50,000: ~170 pixels of an A4 page at 300 dpi
)

// blankPage reports whether the rendered grayscale page image at path is blank (see blankInk).
func blankPage(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	img, err := png.Decode(bufio.NewReader(f))
	if err != nil {
		return false, fmt.Errorf("%w: the rendered page cannot be read: %v", ErrCorrupt, err)
	}
	b := img.Bounds()
	allowed := int(float64(b.Dx()*b.Dy()) * blankInkShare)
	ink := 0
	gray, isGray := img.(*image.Gray)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			var v uint8
			if isGray {
				v = gray.Pix[(y-b.Min.Y)*gray.Stride+(x-b.Min.X)]
			} else {
				v = color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y
			}
			if v < blankInk {
				if ink++; ink > allowed {
					return false, nil
				}
			}
		}
	}
	return true, nil
}

// renderDPI is the resolution at which a page of size points (1/72 in) is rendered: ocrDPI, or
// less so that it has at most maxPixels pixels (with 1% to spare for rounding up).
func renderDPI(size [2]float64, maxPixels int64) float64 {
	inches := size[0] / 72 * size[1] / 72
	if inches <= 0 {
		return ocrDPI
	}
	return math.Floor(min(ocrDPI, math.Sqrt(float64(maxPixels)/inches)*0.99)*100) / 100
}

// pageSizes returns the sizes in points of pages first to last, read by pdfinfo.
func (e *Extractor) pageSizes(ctx context.Context, path string, first, last int) (map[int][2]float64, error) {
	res, err := e.run(ctx, nil, e.pdfinfo, "-f", strconv.Itoa(first), "-l", strconv.Itoa(last), path)
	if err != nil {
		return nil, err
	}
	if res.exitCode != 0 {
		return nil, popplerError("pdfinfo", res)
	}
	return parsePageSizes(res.stdout), nil
}

// parsePageSizes reads pdfinfo's "Page    3 size: 595.276 x 841.89 pts (A4)" lines.
func parsePageSizes(out []byte) map[int][2]float64 {
	sizes := map[int][2]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || f[0] != "Page" || f[2] != "size:" || f[4] != "x" {
			continue
		}
		p, err1 := strconv.Atoi(f[1])
		w, err2 := strconv.ParseFloat(f[3], 64)
		h, err3 := strconv.ParseFloat(f[5], 64)
		if err1 == nil && err2 == nil && err3 == nil && w > 0 && h > 0 && !math.IsInf(w*h, 0) {
			sizes[p] = [2]float64{w, h}
		}
	}
	return sizes
}

// ocrBlocks merges the text layer's blocks with the OCRed pages' paragraphs in page order.
func ocrBlocks(text []Block, ocred map[int]string, pages []int) []Block {
	var blocks []Block
	i := 0
	for _, p := range pages {
		for i < len(text) && text[i].Page < p {
			blocks = append(blocks, text[i])
			i++
		}
		for _, para := range paragraphs(ocred[p]) {
			blocks = append(blocks, Block{Kind: KindParagraph, Text: joinLines(para), Page: p})
		}
	}
	return append(blocks, text[i:]...)
}
