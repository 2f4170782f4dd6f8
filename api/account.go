package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

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
	// Read everything first, so that an error is still an error envelope, not a broken download.
	groups, err := s.store.GroupsOf(ctx, caller.UserID)
	if err != nil {
		s.fail(c, err)
		return
	}
	keys, err := s.store.UserAPIKeys(ctx, caller.UserID)
	if err != nil {
		s.fail(c, err)
		return
	}
	sessions, err := s.store.OwnedSessions(ctx, caller.UserID)
	if err != nil {
		s.fail(c, err)
		return
	}
	type sessionExport struct {
		sessionJSON
		Messages []messageJSON `json:"messages"`
	}
	sx := make([]sessionExport, 0, len(sessions))
	for i := range sessions {
		sj, err := s.toSessionJSON(caller, &sessions[i])
		if err != nil {
			s.fail(c, err)
			return
		}
		msgs, err := s.store.Messages(ctx, sessions[i].ID, 1_000_000, false)
		if err != nil {
			s.fail(c, err)
			return
		}
		e := sessionExport{sessionJSON: sj, Messages: make([]messageJSON, 0, len(msgs))}
		for j := range msgs {
			m, err := s.toMessageJSON(&msgs[j])
			if err != nil {
				s.fail(c, err)
				return
			}
			e.Messages = append(e.Messages, m)
		}
		sx = append(sx, e)
	}
	runs, err := s.store.UserToolRuns(ctx, caller.UserID)
	if err != nil {
		s.fail(c, err)
		return
	}
	tr := make([]toolRunJSON, 0, len(runs))
	for i := range runs {
		j := toToolRunJSON(&runs[i])
		if len(runs[i].Arguments) > 0 {
			raw, err := s.box.Decrypt(store.ToolRunArguments(runs[i].TurnID, runs[i].CallID), runs[i].Arguments)
			if err != nil {
				s.fail(c, err)
				return
			}
			_ = json.Unmarshal(raw, &j.Arguments)
		}
		tr = append(tr, j)
	}
	docs, err := s.store.OwnedDocuments(ctx, caller.UserID)
	if err != nil {
		s.fail(c, err)
		return
	}
	type chunkExport struct {
		Index       int      `json:"index"`
		Text        string   `json:"text"`
		Page        *int     `json:"page"`
		HeadingPath []string `json:"heading_path"`
	}
	type documentExport struct {
		documentJSON
		Chunks []chunkExport `json:"chunks"`
	}
	dx := make([]documentExport, 0, len(docs))
	for i := range docs {
		chunks, err := s.store.DocumentChunks(ctx, docs[i].ID)
		if err != nil {
			s.fail(c, err)
			return
		}
		e := documentExport{documentJSON: toDocumentJSON(caller, &docs[i]), Chunks: make([]chunkExport, 0, len(chunks))}
		for _, ch := range chunks {
			e.Chunks = append(e.Chunks, chunkExport{Index: ch.Idx, Text: ch.Text, Page: ch.Page, HeadingPath: []string(ch.HeadingPath)})
		}
		dx = append(dx, e)
	}
	audit, err := s.store.AccountAudit(ctx, caller, auditPageAll)
	if err != nil {
		s.fail(c, err)
		return
	}
	gj := make([]userGroupJSON, 0, len(groups))
	for _, g := range groups {
		gj = append(gj, userGroupJSON{ID: g.ID, Name: g.Name, Role: g.Role})
	}
	kj := make([]apiKeyJSON, 0, len(keys))
	for i := range keys {
		kj = append(kj, toAPIKeyJSON(&keys[i]))
	}
	s.audit(c, &caller.UserID, "account.export", "user", caller.UserID.String(), nil)
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="youworker-export-%s.json"`, u.ID))
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{
		"exported_at": s.now(), "user": toUserJSON(u), "groups": gj, "api_keys": kj, "sessions": sx,
		"tool_runs": tr, "documents": dx, "audit": toAuditJSON(audit),
	})
}

// deleteAccount deletes the caller and everything they own: running turns and ingestions are
// cancelled, vectors and document bytes removed, then every row, in one transaction. Group content
// owned by others stays; groups left without an admin get one.
func (s *Server) deleteAccount(c *gin.Context) {
	ctx := c.Request.Context()
	caller := callerOf(c)
	turns, err := s.store.ActiveTurns(ctx, caller.UserID)
	if err != nil {
		s.fail(c, err)
		return
	}
	for i := range turns {
		err := s.signalTurn(ctx, &turns[i], workflows.SignalCancel, workflows.CancelSignal{Reason: "account deleted"})
		if err != nil && !errors.Is(err, errTurnFinished) {
			s.fail(c, err)
			return
		}
	}
	docs, err := s.intake.DeleteOwner(ctx, caller.UserID, func(ctx context.Context) error {
		return s.store.DeleteAccount(ctx, caller.UserID)
	})
	if err != nil {
		s.fail(c, err)
		return
	}
	s.writeAudit(c, &models.AuditEntry{Action: "account.delete", ResourceType: "user", ResourceID: caller.UserID.String(),
		Details: map[string]any{"username": caller.Username, "documents": docs}, Outcome: "success"})
	s.clearAuthCookies(c)
	c.Status(http.StatusNoContent)
}

// auditPageAll is the whole audit log of a caller (for the export).
var auditPageAll = store.AuditPage{Limit: 100_000}
