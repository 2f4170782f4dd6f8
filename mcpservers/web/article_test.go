package web

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/extract"
)

func h(level int, text string) extract.Block {
	return extract.Block{Kind: extract.KindHeading, Level: level, Text: text}
}

func p(text string) extract.Block { return extract.Block{Kind: extract.KindParagraph, Text: text} }

func list(items ...string) extract.Block {
	return extract.Block{Kind: extract.KindList, Text: "- " + strings.Join(items, "\n- ")}
}

// prose returns a paragraph of n characters.
func prose(tag string, n int) extract.Block {
	return p(tag + " " + strings.Repeat("x", n-len(tag)-1))
}

func texts(blocks []extract.Block) []string {
	out := make([]string, len(blocks))
	for i, b := range blocks {
		out[i] = b.Text
		if b.Kind == extract.KindParagraph && len(out[i]) > 12 {
			out[i] = out[i][:strings.IndexByte(out[i], ' ')]
		}
	}
	return out
}

func TestMainContent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		blocks []extract.Block
		want   []string
	}{
		{
			name: "news page",
			blocks: []extract.Block{
				p("Site"), p("Tagline"), h(2, "Trending"), list("One", "Two", "Three"),
				h(1, "Title"), p("Byline"), prose("A", 300), h(2, "Section"), prose("B", 200), prose("C", 150),
				h(2, "Related"), list("Four", "Five"), p("Subscribe"), p("Copyright"),
			},
			want: []string{"Title", "Byline", "A", "Section", "B", "C"},
		},
		{
			name: "a short list inside the article is kept",
			blocks: []extract.Block{
				h(1, "Title"), prose("A", 300), list("apples", "pears", "plums"), prose("B", 300), p("Share"),
			},
			want: []string{"Title", "A", "- apples\n- pears\n- plums", "B"},
		},
		{
			name: "title above a subtitle",
			blocks: []extract.Block{
				list("Frontpage", "World"), h(1, "Title"), h(2, "Subtitle"), prose("A", 200),
			},
			want: []string{"Title", "Subtitle", "A"},
		},
		{
			name: "no heading before the article",
			blocks: []extract.Block{
				p("Site"), list("Frontpage", "World", "Sports", "Weather"), prose("A", 200), prose("B", 200), p("Copyright"),
			},
			want: []string{"A", "B"},
		},
		{
			name: "a heading too far above is not pulled in",
			blocks: []extract.Block{
				h(2, "Menu"), p("Frontpage"), p("World"), p("Sports"), p("Weather"), prose("A", 200),
			},
			want: []string{"A"},
		},
		{
			name: "a sidebar with more text than the article separator loses",
			blocks: []extract.Block{
				h(1, "Title"), prose("A", 400), prose("B", 400),
				h(2, "Related"), list("Breakwater delayed", "Diesel prices up", "Ferry strike", "Open day", "Weather", "Tides", "Sports"),
				prose("Promo", 100),
			},
			want: []string{"Title", "A", "B"},
		},
		{
			name: "the longest article wins over a short one",
			blocks: []extract.Block{
				h(2, "Teaser"), prose("T", 120), list("More", "Other", "Third", "Fourth"),
				h(1, "Title"), prose("A", 500), prose("B", 500),
			},
			want: []string{"Title", "A", "B"},
		},
		{
			name:   "nothing but short lines is kept whole",
			blocks: []extract.Block{h(1, "Title"), p("one"), p("two"), list("three")},
			want:   []string{"Title", "one", "two", "- three"},
		},
		{
			name:   "no blocks",
			blocks: nil,
			want:   []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, texts(mainContent(tt.blocks)))
		})
	}
}
