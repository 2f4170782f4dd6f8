package extract

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/youworker/youworker/transcribe"
)

// extractAudio transcribes audio through a Whisper-compatible endpoint (package transcribe: one
// multipart POST with model, response_format=json and the file, with a Content-Length, answered
// by {"text": "..."}). The server refusing the file (400, 422) is ErrCorrupt, refusing its size
// or type (413, 415) ErrUnsupported; other failures are worth a retry.
func (e *Extractor) extractAudio(ctx context.Context, mediaType, path string) (Document, error) {
	if _, ok := transcribe.Extension(mediaType); !ok {
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
	wc := transcribe.Client{URL: e.whisperURL, Model: e.whisperModel, APIKey: e.whisperKey, HTTP: e.client, Timeout: e.timeout}
	res, err := wc.Transcribe(ctx, transcribe.Request{Audio: f, Size: st.Size(), MediaType: mediaType})
	var se *transcribe.StatusError
	switch {
	case errors.As(err, &se) && (se.Status == http.StatusBadRequest || se.Status == http.StatusUnprocessableEntity):
		return Document{}, fmt.Errorf("%w: the transcription service refused the audio (%d): %s", ErrCorrupt, se.Status, se.Message)
	case errors.As(err, &se) && (se.Status == http.StatusRequestEntityTooLarge || se.Status == http.StatusUnsupportedMediaType):
		return Document{}, fmt.Errorf("%w: the transcription service refused the audio (%d): %s", ErrUnsupported, se.Status, se.Message)
	case err != nil:
		return Document{}, err
	}
	var doc Document
	for _, p := range paragraphs(strings.ToValidUTF8(res.Text, "\uFFFD")) {
		doc.Blocks = append(doc.Blocks, Block{Kind: KindParagraph, Text: p})
	}
	if len(doc.Blocks) == 0 {
		return Document{}, fmt.Errorf("%w: no speech recognised in the audio", ErrEmpty)
	}
	return doc, nil
}
