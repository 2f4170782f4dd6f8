package extract

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"unicode/utf16"
)

// sniffLen is how much of the start of a file Sniff reads for magic numbers and the text check.
const sniffLen = 8 << 10

// Sniff decides the media type of a file from its content, never from its name. The name's
// extension only tells text flavours apart once the content is known to be text: ".md" and
// friends make text/markdown, ".csv" text/csv, ".json"/".jsonl"/".ndjson" application/json (for
// content that starts like JSON); HTML and JSON are also recognised from the content alone.
//
// DOCX needs the zip's directory, so Sniff takes the whole file. An OLE compound file holding an
// "EncryptedPackage" stream (a password-protected Office document) is reported as DOCX so that
// Extract fails with ErrEncrypted rather than ErrUnsupported. Sniff returns ErrEmpty for an empty
// file and ErrUnsupported for anything it does not support.
func Sniff(r io.ReaderAt, size int64, filenameHint string) (string, error) {
	if size == 0 {
		return "", fmt.Errorf("%w: the file is empty", ErrEmpty)
	}
	head := make([]byte, min(size, sniffLen))
	if n, err := r.ReadAt(head, 0); err != nil && !(errors.Is(err, io.EOF) && n == len(head)) {
		return "", fmt.Errorf("sniff: %w", err)
	}
	utf16Text := bytes.HasPrefix(head, []byte{0xFF, 0xFE}) || bytes.HasPrefix(head, []byte{0xFE, 0xFF})
	if utf16Text {
		return sniffText(r, size, head, true, strings.ToLower(filepath.Ext(filenameHint))), nil
	}
	if mt, ok := sniffBinary(head); ok {
		return mt, nil
	}
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		if isDOCX(r, size) {
			return MediaDOCX, nil
		}
		return "", fmt.Errorf("%w: a zip archive that is not a DOCX document", ErrUnsupported)
	case bytes.HasPrefix(head, oleMagic):
		if oleEncryptedPackage(r, head) {
			return MediaDOCX, nil
		}
		return "", fmt.Errorf("%w: an OLE compound file (a legacy .doc, .xls, .ppt or similar); save it as DOCX or PDF", ErrUnsupported)
	}
	if looksBinary(head) {
		return "", fmt.Errorf("%w: unrecognised binary content", ErrUnsupported)
	}
	if unsupportedText(head) {
		return "", fmt.Errorf("%w: RTF or SVG", ErrUnsupported)
	}
	return sniffText(r, size, head, false, strings.ToLower(filepath.Ext(filenameHint))), nil
}

var oleMagic = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}

// sniffBinary recognises PDFs, images and audio by their magic numbers.
func sniffBinary(b []byte) (string, bool) {
	at := func(off int, magic string) bool {
		return len(b) >= off+len(magic) && string(b[off:off+len(magic)]) == magic
	}
	switch {
	// PDF readers accept the header anywhere in the first 1024 bytes (after junk that mail or
	// web servers prepend); away from the start it only counts in binary content, so that a
	// text about PDFs is not taken for one.
	case at(0, "%PDF-"), bytes.Contains(b[:min(len(b), 1024)], []byte("%PDF-")) && looksBinary(b):
		return MediaPDF, true
	case at(0, "\x89PNG\r\n\x1a\n"):
		return MediaPNG, true
	case at(0, "\xFF\xD8\xFF"):
		return MediaJPEG, true
	case at(0, "II*\x00"), at(0, "MM\x00*"):
		return MediaTIFF, true
	case at(0, "RIFF") && at(8, "WEBP"):
		return MediaWebP, true
	case at(0, "RIFF") && at(8, "WAVE"):
		return MediaWAV, true
	case at(0, "OggS\x00"):
		return MediaOGG, true
	case at(0, "fLaC") && len(b) >= 8 && b[4]&0x7F == 0: // STREAMINFO comes first
		return MediaFLAC, true
	case id3(b):
		return MediaMP3, true
	case at(4, "ftyp") && (at(8, "M4A ") || at(8, "M4B ") || at(8, "M4P ") || at(8, "F4A ")):
		return MediaM4A, true
	case mpegFrame(b):
		return MediaMP3, true
	}
	return "", false
}

// id3 reports whether b starts with an ID3v2 tag header: version 2 to 4 and a syncsafe size.
func id3(b []byte) bool {
	if len(b) < 10 || string(b[:3]) != "ID3" || b[3] < 2 || b[3] > 4 || b[4] == 0xFF {
		return false
	}
	return b[6]|b[7]|b[8]|b[9] < 0x80
}

// mpegFrame reports whether b starts with an MPEG audio frame header (an MP3 without ID3 tag):
// the 11-bit sync, a defined version, layer III or II (layer I would also match a UTF-16 byte
// order mark), and a valid bitrate and sample rate.
func mpegFrame(b []byte) bool {
	if len(b) < 4 || b[0] != 0xFF || b[1]&0xE0 != 0xE0 {
		return false
	}
	version := (b[1] >> 3) & 3
	layer := (b[1] >> 1) & 3
	bitrate := b[2] >> 4
	rate := (b[2] >> 2) & 3
	return version != 1 && (layer == 1 || layer == 2) && bitrate != 0 && bitrate != 15 && rate != 3
}

// isDOCX reports whether the zip archive holds word/document.xml.
func isDOCX(r io.ReaderAt, size int64) bool {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return false
	}
	for _, f := range zr.File {
		if f.Name == "word/document.xml" {
			return true
		}
	}
	return false
}

// oleEncryptedPackage reports whether an OLE compound file's first directory sector names an
// "EncryptedPackage" stream, which is how Office stores a password-protected OOXML document.
func oleEncryptedPackage(r io.ReaderAt, head []byte) bool {
	if len(head) < 512 {
		return false
	}
	shift := binary.LittleEndian.Uint16(head[0x1E:])
	if shift != 9 && shift != 12 {
		return false
	}
	sector := int64(1) << shift
	dirStart := int64(binary.LittleEndian.Uint32(head[0x30:]))
	dir := make([]byte, sector)
	if _, err := r.ReadAt(dir, (dirStart+1)*sector); err != nil && !errors.Is(err, io.EOF) {
		return false
	}
	want := "EncryptedPackage"
	for off := 0; off+128 <= len(dir); off += 128 {
		nameLen := int(binary.LittleEndian.Uint16(dir[off+64:]))
		if nameLen < 2 || nameLen > 64 {
			continue
		}
		u := make([]uint16, nameLen/2-1)
		for i := range u {
			u[i] = binary.LittleEndian.Uint16(dir[off+2*i:])
		}
		if string(utf16.Decode(u)) == want {
			return true
		}
	}
	return false
}

// sniffText picks the flavour of a text file.
func sniffText(r io.ReaderAt, size int64, head []byte, utf16Text bool, ext string) string {
	switch ext {
	case ".md", ".markdown", ".mdown", ".mkd", ".mkdn", ".mdwn":
		return MediaMarkdown
	case ".csv":
		return MediaCSV
	}
	if utf16Text {
		return MediaPlain
	}
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(head, []byte{0xEF, 0xBB, 0xBF}), " \t\r\n")
	if looksHTML(trimmed) || (ext == ".html" || ext == ".htm" || ext == ".xhtml") && bytes.Contains(head, []byte("<")) {
		return MediaHTML
	}
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		switch ext {
		case ".json", ".jsonl", ".ndjson", ".geojson":
			return MediaJSON
		}
		if validJSON(io.NewSectionReader(r, 0, size)) {
			return MediaJSON
		}
	}
	return MediaPlain
}

// unsupportedText reports text formats whose markup would swamp their text: RTF and SVG.
func unsupportedText(head []byte) bool {
	t := bytes.TrimLeft(bytes.TrimPrefix(head, []byte{0xEF, 0xBB, 0xBF}), " \t\r\n")
	lower := bytes.ToLower(t[:min(len(t), 1024)])
	if bytes.HasPrefix(lower, []byte(`{\rtf`)) || bytes.HasPrefix(lower, []byte("<svg")) {
		return true
	}
	return bytes.HasPrefix(lower, []byte("<?xml")) && bytes.Contains(lower, []byte("<svg")) && !bytes.Contains(lower, []byte("<html"))
}

// htmlStarts are the openings that the WHATWG MIME sniffing standard takes for HTML, each to be
// followed by a space or '>'.
var htmlStarts = []string{"<!doctype html", "<html", "<head", "<script", "<iframe", "<h1", "<div",
	"<font", "<table", "<a", "<style", "<title", "<b", "<body", "<br", "<p", "<!--"}

func looksHTML(b []byte) bool {
	lower := bytes.ToLower(b[:min(len(b), 64)])
	for _, s := range htmlStarts {
		if bytes.HasPrefix(lower, []byte(s)) && len(lower) > len(s) {
			if c := lower[len(s)]; c == ' ' || c == '>' || c == '\t' || c == '\n' || c == '\r' || s == "<!--" {
				return true
			}
		}
	}
	// XHTML: an XML declaration followed by an html root.
	if bytes.HasPrefix(lower, []byte("<?xml")) {
		return bytes.Contains(bytes.ToLower(b[:min(len(b), 1024)]), []byte("<html"))
	}
	return false
}

// validJSON reports whether r holds exactly one JSON value, streaming through it.
func validJSON(r io.Reader) bool {
	dec := json.NewDecoder(r)
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			_, err := dec.Token()
			return errors.Is(err, io.EOF)
		}
	}
}
