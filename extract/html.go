package extract

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/net/html/charset"
)

func extractHTML(path string) (Document, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Document{}, err
	}
	if len(raw) > maxTextFile {
		return Document{}, fmt.Errorf("%w: HTML file of %d bytes exceeds the %d byte limit", ErrLimit, len(raw), maxTextFile)
	}
	// The declared charset (BOM, <meta charset>) decides the decoding; UTF-8 otherwise.
	r, err := charset.NewReader(bytes.NewReader(raw), "text/html")
	if err != nil {
		return Document{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	root, err := html.Parse(r)
	if err != nil {
		return Document{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return parseHTML(root), nil
}

// skipped elements contribute no text (the <title> is read separately).
var skipped = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Template: true, atom.Svg: true,
	atom.Nav: true, atom.Footer: true, atom.Head: true, atom.Iframe: true, atom.Object: true,
	atom.Canvas: true, atom.Select: true, atom.Button: true, atom.Datalist: true, atom.Map: true,
}

// blockLevel elements end the running paragraph before and after them.
var blockLevel = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Section: true, atom.Article: true, atom.Main: true,
	atom.Aside: true, atom.Header: true, atom.Blockquote: true, atom.Dd: true, atom.Dt: true,
	atom.Dl: true, atom.Figure: true, atom.Figcaption: true, atom.Address: true, atom.Details: true,
	atom.Summary: true, atom.Form: true, atom.Fieldset: true, atom.Legend: true, atom.Center: true,
	atom.Li: true, atom.Tr: true, atom.Td: true, atom.Th: true, atom.Caption: true, atom.Hr: true,
	atom.Body: true, atom.Html: true, atom.Tbody: true, atom.Thead: true, atom.Tfoot: true,
	atom.Option: true, atom.Hgroup: true,
}

var headingLevel = map[atom.Atom]int{atom.H1: 1, atom.H2: 2, atom.H3: 3, atom.H4: 4, atom.H5: 5, atom.H6: 6}

// parseHTML turns a parsed page into blocks: h1–h6 become headings, ul/ol lists, pre code, data
// tables (no table inside) tables, and the text between block-level elements paragraphs. Script,
// style, navigation, footers and the like are dropped; the title is <title>, else the first <h1>.
func parseHTML(root *html.Node) Document {
	w := htmlWalker{}
	w.walk(root)
	w.flush()
	return withHeadingTitle(Document{Title: collapseSpace(findTitle(root)), Blocks: w.out})
}

// htmlFragmentText returns the readable text of an HTML fragment (raw HTML inside Markdown).
func htmlFragmentText(s string) string {
	nodes, err := html.ParseFragment(strings.NewReader(s), &html.Node{Type: html.ElementNode, Data: "body", DataAtom: atom.Body})
	if err != nil {
		return ""
	}
	w := htmlWalker{}
	for _, n := range nodes {
		w.walk(n)
	}
	w.flush()
	var parts []string
	for _, b := range w.out {
		parts = append(parts, b.Text)
	}
	return strings.Join(parts, "\n")
}

func findTitle(n *html.Node) string {
	if n.Type == html.ElementNode && n.DataAtom == atom.Title && n.Namespace == "" {
		return textOf(n)
	}
	if n.Type == html.ElementNode && (n.DataAtom == atom.Body || n.DataAtom == atom.Svg) {
		return ""
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if t := findTitle(c); t != "" {
			return t
		}
	}
	return ""
}

type htmlWalker struct {
	out []Block
	buf strings.Builder // the running paragraph; "\n" marks a <br>
}

func hidden(n *html.Node) bool {
	for _, a := range n.Attr {
		if a.Namespace == "" && (a.Key == "hidden" || a.Key == "aria-hidden" && a.Val == "true") {
			return true
		}
	}
	return false
}

func (w *htmlWalker) walk(n *html.Node) {
	switch n.Type {
	case html.TextNode:
		w.buf.WriteString(n.Data)
		return
	case html.ElementNode:
	case html.DocumentNode:
		w.children(n)
		return
	default:
		return
	}
	if skipped[n.DataAtom] || hidden(n) {
		return
	}
	if lvl, ok := headingLevel[n.DataAtom]; ok {
		w.flush()
		w.add(KindHeading, lvl, collapseSpace(textOf(n)))
		return
	}
	switch n.DataAtom {
	case atom.Br:
		w.buf.WriteByte('\n')
		return
	case atom.Pre:
		w.flush()
		w.add(KindCode, 0, trimBlankLines(rawText(n)))
		return
	case atom.Ul, atom.Ol:
		w.flush()
		var b strings.Builder
		listLines(&b, n, 0)
		w.add(KindList, 0, b.String())
		return
	case atom.Table:
		if dataTable(n) {
			w.flush()
			w.add(KindTable, 0, tableText(n))
			return
		}
	}
	if blockLevel[n.DataAtom] {
		w.flush()
		w.children(n)
		w.flush()
		return
	}
	w.children(n)
}

func (w *htmlWalker) children(n *html.Node) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.walk(c)
	}
}

func (w *htmlWalker) add(kind BlockKind, level int, text string) {
	if strings.TrimSpace(text) != "" {
		w.out = append(w.out, Block{Kind: kind, Level: level, Text: text})
	}
}

// flush ends the running paragraph: white space collapsed within lines, empty lines dropped.
func (w *htmlWalker) flush() {
	if w.buf.Len() == 0 {
		return
	}
	var lines []string
	for l := range strings.SplitSeq(w.buf.String(), "\n") {
		if l = collapseSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	w.buf.Reset()
	w.add(KindParagraph, 0, strings.Join(lines, "\n"))
}

// textOf returns the text under n (skipping dropped elements) with white space collapsed, block
// boundaries becoming spaces.
func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.TextNode:
			b.WriteString(n.Data)
			return
		case html.ElementNode:
			if n.DataAtom != atom.Title && (skipped[n.DataAtom] || hidden(n)) {
				return
			}
			if n.DataAtom == atom.Br || blockLevel[n.DataAtom] || headingLevel[n.DataAtom] > 0 {
				b.WriteByte(' ')
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
		if n.Type == html.ElementNode && blockLevel[n.DataAtom] {
			b.WriteByte(' ')
		}
	}
	walk(n)
	return collapseSpace(b.String())
}

// rawText returns the text under n verbatim (for <pre>), <br> as a line break.
func rawText(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch {
		case n.Type == html.TextNode:
			b.WriteString(n.Data)
		case n.Type == html.ElementNode && n.DataAtom == atom.Br:
			b.WriteByte('\n')
		case n.Type == html.ElementNode && (skipped[n.DataAtom] || hidden(n)):
		default:
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c)
			}
		}
	}
	walk(n)
	return b.String()
}

// trimBlankLines drops leading and trailing blank lines and trailing space on every line, keeping
// the indentation.
func trimBlankLines(s string) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\u00a0")
	}
	for len(lines) > 0 && lines[0] == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n")
}

// listLines writes one line per <li> of the list n, nested lists indented.
func listLines(b *strings.Builder, n *html.Node, depth int) {
	num := 1
	if n.DataAtom == atom.Ol {
		for _, a := range n.Attr {
			if a.Key == "start" {
				if v, err := strconv.Atoi(a.Val); err == nil {
					num = v
				}
			}
		}
	}
	var items func(*html.Node)
	items = func(p *html.Node) {
		for li := p.FirstChild; li != nil; li = li.NextSibling {
			if li.Type != html.ElementNode || skipped[li.DataAtom] || hidden(li) {
				continue
			}
			if li.DataAtom != atom.Li {
				items(li) // stray wrappers between the list and its items
				continue
			}
			var own strings.Builder
			var nested []*html.Node
			for c := li.FirstChild; c != nil; c = c.NextSibling {
				if c.Type == html.ElementNode && (c.DataAtom == atom.Ul || c.DataAtom == atom.Ol) {
					nested = append(nested, c)
					continue
				}
				if c.Type == html.TextNode {
					own.WriteString(c.Data)
				} else {
					own.WriteString(" " + textOf(c) + " ")
				}
			}
			text := collapseSpace(own.String())
			if text != "" || len(nested) > 0 {
				if b.Len() > 0 {
					b.WriteByte('\n')
				}
				b.WriteString(strings.Repeat("  ", depth))
				if n.DataAtom == atom.Ol {
					b.WriteString(strconv.Itoa(num) + ". ")
					num++
				} else {
					b.WriteString("- ")
				}
				b.WriteString(text)
			}
			for _, l := range nested {
				listLines(b, l, depth+1)
			}
		}
	}
	items(n)
}

// dataTable reports whether a table holds data rather than page layout: no table nested in it.
func dataTable(n *html.Node) bool {
	var nested bool
	var walk func(*html.Node)
	walk = func(c *html.Node) {
		for c := c.FirstChild; c != nil && !nested; c = c.NextSibling {
			if c.Type == html.ElementNode && c.DataAtom == atom.Table {
				nested = true
				return
			}
			walk(c)
		}
	}
	walk(n)
	return !nested
}

// tableText writes one line per row, the cells joined by " | ", the caption first.
func tableText(n *html.Node) string {
	var rows []string
	var walk func(*html.Node)
	walk = func(p *html.Node) {
		for c := p.FirstChild; c != nil; c = c.NextSibling {
			if c.Type != html.ElementNode || skipped[c.DataAtom] || hidden(c) {
				continue
			}
			switch c.DataAtom {
			case atom.Caption:
				if t := textOf(c); t != "" {
					rows = append(rows, t)
				}
			case atom.Tr:
				var cells []string
				empty := true
				for td := c.FirstChild; td != nil; td = td.NextSibling {
					if td.Type == html.ElementNode && (td.DataAtom == atom.Td || td.DataAtom == atom.Th) {
						t := textOf(td)
						cells = append(cells, t)
						empty = empty && t == ""
					}
				}
				if !empty {
					rows = append(rows, strings.Join(cells, " | "))
				}
			default:
				walk(c)
			}
		}
	}
	walk(n)
	return strings.Join(rows, "\n")
}
