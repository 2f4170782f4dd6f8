package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/standin/whisper"
)

// Voice against the Whisper stand-in (a TEST DOUBLE speaking the Whisper wire format, which
// transcribes only whisper.Speak tones) with WHISPER_API_KEY: the official OpenAI SDK's
// audio.transcriptions.create, an input_audio part in its chat completion, a voice message on a
// session followed to its answer, and an audio document through the worker. The user's message
// is always the transcript and the answer follows from it.
func TestVoice(t *testing.T) {
	t.Parallel()
	const key = "sk-e2e-whisper-key"
	endpoint, stop, err := whisper.Start(whisper.Options{APIKey: key, Logger: quiet}, "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(stop)
	p := newPlatform(t, map[string]string{"WHISPER_URL": endpoint, "WHISPER_API_KEY": key}).start()
	u := p.signup("voice")
	oc := u.sdkClient(t)
	ctx := context.Background()

	t.Run("sdk transcription", func(t *testing.T) {
		tr, err := oc.Audio.Transcriptions.New(ctx, openai.AudioTranscriptionNewParams{Model: "whisper-1",
			File: openai.File(bytes.NewReader(whisper.Speak("Book a table for two.")), "table.wav", "audio/wav")})
		require.NoError(t, err)
		require.Equal(t, "Book a table for two.", tr.Text)

		tr, err = oc.Audio.Transcriptions.New(ctx, openai.AudioTranscriptionNewParams{Model: "whisper-1",
			File:           openai.File(bytes.NewReader(whisper.Speak("Verbose please")), "v.wav", "audio/wav"),
			ResponseFormat: openai.AudioResponseFormatVerboseJSON, Language: openai.String("en"), Prompt: openai.String("a request"),
			Temperature: openai.Float(0.2), TimestampGranularities: []string{"segment"}})
		require.NoError(t, err)
		verbose := tr.AsTranscriptionVerbose()
		require.Equal(t, "Verbose please", verbose.Text)
		require.Equal(t, "en", verbose.Language)
		require.InDelta(t, 0.725, verbose.Duration, 0.001)

		// An error the SDK reads: not audio.
		_, err = oc.Audio.Transcriptions.New(ctx, openai.AudioTranscriptionNewParams{Model: "whisper-1",
			File: openai.File(strings.NewReader("plain text, not a recording"), "notes.wav", "audio/wav")})
		var apiErr *openai.Error
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, http.StatusUnsupportedMediaType, apiErr.StatusCode)
		require.Equal(t, "unsupported_audio", apiErr.Code)
	})

	t.Run("sdk completion with input_audio", func(t *testing.T) {
		c, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "llama3.1:8b",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
				openai.InputAudioContentPart(openai.ChatCompletionContentPartInputAudioInputAudioParam{
					Data: base64.StdEncoding.EncodeToString(whisper.Speak("How far is the moon?")), Format: "wav"}),
			})}})
		require.NoError(t, err)
		require.Equal(t, "You said: How far is the moon?", strings.TrimSpace(c.Choices[0].Message.Content))
		sid, _ := turnOf(t, c.RawJSON())
		msgs := u.do("GET", "/v1/sessions/"+sid, nil).json(t)["messages"].([]any)
		require.Equal(t, "How far is the moon?", msgs[0].(map[string]any)["content"], "the stored user message is the transcript")
	})

	t.Run("voice message on a session", func(t *testing.T) {
		sid := u.newSession(nil)
		r := u.voiceMessage(sid, whisper.Speak("What should I cook tonight?"))
		require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
		m := r.json(t)
		require.Equal(t, "What should I cook tonight?", m["transcript"])
		evs, err := u.stream(ctx, m["events_url"].(string), 0)
		require.NoError(t, err)
		got := until(t, evs, "turn.completed", 30*time.Second)
		require.Equal(t, "turn.completed", got[len(got)-1].Type)
		msgs := u.do("GET", "/v1/sessions/"+sid, nil).json(t)["messages"].([]any)
		require.Len(t, msgs, 2)
		require.Equal(t, "user", msgs[0].(map[string]any)["role"])
		require.Equal(t, "What should I cook tonight?", msgs[0].(map[string]any)["content"])
		require.Equal(t, "You said: What should I cook tonight?", strings.TrimSpace(msgs[1].(map[string]any)["content"].(string)))
	})

	t.Run("audio document", func(t *testing.T) {
		id, last := u.ingested(u.upload("memo.wav", whisper.Speak("The quarterly budget meeting moves to Thursday."), nil), time.Minute)
		require.Equal(t, "run.completed", last.Type, "%v", last.Data)
		hits := u.search("quarterly budget meeting Thursday")
		require.NotEmpty(t, hits)
		require.Equal(t, id, hits[0]["document_id"], "the worker transcribed it with WHISPER_API_KEY: %v", hits)
		require.Contains(t, hits[0]["text"], "The quarterly budget meeting moves to Thursday.")
	})
	t.Run("health", func(t *testing.T) {
		h := p.operator("/health/detailed")
		whisperCheck := h.json(t)["checks"].(map[string]any)["whisper"].(map[string]any)
		require.Equal(t, "up", whisperCheck["status"], "%s", h.body)
		require.Equal(t, false, whisperCheck["required"])
		stop() // the service goes away: reported down, and a transcription is a 503
		whisperCheck = p.operator("/health/detailed").json(t)["checks"].(map[string]any)["whisper"].(map[string]any)
		require.Equal(t, "down", whisperCheck["status"])
		_, err := oc.Audio.Transcriptions.New(ctx, openai.AudioTranscriptionNewParams{Model: "whisper-1",
			File: openai.File(bytes.NewReader(whisper.Speak("anyone there?")), "q.wav", "audio/wav")})
		var apiErr *openai.Error
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, http.StatusServiceUnavailable, apiErr.StatusCode)
		require.Equal(t, "transcription_unavailable", apiErr.Code)
	})
	require.NotContains(t, p.logs.String(), key, "the Whisper key never reaches a log")
}

// voiceMessage posts audio as a voice message (multipart `audio`).
func (u *user) voiceMessage(sessionID string, audio []byte) reply {
	u.p.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, err := mw.CreateFormFile("audio", "question.wav")
	require.NoError(u.p.t, err)
	_, _ = w.Write(audio)
	require.NoError(u.p.t, mw.Close())
	req, err := http.NewRequest(http.MethodPost, u.p.apiURL+"/v1/sessions/"+sessionID+"/messages", &body)
	require.NoError(u.p.t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+u.token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(u.p.t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: raw}
}
