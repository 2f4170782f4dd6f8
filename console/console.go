// Package console is the browser console: a small web page for the API (log in and out,
// sessions and streamed turns with their tool calls, approvals and cancels, regenerated answers,
// edited messages and their branches, document uploads with live ingestion progress, search,
// groups, MCP servers, usage and API keys), written as plain ES modules and one stylesheet and
// embedded in the binary. It loads nothing from anywhere else, so it works offline, and it is
// written to run under CSP: no inline script or style, and Trusted Types without a policy, so its
// code cannot turn a string into HTML (model output and document text are only ever text nodes).
package console

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"maps"
	"mime"
	"path"
	"slices"
)

// CSP is the Content-Security-Policy of every console response: scripts, styles, images and
// connections (fetch, EventSource) from the API's own origin only, nothing inline, no framing,
// no form posting anywhere, and every DOM sink that parses HTML or runs script refused
// (require-trusted-types-for with no policy allowed).
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

//go:embed static
var static embed.FS

// File is one embedded file, ready to serve.
type File struct {
	Body        []byte
	ContentType string
	// ETag is a strong validator derived from the content.
	ETag string
}

var files = func() map[string]File {
	out := map[string]File{}
	root, err := fs.Sub(static, "static")
	if err != nil {
		panic(err)
	}
	err = fs.WalkDir(root, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(root, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(name))
		if ct == "" {
			ct = "application/octet-stream"
		}
		out[name] = File{Body: b, ContentType: ct, ETag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic(err)
	}
	return out
}()

// Open returns the file at name (relative to the console's root, e.g. "js/main.js"); the empty
// name is the page itself, index.html.
func Open(name string) (File, bool) {
	if name == "" {
		name = "index.html"
	}
	f, ok := files[name]
	return f, ok
}

// Names lists the files of the console.
func Names() []string {
	return slices.Sorted(maps.Keys(files))
}
