package web

import (
	"strings"
	"unicode/utf8"

	"github.com/youworker/youworker/extract"
)

// Scores of the article heuristic (see mainContent).
const (
	// proseChars is the length from which a paragraph (or a line of a list or table) counts as
	// prose: shorter ones score negative.
	proseChars = 60
	// headingCost is what a heading scores: a run never starts or ends on one, but crosses the
	// section headings inside an article.
	headingCost = 20
	// introLookback is how many blocks before the best run are searched for its heading.
	introLookback = 3
)

// mainContent keeps a document's main article and drops the boilerplate around it: site headers
// and taglines, breadcrumbs, sidebars, related-link lists, share and newsletter boxes, copyright
// lines. (The extractor has already removed scripts, styles, <nav>, <footer> and hidden
// elements.)
//
// The heuristic is the maximum-scoring run of blocks, as in Finn, Kushmerick and Smyth's Body
// Text Extraction: a paragraph or code block scores its length in characters minus proseChars
// (60), a list or table the same line by line, and a heading -headingCost. Long paragraphs score
// positive; the short lines of menus, link lists, bylines and footers score negative. The
// contiguous run of blocks with the highest total (Kadane's algorithm) is the article: it can
// cross a short list or an intermediate heading when prose follows, but ends where boilerplate
// outweighs the prose after it. The run then grows back to the heading that introduces it — the
// nearest heading among the introLookback (3) blocks before it, when only short paragraphs (a
// byline, a date) stand between — and over the headings directly above that one (a title above a
// subtitle). When no block scores above zero there is nothing to tell the article by, and every
// block is kept.
//
// Known limits: comments made of long paragraphs below an article join it when the boilerplate
// between them is short, and an article made only of short lines is not told apart from the
// menus around it.
func mainContent(blocks []extract.Block) []extract.Block {
	best, bestStart, bestEnd := 0, -1, -1
	sum, start := 0, 0
	for i, b := range blocks {
		if sum <= 0 {
			sum, start = 0, i
		}
		sum += score(b)
		if sum > best {
			best, bestStart, bestEnd = sum, start, i
		}
	}
	if bestStart < 0 {
		return blocks
	}
	s := bestStart
	for j := s - 1; j >= 0 && j >= bestStart-introLookback; j-- {
		if blocks[j].Kind == extract.KindHeading {
			s = j
			break
		}
		if blocks[j].Kind != extract.KindParagraph {
			break
		}
	}
	for s > 0 && blocks[s-1].Kind == extract.KindHeading {
		s--
	}
	return blocks[s : bestEnd+1]
}

// score is a block's weight in mainContent.
func score(b extract.Block) int {
	switch b.Kind {
	case extract.KindHeading:
		return -headingCost
	case extract.KindList, extract.KindTable:
		total := 0
		for line := range strings.SplitSeq(b.Text, "\n") {
			total += utf8.RuneCountInString(strings.TrimSpace(line)) - proseChars
		}
		return total
	default:
		return utf8.RuneCountInString(b.Text) - proseChars
	}
}
