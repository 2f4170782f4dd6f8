package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Session is a chat session.
type Session struct {
	ID         string     `json:"id"`
	Title      string     `json:"title"`
	Model      string     `json:"model"`
	GroupID    *string    `json:"group_id"`
	Tools      []string   `json:"tools"`
	LastTurnAt *time.Time `json:"last_turn_at"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

// Message is a message of a session.
type Message struct {
	ID        string    `json:"id"`
	TurnID    *string   `json:"turn_id"`
	Role      string    `json:"role"`
	Content   string    `json:"content"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
}

// Usage is a turn's token usage.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

// ErrorInfo is the code and message of a failed turn or run.
type ErrorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *ErrorInfo) String() string {
	if e == nil {
		return ""
	}
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

// Turn is one agent turn.
type Turn struct {
	ID         string     `json:"id"`
	SessionID  string     `json:"session_id"`
	Status     string     `json:"status"`
	Model      string     `json:"model"`
	Steps      int        `json:"steps"`
	Usage      Usage      `json:"usage"`
	Error      *ErrorInfo `json:"error"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	EventsURL  string     `json:"events_url"`
}

// Finished reports whether the turn has ended.
func (t Turn) Finished() bool {
	switch t.Status {
	case "completed", "failed", "cancelled":
		return true
	}
	return false
}

// SessionDetail is a session with its messages and latest turns (oldest first).
type SessionDetail struct {
	Session  Session   `json:"session"`
	Messages []Message `json:"messages"`
	Turns    []Turn    `json:"turns"`
}

// StartedTurn is the answer to a posted message.
type StartedTurn struct {
	TurnID    string `json:"turn_id"`
	Status    string `json:"status"`
	EventsURL string `json:"events_url"`
}

// Run is an ingestion run.
type Run struct {
	ID          string     `json:"id"`
	DocumentID  string     `json:"document_id"`
	Status      string     `json:"status"`
	Stage       string     `json:"stage"`
	ChunksDone  int        `json:"chunks_done"`
	ChunksTotal int        `json:"chunks_total"`
	Attempts    int        `json:"attempts"`
	Error       *ErrorInfo `json:"error"`
	EventsURL   string     `json:"events_url"`
	StartedAt   *time.Time `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at"`
	CreatedAt   time.Time  `json:"created_at"`
}

// Accepted is the answer to an upload or an ingest request.
type Accepted struct {
	DocumentID string `json:"document_id"`
	RunID      string `json:"ingestion_run_id"`
	Status     string `json:"status"`
	EventsURL  string `json:"events_url"`
}

// Hit is one search result.
type Hit struct {
	DocumentID    string   `json:"document_id"`
	DocumentTitle string   `json:"document_title"`
	ChunkIndex    int      `json:"chunk_index"`
	Text          string   `json:"text"`
	Score         float64  `json:"score"`
	Page          *int     `json:"page"`
	HeadingPath   []string `json:"heading_path"`
}

// IngestOptions go with an upload or an ingest request.
type IngestOptions struct {
	GroupID string
	Tags    []string
	// IdempotencyKey makes a retried request give the same document and run.
	IdempotencyKey string
}

// CreateSession starts a chat session; tools nil means the API's default (every tool).
func (c *Client) CreateSession(ctx context.Context, title string, tools []string) (Session, error) {
	body := map[string]any{"title": title}
	if tools != nil {
		body["tools"] = tools
	}
	var s Session
	err := c.do(ctx, request{method: http.MethodPost, path: "/v1/sessions", body: jsonBody(body)}, &s)
	return s, err
}

// GetSession returns a session with its history.
func (c *Client) GetSession(ctx context.Context, id string) (SessionDetail, error) {
	var d SessionDetail
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/sessions/" + url.PathEscape(id), retrySent: true}, &d)
	return d, err
}

// Sessions lists the caller's sessions, most recent first, up to limit.
func (c *Client) Sessions(ctx context.Context, limit int) ([]Session, error) {
	return list[Session](ctx, c, "/v1/sessions", limit)
}

// Runs lists the caller's ingestion runs, most recent first, up to limit.
func (c *Client) Runs(ctx context.Context, limit int) ([]Run, error) {
	return list[Run](ctx, c, "/v1/ingestion-runs", limit)
}

// Run returns one ingestion run.
func (c *Client) Run(ctx context.Context, id string) (Run, error) {
	var r Run
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/ingestion-runs/" + url.PathEscape(id), retrySent: true}, &r)
	return r, err
}

// PostMessage posts a user message, which starts a turn. With an idempotency key a retry after a
// lost answer gives the same turn.
func (c *Client) PostMessage(ctx context.Context, sessionID, content, idempotencyKey string) (StartedTurn, error) {
	r := request{method: http.MethodPost, path: "/v1/sessions/" + url.PathEscape(sessionID) + "/messages",
		body: jsonBody(map[string]string{"content": content})}
	if idempotencyKey != "" {
		r.headers, r.retrySent = map[string]string{"Idempotency-Key": idempotencyKey}, true
	}
	var t StartedTurn
	err := c.do(ctx, r, &t)
	return t, err
}

func turnPath(sessionID, turnID string) string {
	return "/v1/sessions/" + url.PathEscape(sessionID) + "/turns/" + url.PathEscape(turnID)
}

// Turn returns a turn's status, usage and error.
func (c *Client) Turn(ctx context.Context, sessionID, turnID string) (Turn, error) {
	var t Turn
	err := c.do(ctx, request{method: http.MethodGet, path: turnPath(sessionID, turnID), retrySent: true}, &t)
	return t, err
}

// CancelTurn asks the API to cancel a running turn.
func (c *Client) CancelTurn(ctx context.Context, sessionID, turnID string) error {
	return c.do(ctx, request{method: http.MethodPost, path: turnPath(sessionID, turnID) + "/cancel"}, nil)
}

// Decide approves or denies a tool call that waits for approval.
func (c *Client) Decide(ctx context.Context, sessionID, turnID, callID string, approved bool, reason string) error {
	return c.do(ctx, request{method: http.MethodPost, path: turnPath(sessionID, turnID) + "/approvals/" + url.PathEscape(callID),
		body: jsonBody(map[string]any{"approved": approved, "reason": reason})}, nil)
}

// Search returns the chunks nearest to query among the documents the caller may read.
func (c *Client) Search(ctx context.Context, query string, topK int) ([]Hit, error) {
	body := map[string]any{"query": query}
	if topK > 0 {
		body["top_k"] = topK
	}
	var out struct {
		Items []Hit `json:"items"`
	}
	err := c.do(ctx, request{method: http.MethodPost, path: "/v1/search", body: jsonBody(body), retrySent: true}, &out)
	return out.Items, err
}

// IngestURL starts the ingestion of a web page.
func (c *Client) IngestURL(ctx context.Context, raw string, o IngestOptions) (Accepted, error) {
	body := map[string]any{"url": raw}
	if o.GroupID != "" {
		body["group_id"] = o.GroupID
	}
	if len(o.Tags) > 0 {
		body["tags"] = o.Tags
	}
	r := request{method: http.MethodPost, path: "/v1/ingest", body: jsonBody(body)}
	idempotent(&r, o.IdempotencyKey)
	var a Accepted
	err := c.do(ctx, r, &a)
	return a, err
}

func idempotent(r *request, key string) {
	if key != "" {
		r.headers, r.retrySent = map[string]string{"Idempotency-Key": key}, true
	}
}

// Upload sends a file (streamed from disk, read again for a retry) and starts its ingestion;
// sent, when set, hears how many bytes of the file went out.
func (c *Client) Upload(ctx context.Context, path string, o IngestOptions, sent func(n int64)) (Accepted, error) {
	body := func() (io.Reader, string, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, "", err
		}
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			defer f.Close()
			pw.CloseWithError(writeForm(mw, f, filepath.Base(path), o, sent))
		}()
		return pr, mw.FormDataContentType(), nil
	}
	r := request{method: http.MethodPost, path: "/v1/documents", body: body}
	idempotent(&r, o.IdempotencyKey)
	var a Accepted
	err := c.do(ctx, r, &a)
	return a, err
}

func writeForm(mw *multipart.Writer, f io.Reader, name string, o IngestOptions, sent func(int64)) error {
	if o.GroupID != "" {
		if err := mw.WriteField("group_id", o.GroupID); err != nil {
			return err
		}
	}
	for _, t := range o.Tags {
		if err := mw.WriteField("tags", t); err != nil {
			return err
		}
	}
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		return err
	}
	var w io.Writer = fw
	if sent != nil {
		w = countingWriter{w: fw, sent: sent}
	}
	if _, err := io.Copy(w, f); err != nil {
		return err
	}
	return mw.Close()
}

type countingWriter struct {
	w    io.Writer
	sent func(int64)
}

func (cw countingWriter) Write(p []byte) (int, error) {
	n, err := cw.w.Write(p)
	cw.sent(int64(n))
	return n, err
}

// list pages through a list endpoint until limit items or its end.
func list[T any](ctx context.Context, c *Client, path string, limit int) ([]T, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("the limit must be positive, got %d", limit)
	}
	var out []T
	cursor := ""
	for len(out) < limit {
		q := url.Values{"limit": {strconv.Itoa(min(limit-len(out), 200))}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Items      []T     `json:"items"`
			NextCursor *string `json:"next_cursor"`
		}
		if err := c.do(ctx, request{method: http.MethodGet, path: path + "?" + q.Encode(), retrySent: true}, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if page.NextCursor == nil || *page.NextCursor == "" || len(page.Items) == 0 {
			break
		}
		cursor = *page.NextCursor
	}
	if out == nil {
		out = []T{}
	}
	return out, nil
}

func decode(resp *http.Response, out any) error {
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("reading the API's answer: %w", err)
	}
	return nil
}
