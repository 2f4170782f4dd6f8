package account

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
)

// Shapes turn rows into the JSON objects the API shows for them, so that an export and the API
// speak the same shapes (the API passes its own).
type Shapes struct {
	User     func(*models.User) any
	Group    func(store.GroupRole) any
	APIKey   func(*models.APIKey) any
	Session  func(models.Caller, *models.ChatSession) (any, error)
	Message  func(*models.Message) (any, error)
	ToolRun  func(*models.ToolRun) (any, error)
	Document func(models.Caller, *models.Document) any
	Audit    func([]models.AuditEntry) any
}

// Exporter writes everything an account owns as one JSON document: profile, groups, API keys
// (never secrets), sessions with their messages, tool runs, documents with their chunks, and the
// audit log. It reads one consistent snapshot (a read-only repeatable-read transaction) a page at
// a time, so memory stays flat however large the account.
type Exporter struct {
	Store *store.Store
	// PageSize is how many messages or chunks it reads at a time (0 means 500).
	PageSize int
	Now      func() time.Time
}

// Write writes the export of caller's account (user u) to w. An error before the first byte is
// returned as is; after it, the document is ended as valid JSON with an "error" member (the
// reader sees it is incomplete) and the error is returned too.
func (x *Exporter) Write(ctx context.Context, caller models.Caller, u *models.User, w io.Writer, sh Shapes) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	out := &jsonStream{w: bw}
	err := x.Store.Snapshot(ctx, func(tx *store.Store) error { return x.write(ctx, tx, caller, u, out, sh) })
	if err != nil {
		out.abort(map[string]any{"code": "EXPORT_INCOMPLETE",
			"message": "the export stopped before the end; what precedes is correct but incomplete: please retry"})
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return err
}

func (x *Exporter) pageSize() int {
	if x.PageSize > 0 {
		return x.PageSize
	}
	return 500
}

func (x *Exporter) write(ctx context.Context, tx *store.Store, caller models.Caller, u *models.User, out *jsonStream, sh Shapes) error {
	page := x.pageSize()
	out.open('{')
	out.member("exported_at", x.Now())
	out.member("user", sh.User(u))
	groups, err := tx.GroupsOf(ctx, caller.UserID)
	if err != nil {
		return err
	}
	gj := make([]any, 0, len(groups))
	for _, g := range groups {
		gj = append(gj, sh.Group(g))
	}
	out.member("groups", gj)
	keys, err := tx.UserAPIKeys(ctx, caller.UserID)
	if err != nil {
		return err
	}
	kj := make([]any, 0, len(keys))
	for i := range keys {
		kj = append(kj, sh.APIKey(&keys[i]))
	}
	out.member("api_keys", kj)

	sessions, err := tx.OwnedSessions(ctx, caller.UserID)
	if err != nil {
		return err
	}
	out.openMember("sessions", '[')
	for i := range sessions {
		sj, err := sh.Session(caller, &sessions[i])
		if err != nil {
			return err
		}
		out.openObjectWith(sj)
		out.openMember("messages", '[')
		for after := int64(0); ; {
			msgs, err := tx.MessagesAfter(ctx, sessions[i].ID, after, page)
			if err != nil {
				return err
			}
			for j := range msgs {
				m, err := sh.Message(&msgs[j])
				if err != nil {
					return err
				}
				out.element(m)
				after = msgs[j].Seq
			}
			if len(msgs) < page {
				break
			}
		}
		out.close() // messages
		out.close() // the session
		if out.err != nil {
			return out.err
		}
	}
	out.close() // sessions

	runs, err := tx.UserToolRuns(ctx, caller.UserID)
	if err != nil {
		return err
	}
	out.openMember("tool_runs", '[')
	for i := range runs {
		j, err := sh.ToolRun(&runs[i])
		if err != nil {
			return err
		}
		out.element(j)
	}
	out.close()

	docs, err := tx.OwnedDocuments(ctx, caller.UserID)
	if err != nil {
		return err
	}
	type chunkExport struct {
		Index       int      `json:"index"`
		Text        string   `json:"text"`
		Page        *int     `json:"page"`
		HeadingPath []string `json:"heading_path"`
	}
	out.openMember("documents", '[')
	for i := range docs {
		out.openObjectWith(sh.Document(caller, &docs[i]))
		out.openMember("chunks", '[')
		for after := -1; ; {
			chunks, err := tx.DocumentChunksAfter(ctx, docs[i].ID, after, page)
			if err != nil {
				return err
			}
			for _, ch := range chunks {
				out.element(chunkExport{Index: ch.Idx, Text: ch.Text, Page: ch.Page, HeadingPath: []string(ch.HeadingPath)})
				after = ch.Idx
			}
			if len(chunks) < page {
				break
			}
		}
		out.close() // chunks
		out.close() // the document
		if out.err != nil {
			return out.err
		}
	}
	out.close() // documents

	audit, err := tx.AccountAudit(ctx, caller, store.AuditPage{Limit: 100_000})
	if err != nil {
		return err
	}
	out.member("audit", sh.Audit(audit))
	out.close()
	return out.err
}

// jsonStream writes one JSON document piece by piece, remembering which objects and arrays are
// open, so that a failure midway can still end it as valid JSON (abort).
type jsonStream struct {
	w     io.Writer
	stack []byte // closers of the open objects and arrays, innermost last
	first bool   // nothing written yet in the innermost open container
	err   error
}

func (j *jsonStream) raw(b []byte) {
	if j.err == nil {
		_, j.err = j.w.Write(b)
	}
}

func (j *jsonStream) comma() {
	if !j.first {
		j.raw([]byte{','})
	}
	j.first = false
}

func (j *jsonStream) open(c byte) {
	j.raw([]byte{c})
	j.stack = append(j.stack, map[byte]byte{'{': '}', '[': ']'}[c])
	j.first = true
}

func (j *jsonStream) close() {
	if len(j.stack) == 0 {
		return
	}
	j.raw(j.stack[len(j.stack)-1:])
	j.stack = j.stack[:len(j.stack)-1]
	j.first = false
}

func (j *jsonStream) key(k string) {
	j.comma()
	b, _ := json.Marshal(k)
	j.raw(append(b, ':'))
}

func (j *jsonStream) marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil && j.err == nil {
		j.err = err
	}
	return b
}

// member writes "k": v in the open object.
func (j *jsonStream) member(k string, v any) {
	b := j.marshal(v)
	j.key(k)
	j.raw(b)
}

// openMember opens "k": { or [ in the open object.
func (j *jsonStream) openMember(k string, c byte) {
	j.key(k)
	j.open(c)
}

// element writes v in the open array.
func (j *jsonStream) element(v any) {
	b := j.marshal(v)
	j.comma()
	j.raw(b)
}

// openObjectWith opens, in the open array, an object holding v's members (v marshals to an
// object), so that more members can follow.
func (j *jsonStream) openObjectWith(v any) {
	b := bytes.TrimSpace(j.marshal(v))
	j.comma()
	if len(b) < 2 || b[0] != '{' {
		if j.err == nil {
			j.err = fmt.Errorf("export: %T is not an object", v)
		}
		return
	}
	j.raw(b[:len(b)-1])
	j.stack = append(j.stack, '}')
	j.first = len(bytes.TrimSpace(b[1:len(b)-1])) == 0
}

// abort ends the document after a failure: it closes everything open inside the top-level
// object and adds an "error" member to it.
func (j *jsonStream) abort(e map[string]any) {
	j.err = nil
	for len(j.stack) > 1 {
		j.close()
	}
	if len(j.stack) == 0 { // nothing was written yet
		j.open('{')
	}
	j.member("error", e)
	j.close()
}
