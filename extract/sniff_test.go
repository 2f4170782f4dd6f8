package extract_test

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/image/tiff"

	"github.com/youworker/youworker/extract"
)

func TestSniff(t *testing.T) {
	t.Parallel()
	gray := image.NewGray(image.Rect(0, 0, 8, 8))
	gray.Set(1, 1, color.White)
	var jpg, tif bytes.Buffer
	require.NoError(t, jpeg.Encode(&jpg, gray, nil))
	require.NoError(t, tiff.Encode(&tif, gray, nil))
	random := make([]byte, 4096)
	rng := rand.NewChaCha8([32]byte{7})
	_, _ = rng.Read(random)
	riff := func(form string) []byte {
		return append([]byte("RIFF\x24\x00\x00\x00"+form), make([]byte, 32)...)
	}
	docx := makeDOCX(t, para("", "Hello"), "", "")

	tests := []struct {
		name    string
		data    []byte
		hint    string
		want    string
		wantErr error
	}{
		{name: "pdf named docx", data: makePDF(t, pdfOptions{pages: []string{"x"}}), hint: "letter.docx", want: extract.MediaPDF},
		{name: "png named pdf", data: renderPNG(t, "", 10), hint: "report.pdf", want: extract.MediaPNG},
		{name: "jpeg named txt", data: jpg.Bytes(), hint: "notes.txt", want: extract.MediaJPEG},
		{name: "tiff", data: tif.Bytes(), hint: "scan", want: extract.MediaTIFF},
		{name: "webp", data: riff("WEBPVP8 "), hint: "photo.png", want: extract.MediaWebP},
		{name: "wav", data: riff("WAVEfmt "), hint: "a.mp3", want: extract.MediaWAV},
		{name: "ogg", data: append([]byte("OggS\x00\x02"), make([]byte, 40)...), want: extract.MediaOGG},
		{name: "flac", data: append([]byte("fLaC\x00\x00\x00\x22"), make([]byte, 40)...), want: extract.MediaFLAC},
		{name: "mp3 with id3", data: append([]byte("ID3\x04\x00\x00\x00\x00\x00\x00"), make([]byte, 40)...), want: extract.MediaMP3},
		{name: "mp3 frame", data: append([]byte{0xFF, 0xFB, 0x90, 0x64}, make([]byte, 40)...), hint: "x.txt", want: extract.MediaMP3},
		{name: "m4a", data: append([]byte("\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00"), make([]byte, 40)...), want: extract.MediaM4A},
		{name: "docx named zip", data: docx, hint: "archive.zip", want: extract.MediaDOCX},
		{name: "encrypted office file", data: oleFile("EncryptionInfo", "EncryptedPackage"), hint: "secret.docx", want: extract.MediaDOCX},
		{name: "legacy doc", data: oleFile("WordDocument"), hint: "old.docx", wantErr: extract.ErrUnsupported},
		{name: "zip that is not docx", data: makeZip(t, [2]string{"a.txt", "hello"}), hint: "x.docx", wantErr: extract.ErrUnsupported},
		{name: "random binary", data: random, hint: "notes.txt", wantErr: extract.ErrUnsupported},
		{name: "text named exe", data: []byte("Just some plain words.\n"), hint: "x.exe", want: extract.MediaPlain},
		{name: "text without name", data: []byte("café au lait\n"), want: extract.MediaPlain},
		{name: "utf-16 text", data: []byte("\xFF\xFEh\x00i\x00"), hint: "a.md", want: extract.MediaMarkdown},
		{name: "markdown by extension", data: []byte("# Title\n\nBody\n"), hint: "README.MD", want: extract.MediaMarkdown},
		{name: "markdown without extension is plain", data: []byte("# Title\n\nBody\n"), want: extract.MediaPlain},
		{name: "csv by extension", data: []byte("a,b\n1,2\n"), hint: "data.csv", want: extract.MediaCSV},
		{name: "html by content", data: []byte("\n<!DOCTYPE html><html><body>x</body></html>"), hint: "page.txt", want: extract.MediaHTML},
		{name: "html fragment by extension", data: []byte("Hello <b>there</b>"), hint: "page.htm", want: extract.MediaHTML},
		{name: "json by content", data: []byte(` {"a": [1, 2, {"b": null}]} `), hint: "data", want: extract.MediaJSON},
		{name: "json-looking text", data: []byte("[link](http://example.com) is markdown"), want: extract.MediaPlain},
		{name: "invalid json named json", data: []byte(`{"a": `), hint: "x.json", want: extract.MediaJSON},
		{name: "text mentioning pdf magic", data: []byte("The header is %PDF-1.7 in every PDF.\n"), want: extract.MediaPlain},
		{name: "text starting like an id3 tag", data: []byte("ID3 tags hold MP3 metadata.\n"), want: extract.MediaPlain},
		{name: "svg", data: []byte(`<?xml version="1.0"?>` + "\n" + `<svg xmlns="http://www.w3.org/2000/svg"><text>x</text></svg>`), hint: "a.txt", wantErr: extract.ErrUnsupported},
		{name: "rtf", data: []byte(`{\rtf1\ansi Hello}`), hint: "a.txt", wantErr: extract.ErrUnsupported},
		{name: "empty", data: nil, hint: "x.pdf", wantErr: extract.ErrEmpty},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := extract.Sniff(bytes.NewReader(tc.data), int64(len(tc.data)), tc.hint)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.True(t, extract.Permanent(err))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestSniffLargeText(t *testing.T) {
	t.Parallel()
	// Far more than the sniffed prefix, with a multi-byte rune across the prefix's end.
	data := []byte(strings.Repeat("€", 20000))
	got, err := extract.Sniff(bytes.NewReader(data), int64(len(data)), "")
	require.NoError(t, err)
	require.Equal(t, extract.MediaPlain, got)
}
