package extract_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/extract"
)

// kinds lists the blocks as "kind[level]: text" lines, for comparing structure.
func kinds(d extract.Document) []string {
	out := make([]string, len(d.Blocks))
	for i, b := range d.Blocks {
		k := string(b.Kind)
		if b.Level > 0 {
			k += "[" + string(rune('0'+b.Level)) + "]"
		}
		out[i] = k + ": " + b.Text
	}
	return out
}

func allText(d extract.Document) string {
	var parts []string
	for _, b := range d.Blocks {
		parts = append(parts, b.Text)
	}
	return strings.Join(parts, "\n\n")
}

func TestExtractText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		mediaType string
		content   string
		wantTitle string
		want      []string // kinds(doc)
	}{
		{
			name:      "plain text paragraphs",
			mediaType: "text/plain; charset=utf-8",
			content:   "First paragraph line one\r\nline two.   \r\n\r\n\r\n  Second paragraph.\n \t\nThird.",
			want:      []string{"paragraph: First paragraph line one\nline two.", "paragraph: Second paragraph.", "paragraph: Third."},
		},
		{
			name:      "plain text with invalid utf-8",
			mediaType: extract.MediaPlain,
			content:   "Caf\xe9 cr\xe8me is sold here.",
			want:      []string{"paragraph: Caf\uFFFD cr\uFFFDme is sold here."},
		},
		{
			name:      "plain text utf-16",
			mediaType: extract.MediaPlain,
			content:   "\xFF\xFEH\x00i\x00!\x00",
			want:      []string{"paragraph: Hi!"},
		},
		{
			name:      "markdown structure",
			mediaType: extract.MediaMarkdown,
			content: "# The Guide\n\nIntro with *emphasis*, `code\nspan`, a [link](http://x.test) and &amp; entity.\n" +
				"Soft break here.\n\nSetext Heading\n--------------\n\n" +
				"- apples\n- pears\n  1. green\n  2. red\n\n```go\nfunc main() {\n\tprintln(\"hi\")\n}\n```\n\n" +
				"| Name | Qty |\n|------|-----|\n| Tea  | 2   |\n\n> Quoted \\*wisdom\\*.\n\n<div>Raw <b>HTML</b> block</div>\n\n" +
				"###### Deep heading\n\n---\n\n![alt text](img.png) caption",
			wantTitle: "The Guide",
			want: []string{
				"heading[1]: The Guide",
				"paragraph: Intro with emphasis, code span, a link and & entity. Soft break here.",
				"heading[2]: Setext Heading",
				"list: - apples\n- pears\n  1. green\n  2. red",
				"code: func main() {\n\tprintln(\"hi\")\n}",
				"table: Name | Qty\nTea | 2",
				"paragraph: Quoted *wisdom*.",
				"paragraph: Raw HTML block",
				"heading[6]: Deep heading",
				"paragraph: alt text caption",
			},
		},
		{
			name:      "markdown front matter title",
			mediaType: extract.MediaMarkdown,
			content:   "---\ntitle: \"Release Notes\"\ndate: 2024-01-01\n---\n# Version 2\n\nFaster.\n",
			wantTitle: "Release Notes",
			want:      []string{"heading[1]: Version 2", "paragraph: Faster."},
		},
		{
			name:      "html readable text",
			mediaType: extract.MediaHTML,
			content: `<!DOCTYPE html><html><head><title> The  Page &amp; Title </title>
<style>body { color: red }</style><script>var secret = "SCRIPT_TEXT";</script></head>
<body><nav><a href="/">Home NAV_TEXT</a></nav>
<h1>Main heading</h1>
<p>First   paragraph with <b>bold</b> and&nbsp;an entity &eacute;.<br>After a break.</p>
<div>Loose text in a div<noscript>NOSCRIPT_TEXT</noscript></div>
<ul><li>one</li><li>two<ul><li>nested</li></ul></li></ul>
<ol start="3"><li>three</li></ol>
<pre>  indented
    code</pre>
<table><tr><th>Name</th><th>Qty</th></tr><tr><td>Tea</td><td>2</td></tr></table>
<blockquote>A quote.</blockquote>
<h3>Sub heading</h3><span hidden>HIDDEN_TEXT</span><svg><text>SVG_TEXT</text></svg>
<template><p>TEMPLATE_TEXT</p></template>
<footer>FOOTER_TEXT</footer></body></html>`,
			wantTitle: "The Page & Title",
			want: []string{
				"heading[1]: Main heading",
				"paragraph: First paragraph with bold and an entity é.\nAfter a break.",
				"paragraph: Loose text in a div",
				"list: - one\n- two\n  - nested",
				"list: 3. three",
				"code:   indented\n    code",
				"table: Name | Qty\nTea | 2",
				"paragraph: A quote.",
				"heading[3]: Sub heading",
			},
		},
		{
			name:      "html declared charset",
			mediaType: extract.MediaHTML,
			content:   "<html><head><meta charset=\"iso-8859-1\"></head><body><p>Caf\xe9</p></body></html>",
			want:      []string{"paragraph: Café"},
		},
		{
			name:      "html without title uses h1",
			mediaType: extract.MediaHTML,
			content:   "<h1>Fallback Title</h1><p>Body.</p>",
			wantTitle: "Fallback Title",
			want:      []string{"heading[1]: Fallback Title", "paragraph: Body."},
		},
		{
			name:      "csv rows",
			mediaType: extract.MediaCSV,
			content:   "\ufeffname,city,,note\nAda,London,x,\"multi\nline\"\n,,,\nGrace,\"New York, NY\"\n",
			want: []string{
				"paragraph: name: Ada\ncity: London\ncolumn 3: x\nnote: multi\nline",
				"paragraph: name: Grace\ncity: New York, NY",
			},
		},
		{
			name:      "csv header only",
			mediaType: extract.MediaCSV,
			content:   "id,name,,email\n",
			want:      []string{"paragraph: Columns: id, name, email"},
		},
		{
			name:      "octet-stream is sniffed",
			mediaType: "application/octet-stream",
			content:   "<html><body><h2>Sniffed</h2></body></html>",
			want:      []string{"heading[2]: Sniffed"},
		},
		{
			name:      "csv with semicolons",
			mediaType: extract.MediaCSV,
			content:   "Produkt;Preis\nKaffee;3,50\n",
			want:      []string{"paragraph: Produkt: Kaffee\nPreis: 3,50"},
		},
		{
			name:      "json flattened in document order",
			mediaType: extract.MediaJSON,
			content: `{"title": "Inventory", "items": [{"name": "Tea", "qty": 2}, {"name": "Milk", "tags": []}],
"meta": {"owner": {"name": "Ada"}, "ok": true, "note": null, "odd.key": 1.5e3}}`,
			want: []string{
				"paragraph: title: Inventory",
				"paragraph: items[0].name: Tea\nitems[0].qty: 2",
				"paragraph: items[1].name: Milk\nitems[1].tags: []",
				"paragraph: meta.owner.name: Ada\nmeta.ok: true\nmeta.note: null\nmeta[\"odd.key\"]: 1.5e3",
			},
		},
		{
			name:      "json lines",
			mediaType: extract.MediaJSON,
			content:   "{\"event\": \"login\"}\n{\"event\": \"logout\"}\n",
			want:      []string{"paragraph: [0].event: login", "paragraph: [1].event: logout"},
		},
		{
			name:      "json scalar",
			mediaType: extract.MediaJSON,
			content:   `"just a string"`,
			want:      []string{"paragraph: just a string"},
		},
	}
	x := extract.New(extract.Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, "input", []byte(tc.content))
			doc, err := x.Extract(context.Background(), tc.mediaType, path)
			require.NoError(t, err)
			require.Equal(t, tc.want, kinds(doc))
			require.Equal(t, tc.wantTitle, doc.Title)
			for _, secret := range []string{"SCRIPT_TEXT", "NAV_TEXT", "NOSCRIPT_TEXT", "HIDDEN_TEXT", "SVG_TEXT", "TEMPLATE_TEXT", "FOOTER_TEXT", "color: red"} {
				require.NotContains(t, allText(doc), secret)
			}
		})
	}
}

func TestExtractDOCX(t *testing.T) {
	t.Parallel()
	body := para("Title", "Annual Report") +
		para("Heading1", "Overview") +
		`<w:p><w:r><w:t xml:space="preserve">Revenue grew </w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>strongly</w:t></w:r>` +
		`<w:del><w:r><w:delText>DELETED_TEXT</w:delText></w:r></w:del>` +
		`<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText>PAGE FIELD_CODE</w:instrText></w:r>` +
		`<w:r><w:t xml:space="preserve"> this year.</w:t><w:tab/><w:t>Tabbed.</w:t><w:br/><w:t>Next line.</w:t></w:r></w:p>` +
		para("Heading2", "Details") +
		`<w:p><w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr></w:pPr><w:r><w:t>first item</w:t></w:r></w:p>` +
		`<w:p><w:pPr><w:numPr><w:ilvl w:val="1"/><w:numId w:val="1"/></w:numPr></w:pPr><w:r><w:t>sub item</w:t></w:r></w:p>` +
		`<w:tbl><w:tblPr/><w:tr><w:tc><w:p><w:r><w:t>Region</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Sales</w:t></w:r></w:p></w:tc></w:tr>` +
		`<w:tr><w:tc><w:p><w:r><w:t>North</w:t></w:r></w:p><w:p><w:r><w:t>and East</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>42</w:t></w:r></w:p></w:tc></w:tr></w:tbl>` +
		`<w:p><w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><wps:txbx><w:txbxContent>` + para("", "Boxed text.") +
		`</w:txbxContent></wps:txbx></w:drawing></mc:Choice><mc:Fallback><w:pict>` + para("", "Boxed text.") + `</w:pict></mc:Fallback></mc:AlternateContent></w:r></w:p>` +
		`<w:p><w:pPr><w:outlineLvl w:val="2"/></w:pPr><w:r><w:t>Outline heading</w:t></w:r></w:p>` +
		`<w:sectPr><w:pgSz w:w="12240"/></w:sectPr>`
	listStyles := `<w:style w:type="paragraph" w:styleId="ListBullet"><w:name w:val="List Bullet"/></w:style>` +
		`<w:style w:type="paragraph" w:styleId="Aufzaehlung"><w:name w:val="Aufzählung"/><w:pPr><w:numPr><w:numId w:val="4"/></w:numPr></w:pPr></w:style>`
	localised := `<w:style w:type="paragraph" w:styleId="berschrift1"><w:name w:val="heading 1"/><w:pPr><w:outlineLvl w:val="0"/></w:pPr></w:style>` +
		`<w:style w:type="paragraph" w:styleId="Meine"><w:name w:val="Meine Überschrift"/><w:basedOn w:val="berschrift1"/></w:style>` +
		`<w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="Normal Text"/></w:style>`

	tests := []struct {
		name      string
		data      []byte
		wantTitle string
		want      []string
	}{
		{
			name:      "headings lists tables",
			data:      makeDOCX(t, body, "Core &amp; Title", ""),
			wantTitle: "Core & Title",
			want: []string{
				"heading[1]: Annual Report",
				"heading[1]: Overview",
				"paragraph: Revenue grew strongly this year.\tTabbed.\nNext line.",
				"heading[2]: Details",
				"list: - first item\n  - sub item",
				"table: Region | Sales\nNorth and East | 42",
				"paragraph: Boxed text.",
				"heading[3]: Outline heading",
			},
		},
		{
			name:      "title paragraph when no core title",
			data:      makeDOCX(t, para("Title", "Styled Title")+para("", "Body."), "", ""),
			wantTitle: "Styled Title",
			want:      []string{"heading[1]: Styled Title", "paragraph: Body."},
		},
		{
			name: "localised style ids through styles.xml",
			data: makeDOCX(t, para("berschrift1", "Einleitung")+para("Meine", "Abgeleitet")+para("Heading1", "Not a heading here"), "", localised),
			want: []string{"heading[1]: Einleitung", "heading[1]: Abgeleitet", "paragraph: Not a heading here"},
		},
		{
			name: "list styles",
			data: makeDOCX(t, para("ListBullet", "milk")+para("Aufzaehlung", "eggs")+para("", "Done."), "", listStyles),
			want: []string{"list: - milk\n- eggs", "paragraph: Done."},
		},
	}
	x := extract.New(extract.Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc, err := x.Extract(context.Background(), extract.MediaDOCX, writeFile(t, "doc.docx", tc.data))
			require.NoError(t, err)
			require.Equal(t, tc.want, kinds(doc))
			require.Equal(t, tc.wantTitle, doc.Title)
			require.NotContains(t, allText(doc), "DELETED_TEXT")
			require.NotContains(t, allText(doc), "FIELD_CODE")
		})
	}
}
