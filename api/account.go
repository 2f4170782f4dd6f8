package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/client"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/workflows"
)

// exportAccount streams everything the caller owns as one JSON document (a download): profile,
// groups, API keys (never secrets), sessions with their messages decrypted, tool runs, documents with
// their text, and the caller's audit log.
func (s *Server) exportAccount(c *gin.Context) {
	ctx := c.Request.Context()
	caller := callerOf(c)
	u, err := s.store.UserByID(ctx, caller.UserID)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.audit(c, &caller.UserID, "account.export", "user", caller.UserID.String(), nil)
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="youworker-export-%s.json"`, u.ID))
	c.Header("Cache-Control", "no-store")
	c.Header("Content-Type", "application/json; charset=utf-8")
	c.Status(http.StatusOK)
	w := bufio.NewWriterSize(c.Writer, 64<<10)
	out := &jsonStream{w: w}
	// One consistent snapshot, streamed page by page: memory stays flat however many messages and
	// chunks the account holds.
	err = s.store.Snapshot(ctx, func(tx *store.Store) error { return s.writeExport(ctx, tx, caller, u, out) })
	if err != nil {
		// The status line is gone: the document ends with what went wrong instead, still valid JSON.
		s.log.ErrorContext(ctx, "account export failed midway", "user_id", caller.UserID, "error", err)
		out.abort(map[string]any{"code": "EXPORT_INCOMPLETE",
			"message": "the export stopped before the end; what precedes is correct but incomplete: please retry"})
	}
	_ = w.Flush()
}

// exportPage is how many messages or chunks an export reads at a time (Server.exportPage).
const exportPage = 500

// writeExport writes the account export document: the same members as before it streamed
// (exported_at, user, groups, api_keys, sessions with their messages, tool_runs, documents with
// their chunks, audit), every decryption or decoding error reported.
func (s *Server) writeExport(ctx context.Context, tx *store.Store, caller models.Caller, u *models.User, out *jsonStream) error {
	out.open('{')
	out.member("exported_at", s.now())
	out.member("user", toUserJSON(u))
	groups, err := tx.GroupsOf(ctx, caller.UserID)
	if err != nil {
		return err
	}
	gj := make([]userGroupJSON, 0, len(groups))
	for _, g := range groups {
		gj = append(gj, userGroupJSON{ID: g.ID, Name: g.Name, Role: g.Role})
	}
	out.member("groups", gj)
	keys, err := tx.UserAPIKeys(ctx, caller.UserID)
	if err != nil {
		return err
	}
	kj := make([]apiKeyJSON, 0, len(keys))
	for i := range keys {
		kj = append(kj, toAPIKeyJSON(&keys[i]))
	}
	out.member("api_keys", kj)

	sessions, err := tx.OwnedSessions(ctx, caller.UserID)
	if err != nil {
		return err
	}
	out.openMember("sessions", '[')
	for i := range sessions {
		sj, err := s.toSessionJSON(caller, &sessions[i])
		if err != nil {
			return err
		}
		out.openObjectWith(sj)
		out.openMember("messages", '[')
		for after := int64(0); ; {
			page, err := tx.MessagesAfter(ctx, sessions[i].ID, after, s.exportPage)
			if err != nil {
				return err
			}
			for j := range page {
				m, err := s.toMessageJSON(&page[j])
				if err != nil {
					return err
				}
				out.element(m)
				after = page[j].Seq
			}
			if len(page) < s.exportPage {
				break
			}
		}
		out.close() // messages
		out.close() // the session
		if err := out.err; err != nil {
			return err
		}
	}
	out.close() // sessions

	runs, err := tx.UserToolRuns(ctx, caller.UserID)
	if err != nil {
		return err
	}
	out.openMember("tool_runs", '[')
	for i := range runs {
		j := toToolRunJSON(&runs[i])
		if len(runs[i].Arguments) > 0 {
			raw, err := s.box.Decrypt(store.ToolRunArguments(runs[i].TurnID, runs[i].CallID), runs[i].Arguments)
			if err != nil {
				return err
			}
			if err := json.Unmarshal(raw, &j.Arguments); err != nil {
				return fmt.Errorf("tool run %s: arguments: %w", runs[i].ID, err)
			}
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
		out.openObjectWith(toDocumentJSON(caller, &docs[i]))
		out.openMember("chunks", '[')
		for after := -1; ; {
			page, err := tx.DocumentChunksAfter(ctx, docs[i].ID, after, s.exportPage)
			if err != nil {
				return err
			}
			for _, ch := range page {
				out.element(chunkExport{Index: ch.Idx, Text: ch.Text, Page: ch.Page, HeadingPath: []string(ch.HeadingPath)})
				after = ch.Idx
			}
			if len(page) < s.exportPage {
				break
			}
		}
		out.close() // chunks
		out.close() // the document
		if err := out.err; err != nil {
			return err
		}
	}
	out.close() // documents

	audit, err := tx.AccountAudit(ctx, caller, auditPageAll)
	if err != nil {
		return err
	}
	out.member("audit", toAuditJSON(audit))
	out.close()
	return out.err
}

// jsonStream writes one JSON document piece by piece, remembering which objects and arrays are
// open, so that a failure midway can still end it as valid JSON (abort).
type jsonStream struct {
	w     *bufio.Writer
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

func (s *Server) deleteAccount(c *gin.Context) {
	ctx := c.Request.Context()
	caller := callerOf(c)
	// The deletion is a workflow (resumable, visible in the Temporal UI): cancelling turns and
	// stopping ingestion runs can take a while, and no step may be left half done.
	id := workflows.DeleteAccountID(caller.UserID.String())
	opts := client.StartWorkflowOptions{ID: id, TaskQueue: s.cfg.TaskQueue,
		Memo: map[string]any{"username": caller.Username}}
	in := workflows.DeleteAccountInput{UserID: caller.UserID, Username: caller.Username}
	if err := workflows.Start(ctx, s.temporal, opts, workflows.DeleteAccount, in); err != nil {
		s.fail(c, err)
		return
	}
	// Locked out now, not when the workflow gets to it: this login included.
	if err := s.store.DisableUser(ctx, caller.UserID, s.now()); err != nil {
		s.log.WarnContext(ctx, "locking a deleted account out failed; its workflow does it", "user_id", caller.UserID, "error", err)
	}
	s.writeAudit(c, &models.AuditEntry{ActorID: &caller.UserID, Action: "account.delete", ResourceType: "user", ResourceID: caller.UserID.String(),
		Details: map[string]any{"username": caller.Username, "workflow_id": id}, Outcome: "accepted"})
	s.clearAuthCookies(c)
	c.JSON(http.StatusAccepted, gin.H{"status": "deleting", "workflow_id": id})
}

// auditPageAll is the whole audit log of a caller (for the export).
var auditPageAll = store.AuditPage{Limit: 100_000}
