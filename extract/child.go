package extract

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// maxChildOutput bounds the JSON a sandbox process may answer with: the text of the largest
// documents (text files are at most maxTextFile) with room for JSON escapes.
const maxChildOutput = 256 << 20

// childAnswer is what a sandbox process writes to its standard output.
type childAnswer struct {
	Document *Document  `json:"document,omitempty"`
	Error    *childFail `json:"error,omitempty"`
}

// childFail is an extraction error across the process boundary: its message and the sentinel it
// wraps ("" for none: a transient error).
type childFail struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

var childKinds = map[string]error{"unsupported": ErrUnsupported, "corrupt": ErrCorrupt, "encrypted": ErrEncrypted,
	"empty": ErrEmpty, "limit": ErrLimit, "no_audio": ErrNoAudio}

// childError is a sandbox process's error: its message, wrapping the sentinel of its kind.
type childError struct {
	msg  string
	kind error
}

func (e *childError) Error() string { return e.msg }
func (e *childError) Unwrap() error { return e.kind }

// RunChild is the sandbox process ("youworker extract-file [--max-part N] [--max-unpacked N]
// MEDIA_TYPE PATH"): it parses the file with the Go extractors and writes the document, or the
// error with its kind, as JSON to stdout. Its own error means it could not run at all.
func RunChild(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("extract-file", flag.ContinueOnError)
	maxPart := fs.Int64("max-part", DefaultMaxPartBytes, "largest uncompressed part of a zip-based document")
	maxUnpacked := fs.Int64("max-unpacked", DefaultMaxUnpackedBytes, "uncompressed bytes of all the parts of a zip-based document")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 || !parsedInGo(fs.Arg(0)) {
		return fmt.Errorf("usage: extract-file [--max-part N] [--max-unpacked N] MEDIA_TYPE PATH (a type parsed in Go), got %q", fs.Args())
	}
	e := New(Options{MaxPartBytes: *maxPart, MaxUnpackedBytes: *maxUnpacked})
	doc, err := e.extractInProcess(ctx, fs.Arg(0), fs.Arg(1))
	var ans childAnswer
	if err != nil {
		ans.Error = &childFail{Message: err.Error()}
		for kind, sentinel := range childKinds {
			if errors.Is(err, sentinel) {
				ans.Error.Kind = kind
			}
		}
	} else {
		ans.Document = &doc
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false) // "<" stays one byte: text-heavy documents stay within maxChildOutput
	return enc.Encode(ans)
}

// extractInSandbox parses a format of parsedInGo in a sandbox process under the tool limits, with
// GOMEMLIMIT at three quarters of the memory limit so that its collector works before the limit
// is hit, and without goroutine traces. The process running out of memory, CPU or time fails with ErrLimit like a tool; a
// panic while parsing is the document's fault (ErrCorrupt); other failures to run are transient.
func (e *Extractor) extractInSandbox(ctx context.Context, mt, path string) (Document, error) {
	path, err := filepath.Abs(path)
	if err != nil {
		return Document{}, err
	}
	args := append(slices.Clone(e.sandbox[1:]), "--max-part="+strconv.FormatInt(e.maxPart, 10),
		"--max-unpacked="+strconv.FormatInt(e.maxUnpacked, 10), "--", mt, path)
	// No goroutine traces: a fatal error's first line (out of memory, a panic) must not scroll
	// out of the stderr tail that run keeps.
	env := []string{"GOTRACEBACK=none"}
	if e.maxMemory > 0 {
		env = append(env, "GOMEMLIMIT="+strconv.FormatInt(e.maxMemory/4*3, 10))
	}
	res, err := e.runOut(ctx, "the "+mt+" parser", maxChildOutput, env, e.sandbox[0], args...)
	if err != nil {
		return Document{}, err
	}
	switch {
	case res.exitCode != 0 && strings.Contains(res.stderr, "panic:"):
		return Document{}, fmt.Errorf("%w: the %s parser failed on it: %s", ErrCorrupt, mt, firstLine(res.stderr))
	case res.exitCode != 0:
		return Document{}, fmt.Errorf("the extraction process exited with code %d: %s", res.exitCode, lastLine(res.stderr))
	case res.truncated:
		return Document{}, fmt.Errorf("%w: the extracted text exceeds %d bytes", ErrLimit, maxChildOutput)
	}
	var ans childAnswer
	if err := json.Unmarshal(res.stdout, &ans); err != nil {
		return Document{}, fmt.Errorf("the extraction process answered no document: %w", err)
	}
	switch {
	case ans.Error != nil:
		return Document{}, &childError{msg: ans.Error.Message, kind: childKinds[ans.Error.Kind]}
	case ans.Document == nil:
		return Document{}, errors.New("the extraction process answered no document")
	}
	return *ans.Document, nil
}

// firstLine returns the first line of s, at most 300 bytes.
func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return lastLine(line)
}
