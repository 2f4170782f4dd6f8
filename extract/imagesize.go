package extract

import (
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // image.DecodeConfig reads JPEG headers
	_ "image/png"  // and PNG headers
	"io"
	"os"

	_ "golang.org/x/image/webp" // and WebP headers (VP8, VP8L, VP8X)
)

// checkPixels refuses an image that has more than the Extractor's pixel limit, reading only its
// headers: the size a PNG, JPEG or WebP declares, and that of every page of a TIFF (whose page
// count is bounded by MaxPages). Decoders and OCR allocate by the declared size, so a few
// kilobytes that claim 50000×50000 pixels are refused here, before tesseract runs.
func (e *Extractor) checkPixels(mediaType, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var pages []image.Point
	if mediaType == MediaTIFF {
		if pages, err = tiffPages(f, e.maxPages); err != nil {
			return err
		}
	} else {
		cfg, _, err := image.DecodeConfig(f)
		if err != nil {
			return fmt.Errorf("%w: the %s image header cannot be read: %v", ErrCorrupt, mediaType, err)
		}
		pages = []image.Point{{X: cfg.Width, Y: cfg.Height}}
	}
	for i, p := range pages {
		if px := int64(p.X) * int64(p.Y); px > e.maxPixels {
			page := ""
			if len(pages) > 1 {
				page = fmt.Sprintf(" (page %d)", i+1)
			}
			return fmt.Errorf("%w: the image%s is %d×%d pixels; OCR is limited to %d pixels", ErrLimit, page, p.X, p.Y, e.maxPixels)
		}
	}
	return nil
}

// TIFF tags of the image size.
const (
	tiffImageWidth  = 256
	tiffImageLength = 257
)

// tiffPages returns the size of every image in a classic TIFF's chain of IFDs, refusing more than
// maxPages of them (ErrLimit) and a chain that loops or leaves the file (ErrCorrupt).
func tiffPages(r io.ReaderAt, maxPages int) ([]image.Point, error) {
	bad := func(what string) error { return fmt.Errorf("%w: the TIFF image is damaged (%s)", ErrCorrupt, what) }
	head := make([]byte, 8)
	if _, err := r.ReadAt(head, 0); err != nil {
		return nil, bad("no header")
	}
	var bo binary.ByteOrder
	switch string(head[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return nil, bad("not a classic TIFF header")
	}
	var pages []image.Point
	seen := map[uint32]bool{}
	for off := bo.Uint32(head[4:]); off != 0; {
		if seen[off] {
			return nil, bad("its pages form a loop")
		}
		seen[off] = true
		if len(pages) == maxPages {
			return nil, fmt.Errorf("%w: the TIFF image has more than %d pages", ErrLimit, maxPages)
		}
		var n [2]byte
		if _, err := r.ReadAt(n[:], int64(off)); err != nil {
			return nil, bad("a page directory is missing")
		}
		entries := make([]byte, 12*int(bo.Uint16(n[:]))+4)
		if _, err := r.ReadAt(entries, int64(off)+2); err != nil && !(errors.Is(err, io.EOF) && len(entries) == 4) {
			return nil, bad("a page directory is cut short")
		}
		var p image.Point
		for i := 0; i+12 <= len(entries)-4; i += 12 {
			ent := entries[i : i+12]
			var v int
			switch bo.Uint16(ent[2:]) { // field type
			case 3: // SHORT, left-justified in the value field
				v = int(bo.Uint16(ent[8:]))
			case 4: // LONG
				v = int(bo.Uint32(ent[8:]))
			default:
				continue
			}
			switch bo.Uint16(ent) {
			case tiffImageWidth:
				p.X = v
			case tiffImageLength:
				p.Y = v
			}
		}
		if p.X == 0 || p.Y == 0 {
			return nil, bad("a page has no size")
		}
		pages = append(pages, p)
		off = bo.Uint32(entries[len(entries)-4:])
	}
	if len(pages) == 0 {
		return nil, bad("no pages")
	}
	return pages, nil
}
