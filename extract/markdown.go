package extract

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// markdown parses CommonMark with GitHub tables and strikethrough.
var markdown = goldmark.New(goldmark.WithExtensions(extension.Table, extension.Strikethrough))

func extractMarkdown(path string) (Document, error) {
	s, err := readTextFile(path)
	if err != nil {
		return Document{}, err
	}
	return parseMarkdown(s), nil
}

// parseMarkdown turns Markdown into blocks with the syntax stripped: headings (ATX and setext),
// paragraphs, lists, tables and code blocks; block quotes contribute their contents. The title is
// the front matter's title, else the first level-1 heading.
func parseMarkdown(s string) Document {
	body, title := frontMatter(s)
	src := []byte(body)
	root := markdown.Parser().Parse(text.NewReader(src))
	w := mdWalker{src: src}
	w.blocks(root)
	return withHeadingTitle(Document{Title: title, Blocks: w.out})
}

// frontMatter strips a YAML front matter block ("---" lines around it, at the very start) and
// returns its title field, if any.
func frontMatter(s string) (body, title string) {
	if !strings.HasPrefix(s, "---\n") {
		return s, ""
	}
	rest := s[4:]
	end := -1
	for i, off := 0, 0; off < len(rest) && i < 200; i++ {
		nl := strings.IndexByte(rest[off:], '\n')
		line := rest[off:]
		if nl >= 0 {
			line = rest[off : off+nl]
		}
		if t := strings.TrimRight(line, " \t"); t == "---" || t == "..." {
			end = off
			break
		}
		if nl < 0 {
			break
		}
		off += nl + 1
	}
	if end < 0 {
		return s, ""
	}
	sc := bufio.NewScanner(strings.NewReader(rest[:end]))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "title" {
			v = strings.TrimSpace(v)
			if uq, err := strconv.Unquote(v); err == nil {
				v = uq
			} else {
				v = strings.Trim(v, `'"`)
			}
			title = v
		}
	}
	after := rest[end:]
	if nl := strings.IndexByte(after, '\n'); nl >= 0 {
		after = after[nl+1:]
	} else {
		after = ""
	}
	return after, title
}

type mdWalker struct {
	src []byte
	out []Block
}

func (w *mdWalker) add(kind BlockKind, level int, text string) {
	if strings.TrimSpace(text) != "" {
		w.out = append(w.out, Block{Kind: kind, Level: level, Text: text})
	}
}

// blocks emits the block-level children of n.
func (w *mdWalker) blocks(n ast.Node) {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		switch c := c.(type) {
		case *ast.Heading:
			w.add(KindHeading, c.Level, collapseSpace(w.inline(c)))
		case *ast.Paragraph, *ast.TextBlock:
			w.add(KindParagraph, 0, w.inline(c))
		case *ast.List:
			var b strings.Builder
			w.list(&b, c, 0)
			w.add(KindList, 0, b.String())
		case *ast.FencedCodeBlock, *ast.CodeBlock:
			w.add(KindCode, 0, w.lines(c))
		case *east.Table:
			w.add(KindTable, 0, w.table(c))
		case *ast.HTMLBlock:
			w.add(KindParagraph, 0, htmlFragmentText(w.lines(c)))
		case *ast.Blockquote, *ast.Document:
			w.blocks(c)
		}
	}
}

// list writes one line per item, "- " or "N. " first, nested lists indented by two spaces per
// level. An item's paragraphs are joined with spaces; its code blocks and tables are flattened.
func (w *mdWalker) list(b *strings.Builder, l *ast.List, depth int) {
	num := l.Start
	for item := l.FirstChild(); item != nil; item = item.NextSibling() {
		var parts []string
		var nested []*ast.List
		for c := item.FirstChild(); c != nil; c = c.NextSibling() {
			switch c := c.(type) {
			case *ast.List:
				nested = append(nested, c)
			case *ast.FencedCodeBlock, *ast.CodeBlock, *ast.HTMLBlock:
				parts = append(parts, collapseSpace(w.lines(c)))
			case *east.Table:
				parts = append(parts, collapseSpace(w.table(c)))
			default:
				parts = append(parts, collapseSpace(w.inline(c)))
			}
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(strings.Repeat("  ", depth))
		if l.IsOrdered() {
			b.WriteString(strconv.Itoa(num) + ". ")
			num++
		} else {
			b.WriteString("- ")
		}
		b.WriteString(strings.Join(nonEmpty(parts), " "))
		for _, n := range nested {
			w.list(b, n, depth+1)
		}
	}
}

func (w *mdWalker) table(t *east.Table) string {
	var rows []string
	for row := t.FirstChild(); row != nil; row = row.NextSibling() {
		var cells []string
		for cell := row.FirstChild(); cell != nil; cell = cell.NextSibling() {
			cells = append(cells, collapseSpace(w.inline(cell)))
		}
		if strings.TrimSpace(strings.Join(cells, "")) != "" {
			rows = append(rows, strings.Join(cells, " | "))
		}
	}
	return strings.Join(rows, "\n")
}

// lines returns the raw lines of a code or HTML block.
func (w *mdWalker) lines(n ast.Node) string {
	var b strings.Builder
	segs := n.Lines()
	for i := range segs.Len() {
		seg := segs.At(i)
		b.Write(seg.Value(w.src))
	}
	return strings.TrimRight(b.String(), "\n ")
}

// inline returns the text of n's inline descendants without Markdown syntax: emphasis, links and
// images keep their text, code spans their code; soft line breaks become spaces, hard ones "\n".
func (w *mdWalker) inline(n ast.Node) string {
	var b strings.Builder
	w.inlineTo(&b, n)
	return strings.TrimSpace(b.String())
}

func (w *mdWalker) inlineTo(b *strings.Builder, n ast.Node) {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		switch c := c.(type) {
		case *ast.Text:
			v := c.Value(w.src)
			if c.IsRaw() {
				v = bytes.ReplaceAll(v, []byte("\n"), []byte(" ")) // a code span's line ends are spaces
			} else {
				v = util.ResolveEntityNames(util.ResolveNumericReferences(util.UnescapePunctuations(v)))
			}
			b.Write(v)
			switch {
			case c.HardLineBreak():
				b.WriteByte('\n')
			case c.SoftLineBreak():
				b.WriteByte(' ')
			}
		case *ast.String:
			b.Write(c.Value)
		case *ast.AutoLink:
			b.Write(c.Label(w.src))
		case *ast.RawHTML:
			// Inline tags carry no text of their own.
		default:
			w.inlineTo(b, c)
		}
	}
}

func nonEmpty(ss []string) []string {
	out := ss[:0]
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
