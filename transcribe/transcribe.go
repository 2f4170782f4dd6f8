// Package transcribe is the client of a Whisper-compatible transcription endpoint (OpenAI's
// POST /v1/audio/transcriptions: a multipart form with file, model, response_format and the
// optional language, prompt, temperature and timestamp_granularities[]). The worker uses it for
// audio documents (extract) and the API for /v1/audio/transcriptions and voice messages.
package transcribe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// extensions is the file name extension Whisper servers expect for a media type: they tell the
// format from the uploaded file's name.
var extensions = map[string]string{
	"audio/mpeg": ".mp3", "audio/mp3": ".mp3",
	"audio/wav": ".wav", "audio/x-wav": ".wav", "audio/wave": ".wav", "audio/vnd.wave": ".wav",
	"audio/ogg": ".ogg", "audio/opus": ".ogg",
	"audio/flac": ".flac", "audio/x-flac": ".flac",
	"audio/mp4": ".m4a", "audio/m4a": ".m4a", "audio/x-m4a": ".m4a",
	"audio/webm": ".webm",
}

// Extension is the file name extension sent for an audio media type; false for a type Whisper
// servers do not take.
func Extension(mediaType string) (string, bool) {
	ext, ok := extensions[strings.ToLower(mediaType)]
	return ext, ok
}

// MaxResponse bounds a transcription response.
const MaxResponse = 16 << 20

// Response formats (OpenAI's names). JSON and VerboseJSON answer a JSON object with "text".
const (
	FormatJSON        = "json"
	FormatText        = "text"
	FormatVerboseJSON = "verbose_json"
	FormatSRT         = "srt"
	FormatVTT         = "vtt"
)

// Client calls one transcription endpoint. The zero Model is "whisper-1", the zero HTTP client
// http.DefaultClient's equivalent, the zero Timeout 2 minutes.
type Client struct {
	URL     string
	Model   string
	APIKey  string // sent as "Authorization: Bearer …"; never part of an error
	HTTP    *http.Client
	Timeout time.Duration
}

// Request is one audio file to transcribe: Size bytes read from Audio, of MediaType (an audio
// type Extension knows).
type Request struct {
	Audio     io.Reader
	Size      int64
	MediaType string
	// Optional settings passed through; "" and nil are not sent. Format "" is json.
	Language               string
	Prompt                 string
	Temperature            *float64
	Format                 string
	TimestampGranularities []string
}

// Result is a transcription: the text, and the body as the server sent it with its content type
// (what verbose_json, srt and vtt return).
type Result struct {
	Text        string
	Body        []byte
	ContentType string
}

// StatusError is a non-2xx answer of the server: its status, the message of its error body
// (OpenAI's {"error": {"message"}}, FastAPI's {"detail"} or the body, short, without the API key)
// and its Retry-After header.
type StatusError struct {
	Status     int
	Message    string
	RetryAfter string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("transcription service answered %d: %s", e.Status, e.Message)
}

// ErrMalformed is a 2xx answer that is not the transcription the format promises.
var ErrMalformed = errors.New("malformed transcription response")

// Transcribe sends one request with a Content-Length (head + audio + tail) and reads the answer.
// Transport failures are returned as they are (url.Error without the URL's password, deadline
// exceeded); non-2xx answers as *StatusError.
func (c *Client) Transcribe(ctx context.Context, r Request) (Result, error) {
	ext, ok := Extension(r.MediaType)
	if !ok {
		return Result{}, fmt.Errorf("transcribe: unsupported audio type %q", r.MediaType)
	}
	format := r.Format
	if format == "" {
		format = FormatJSON
	}
	model := c.Model
	if model == "" {
		model = "whisper-1"
	}
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	_ = mw.WriteField("model", model)
	_ = mw.WriteField("response_format", format)
	if r.Language != "" {
		_ = mw.WriteField("language", r.Language)
	}
	if r.Prompt != "" {
		_ = mw.WriteField("prompt", r.Prompt)
	}
	if r.Temperature != nil {
		_ = mw.WriteField("temperature", strconv.FormatFloat(*r.Temperature, 'f', -1, 64))
	}
	for _, g := range r.TimestampGranularities {
		_ = mw.WriteField("timestamp_granularities[]", g)
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": "file", "filename": "audio" + ext}))
	h.Set("Content-Type", r.MediaType)
	if _, err := mw.CreatePart(h); err != nil {
		return Result{}, err
	}
	tail := "\r\n--" + mw.Boundary() + "--\r\n"
	body := io.MultiReader(bytes.NewReader(head.Bytes()), io.LimitReader(r.Audio, r.Size), strings.NewReader(tail))

	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, body)
	if err != nil {
		return Result{}, fmt.Errorf("transcription request: %w", err)
	}
	req.ContentLength = int64(head.Len()) + r.Size + int64(len(tail))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if format == FormatJSON || format == FormatVerboseJSON {
		req.Header.Set("Accept", "application/json")
	}
	if c.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.APIKey)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("transcription request: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse))
	if err != nil {
		return Result{}, fmt.Errorf("transcription response: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return Result{}, &StatusError{Status: resp.StatusCode, Message: c.redact(errorMessage(raw)), RetryAfter: resp.Header.Get("Retry-After")}
	}
	ct := resp.Header.Get("Content-Type")
	res := Result{Body: raw, ContentType: ct}
	var out struct {
		Text *string `json:"text"`
	}
	switch {
	case json.Unmarshal(raw, &out) == nil && out.Text != nil:
		res.Text = *out.Text
	case format == FormatJSON || format == FormatVerboseJSON:
		if !strings.HasPrefix(ct, "text/plain") {
			return Result{}, fmt.Errorf("%w: not {\"text\": ...}: %.200s", ErrMalformed, c.redact(string(raw)))
		}
		res.Text = string(raw) // a server that ignored response_format
	default:
		res.Text = string(raw)
	}
	res.Text = strings.ToValidUTF8(res.Text, "\uFFFD")
	return res, nil
}

// redact removes the API key from what a server sent back (a server echoing the request).
func (c *Client) redact(s string) string {
	if c.APIKey == "" {
		return s
	}
	return strings.ReplaceAll(s, c.APIKey, "[redacted]")
}

// errorMessage returns the message of an OpenAI-style error body, or the body itself, short.
func errorMessage(raw []byte) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
		Detail any `json:"detail"`
	}
	if json.Unmarshal(raw, &e) == nil {
		if e.Error.Message != "" {
			return lastLine(e.Error.Message)
		}
		if e.Detail != nil {
			return lastLine(fmt.Sprint(e.Detail))
		}
	}
	return lastLine(string(raw))
}

// lastLine is the last non-empty line of s, at most 300 bytes of valid UTF-8.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	l := strings.TrimSpace(lines[len(lines)-1])
	if len(l) > 300 {
		l = l[:300]
	}
	return strings.ToValidUTF8(l, "")
}

// Ping checks that the endpoint answers: a GET of its URL (with the API key) whose answer is any
// HTTP status below 500 (a transcription route answers GET with 404 or 405), for health checks.
func (c *Client) Ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL, nil)
	if err != nil {
		return err
	}
	if c.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.APIKey)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	if resp.StatusCode >= 500 {
		return fmt.Errorf("transcription service answered %d", resp.StatusCode)
	}
	return nil
}
