package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/youworker/youworker/client"
)

// source is one thing to ingest: a file or a URL.
type source struct {
	name string // as shown: the path given, or the URL
	path string // a file's path; "" for a URL
	url  string
	size int64
}

// ingestResult is one source's outcome (ingest --json prints the list).
type ingestResult struct {
	Source      string `json:"source"`
	DocumentID  string `json:"document_id,omitempty"`
	RunID       string `json:"ingestion_run_id,omitempty"`
	Status      string `json:"status"`
	Chunks      int    `json:"chunks"`
	DuplicateOf string `json:"duplicate_of,omitempty"`
	Error       string `json:"error,omitempty"`
}

func (r ingestResult) ok() bool { return r.Status == "completed" }

// ingestView shows the progress of the sources.
type ingestView interface {
	start(s source) itemView
	note(msg string)
	wait()
}

// itemView shows one source's progress.
type itemView interface {
	sent(n int64)
	accepted(runID string)
	stage(stage string, done, total int)
	progress(done, total int)
	finish(r ingestResult)
}

// runIngest uploads files (directories are walked; hidden files and directories are skipped) and
// starts the ingestion of URLs, then follows every run's events to its end: progress bars on a
// terminal, one line per change otherwise, a JSON list with --json. It exits non-zero when any
// source failed, and says which.
func runIngest(ctx context.Context, a *app, args []string) error {
	fsFlags := a.flags(true)
	group := fsFlags.String("group", "", "ingest into this group (its id) instead of your own documents")
	tags := fsFlags.String("tags", "", "comma-separated tags for every document")
	parallel := fsFlags.Int("parallel", 4, "how many sources are uploaded and followed at once")
	pos, err := parse(fsFlags, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("nothing to ingest: give files, directories or URLs")
	}
	if *parallel < 1 {
		return usagef("--parallel must be at least 1, got %d", *parallel)
	}
	sources, err := collectSources(pos)
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	opts := client.IngestOptions{GroupID: *group}
	for t := range strings.SplitSeq(*tags, ",") {
		if t = strings.TrimSpace(t); t != "" {
			opts.Tags = append(opts.Tags, t)
		}
	}
	var view ingestView
	switch {
	case a.jsonOut:
		view = &quietView{w: a.env.Stderr}
	case a.env.StdoutTTY:
		view = newBarsView(a.env.Stdout, sources)
	default:
		view = &linesView{w: a.env.Stdout}
	}
	c.Notify = view.note
	results := make([]ingestResult, len(sources))
	sem := make(chan struct{}, *parallel)
	var wg sync.WaitGroup
	for i, s := range sources {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			results[i] = ingestResult{Source: s.name, Status: "not started", Error: "interrupted"}
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			item := view.start(s)
			r := ingestOne(ctx, c, s, opts, item)
			item.finish(r)
			results[i] = r
		})
	}
	wg.Wait()
	view.wait()
	if a.jsonOut {
		if err := a.printJSON(results); err != nil {
			return err
		}
	}
	var failed []string
	for _, r := range results {
		if !r.ok() {
			failed = append(failed, r.Source)
		}
	}
	if ctx.Err() != nil {
		return exitError{code: exitInterrupted, msg: "interrupted; runs already started go on (youworker runs shows them)"}
	}
	if len(failed) > 0 {
		return exitError{code: exitFailed, msg: fmt.Sprintf("%d of %d failed: %s", len(failed), len(results), strings.Join(failed, ", "))}
	}
	if !a.jsonOut {
		fmt.Fprintf(a.env.Stderr, "%d ingested\n", len(results))
	}
	return nil
}

// collectSources checks every argument before anything is sent: URLs must be http(s), paths
// must exist, directories are walked for regular files.
func collectSources(args []string) ([]source, error) {
	var out []source
	for _, arg := range args {
		if strings.HasPrefix(arg, "http://") || strings.HasPrefix(arg, "https://") {
			u, err := url.Parse(arg)
			if err != nil || u.Host == "" {
				return nil, usagef("%q is not a valid URL", arg)
			}
			out = append(out, source{name: arg, url: arg})
			continue
		}
		if strings.Contains(arg, "://") {
			return nil, usagef("%q: only http:// and https:// URLs can be ingested", arg)
		}
		st, err := os.Stat(arg)
		if err != nil {
			return nil, usagef("%s: %v", arg, errors.Unwrap(err))
		}
		if !st.IsDir() {
			if !st.Mode().IsRegular() {
				return nil, usagef("%s is not a regular file", arg)
			}
			out = append(out, source{name: arg, path: arg, size: st.Size()})
			continue
		}
		n := len(out)
		err = filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p != arg && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			out = append(out, source{name: p, path: p, size: info.Size()})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", arg, err)
		}
		if len(out) == n {
			return nil, usagef("%s has no files to ingest", arg)
		}
	}
	return out, nil
}

// ingestOne uploads or submits a source and follows its run to the end.
func ingestOne(ctx context.Context, c *client.Client, s source, opts client.IngestOptions, item itemView) ingestResult {
	r := ingestResult{Source: s.name}
	opts.IdempotencyKey = newKey()
	var acc client.Accepted
	var err error
	if s.url != "" {
		acc, err = c.IngestURL(ctx, s.url, opts)
	} else {
		acc, err = c.Upload(ctx, s.path, opts, item.sent)
	}
	if err != nil {
		r.Status, r.Error = "rejected", err.Error()
		return r
	}
	r.DocumentID, r.RunID, r.Status = acc.DocumentID, acc.RunID, acc.Status
	item.accepted(acc.RunID)
	_, err = c.Follow(ctx, acc.EventsURL, 0, func(e client.Event) (bool, error) {
		var d struct {
			Stage       string            `json:"stage"`
			ChunksDone  int               `json:"chunks_done"`
			ChunksTotal int               `json:"chunks_total"`
			PagesDone   int               `json:"pages_done"`
			PagesTotal  int               `json:"pages_total"`
			Status      string            `json:"status"`
			Chunks      int               `json:"chunks"`
			DuplicateOf string            `json:"duplicate_of"`
			Error       *client.ErrorInfo `json:"error"`
		}
		if err := e.Decode(&d); err != nil {
			return false, err
		}
		switch e.Type {
		case "stage":
			item.stage(d.Stage, d.ChunksDone, d.ChunksTotal)
		case "progress":
			item.progress(d.ChunksDone, d.ChunksTotal)
		case "page": // a scanned PDF's page OCRed
			item.stage(fmt.Sprintf("%s: OCR %d/%d pages", d.Stage, d.PagesDone, d.PagesTotal), 0, 0)
		}
		if client.RunTerminal(e.Type) {
			r.Status, r.Chunks, r.DuplicateOf = strings.TrimPrefix(e.Type, "run."), d.Chunks, d.DuplicateOf
			if d.Error != nil {
				r.Error = d.Error.String()
			}
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		r.Status, r.Error = "unknown", "following the run: "+err.Error()
	}
	return r
}

// describe is a finished source's line.
func (r ingestResult) describe() string {
	switch {
	case r.ok() && r.DuplicateOf != "":
		return fmt.Sprintf("%s: already ingested (duplicate of document %s)", r.Source, r.DuplicateOf)
	case r.ok():
		return fmt.Sprintf("%s: completed, %d chunks (document %s)", r.Source, r.Chunks, r.DocumentID)
	case r.Error != "":
		return fmt.Sprintf("%s: %s: %s", r.Source, r.Status, r.Error)
	}
	return fmt.Sprintf("%s: %s", r.Source, r.Status)
}

// linesView prints one line per change (stdout is not a terminal).
type linesView struct {
	mu sync.Mutex
	w  interface{ Write([]byte) (int, error) }
}

func (v *linesView) printf(format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	fmt.Fprintf(v.w, format+"\n", args...)
}

func (v *linesView) start(s source) itemView { return &lineItem{v: v, name: s.name} }
func (v *linesView) note(msg string)         { v.printf("youworker: %s", msg) }
func (v *linesView) wait()                   {}

type lineItem struct {
	v         *linesView
	name      string
	lastStage string
}

func (l *lineItem) sent(int64) {}
func (l *lineItem) accepted(runID string) {
	l.v.printf("%s: queued (run %s)", l.name, runID)
}
func (l *lineItem) stage(stage string, _, _ int) {
	if stage != l.lastStage {
		l.lastStage = stage
		l.v.printf("%s: %s", l.name, stage)
	}
}
func (l *lineItem) progress(int, int)     {}
func (l *lineItem) finish(r ingestResult) { l.v.printf("%s", r.describe()) }

// quietView shows nothing but retries (ingest --json prints the results at the end).
type quietView struct {
	mu sync.Mutex
	w  interface{ Write([]byte) (int, error) }
}

func (v *quietView) start(source) itemView { return quietItem{} }
func (v *quietView) note(msg string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	fmt.Fprintf(v.w, "youworker: %s\n", msg)
}
func (v *quietView) wait() {}

type quietItem struct{}

func (quietItem) sent(int64)             {}
func (quietItem) accepted(string)        {}
func (quietItem) stage(string, int, int) {}
func (quietItem) progress(int, int)      {}
func (quietItem) finish(ingestResult)    {}
