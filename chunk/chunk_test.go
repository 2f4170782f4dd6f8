package chunk_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/chunk"
	"github.com/youworker/youworker/extract"
)

func heading(level int, text string) extract.Block {
	return extract.Block{Kind: extract.KindHeading, Level: level, Text: text}
}

func paragraph(text string) extract.Block {
	return extract.Block{Kind: extract.KindParagraph, Text: text}
}

// sentences returns n numbered sentences of about 9 tokens each.
func sentences(prefix string, n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("%s sentence number %d says something rather ordinary.", prefix, i)
	}
	return strings.Join(s, " ")
}

// requireInvariants checks what every split must satisfy (see the package documentation).
func requireInvariants(t *testing.T, d extract.Document, opts chunk.Options, chunks []chunk.Chunk) {
	t.Helper()
	text := chunk.Text(d)
	maxTok := opts.MaxTokens
	if maxTok == 0 {
		maxTok = 256
	}
	prevEnd := 0
	for i, c := range chunks {
		require.Equal(t, i, c.Index)
		require.NotEmpty(t, strings.TrimSpace(c.Text), "chunk %d is empty", i)
		require.Equal(t, chunk.CountTokens(c.Text), c.Tokens)
		require.LessOrEqual(t, c.Tokens, maxTok, "chunk %d: %q", i, c.Text)
		require.Less(t, c.Start, c.End)
		own := text[c.Start:c.End]
		require.True(t, strings.HasSuffix(c.Text, own), "chunk %d ends with its own text", i)
		require.Equal(t, c.Text, text[c.End-len(c.Text):c.End], "chunk %d text is a slice of Text(d)", i)
		require.Equal(t, own, strings.TrimSpace(own))
		require.GreaterOrEqual(t, c.Start, prevEnd, "own ranges do not overlap")
		require.Empty(t, strings.TrimSpace(text[prevEnd:c.Start]), "nothing but space between chunks %d and %d", i-1, i)
		if len(c.Text) > len(own) {
			require.GreaterOrEqual(t, c.End-len(c.Text), chunks[i-1].Start, "overlap comes from the previous chunk")
		}
		prevEnd = c.End
	}
	require.Empty(t, strings.TrimSpace(text[prevEnd:]), "the text after the last chunk is space")
	// A block that fits is never split.
	off := 0
	for _, b := range d.Blocks {
		start, end := off, off+len(b.Text)
		off = end + 2
		if strings.TrimSpace(b.Text) == "" || chunk.CountTokens(b.Text) > maxTok {
			continue
		}
		inside := false
		for _, c := range chunks {
			if c.Start <= start+leadingSpace(b.Text) && end-trailingSpace(b.Text) <= c.End {
				inside = true
			}
		}
		require.True(t, inside, "block %q lies within one chunk", b.Text)
	}
}

func leadingSpace(s string) int  { return len(s) - len(strings.TrimLeftFunc(s, unicode.IsSpace)) }
func trailingSpace(s string) int { return len(s) - len(strings.TrimRightFunc(s, unicode.IsSpace)) }

func TestSplitInvariants(t *testing.T) {
	t.Parallel()
	docs := map[string]extract.Document{
		"guide": {Blocks: []extract.Block{
			heading(1, "Guide"), paragraph("Welcome to the guide."), heading(2, "Install"),
			paragraph(sentences("Install", 40)), extract.Block{Kind: extract.KindCode, Text: strings.Repeat("go build ./...\n", 120)},
			heading(2, "Usage"), paragraph("Run it."), extract.Block{Kind: extract.KindTable, Text: strings.Repeat("a | b | c\n", 200)},
		}},
		"one long paragraph": {Blocks: []extract.Block{paragraph(sentences("Long", 300))}},
		"no spaces":          {Blocks: []extract.Block{paragraph(strings.Repeat("aGVsbG8gd29ybGQ=", 600))}},
		"cjk":                {Blocks: []extract.Block{paragraph(strings.Repeat("これは日本語の文です。", 120))}},
		"untrimmed and empty blocks": {Blocks: []extract.Block{
			paragraph("  padded  "), paragraph(""), paragraph(" \n "), heading(0, " odd heading "), paragraph("\tend\n"),
		}},
		"huge heading": {Blocks: []extract.Block{heading(1, sentences("Heading", 60)), paragraph("body")}},
		"empty":        {},
	}
	optionSets := []chunk.Options{{}, {MaxTokens: 64, Overlap: 8}, {MaxTokens: 20, Overlap: -1}, {MaxTokens: 3, Overlap: 100}, {MaxTokens: 1}}
	for name, d := range docs {
		for _, opts := range optionSets {
			t.Run(fmt.Sprintf("%s/%d-%d", name, opts.MaxTokens, opts.Overlap), func(t *testing.T) {
				t.Parallel()
				chunks := chunk.Split(d, opts)
				requireInvariants(t, d, opts, chunks)
				if strings.TrimSpace(chunk.Text(d)) != "" {
					require.NotEmpty(t, chunks)
				}
				require.Equal(t, chunks, chunk.Split(d, opts), "deterministic")
			})
		}
	}
}

func TestSplitHeadingPaths(t *testing.T) {
	t.Parallel()
	d := extract.Document{Blocks: []extract.Block{
		paragraph("Preface before any heading."),
		heading(1, "Guide"),
		heading(2, "Install"),
		paragraph("Download the binary."),
		heading(3, "Linux"),
		paragraph("Use the tarball."),
		heading(2, "Empty section"),
		heading(2, "Usage"),
		paragraph("Run it with flags."),
		heading(1, "Reference"),
		paragraph("All the flags."),
	}}
	chunks := chunk.Split(d, chunk.Options{})
	type got struct {
		Text string
		Path []string
	}
	var gotChunks []got
	for _, c := range chunks {
		gotChunks = append(gotChunks, got{c.Text, c.HeadingPath})
	}
	require.Equal(t, []got{
		{"Preface before any heading.", nil},
		{"Guide\n\nInstall\n\nDownload the binary.", []string{"Guide", "Install"}},
		{"Linux\n\nUse the tarball.", []string{"Guide", "Install", "Linux"}},
		{"Empty section", []string{"Guide", "Empty section"}},
		{"Usage\n\nRun it with flags.", []string{"Guide", "Usage"}},
		{"Reference\n\nAll the flags.", []string{"Reference"}},
	}, gotChunks)
}

func TestSplitPages(t *testing.T) {
	t.Parallel()
	block := func(page int, text string) extract.Block {
		return extract.Block{Kind: extract.KindParagraph, Page: page, Text: text}
	}
	d := extract.Document{Blocks: []extract.Block{
		block(1, sentences("One", 3)), block(1, sentences("Uno", 3)), block(2, sentences("Two", 3)), block(3, sentences("Three", 30)),
	}}
	chunks := chunk.Split(d, chunk.Options{MaxTokens: 70, Overlap: -1})
	var pages []int
	for _, c := range chunks {
		pages = append(pages, c.Page)
	}
	// Pages 1's two blocks fit together; page 3's long block spans several chunks.
	require.Equal(t, []int{1, 2, 3, 3, 3, 3, 3}, pages)
	require.True(t, strings.HasPrefix(chunks[1].Text, "Two sentence number 0"))
}

func TestSplitOverlap(t *testing.T) {
	t.Parallel()
	d := extract.Document{Blocks: []extract.Block{
		heading(1, "Story"),
		paragraph(sentences("Long", 60)),
		heading(1, "Next"),
		paragraph("Short section."),
	}}
	text := chunk.Text(d)
	chunks := chunk.Split(d, chunk.Options{MaxTokens: 64, Overlap: 16})
	require.Greater(t, len(chunks), 4)
	for i, c := range chunks {
		own := text[c.Start:c.End]
		overlap := strings.TrimSpace(strings.TrimSuffix(c.Text, own))
		switch {
		case i == 0, strings.HasPrefix(own, "Next"):
			require.Empty(t, overlap, "chunk %d starts a section: no overlap", i)
		default:
			prev := text[chunks[i-1].Start:chunks[i-1].End]
			require.NotEmpty(t, overlap, "chunk %d continues a section", i)
			require.True(t, strings.HasSuffix(prev, overlap), "chunk %d repeats the end of the previous one", i)
			require.LessOrEqual(t, chunk.CountTokens(overlap), 16)
			require.Greater(t, chunk.CountTokens(overlap), 8)
			// The long paragraph is cut at sentence ends.
			require.True(t, strings.HasSuffix(prev, "."), "chunk %d ends a sentence: %q", i-1, prev)
		}
	}

	for _, c := range chunk.Split(d, chunk.Options{MaxTokens: 64, Overlap: -1}) {
		require.Equal(t, text[c.Start:c.End], c.Text, "negative overlap disables it")
	}
}

func TestSplitOverlapWithoutSpaces(t *testing.T) {
	t.Parallel()
	// Japanese has no spaces: every character is a word for the overlap.
	d := extract.Document{Blocks: []extract.Block{paragraph(strings.Repeat("これは日本語の文です。", 20))}}
	text := chunk.Text(d)
	chunks := chunk.Split(d, chunk.Options{MaxTokens: 30, Overlap: 5})
	require.Greater(t, len(chunks), 3)
	for i, c := range chunks[1:] {
		own := text[c.Start:c.End]
		require.Equal(t, "の文です。"+own, c.Text, "chunk %d", i+1)
	}
}

func TestSplitLongTableAtRows(t *testing.T) {
	t.Parallel()
	rows := make([]string, 100)
	for i := range rows {
		rows[i] = fmt.Sprintf("row %d | value %d", i, i*i)
	}
	d := extract.Document{Blocks: []extract.Block{{Kind: extract.KindTable, Text: strings.Join(rows, "\n")}}}
	text := chunk.Text(d)
	chunks := chunk.Split(d, chunk.Options{MaxTokens: 50, Overlap: -1})
	require.Greater(t, len(chunks), 5)
	for _, c := range chunks {
		own := text[c.Start:c.End]
		require.True(t, strings.HasPrefix(own, "row "), "starts at a row: %q", own)
		require.Regexp(t, `value \d+$`, own, "ends at a row")
	}
}

func TestCountTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want int
	}{
		{name: "empty", in: "", want: 0},
		{name: "space only", in: " \n\t ", want: 0},
		{name: "words", in: "the quick brown fox", want: 4},
		{name: "long word", in: "internationalization", want: 3},
		{name: "punctuation runs", in: "Hello, world...", want: 4},
		{name: "abbreviation", in: "e.g.", want: 4},
		{name: "symbols", in: "-----", want: 2},
		{name: "cjk characters", in: "日本語です", want: 5},
		{name: "accented word", in: "déjà vu", want: 2},
		{name: "number", in: "3.14159", want: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, chunk.CountTokens(tc.in))
		})
	}
	require.Equal(t, chunk.CountTokens("alpha, beta")+chunk.CountTokens("gamma!"), chunk.CountTokens("alpha, beta \n gamma!"), "additive over space")
}

func TestText(t *testing.T) {
	t.Parallel()
	d := extract.Document{Blocks: []extract.Block{heading(1, "A"), paragraph("b c"), paragraph("d")}}
	require.Equal(t, "A\n\nb c\n\nd", chunk.Text(d))
	require.Empty(t, chunk.Text(extract.Document{}))
}

func TestSplitLargeDocumentIsFast(t *testing.T) {
	t.Parallel()
	var blocks []extract.Block
	for i := range 600 {
		blocks = append(blocks, heading(2, fmt.Sprintf("Section %d", i)), paragraph(sentences("Body", 25)))
	}
	blocks = append(blocks, paragraph(sentences("Tail", 3000)))
	d := extract.Document{Blocks: blocks}
	start := time.Now()
	chunks := chunk.Split(d, chunk.Options{})
	elapsed := time.Since(start)
	require.GreaterOrEqual(t, len(chunks), 500)
	require.Less(t, elapsed, 3*time.Second, "split %d chunks", len(chunks))
	requireInvariants(t, d, chunk.Options{}, chunks)
}

func BenchmarkSplit(b *testing.B) {
	var blocks []extract.Block
	for i := range 600 {
		blocks = append(blocks, heading(2, fmt.Sprintf("Section %d", i)), paragraph(sentences("Body", 25)))
	}
	d := extract.Document{Blocks: blocks}
	for b.Loop() {
		chunk.Split(d, chunk.Options{})
	}
}
