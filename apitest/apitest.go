// Package apitest is the one HTTP client of the YouWorker API that the api package's tests, the
// end-to-end tests and the benchmark share: a request with a JSON or raw body, a bearer token or
// cookies and extra headers; its answer; multipart uploads; and server-sent event streams.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"

	"github.com/youworker/youworker/sse"
)

// Client sends requests to the API at Base.
type Client struct {
	Base string
	// Token, when set, is sent as a bearer token.
	Token string
	// Headers go with every request (a CSRF token, an API key).
	Headers map[string]string
	// HTTP is the client used (a cookie jar, no redirects); nil means http.DefaultClient.
	HTTP *http.Client
}

// Response is an answer, read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body as a JSON object.
func (r Response) JSON() (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		return nil, fmt.Errorf("%w: %s", err, r.Body)
	}
	return m, nil
}

// ErrorCode is the code of the error envelope, "" when there is none.
func (r Response) ErrorCode() string {
	var env struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &env)
	return env.Error.Code
}

// Do sends a request. body is nil, a string or []byte (sent as it is, as JSON unless headers say
// otherwise), an io.Reader (with its Content-Type in headers) or anything else (encoded as JSON).
func (c *Client) Do(ctx context.Context, method, path string, body any, headers map[string]string) (Response, error) {
	var rd io.Reader
	contentType := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return Response{}, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return Response{}, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", contentType)
	}
	c.decorate(req, headers)
	resp, err := c.client().Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, err
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// Upload posts a multipart form to path: fields, then content as the "file" field.
func (c *Client) Upload(ctx context.Context, path, filename string, content []byte, fields, headers map[string]string) (Response, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			return Response{}, err
		}
	}
	fw, err := mw.CreateFormFile("file", filename)
	if err != nil {
		return Response{}, err
	}
	if _, err := fw.Write(content); err != nil {
		return Response{}, err
	}
	if err := mw.Close(); err != nil {
		return Response{}, err
	}
	h := map[string]string{"Content-Type": mw.FormDataContentType()}
	for k, v := range headers {
		h[k] = v
	}
	return c.Do(ctx, http.MethodPost, path, io.Reader(&body), h)
}

// Event is one server-sent event.
type Event struct {
	ID   int64
	Type string
	Data map[string]any
}

// Stream opens an event stream (resuming after lastID when it is positive); the events arrive on
// the channel as they are read, and it closes when the stream ends.
func (c *Client) Stream(ctx context.Context, path string, lastID int64) (<-chan Event, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
	if err != nil {
		return nil, err
	}
	h := map[string]string{"Accept": "text/event-stream"}
	if lastID > 0 {
		h["Last-Event-ID"] = strconv.FormatInt(lastID, 10)
	}
	c.decorate(req, h)
	resp, err := c.client().Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return ReadSSE(resp.Body), nil
}

// ReadSSE reads server-sent events from body until it ends, then closes it. Events without an
// event type (none in this API's streams) are skipped.
func ReadSSE(body io.ReadCloser) <-chan Event {
	out := make(chan Event, 1024)
	go func() {
		defer close(out)
		defer body.Close()
		r := sse.NewReader(body)
		for {
			e, err := r.Next()
			if err != nil {
				return
			}
			if e.Type == "" {
				continue
			}
			ev := Event{Type: e.Type}
			ev.ID, _ = strconv.ParseInt(e.ID, 10, 64)
			_ = json.Unmarshal(e.Data, &ev.Data)
			out <- ev
		}
	}()
	return out
}

func (c *Client) decorate(req *http.Request, headers map[string]string) {
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for k, v := range c.Headers {
		req.Header.Set(k, v)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
}

func (c *Client) client() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}
