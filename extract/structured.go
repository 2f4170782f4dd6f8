package extract

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Bounds of the structured formats: rows or lines beyond them are dropped with a warning.
const (
	maxCSVRows    = 100_000
	maxCSVCell    = 4 << 10 // bytes of one cell kept
	maxJSONLines  = 200_000
	maxJSONDepth  = 32 // deeper values are written as compact JSON
	maxJSONString = 8 << 10
)

// extractCSV turns each row into a paragraph of "column: value" lines, the names from the header
// row ("column N" where it has none); empty cells are left out. The delimiter (comma, semicolon
// or tab) is guessed from the header line.
func (e *Extractor) extractCSV(ctx context.Context, path string) (Document, error) {
	s, err := readTextFile(path)
	if err != nil {
		return Document{}, err
	}
	r := csv.NewReader(strings.NewReader(s))
	r.Comma = guessDelimiter(s)
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	r.ReuseRecord = true
	var header []string
	var doc Document
	rows := 0
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Document{}, fmt.Errorf("%w: CSV: %v", ErrCorrupt, err)
		}
		if header == nil {
			header = make([]string, len(rec))
			for i, h := range rec {
				header[i] = collapseSpace(h)
			}
			continue
		}
		if rows++; rows > maxCSVRows {
			e.log.WarnContext(ctx, "csv row limit reached, rest dropped", "max_rows", maxCSVRows)
			break
		}
		var b strings.Builder
		for i, v := range rec {
			v = strings.TrimSpace(v)
			if v == "" {
				continue
			}
			if len(v) > maxCSVCell {
				v = strings.ToValidUTF8(v[:maxCSVCell], "") + "…"
			}
			name := ""
			if i < len(header) {
				name = header[i]
			}
			if name == "" {
				name = "column " + strconv.Itoa(i+1)
			}
			if b.Len() > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(name + ": " + v)
		}
		if b.Len() > 0 {
			doc.Blocks = append(doc.Blocks, Block{Kind: KindParagraph, Text: b.String()})
		}
	}
	if len(doc.Blocks) == 0 && len(header) > 0 {
		// A header alone still says what the file is about.
		doc.Blocks = append(doc.Blocks, Block{Kind: KindParagraph, Text: "Columns: " + strings.Join(nonEmpty(header), ", ")})
	}
	return doc, nil
}

// guessDelimiter picks the most frequent of ',', ';' and '\t' on the first line, outside quotes.
func guessDelimiter(s string) rune {
	line, _, _ := strings.Cut(s, "\n")
	counts := map[rune]int{}
	quoted := false
	for _, r := range line {
		switch {
		case r == '"':
			quoted = !quoted
		case !quoted && (r == ',' || r == ';' || r == '\t'):
			counts[r]++
		}
	}
	best := ','
	for _, r := range []rune{';', '\t'} {
		if counts[r] > counts[best] {
			best = r
		}
	}
	return best
}

// extractJSON flattens JSON into "path.to.key: value" lines (array elements as "items[0]"), in
// document order, streaming. Lines are grouped into paragraphs by their top-level key, or by
// element for a top-level array and for an array directly under a top-level key, so that a list
// of records gives one paragraph per record. Several concatenated values (JSON Lines) are
// numbered "[n]". Values nested deeper than maxJSONDepth are written as compact JSON. Invalid
// JSON is ErrCorrupt.
func (e *Extractor) extractJSON(ctx context.Context, path string) (Document, error) {
	s, err := readTextFile(path)
	if err != nil {
		return Document{}, err
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	f := jsonFlattener{dec: dec}
	values := 0
	for ; !f.truncated && dec.More(); values++ {
		f.top = values
		if err := f.value(nil, 0); err != nil {
			return Document{}, fmt.Errorf("%w: JSON: %v", ErrCorrupt, err)
		}
	}
	if !f.truncated {
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return Document{}, fmt.Errorf("%w: JSON: unexpected content after value %d", ErrCorrupt, values)
		}
	} else {
		e.log.WarnContext(ctx, "json line limit reached, rest dropped", "max_lines", maxJSONLines)
	}
	var doc Document
	var b strings.Builder
	prev := jsonLine{top: -1}
	for _, l := range f.lines {
		if (l.group != prev.group || l.top != prev.top) && b.Len() > 0 {
			doc.Blocks = append(doc.Blocks, Block{Kind: KindParagraph, Text: b.String()})
			b.Reset()
		}
		prev = l
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		p := l.path
		if values > 1 {
			p = joinPath("["+strconv.Itoa(l.top)+"]", p)
		}
		if p != "" {
			b.WriteString(p + ": ")
		}
		b.WriteString(l.value)
	}
	if b.Len() > 0 {
		doc.Blocks = append(doc.Blocks, Block{Kind: KindParagraph, Text: b.String()})
	}
	return doc, nil
}

type jsonLine struct {
	top         int // index of the top-level value
	group, path string
	value       string
}

type jsonFlattener struct {
	dec       *json.Decoder
	top       int
	lines     []jsonLine
	truncated bool
}

// joinPath appends a path element: a key after ".", an index "[n]" directly.
func joinPath(path, elem string) string {
	if path == "" || elem == "" {
		return path + elem
	}
	if strings.HasPrefix(elem, "[") {
		return path + elem
	}
	return path + "." + elem
}

func jsonKey(k string) string {
	if k == "" || strings.ContainsAny(k, ".[]\" \t\n") {
		return "[" + strconv.Quote(k) + "]"
	}
	return k
}

func (f *jsonFlattener) add(path, group, value string) {
	if len(f.lines) >= maxJSONLines {
		f.truncated = true
		return
	}
	f.lines = append(f.lines, jsonLine{top: f.top, group: group, path: path, value: value})
}

// value flattens the next value of the stream. path is where it sits, depth how deep. The group
// is the first path element, or the first two when the second is an array index.
func (f *jsonFlattener) value(path []string, depth int) error {
	if f.truncated {
		return nil
	}
	at := func(elem string) []string { return append(path[:len(path):len(path)], elem) }
	render := func() (string, string) {
		s := ""
		for _, e := range path {
			s = joinPath(s, e)
		}
		g := ""
		for i, e := range path[:min(len(path), 2)] {
			if i == 1 && !isIndex(e) {
				break
			}
			g = joinPath(g, e)
		}
		return s, g
	}
	if depth >= maxJSONDepth {
		var raw json.RawMessage
		if err := f.dec.Decode(&raw); err != nil {
			return err
		}
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			return err
		}
		s, g := render()
		f.add(s, g, truncateString(b.String()))
		return nil
	}
	tok, err := f.dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		n := 0
		for ; f.dec.More(); n++ {
			elem := "[" + strconv.Itoa(n) + "]"
			if t == '{' {
				k, err := f.dec.Token()
				if err != nil {
					return err
				}
				ks, ok := k.(string)
				if !ok {
					return fmt.Errorf("object key %v is not a string", k)
				}
				elem = jsonKey(ks)
			}
			if err := f.value(at(elem), depth+1); err != nil {
				return err
			}
			if f.truncated {
				return nil
			}
		}
		if _, err := f.dec.Token(); err != nil { // the closing delimiter
			return err
		}
		if n == 0 {
			s, g := render()
			if t == '{' {
				f.add(s, g, "{}")
			} else {
				f.add(s, g, "[]")
			}
		}
	case string:
		s, g := render()
		f.add(s, g, truncateString(t))
	case json.Number:
		s, g := render()
		f.add(s, g, t.String())
	case bool:
		s, g := render()
		f.add(s, g, strconv.FormatBool(t))
	case nil:
		s, g := render()
		f.add(s, g, "null")
	}
	return nil
}

func truncateString(s string) string {
	if len(s) > maxJSONString {
		return strings.ToValidUTF8(s[:maxJSONString], "") + "…"
	}
	return s
}

// isIndex reports whether a path element is an array index ("[3]", not a quoted key).
func isIndex(elem string) bool {
	return len(elem) > 1 && elem[0] == '[' && elem[1] >= '0' && elem[1] <= '9'
}
