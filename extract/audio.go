package extract

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"strings"
)

// audioExt is the file name extension that Whisper servers expect for a media type: they tell
// the format from the uploaded file's name.
var audioExt = map[string]string{
	MediaMP3: ".mp3", "audio/mp3": ".mp3",
	MediaWAV: ".wav", "audio/x-wav": ".wav", "audio/wave": ".wav", "audio/vnd.wave": ".wav",
	MediaOGG: ".ogg", "audio/opus": ".ogg",
	MediaFLAC: ".flac", "audio/x-flac": ".flac",
	MediaM4A: ".m4a", "audio/m4a": ".m4a", "audio/x-m4a": ".m4a",
	"audio/webm": ".webm",
}

// maxTranscript bounds a transcription response.
const maxTranscript = 16 << 20

// extractAudio transcribes audio through a Whisper-compatible endpoint: one multipart POST with
// the fields model, response_format=json and file (named "audio" plus the type's extension),
// with a Content-Length, answered by {"text": "..."}. The server refusing the file (400, 422) is
// ErrCorrupt, refusing its size or type (413, 415) ErrUnsupported; other failures are worth a
// retry.
func (e *Extractor) extractAudio(ctx context.Context, mediaType, path string) (Document, error) {
	ext, ok := audioExt[mediaType]
	if !ok {
		return Document{}, fmt.Errorf("%w: %s", ErrUnsupported, mediaType)
	}
	if e.whisperURL == "" {
		return Document{}, ErrNoAudio
	}
	f, err := os.Open(path)
	if err != nil {
		return Document{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Document{}, err
	}

	// The multipart body is head + file + tail, so its length is known up front.
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	_ = mw.WriteField("model", e.whisperModel)
	_ = mw.WriteField("response_format", "json")
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": "file", "filename": "audio" + ext}))
	h.Set("Content-Type", mediaType)
	if _, err := mw.CreatePart(h); err != nil {
		return Document{}, err
	}
	tail := "\r\n--" + mw.Boundary() + "--\r\n"
	body := io.MultiReader(bytes.NewReader(head.Bytes()), io.NewSectionReader(f, 0, st.Size()), strings.NewReader(tail))

	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.whisperURL, body)
	if err != nil {
		return Document{}, fmt.Errorf("transcription request: %w", err)
	}
	req.ContentLength = int64(head.Len()) + st.Size() + int64(len(tail))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Accept", "application/json")
	if e.whisperKey != "" {
		req.Header.Set("Authorization", "Bearer "+e.whisperKey)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return Document{}, fmt.Errorf("transcription request: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxTranscript))
	if err != nil {
		return Document{}, fmt.Errorf("transcription response: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		msg := whisperError(raw)
		switch resp.StatusCode {
		case http.StatusBadRequest, http.StatusUnprocessableEntity:
			return Document{}, fmt.Errorf("%w: the transcription service refused the audio (%d): %s", ErrCorrupt, resp.StatusCode, msg)
		case http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
			return Document{}, fmt.Errorf("%w: the transcription service refused the audio (%d): %s", ErrUnsupported, resp.StatusCode, msg)
		}
		return Document{}, fmt.Errorf("transcription service answered %d: %s", resp.StatusCode, msg)
	}
	var out struct {
		Text *string `json:"text"`
	}
	text := ""
	if err := json.Unmarshal(raw, &out); err == nil && out.Text != nil {
		text = *out.Text
	} else if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/plain") {
		text = string(raw) // a server that ignored response_format
	} else {
		return Document{}, fmt.Errorf("transcription response is not {\"text\": ...}: %.200s", raw)
	}
	var doc Document
	for _, p := range paragraphs(strings.ToValidUTF8(text, "\uFFFD")) {
		doc.Blocks = append(doc.Blocks, Block{Kind: KindParagraph, Text: p})
	}
	if len(doc.Blocks) == 0 {
		return Document{}, fmt.Errorf("%w: no speech recognised in the audio", ErrEmpty)
	}
	return doc, nil
}

// whisperError returns the message of an OpenAI-style error body, or the body itself, short.
func whisperError(raw []byte) string {
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
