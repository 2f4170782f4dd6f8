package extract

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// extractDOCX reads word/document.xml: paragraphs (w:p, text from w:t runs), headings from the
// paragraph style (Heading 1..6 and Title, resolved through word/styles.xml so that localised
// style ids work, or an outline level), numbered and bulleted paragraphs as lists, and tables.
// Deleted text of tracked changes, field codes and the fallback copies of text boxes are left
// out; headers, footers, footnotes and comments are not read. The title is the core properties'
// dc:title, else the first Title-styled paragraph. Parts are inflated as they are parsed, within
// the Extractor's per-part and per-document budgets (a zip bomb fails with ErrLimit).
func (e *Extractor) extractDOCX(path string) (Document, error) {
	f, err := os.Open(path)
	if err != nil {
		return Document{}, err
	}
	defer f.Close()
	head := make([]byte, len(oleMagic))
	if _, err := io.ReadFull(f, head); err == nil && bytes.Equal(head, oleMagic) {
		return Document{}, fmt.Errorf("%w (an encrypted Office document)", ErrEncrypted)
	}
	st, err := f.Stat()
	if err != nil {
		return Document{}, err
	}
	zr, err := zip.NewReader(f, st.Size())
	if err != nil && !(errors.Is(err, zip.ErrInsecurePath) && zr != nil) { // we never write entries out
		return Document{}, fmt.Errorf("%w: not a valid DOCX (zip) file: %v", ErrCorrupt, err)
	}
	parts := map[string]*zip.File{}
	for _, zf := range zr.File {
		parts[zf.Name] = zf
	}
	body, ok := parts["word/document.xml"]
	if !ok {
		return Document{}, fmt.Errorf("%w: the DOCX has no word/document.xml", ErrCorrupt)
	}
	b := &unpackBudget{part: e.maxPart, left: e.maxUnpacked, total: e.maxUnpacked}
	// The body first: it is what a bomb inflates, and what the document is for.
	if err := b.reserve(body); err != nil {
		return Document{}, err
	}
	styles := map[string]docxStyle{}
	if sf, ok := parts["word/styles.xml"]; ok {
		if styles, err = readDOCXStyles(b, sf); err != nil {
			return Document{}, err
		}
	}
	var doc Document
	if cf, ok := parts["docProps/core.xml"]; ok {
		if doc.Title, err = readDOCXTitle(b, cf); err != nil {
			return Document{}, err
		}
	}
	rc, err := b.open(body)
	if err != nil {
		return Document{}, err
	}
	defer rc.Close()
	p := docxParser{styles: styles}
	if err := p.parse(rc); err != nil {
		return Document{}, err
	}
	doc.Blocks = p.out
	if doc.Title == "" {
		doc.Title = p.title
	}
	return doc, nil
}

// unpackBudget bounds what is inflated from a zip-based document: each part at most part bytes,
// all parts together at most total. The sizes the zip declares are checked before a part is
// opened, and the bytes actually inflated are counted as they are read, so a part whose header
// lies fails as soon as it passes the budget.
type unpackBudget struct {
	part, total, left int64
}

// reserve checks a part's declared size against the budget without reading it.
func (b *unpackBudget) reserve(zf *zip.File) error {
	switch {
	case zf.UncompressedSize64 > uint64(b.part):
		return fmt.Errorf("%w: %s is %d bytes uncompressed; the limit is %d per part", ErrLimit, zf.Name, zf.UncompressedSize64, b.part)
	case zf.UncompressedSize64 > uint64(b.total):
		return fmt.Errorf("%w: %s is %d bytes uncompressed; the limit is %d per document", ErrLimit, zf.Name, zf.UncompressedSize64, b.total)
	}
	return nil
}

// open opens a part for streaming within the budget.
func (b *unpackBudget) open(zf *zip.File) (io.ReadCloser, error) {
	if err := b.reserve(zf); err != nil {
		return nil, err
	}
	if zf.UncompressedSize64 > uint64(max(b.left, 0)) {
		return nil, fmt.Errorf("%w: the parts of the document exceed %d bytes uncompressed", ErrLimit, b.total)
	}
	rc, err := zf.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, zf.Name, err)
	}
	return &budgetReader{rc: rc, b: b, name: zf.Name, partLeft: b.part}, nil
}

// budgetReader counts inflated bytes against the part's and the document's budget.
type budgetReader struct {
	rc       io.ReadCloser
	b        *unpackBudget
	name     string
	partLeft int64
}

func (r *budgetReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	r.partLeft -= int64(n)
	r.b.left -= int64(n)
	switch {
	case r.partLeft < 0:
		return 0, fmt.Errorf("%w: %s inflates to more than the %d bytes allowed per part", ErrLimit, r.name, r.b.part)
	case r.b.left < 0:
		return 0, fmt.Errorf("%w: the parts of the document inflate to more than the %d bytes allowed", ErrLimit, r.b.total)
	}
	return n, err
}

func (r *budgetReader) Close() error { return r.rc.Close() }

// partError keeps a budget error as it is and calls anything else a damaged part.
func partError(name string, err error) error {
	if errors.Is(err, ErrLimit) {
		return err
	}
	return fmt.Errorf("%w: %s: %v", ErrCorrupt, name, err)
}

func decodePart(b *unpackBudget, zf *zip.File, v any) error {
	rc, err := b.open(zf)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := xml.NewDecoder(rc).Decode(v); err != nil {
		return partError(zf.Name, err)
	}
	return nil
}

func readDOCXTitle(b *unpackBudget, zf *zip.File) (string, error) {
	var core struct {
		Title string `xml:"http://purl.org/dc/elements/1.1/ title"`
	}
	if err := decodePart(b, zf, &core); err != nil {
		return "", err
	}
	return strings.TrimSpace(core.Title), nil
}

// docxStyle is what a paragraph style says about headings.
type docxStyle struct {
	name    string // lower case, "heading 1"
	basedOn string
	outline int  // w:outlineLvl + 1, 0 when unset
	list    bool // numbered or bulleted (w:numPr in the style, or a "List Bullet"-like name)
}

func readDOCXStyles(b *unpackBudget, zf *zip.File) (map[string]docxStyle, error) {
	type val struct {
		Val string `xml:"val,attr"`
	}
	var doc struct {
		Styles []struct {
			ID      string `xml:"styleId,attr"`
			Type    string `xml:"type,attr"`
			Name    val    `xml:"name"`
			BasedOn val    `xml:"basedOn"`
			PPr     struct {
				OutlineLvl *val      `xml:"outlineLvl"`
				NumPr      *struct{} `xml:"numPr"`
			} `xml:"pPr"`
		} `xml:"style"`
	}
	if err := decodePart(b, zf, &doc); err != nil {
		return nil, err
	}
	styles := make(map[string]docxStyle, len(doc.Styles))
	for _, s := range doc.Styles {
		if s.Type != "" && s.Type != "paragraph" {
			continue
		}
		st := docxStyle{name: strings.ToLower(s.Name.Val), basedOn: s.BasedOn.Val, list: s.PPr.NumPr != nil}
		if s.PPr.OutlineLvl != nil {
			if n, err := strconv.Atoi(s.PPr.OutlineLvl.Val); err == nil && n >= 0 && n < 9 {
				st.outline = n + 1
			}
		}
		styles[s.ID] = st
	}
	return styles, nil
}

// docxHeading returns the heading level of a paragraph style (0 for body text), whether it is
// the Title style and whether it makes list items, following basedOn links.
func docxHeading(styleID string, styles map[string]docxStyle) (level int, title, list bool) {
	for range 10 { // basedOn chains are short; this bounds a cycle
		st, ok := styles[styleID]
		if !ok {
			break
		}
		switch {
		case st.name == "title":
			return 1, true, false
		case strings.HasPrefix(st.name, "heading "):
			if n, err := strconv.Atoi(strings.TrimPrefix(st.name, "heading ")); err == nil && n > 0 {
				return n, false, false
			}
		case st.outline > 0:
			return st.outline, false, false
		case st.list, strings.HasPrefix(st.name, "list bullet"), strings.HasPrefix(st.name, "list number"):
			return 0, false, true
		}
		if st.basedOn == "" {
			return 0, false, false
		}
		styleID = st.basedOn
	}
	// No styles part (or an unknown id): Word's built-in English ids.
	lower := strings.ToLower(styleID)
	if lower == "title" {
		return 1, true, false
	}
	if n, err := strconv.Atoi(strings.TrimPrefix(lower, "heading")); strings.HasPrefix(lower, "heading") && err == nil && n > 0 {
		return n, false, false
	}
	return 0, false, strings.HasPrefix(lower, "listbullet") || strings.HasPrefix(lower, "listnumber")
}

// WordprocessingML namespaces: transitional (what Word writes) and strict.
const (
	nsW       = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
	nsWStrict = "http://purl.oclc.org/ooxml/wordprocessingml/main"
	nsMC      = "http://schemas.openxmlformats.org/markup-compatibility/2006"
)

type docxPara struct {
	style   string
	outline int // direct w:outlineLvl + 1
	list    bool
	ilvl    int
	text    strings.Builder
}

type docxTable struct {
	rows  []string
	cells []string
	cell  []string // paragraphs of the open cell
	inTC  bool
}

type docxParser struct {
	styles map[string]docxStyle
	out    []Block
	title  string
	list   []string // consecutive list paragraphs, not yet emitted
	paras  []*docxPara
	tables []*docxTable
	inPPr  int
	inText bool
}

func (p *docxParser) parse(r io.Reader) error {
	d := xml.NewDecoder(r)
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return partError("word/document.xml", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Space == nsMC && t.Name.Local == "Fallback" {
				if err := d.Skip(); err != nil {
					return partError("word/document.xml", err)
				}
				continue
			}
			if t.Name.Space != nsW && t.Name.Space != nsWStrict {
				continue
			}
			if skip := p.start(t); skip {
				if err := d.Skip(); err != nil {
					return partError("word/document.xml", err)
				}
			}
		case xml.EndElement:
			if t.Name.Space == nsW || t.Name.Space == nsWStrict {
				p.end(t.Name.Local)
			}
		case xml.CharData:
			if p.inText && len(p.paras) > 0 {
				p.paras[len(p.paras)-1].text.Write(t)
			}
		}
	}
	p.flushList()
	return nil
}

func attr(t xml.StartElement, local string) string {
	for _, a := range t.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// start handles an opening w: element and reports whether to skip its subtree.
func (p *docxParser) start(t xml.StartElement) bool {
	var para *docxPara
	if len(p.paras) > 0 {
		para = p.paras[len(p.paras)-1]
	}
	write := func(s string) {
		if para != nil && p.inPPr == 0 {
			para.text.WriteString(s)
		}
	}
	switch t.Name.Local {
	case "delText", "instrText", "rPr", "sectPr":
		return true
	case "p":
		p.paras = append(p.paras, &docxPara{})
	case "pPr":
		p.inPPr++
	case "pStyle":
		if para != nil && p.inPPr > 0 {
			para.style = attr(t, "val")
		}
	case "outlineLvl":
		if n, err := strconv.Atoi(attr(t, "val")); para != nil && p.inPPr > 0 && err == nil && n >= 0 && n < 9 {
			para.outline = n + 1
		}
	case "numPr":
		if para != nil && p.inPPr > 0 {
			para.list = true
		}
	case "ilvl":
		if n, err := strconv.Atoi(attr(t, "val")); para != nil && p.inPPr > 0 && err == nil && n >= 0 && n < 9 {
			para.ilvl = n
		}
	case "t":
		p.inText = p.inPPr == 0
	case "tab", "ptab":
		write("\t")
	case "br", "cr":
		write("\n")
	case "noBreakHyphen":
		write("-")
	case "tbl":
		p.tables = append(p.tables, &docxTable{})
	case "tc":
		if tb := p.table(); tb != nil {
			tb.inTC, tb.cell = true, nil
		}
	}
	return false
}

func (p *docxParser) table() *docxTable {
	if len(p.tables) == 0 {
		return nil
	}
	return p.tables[len(p.tables)-1]
}

// end handles a closing w: element.
func (p *docxParser) end(local string) {
	switch local {
	case "t":
		p.inText = false
	case "pPr":
		p.inPPr = max(p.inPPr-1, 0)
	case "p":
		if len(p.paras) == 0 {
			return
		}
		para := p.paras[len(p.paras)-1]
		p.paras = p.paras[:len(p.paras)-1]
		p.paragraph(para)
	case "tc":
		if tb := p.table(); tb != nil && tb.inTC {
			tb.cells = append(tb.cells, collapseSpace(strings.Join(tb.cell, " ")))
			tb.inTC, tb.cell = false, nil
		}
	case "tr":
		if tb := p.table(); tb != nil {
			if strings.TrimSpace(strings.Join(tb.cells, "")) != "" {
				tb.rows = append(tb.rows, strings.Join(tb.cells, " | "))
			}
			tb.cells = nil
		}
	case "tbl":
		tb := p.table()
		if tb == nil {
			return
		}
		p.tables = p.tables[:len(p.tables)-1]
		if outer := p.table(); outer != nil && outer.inTC {
			outer.cell = append(outer.cell, strings.Join(tb.rows, "; "))
			return
		}
		p.emit(Block{Kind: KindTable, Text: strings.Join(tb.rows, "\n")})
	}
}

// paragraph places a finished paragraph: into the open table cell, the pending list, or a block.
func (p *docxParser) paragraph(para *docxPara) {
	text := strings.TrimSpace(para.text.String())
	if tb := p.table(); tb != nil && tb.inTC {
		tb.cell = append(tb.cell, text)
		return
	}
	if text == "" {
		return
	}
	level, title, list := docxHeading(para.style, p.styles)
	if para.outline > 0 {
		level = para.outline
	}
	switch {
	case level > 0:
		text = collapseSpace(text)
		if title && p.title == "" {
			p.title = text
		}
		p.emit(Block{Kind: KindHeading, Level: min(level, 6), Text: text})
	case para.list || list:
		p.list = append(p.list, strings.Repeat("  ", para.ilvl)+"- "+collapseSpace(text))
	default:
		p.emit(Block{Kind: KindParagraph, Text: text})
	}
}

func (p *docxParser) emit(b Block) {
	p.flushList()
	if strings.TrimSpace(b.Text) != "" {
		p.out = append(p.out, b)
	}
}

func (p *docxParser) flushList() {
	if len(p.list) > 0 {
		p.out = append(p.out, Block{Kind: KindList, Text: strings.Join(p.list, "\n")})
		p.list = nil
	}
}
