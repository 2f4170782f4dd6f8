// Package chunk splits extracted documents into chunks for embedding: deterministic,
// structure-aware and bounded in tokens.
//
// Chunks are cut between blocks; a block is cut only when it alone exceeds the token budget, then
// at line breaks (tables, lists, code), sentence ends, word boundaries and, for a run of text
// with no space in it, anywhere. A heading starts a new chunk, unless it directly follows its
// parent heading ("# Guide" then "## Install" open one chunk). When a section continues into the next chunk, that chunk starts by
// repeating the last words of the previous one (the overlap).
//
// Offsets refer to the canonical text of the document, Text(d): the blocks' texts joined by a
// blank line ("\n\n"). For every chunk c:
//
//	Text(d)[c.Start:c.End] is the chunk's own text, and c.Text ends with it;
//	c.Text == Text(d)[c.End-len(c.Text):c.End] — whatever precedes the own text in c.Text is
//	the overlap, copied from the text right before Start (within the previous chunk's own text);
//	own ranges increase and do not overlap (c[i].End <= c[i+1].Start), and together they
//	cover every non-space byte of the text.
package chunk

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/youworker/youworker/extract"
)

// Options bound the chunks.
type Options struct {
	// MaxTokens bounds Chunk.Tokens (overlap included), as counted by CountTokens; default 256.
	MaxTokens int
	// Overlap is about how many tokens of a chunk are repeated at the start of the next one in
	// the same section: default 32 when 0, none when negative, at most MaxTokens/2.
	Overlap int
}

// Chunk is a piece of a document.
type Chunk struct {
	Index  int    // 0-based position in the document
	Text   string // overlap (if any) followed by the own text
	Tokens int    // CountTokens(Text), at most MaxTokens
	Page   int    // page of the chunk's first block, 0 when unknown
	// HeadingPath holds the headings in force for the chunk's content, outermost first: those
	// above its first non-heading block (or its last block if it has only headings), the
	// chunk's own leading heading included. Nil before the first heading.
	HeadingPath []string
	// Start and End are the byte offsets of the chunk's own text (overlap excluded) in Text(d).
	Start, End int
}

// separator joins blocks in the canonical text.
const separator = "\n\n"

// Text returns the canonical text of d that chunk offsets refer to: every block's text, joined
// by "\n\n".
func Text(d extract.Document) string {
	n := 0
	for _, b := range d.Blocks {
		n += len(b.Text) + len(separator)
	}
	var sb strings.Builder
	sb.Grow(n)
	for i, b := range d.Blocks {
		if i > 0 {
			sb.WriteString(separator)
		}
		sb.WriteString(b.Text)
	}
	return sb.String()
}

// unit is a piece that chunks are made of: a whole block, or a part of a block too long for one
// chunk.
type unit struct {
	start, end int // trimmed byte range in the canonical text
	tokens     int
	page       int
	path       []string // shared and never modified
	heading    bool
	level      int // heading level
}

// Split cuts d into chunks. The same document and options always give the same chunks.
func Split(d extract.Document, opts Options) []Chunk {
	maxTok := opts.MaxTokens
	if maxTok <= 0 {
		maxTok = 256
	}
	overlap := opts.Overlap
	switch {
	case overlap == 0:
		overlap = 32
	case overlap < 0:
		overlap = 0
	}
	overlap = min(overlap, maxTok/2)
	text := Text(d)
	units := splitUnits(text, d.Blocks, maxTok, maxTok-overlap)

	var chunks []Chunk
	var cur []unit
	curTokens, ovStart := 0, -1
	emit := func() {
		if len(cur) == 0 {
			return
		}
		c := Chunk{Index: len(chunks), Page: cur[0].page, Start: cur[0].start, End: cur[len(cur)-1].end}
		from := c.Start
		if ovStart >= 0 {
			from = ovStart
		}
		c.Text = text[from:c.End]
		c.Tokens = CountTokens(c.Text)
		path := cur[len(cur)-1].path
		for _, u := range cur {
			if !u.heading {
				path = u.path
				break
			}
		}
		c.HeadingPath = slices.Clone(path)
		chunks = append(chunks, c)
		cur, curTokens, ovStart = cur[:0], 0, -1
	}
	// subheading reports whether u is a heading right below a chunk of only headings, the last
	// of them of a higher level: "# Guide" then "## Install" stay together.
	subheading := func(u unit) bool {
		for _, c := range cur {
			if !c.heading {
				return false
			}
		}
		return u.level > cur[len(cur)-1].level
	}
	for _, u := range units {
		if len(cur) > 0 && (u.heading && !subheading(u) || curTokens+u.tokens > maxTok) {
			emit()
		}
		if len(cur) == 0 && !u.heading && len(chunks) > 0 {
			// The section goes on: repeat the end of the previous chunk.
			prev := chunks[len(chunks)-1]
			start, tok := overlapStart(text, prev.Start, prev.End, min(overlap, maxTok-u.tokens))
			if start < prev.End {
				ovStart, curTokens = start, tok
			}
		}
		cur = append(cur, u)
		curTokens += u.tokens
	}
	emit()
	return chunks
}

// splitUnits turns the blocks into units: whole blocks of at most maxTok tokens, longer blocks
// cut into pieces of at most pieceTok tokens. It also tracks the heading path.
func splitUnits(text string, blocks []extract.Block, maxTok, pieceTok int) []unit {
	type heading struct {
		level int
		text  string
	}
	var stack []heading
	var path []string
	var units []unit
	off := 0
	for _, b := range blocks {
		start, end := off, off+len(b.Text)
		off = end + len(separator)
		s, e := trim(text, start, end)
		if s == e {
			continue
		}
		isHeading := b.Kind == extract.KindHeading
		level := 0
		if isHeading {
			level = max(b.Level, 1)
			for len(stack) > 0 && stack[len(stack)-1].level >= level {
				stack = stack[:len(stack)-1]
			}
			stack = append(stack, heading{level, strings.Join(strings.Fields(text[s:e]), " ")})
			path = make([]string, len(stack))
			for i, h := range stack {
				path[i] = h.text
			}
		}
		u := unit{start: s, end: e, tokens: CountTokens(text[s:e]), page: b.Page, path: path, heading: isHeading, level: level}
		if u.tokens <= maxTok {
			units = append(units, u)
			continue
		}
		levels := []splitter{splitSentences, splitWords}
		if b.Kind == extract.KindTable || b.Kind == extract.KindList || b.Kind == extract.KindCode {
			levels = []splitter{splitLines, splitSentences, splitWords}
		}
		for i, p := range splitSpan(text, span{s, e, u.tokens}, pieceTok, levels) {
			piece := u
			piece.start, piece.end, piece.tokens = p.start, p.end, p.tokens
			piece.heading = isHeading && i == 0
			units = append(units, piece)
		}
	}
	return units
}

type span struct{ start, end, tokens int }

// A splitter cuts text[s:e] into contiguous parts covering it.
type splitter func(text string, s, e int) []span

// splitSpan cuts sp into trimmed pieces of at most budget tokens: at the first level's
// boundaries, merging neighbours while they fit, a part still too long going to the next level,
// and past the last level anywhere between two characters.
func splitSpan(text string, sp span, budget int, levels []splitter) []span {
	if sp.tokens <= budget {
		return []span{sp}
	}
	if len(levels) == 0 {
		return hardSplit(text, sp, budget)
	}
	// Merged parts count as the sum of their tokens, a bound on the merged text's count (exact
	// when the parts are separated by white space); the final count is exact.
	var out []span
	var acc span
	has := false
	flush := func() {
		if has {
			acc.tokens = CountTokens(text[acc.start:acc.end])
			out = append(out, acc)
			has = false
		}
	}
	for _, p := range levels[0](text, sp.start, sp.end) {
		p.start, p.end = trim(text, p.start, p.end)
		if p.start == p.end {
			continue
		}
		p.tokens = CountTokens(text[p.start:p.end])
		if has && acc.tokens+p.tokens <= budget {
			acc.end = p.end
			acc.tokens += p.tokens
			continue
		}
		flush()
		if p.tokens > budget {
			out = append(out, splitSpan(text, p, budget, levels[1:])...)
			continue
		}
		acc, has = p, true
	}
	flush()
	return out
}

// hardSplit cuts a span with no usable boundary (a long run without spaces) between characters.
func hardSplit(text string, sp span, budget int) []span {
	var out []span
	var c counter
	start := sp.start
	for i, r := range text[sp.start:sp.end] {
		i += sp.start
		next := c
		next.add(r)
		if next.total() > budget && i > start {
			out = append(out, span{start, i, c.total()})
			start = i
			next = counter{}
			next.add(r)
		}
		c = next
	}
	return append(out, span{start, sp.end, c.total()})
}

func splitLines(text string, s, e int) []span {
	var out []span
	for s < e {
		nl := strings.IndexByte(text[s:e], '\n')
		if nl < 0 {
			break
		}
		out = append(out, span{start: s, end: s + nl + 1})
		s += nl + 1
	}
	if s < e {
		out = append(out, span{start: s, end: e})
	}
	return out
}

// splitWords cuts before every run of white space.
func splitWords(text string, s, e int) []span {
	var out []span
	start := s
	prevSpace := false
	for i, r := range text[s:e] {
		i += s
		space := unicode.IsSpace(r)
		if space && !prevSpace && i > start {
			out = append(out, span{start: start, end: i})
			start = i
		}
		prevSpace = space
	}
	return append(out, span{start: start, end: e})
}

// abbreviations end with a period that does not end a sentence.
var abbreviations = map[string]bool{"mr": true, "mrs": true, "ms": true, "dr": true, "prof": true,
	"st": true, "vs": true, "etc": true, "e.g": true, "i.e": true, "fig": true, "no": true, "cf": true}

// splitSentences cuts after sentence-ending punctuation ('.', '!', '?', '…', with closing quotes
// or brackets) followed by white space, and after the CJK full stops. A period after a single
// letter or a common abbreviation does not end a sentence.
func splitSentences(text string, s, e int) []span {
	var out []span
	start := s
	for i := s; i < e; {
		r, n := utf8.DecodeRuneInString(text[i:e])
		i += n
		switch r {
		case '。', '！', '？':
			out = append(out, span{start: start, end: i})
			start = i
			continue
		case '.', '!', '?', '…':
		default:
			continue
		}
		j := i
		for j < e {
			c, m := utf8.DecodeRuneInString(text[j:e])
			if !strings.ContainsRune(`"')]”’»`, c) {
				break
			}
			j += m
		}
		if j >= e {
			break
		}
		if c, _ := utf8.DecodeRuneInString(text[j:e]); !unicode.IsSpace(c) {
			continue
		}
		if r == '.' && abbreviation(text[start:i-1]) {
			continue
		}
		out = append(out, span{start: start, end: j})
		start = j
		i = j
	}
	if start < e {
		out = append(out, span{start: start, end: e})
	}
	return out
}

// abbreviation reports whether the word at the end of s (before a period) is a single letter or
// a common abbreviation.
func abbreviation(s string) bool {
	w := s[strings.LastIndexFunc(s, unicode.IsSpace)+1:]
	w = strings.TrimLeft(w, `"'([“‘«`)
	return utf8.RuneCountInString(w) == 1 || abbreviations[strings.ToLower(w)]
}

// trim narrows text[s:e] to exclude leading and trailing white space.
func trim(text string, s, e int) (int, int) {
	for s < e {
		r, n := utf8.DecodeRuneInString(text[s:e])
		if !unicode.IsSpace(r) {
			break
		}
		s += n
	}
	for e > s {
		r, n := utf8.DecodeLastRuneInString(text[s:e])
		if !unicode.IsSpace(r) {
			break
		}
		e -= n
	}
	return s, e
}

// overlapStart returns where the overlap before a chunk starts, and its tokens: the earliest word
// start in text[lo:hi] such that text[start:hi] is worth at most budget tokens, or hi when not
// even the last word fits. Words are separated by white space; a Han, kana or Hangul character
// is a word of its own, so that text without spaces overlaps too.
func overlapStart(text string, lo, hi, budget int) (int, int) {
	start, tokens := hi, 0
	if budget <= 0 {
		return hi, 0
	}
	for k := hi; k > lo; {
		r, n := utf8.DecodeLastRuneInString(text[lo:k])
		k -= n
		if unicode.IsSpace(r) {
			continue
		}
		if k > lo {
			if prev, _ := utf8.DecodeLastRuneInString(text[lo:k]); !unicode.IsSpace(prev) && !isCJK(prev) && !isCJK(r) {
				continue // inside a word
			}
		}
		t := CountTokens(text[k:hi])
		if t > budget {
			break
		}
		start, tokens = k, t
	}
	return start, tokens
}

func isCJK(r rune) bool {
	return r >= 0x1100 && unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
}

// CountTokens approximates how many tokens a subword tokenizer makes of s, deterministically and
// without a vocabulary: white space counts nothing; each Han, kana or Hangul character counts
// one; a run of letters, digits and marks counts one per started 8 characters ("the" 1,
// "internationalization" 3); a run of other characters (punctuation, symbols) one per started
// 4 ("." 1, "..." 1, "-----" 2). It is additive over white space:
// CountTokens(a+" "+b) == CountTokens(a)+CountTokens(b), and never more than that when two pieces
// are joined directly.
func CountTokens(s string) int {
	var c counter
	for _, r := range s {
		c.add(r)
	}
	return c.total()
}

const (
	classNone = iota
	classWord
	classPunct
)

// counter counts tokens incrementally, rune by rune.
type counter struct {
	done  int // tokens of the finished runs
	class int // class of the open run
	run   int // runes in the open run
}

func (c *counter) add(r rune) {
	class := classPunct
	switch {
	case r < utf8.RuneSelf:
		switch {
		case r == ' ' || r >= '\t' && r <= '\r':
			class = classNone
		case r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9':
			class = classWord
		}
	case unicode.IsSpace(r):
		class = classNone
	case isCJK(r):
		c.close()
		c.done++
		return
	case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
		class = classWord
	}
	if class != c.class {
		c.close()
		c.class = class
	}
	if class != classNone {
		c.run++
	}
}

func (c *counter) close() {
	c.done += c.open()
	c.class, c.run = classNone, 0
}

// open returns the tokens of the open run.
func (c *counter) open() int {
	switch c.class {
	case classWord:
		return (c.run + 7) / 8
	case classPunct:
		return (c.run + 3) / 4
	}
	return 0
}

func (c *counter) total() int { return c.done + c.open() }
