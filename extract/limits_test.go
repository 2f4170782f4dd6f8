package extract_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/image/tiff"

	"github.com/youworker/youworker/extract"
	"github.com/youworker/youworker/extract/fixtures"
)

// marker returns a fake tool that records that it ran, and the file it writes.
func marker(t *testing.T, dir, name string) (tool, ran string) {
	t.Helper()
	ran = filepath.Join(dir, name+".ran")
	return fakeTool(t, dir, name, "touch "+ran+"; echo text"), ran
}

// tiffHeaderOnly is a little-endian TIFF whose chain of page directories declares the given page
// sizes (and no pixel data): enough for a header check, not for a decoder.
func tiffHeaderOnly(sizes ...[2]uint32) []byte {
	b := []byte("II*\x00\x08\x00\x00\x00")
	for i, s := range sizes {
		off := len(b)
		b = binary.LittleEndian.AppendUint16(b, 2)
		b = binary.LittleEndian.AppendUint16(b, 256) // ImageWidth, LONG
		b = binary.LittleEndian.AppendUint16(b, 4)
		b = binary.LittleEndian.AppendUint32(b, 1)
		b = binary.LittleEndian.AppendUint32(b, s[0])
		b = binary.LittleEndian.AppendUint16(b, 257) // ImageLength, SHORT
		b = binary.LittleEndian.AppendUint16(b, 3)
		b = binary.LittleEndian.AppendUint32(b, 1)
		b = binary.LittleEndian.AppendUint16(b, uint16(s[1]))
		b = binary.LittleEndian.AppendUint16(b, 0)
		next := uint32(0)
		if i < len(sizes)-1 {
			next = uint32(off + 2 + 2*12 + 4)
		}
		b = binary.LittleEndian.AppendUint32(b, next)
	}
	return b
}

// loopingTIFF is a one-page TIFF whose page directory names itself as the next one.
func loopingTIFF() []byte {
	b := tiffHeaderOnly([2]uint32{10, 10})
	binary.LittleEndian.PutUint32(b[len(b)-4:], 8)
	return b
}

// webpHeaderOnly is a lossless WebP header declaring width×height pixels.
func webpHeaderOnly(width, height int) []byte {
	var vp8l []byte
	vp8l = append(vp8l, 0x2f)
	vp8l = binary.LittleEndian.AppendUint32(vp8l, uint32(width-1)|uint32(height-1)<<14)
	vp8l = append(vp8l, make([]byte, 11)...)
	b := []byte("RIFF")
	b = binary.LittleEndian.AppendUint32(b, uint32(4+8+len(vp8l)))
	b = append(b, "WEBPVP8L"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(vp8l)))
	return append(b, vp8l...)
}

func smallJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	var buf bytes.Buffer
	require.NoError(t, jpeg.Encode(&buf, img, nil))
	return buf.Bytes()
}

// TestOCRRefusesImagesOverThePixelLimit: an image whose header declares more pixels than the
// limit fails with ErrLimit (permanent) from its header alone; tesseract never runs.
func TestOCRRefusesImagesOverThePixelLimit(t *testing.T) {
	t.Parallel()
	bomb, err := fixtures.PNGBomb(50000, 50000)
	require.NoError(t, err)
	tests := []struct {
		name      string
		mediaType string
		data      []byte
		maxPixels int64
		wantErr   error
		wantMsg   string
	}{
		{name: "50000x50000 png", mediaType: extract.MediaPNG, data: bomb, wantErr: extract.ErrLimit, wantMsg: "50000×50000 pixels"},
		{name: "png over a configured limit", mediaType: extract.MediaPNG, data: renderPNG(t, "x", 20), maxPixels: 1000, wantErr: extract.ErrLimit},
		{name: "jpeg over the limit", mediaType: extract.MediaJPEG, data: smallJPEG(t, 100, 100), maxPixels: 9999, wantErr: extract.ErrLimit, wantMsg: "100×100"},
		{name: "webp over the limit", mediaType: extract.MediaWebP, data: webpHeaderOnly(16000, 16000), wantErr: extract.ErrLimit, wantMsg: "16000×16000"},
		{name: "second tiff page over the limit", mediaType: extract.MediaTIFF, data: tiffHeaderOnly([2]uint32{100, 100}, [2]uint32{40000, 40000}),
			wantErr: extract.ErrLimit, wantMsg: "page 2"},
		{name: "tiff with more pages than allowed", mediaType: extract.MediaTIFF, data: tiffHeaderOnly([2]uint32{10, 10}, [2]uint32{10, 10}, [2]uint32{10, 10}),
			wantErr: extract.ErrLimit, wantMsg: "more than 2 pages"},
		{name: "tiff whose pages loop", mediaType: extract.MediaTIFF, data: loopingTIFF(), wantErr: extract.ErrCorrupt},
		{name: "png header that is not one", mediaType: extract.MediaPNG, data: []byte("\x89PNG\r\n\x1a\nnot a chunk"), wantErr: extract.ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			tess, ran := marker(t, dir, "tesseract")
			x := extract.New(extract.Options{Tesseract: tess, MaxPixels: tc.maxPixels, MaxPages: 2})
			_, err := x.Extract(context.Background(), tc.mediaType, writeFile(t, "image", tc.data))
			require.ErrorIs(t, err, tc.wantErr)
			require.True(t, extract.Permanent(err))
			require.Contains(t, err.Error(), tc.wantMsg)
			require.NoFileExists(t, ran, "tesseract must not run")
		})
	}
}

// TestOCRReadsImagesWithinTheLimit: the header check lets normal images (and every page of a
// multi-page TIFF) through to tesseract.
func TestOCRReadsImagesWithinTheLimit(t *testing.T) {
	t.Parallel()
	requireTool(t, "tesseract", "tesseract-ocr tesseract-ocr-eng")
	requireTool(t, "prlimit", "util-linux")
	src, _, err := image.Decode(bytes.NewReader(renderPNG(t, "Lighthouse keeper notes", 40)))
	require.NoError(t, err)
	var tif bytes.Buffer
	require.NoError(t, tiff.Encode(&tif, src, nil))
	x := extract.New(extract.Options{MaxMemory: 1 << 30, MaxCPU: time.Minute})
	for _, tc := range []struct {
		name, mediaType string
		data            []byte
	}{
		{"png", extract.MediaPNG, renderPNG(t, "Lighthouse keeper notes", 40)},
		{"tiff", extract.MediaTIFF, tif.Bytes()},
	} {
		doc, err := x.Extract(context.Background(), tc.mediaType, writeFile(t, "image", tc.data))
		require.NoError(t, err, tc.name)
		require.Contains(t, allText(doc), "Lighthouse", tc.name)
	}
}

// TestDOCXBombIsRefused: a DOCX whose document.xml inflates to 250 MiB fails with ErrLimit at
// once; so do parts over configured budgets, per part and per document.
func TestDOCXBombIsRefused(t *testing.T) {
	t.Parallel()
	bomb, err := fixtures.DOCXBomb(250 << 20)
	require.NoError(t, err)
	require.Less(t, len(bomb), 1<<20, "a bomb is small")
	text := bytes.Repeat([]byte("word "), 400)
	tests := []struct {
		name    string
		data    []byte
		opts    extract.Options
		wantMsg string
	}{
		{name: "250 MiB document.xml", data: bomb, wantMsg: "word/document.xml"},
		{name: "part over a configured limit", data: makeDOCX(t, para("", string(text)), "", ""),
			opts: extract.Options{MaxPartBytes: 1000}, wantMsg: "per part"},
		{name: "parts together over the budget", data: makeDOCX(t, para("", string(text[:1200])), "", `<w:style w:styleId="a"><w:name w:val="`+string(text[:1200])+`"/></w:style>`),
			opts: extract.Options{MaxPartBytes: 2000, MaxUnpackedBytes: 2500}, wantMsg: "2500 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			_, err := extract.New(tc.opts).Extract(context.Background(), extract.MediaDOCX, writeFile(t, "bomb.docx", tc.data))
			require.ErrorIs(t, err, extract.ErrLimit)
			require.True(t, extract.Permanent(err))
			require.Contains(t, err.Error(), tc.wantMsg)
			require.Less(t, time.Since(start), 5*time.Second)
		})
	}
	// Within the budgets the same document reads.
	doc, err := extract.New(extract.Options{MaxPartBytes: 4000}).Extract(context.Background(), extract.MediaDOCX,
		writeFile(t, "ok.docx", makeDOCX(t, para("", string(text)), "", "")))
	require.NoError(t, err)
	require.Contains(t, allText(doc), "word word")
}

// TestToolsRunUnderLimits: a PDF object bomb makes pdftotext hit the memory limit, a tool that
// spins hits the CPU limit, one that hangs the timeout, one that crashes is killed by a signal:
// each fails at once with ErrLimit, which is permanent.
func TestToolsRunUnderLimits(t *testing.T) {
	t.Parallel()
	requireTool(t, "pdftotext", "poppler-utils")
	requireTool(t, "prlimit", "util-linux")
	bomb, err := fixtures.PDFBomb(128 << 20)
	require.NoError(t, err)
	pdf := makePDF(t, pdfOptions{pages: []string{"x"}})
	tests := []struct {
		name    string
		data    []byte
		setup   func(t *testing.T, dir string) extract.Options
		wantMsg string
	}{
		{
			name: "pdf object bomb", data: bomb,
			setup: func(*testing.T, string) extract.Options {
				return extract.Options{MaxMemory: 512 << 20, MaxCPU: time.Minute, Timeout: time.Minute}
			},
			wantMsg: "pdftotext ran out of memory (memory limit 512 MiB)",
		},
		{
			name: "tool spins", data: pdf,
			setup: func(t *testing.T, dir string) extract.Options {
				fakeTool(t, dir, "pdfinfo", "while :; do :; done")
				return extract.Options{Pdftotext: fakeTool(t, dir, "pdftotext", "exit 0"), MaxCPU: time.Second, Timeout: time.Minute}
			},
			wantMsg: "pdfinfo used more than 1s of CPU time",
		},
		{
			name: "tool hangs past the timeout", data: pdf,
			setup: func(t *testing.T, dir string) extract.Options {
				fakeTool(t, dir, "pdfinfo", "exec sleep 30")
				return extract.Options{Pdftotext: fakeTool(t, dir, "pdftotext", "exit 0"), Timeout: 300 * time.Millisecond}
			},
			wantMsg: "did not finish within 300ms",
		},
		{
			name: "tool crashes", data: pdf,
			setup: func(t *testing.T, dir string) extract.Options {
				fakeTool(t, dir, "pdfinfo", "kill -SEGV $$")
				return extract.Options{Pdftotext: fakeTool(t, dir, "pdftotext", "exit 0")}
			},
			wantMsg: "pdfinfo was killed (segmentation fault)",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			x := extract.New(tc.setup(t, t.TempDir()))
			start := time.Now()
			_, err := x.Extract(context.Background(), extract.MediaPDF, writeFile(t, "in.pdf", tc.data))
			require.ErrorIs(t, err, extract.ErrLimit)
			require.True(t, extract.Permanent(err), "%v must not be retried", err)
			require.Contains(t, err.Error(), tc.wantMsg)
			require.Less(t, time.Since(start), 30*time.Second)
		})
	}
}

func TestCheckNeedsPrlimitOnlyWithLimits(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "prlimit")
	require.Error(t, extract.New(extract.Options{Prlimit: missing, MaxMemory: 1 << 30}).Check())
	require.Error(t, extract.New(extract.Options{Prlimit: missing, MaxCPU: time.Minute}).Check())
	require.NoError(t, extract.New(extract.Options{Prlimit: missing}).Check())
	if _, err := os.Stat("/usr/bin/prlimit"); err == nil {
		require.NoError(t, extract.New(extract.Options{MaxMemory: 1 << 30}).Check())
	}
}
