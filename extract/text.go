package extract

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// maxTextFile bounds the text formats read into memory (plain, Markdown, HTML, CSV, JSON).
const maxTextFile = 64 << 20

// readTextFile reads a text file of at most maxTextFile bytes as UTF-8.
func readTextFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if st.Size() > maxTextFile {
		return "", fmt.Errorf("%w: text file of %d bytes exceeds the %d byte limit", ErrLimit, st.Size(), maxTextFile)
	}
	raw := make([]byte, st.Size())
	if _, err := f.ReadAt(raw, 0); err != nil {
		return "", err
	}
	return decodeText(raw)
}

// decodeText turns file bytes into UTF-8 text with "\n" line ends: a UTF-8 BOM is dropped,
// UTF-16 with a BOM is decoded, and invalid UTF-8 sequences become U+FFFD. Content that looks
// binary (NUL bytes, many control characters or invalid sequences) is ErrCorrupt.
func decodeText(raw []byte) (string, error) {
	var s string
	switch {
	case bytes.HasPrefix(raw, []byte{0xEF, 0xBB, 0xBF}):
		s = string(raw[3:])
	case bytes.HasPrefix(raw, []byte{0xFF, 0xFE}), bytes.HasPrefix(raw, []byte{0xFE, 0xFF}):
		s = decodeUTF16(raw)
	default:
		if looksBinary(raw) {
			return "", fmt.Errorf("%w: binary content where text was expected", ErrCorrupt)
		}
		s = string(raw)
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return s, nil
}

func decodeUTF16(raw []byte) string {
	big := raw[0] == 0xFE
	raw = raw[2:]
	u := make([]uint16, len(raw)/2)
	for i := range u {
		if big {
			u[i] = uint16(raw[2*i])<<8 | uint16(raw[2*i+1])
		} else {
			u[i] = uint16(raw[2*i+1])<<8 | uint16(raw[2*i])
		}
	}
	return string(utf16.Decode(u))
}

// looksBinary reports whether b (a sample or a whole file) is not text: it holds a NUL byte, or
// more than 2% control characters, or more than 10% bytes in invalid UTF-8 sequences.
func looksBinary(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return true
	}
	var ctrl, invalid int
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f' && c != 0x1b || c == 0x7f {
				ctrl++
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			if !utf8.FullRune(b[i:]) && len(b)-i < utf8.UTFMax {
				break // a rune cut by the end of a sample
			}
			invalid++
		}
		i += n
	}
	return ctrl*50 > len(b) || invalid*10 > len(b)
}

// collapseSpace replaces every run of white space (including no-break spaces) with one space and
// trims the ends.
func collapseSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) || r == '\u00a0' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// paragraphs splits text on blank lines, trimming trailing space from every line.
func paragraphs(s string) []string {
	var out []string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.Join(cur, "\n"))
			cur = cur[:0]
		}
	}
	for line := range strings.SplitSeq(s, "\n") {
		line = strings.TrimRightFunc(line, unicode.IsSpace)
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		cur = append(cur, line)
	}
	flush()
	return out
}

func extractPlain(path string) (Document, error) {
	s, err := readTextFile(path)
	if err != nil {
		return Document{}, err
	}
	var doc Document
	for _, p := range paragraphs(s) {
		doc.Blocks = append(doc.Blocks, Block{Kind: KindParagraph, Text: p})
	}
	return doc, nil
}
