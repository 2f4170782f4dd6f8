package api

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/chat"
	"github.com/youworker/youworker/config"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/standin/whisper"
)

const whisperKey = "sk-whisper-secret-1234"

// voiceAPI is the API with WHISPER_URL pointing at the Whisper stand-in (a test double that
// transcribes whisper.Speak audio), which requires whisperKey.
func voiceAPI(t *testing.T, mutate func(*config.Config)) *apiEnv {
	t.Helper()
	st := httptest.NewServer(whisper.New(whisper.Options{APIKey: whisperKey}))
	t.Cleanup(st.Close)
	return newAPI(t, func(c *config.Config, _ *[]Check) {
		c.WhisperURL, c.WhisperAPIKey = st.URL+"/v1/audio/transcriptions", whisperKey
		if mutate != nil {
			mutate(c)
		}
	})
}

// postForm posts a multipart form as the client: fields (name, value pairs, repeatable), then
// files (field name → content).
func (c *apiClient) postForm(path string, fields []string, files map[string][]byte) response {
	c.e.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for i := 0; i+1 < len(fields); i += 2 {
		require.NoError(c.e.t, mw.WriteField(fields[i], fields[i+1]))
	}
	for name, data := range files {
		w, err := mw.CreateFormFile(name, "recording.bin")
		require.NoError(c.e.t, err)
		_, _ = w.Write(data)
	}
	require.NoError(c.e.t, mw.Close())
	req, err := http.NewRequest(http.MethodPost, c.e.http.URL+path, &body)
	require.NoError(c.e.t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Jar: c.jar}).Do(req)
	require.NoError(c.e.t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

// POST /v1/audio/transcriptions in OpenAI's shape, through the configured Whisper endpoint: each
// response format, and every refusal in OpenAI's error shape naming the field.
func TestTranscriptionRoute(t *testing.T) {
	t.Parallel()
	e := voiceAPI(t, func(c *config.Config) { c.AudioMaxBytes, c.RateTranscribe = 64<<10, 1000 })
	cl, _ := e.signup("vera")
	audio := whisper.Speak("What is on my calendar today?")
	file := map[string][]byte{"file": audio}

	r := cl.postForm(transcriptionsRoute, []string{"model", "whisper-1"}, file)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.JSONEq(t, `{"text": "What is on my calendar today?"}`, string(r.Body))

	r = cl.postForm(transcriptionsRoute, []string{"model", "whisper-1", "response_format", "text"}, file)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, "text/plain; charset=utf-8", r.Header.Get("Content-Type"))
	require.Equal(t, "What is on my calendar today?\n", string(r.Body))

	r = cl.postForm(transcriptionsRoute, []string{"model", "whisper-1", "response_format", "verbose_json", "language", "EN",
		"timestamp_granularities[]", "segment", "temperature", "0.2", "prompt", "calendar"}, file)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	v := r.JSON(t)
	require.Equal(t, "What is on my calendar today?", v["text"])
	require.Equal(t, "en", v["language"], "the language is passed on")
	require.InDelta(t, 1.475, v["duration"], 0.001)
	require.Len(t, v["segments"], 1)

	r = cl.postForm(transcriptionsRoute, []string{"model", "whisper-1", "response_format", "vtt"}, file)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, "WEBVTT\n\n00:00:00.000 --> 00:00:01.475\nWhat is on my calendar today?\n\n", string(r.Body))

	mp3 := []byte("ID3\x04\x00\x00\x00\x00\x00\x00" + strings.Repeat("\x00", 64))
	tests := []struct {
		name   string
		fields []string
		files  map[string][]byte
		status int
		param  any
		code   string
		msg    string
	}{
		{"no file", []string{"model", "whisper-1"}, nil, 400, "file", "validation_error", "file is required"},
		{"empty file", nil, map[string][]byte{"file": {}}, 400, "file", "validation_error", "file is empty"},
		{"not audio", nil, map[string][]byte{"file": []byte("%PDF-1.4 not a recording")}, 415, "file", "unsupported_audio", "application/pdf"},
		{"text is not audio", nil, map[string][]byte{"file": []byte("hello there")}, 415, "file", "unsupported_audio", "not audio"},
		{"over AUDIO_MAX_BYTES", nil, map[string][]byte{"file": append(append([]byte{}, audio...), make([]byte, 64<<10)...)}, 413, nil, "audio_too_large", "65536 bytes"},
		{"audio the service refuses", nil, map[string][]byte{"file": mp3}, 422, nil, "audio_not_transcribed", "Invalid file format"},
		{"bad response format", []string{"response_format", "diarized_json"}, file, 400, "response_format", "validation_error", "json, text, verbose_json, srt, vtt"},
		{"granularities without verbose_json", []string{"timestamp_granularities[]", "word"}, file, 400, "timestamp_granularities", "validation_error", "verbose_json"},
		{"temperature out of range", []string{"temperature", "1.5"}, file, 400, "temperature", "validation_error", "between 0 and 1"},
		{"bad language", []string{"language", "english please"}, file, 400, "language", "validation_error", "ISO-639-1"},
		{"streaming", []string{"stream", "true"}, file, 400, "stream", "validation_error", "not supported"},
		{"unknown field", []string{"chunking_strategy", "auto"}, file, 400, "chunking_strategy", "validation_error", "unknown field"},
		{"two files", nil, nil, 400, "file", "validation_error", "one file"},
		{"body over the cap", nil, map[string][]byte{"file": make([]byte, 200<<10)}, 413, nil, "request_too_large", "request body exceeds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r response
			if tc.name == "two files" {
				r = cl.postTwoFiles(transcriptionsRoute, "file", audio)
			} else {
				r = cl.postForm(transcriptionsRoute, tc.fields, tc.files)
			}
			require.Equal(t, tc.status, r.Status, "%s", r.Body)
			oe := r.openAIErr(t)
			require.Equal(t, tc.param, oe["param"], "%s", r.Body)
			require.Equal(t, tc.code, oe["code"], "%s", r.Body)
			require.Contains(t, oe["message"], tc.msg)
		})
	}

	r = cl.do("POST", transcriptionsRoute, map[string]any{"file": "x"})
	require.Equal(t, http.StatusUnsupportedMediaType, r.Status, "JSON is not a transcription request: %s", r.Body)
	r.openAIErr(t)
	r = e.client().postForm(transcriptionsRoute, nil, file)
	require.Equal(t, http.StatusUnauthorized, r.Status)
	require.Equal(t, "authentication_error", r.openAIErr(t)["type"])

	// API keys: the chat scope transcribes, a read-only key does not.
	chatKey, _ := cl.mintKey(map[string]any{"name": "voice", "scopes": []string{"chat"}})
	readKey, _ := cl.mintKey(map[string]any{"name": "reader", "scopes": []string{"read"}})
	r = e.keyClient(chatKey).postForm(transcriptionsRoute, []string{"model", "whisper-1"}, file)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	r = e.keyClient(readKey).postForm(transcriptionsRoute, []string{"model", "whisper-1"}, file)
	require.Equal(t, http.StatusForbidden, r.Status)
	require.Equal(t, "insufficient_scope", r.openAIErr(t)["code"])
	require.NotContains(t, e.logs.String(), whisperKey, "the Whisper key is never logged")
}

// postTwoFiles posts a form with the same file field twice.
func (c *apiClient) postTwoFiles(path, field string, data []byte) response {
	c.e.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for range 2 {
		w, _ := mw.CreateFormFile(field, "a.wav")
		_, _ = w.Write(data)
	}
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, c.e.http.URL+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Jar: c.jar}).Do(req)
	require.NoError(c.e.t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

// Without WHISPER_URL every voice request answers 501 saying so, and no turn starts.
func TestVoiceWithoutWhisperIs501(t *testing.T) {
	t.Parallel()
	e := newCompletionEnv(t)
	audio := whisper.Speak("hello")

	r := e.cl.postForm(transcriptionsRoute, []string{"model", "whisper-1"}, map[string][]byte{"file": audio})
	require.Equal(t, http.StatusNotImplemented, r.Status, "%s", r.Body)
	oe := r.openAIErr(t)
	require.Equal(t, "voice_not_configured", oe["code"])
	require.Equal(t, "server_error", oe["type"])
	require.Contains(t, oe["message"], "WHISPER_URL is not set")

	r = e.cl.postForm("/v1/sessions/"+uuid.NewString()+"/messages", nil, map[string][]byte{"audio": audio})
	require.Equal(t, http.StatusNotImplemented, r.Status, "%s", r.Body)
	require.Equal(t, "VOICE_NOT_CONFIGURED", r.errCode(t))

	r = e.complete(map[string]any{"messages": []map[string]any{{"role": "user", "content": []map[string]any{
		{"type": "input_audio", "input_audio": map[string]any{"data": base64.StdEncoding.EncodeToString(audio), "format": "wav"}}}}}})
	require.Equal(t, http.StatusNotImplemented, r.Status, "%s", r.Body)
	require.Contains(t, r.openAIErr(t)["message"], "WHISPER_URL")
	require.Empty(t, e.chat.posted, "no turn starts")
}

// A voice message on /v1/sessions/:id/messages: the transcript is the message the chat service
// gets (and the answer's transcript); the JSON message is unchanged beside it.
func TestVoiceMessage(t *testing.T) {
	t.Parallel()
	e := voiceAPI(t, func(c *config.Config) { c.RateLimits, c.RateTranscribe = true, 4 })
	cl, _ := e.signup("walt")
	created := cl.do("POST", "/v1/sessions", map[string]any{"title": "voice"})
	require.Equal(t, http.StatusCreated, created.Status, "%s", created.Body)
	sid, tid := uuid.MustParse(created.JSON(t)["id"].(string)), uuid.New()
	f := &fakeChat{turn: &models.Turn{ID: tid, SessionID: sid, WorkflowID: "chat-turn/v", Status: models.TurnRunning, StartedAt: time.Now()}, created: true}
	e.srv.chat = f
	path := "/v1/sessions/" + sid.String() + "/messages"

	r := cl.postForm(path, []string{"language", "en"}, map[string][]byte{"audio": whisper.Speak("Remind me to call Anna at five.")})
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	require.Equal(t, "Remind me to call Anna at five.", r.JSON(t)["transcript"])
	require.Equal(t, tid.String(), r.JSON(t)["turn_id"])
	require.Equal(t, []chat.Message{{SessionID: sid, Content: "Remind me to call Anna at five."}}, f.posted)

	r = cl.do("POST", path, map[string]any{"content": "typed"})
	require.Equal(t, http.StatusAccepted, r.Status)
	require.NotContains(t, r.JSON(t), "transcript")

	for _, tc := range []struct {
		name   string
		fields []string
		files  map[string][]byte
		status int
		code   string
	}{
		{"no audio", []string{"language", "en"}, nil, 400, "VALIDATION_ERROR"},
		{"the file in the wrong field", nil, map[string][]byte{"file": whisper.Speak("x")}, 400, "VALIDATION_ERROR"},
		{"not audio", nil, map[string][]byte{"audio": []byte("\x89PNG\r\n\x1a\n....")}, 415, "UNSUPPORTED_AUDIO"},
		{"another's or no session", nil, map[string][]byte{"audio": whisper.Speak("x")}, 404, "SESSION_NOT_FOUND"},
	} {
		p := path
		if tc.status == http.StatusNotFound {
			p = "/v1/sessions/" + uuid.NewString() + "/messages"
		}
		r := cl.postForm(p, tc.fields, tc.files)
		require.Equal(t, tc.status, r.Status, "%s: %s", tc.name, r.Body)
		require.Equal(t, tc.code, r.errCode(t), tc.name)
	}
	require.Len(t, f.posted, 2, "refused voice messages start no turn")

	// Each transcription counts against RATE_LIMIT_TRANSCRIPTIONS (4 a minute: 1 used above).
	for range 3 {
		require.Equal(t, http.StatusAccepted, cl.postForm(path, nil, map[string][]byte{"audio": whisper.Speak("again")}).Status)
	}
	r = cl.postForm(path, nil, map[string][]byte{"audio": whisper.Speak("once more")})
	require.Equal(t, http.StatusTooManyRequests, r.Status, "%s", r.Body)
	require.NotEmpty(t, r.Header.Get("Retry-After"))
}

// input_audio parts of /v1/chat/completions are transcribed into the text of their message,
// history included, before the turn starts; a request refused anyway costs no transcription.
func TestCompletionInputAudio(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	st := whisper.New(whisper.Options{})
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		st.ServeHTTP(w, r)
	}))
	t.Cleanup(counting.Close)
	e := newAPI(t, func(c *config.Config, _ *[]Check) {
		c.WhisperURL, c.AudioMaxCount, c.AudioMaxBytes = counting.URL+"/v1/audio/transcriptions", 2, 64<<10
	})
	f := &fakeChat{err: models.Errorf(models.ErrUnavailable, "FAKE", "the fake chat service starts no turn"),
		sessions: &chat.Service{Store: e.store, Box: e.srv.box, Now: time.Now}}
	e.srv.chat, e.srv.models = f, fakeModels{}
	cl, _ := e.signup("yara")
	ce := &completionEnv{apiEnv: e, chat: f, cl: cl}
	spoken := func(text, format string) map[string]any {
		return map[string]any{"type": "input_audio", "input_audio": map[string]any{"data": base64.StdEncoding.EncodeToString(whisper.Speak(text)), "format": format}}
	}
	text := func(s string) map[string]any { return map[string]any{"type": "text", "text": s} }

	r := ce.complete(map[string]any{"messages": []map[string]any{
		{"role": "user", "content": []map[string]any{spoken("What time is it?", "wav")}},
		{"role": "assistant", "content": "Noon."},
		{"role": "user", "content": []map[string]any{text("And now:"), spoken("Is it later?", "wav")}},
	}})
	require.Equal(t, http.StatusServiceUnavailable, r.Status, "the fake starts no turn: %s", r.Body)
	require.Equal(t, "And now:\n\nIs it later?", f.posted[0].Content, "the turn's message holds the transcript")
	_, _, msgs, _ := ce.lastSession(t)
	require.Equal(t, "What time is it?", msgs[0].Content, "the history's audio is transcribed too")
	require.Equal(t, int32(2), calls.Load())

	for _, tc := range []struct {
		name   string
		msgs   []map[string]any
		status int
		param  any
		msg    string
	}{
		{"audio in an assistant message", []map[string]any{{"role": "assistant", "content": []map[string]any{spoken("x", "wav")}}, {"role": "user", "content": "hi"}},
			400, "messages[0].content[0].input_audio", "only user messages"},
		{"unknown format", []map[string]any{{"role": "user", "content": []map[string]any{spoken("x", "aiff")}}},
			400, "messages[0].content[0].input_audio.format", "wav, mp3"},
		{"not audio", []map[string]any{{"role": "user", "content": []map[string]any{{"type": "input_audio", "input_audio": map[string]any{"data": base64.StdEncoding.EncodeToString([]byte("just text")), "format": "wav"}}}}},
			415, "messages[0].content[0].input_audio.data", "not audio"},
		{"bad base64", []map[string]any{{"role": "user", "content": []map[string]any{{"type": "input_audio", "input_audio": map[string]any{"data": "!!", "format": "wav"}}}}},
			400, "messages[0].content[0].input_audio.data", "base64"},
		{"more than AUDIO_MAX_COUNT", []map[string]any{{"role": "user", "content": []map[string]any{spoken("a", "wav"), spoken("b", "wav"), spoken("c", "wav")}}},
			400, "messages[0].content[2].input_audio", "AUDIO_MAX_COUNT"},
		{"over AUDIO_MAX_BYTES together", []map[string]any{{"role": "user", "content": []map[string]any{spoken(strings.Repeat("a", 500), "wav"), spoken(strings.Repeat("b", 500), "wav")}}},
			413, nil, "AUDIO_MAX_BYTES"},
		{"a request invalid anyway", []map[string]any{{"role": "user", "content": []map[string]any{spoken("x", "wav")}}, {"role": "tool", "content": "r", "tool_call_id": "nope"}},
			400, "messages[1].tool_call_id", "answers no tool call"},
		{"silence", []map[string]any{{"role": "user", "content": []map[string]any{spoken("", "wav")}}},
			422, nil, "could not transcribe"},
	} {
		before := calls.Load()
		r := ce.complete(map[string]any{"messages": tc.msgs})
		require.Equal(t, tc.status, r.Status, "%s: %s", tc.name, r.Body)
		oe := r.openAIErr(t)
		require.Equal(t, tc.param, oe["param"], "%s: %s", tc.name, r.Body)
		require.Contains(t, oe["message"], tc.msg, tc.name)
		if tc.name != "silence" {
			require.Equal(t, before, calls.Load(), "%s: refused before any transcription", tc.name)
		}
	}
	require.Len(t, f.posted, 1, "refused requests start no turn")
}

// The transcription service failing: its refusal of this server's key, its errors and its
// silence are 502 or 503 (with Retry-After), never the key; an empty transcript on a turn is 422.
func TestTranscriptionUpstreamFailures(t *testing.T) {
	t.Parallel()
	audio := whisper.Speak("hi")
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		status     int
		code       string
		retryAfter string
	}{
		{"the key is refused", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"error": {"message": "Incorrect API key provided: `+r.Header.Get("Authorization")+`"}}`, http.StatusUnauthorized)
		}, 502, "transcription_failed", ""},
		{"server error", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) }, 502, "transcription_failed", ""},
		{"busy", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "7")
			http.Error(w, `{"error": {"message": "slow down"}}`, http.StatusTooManyRequests)
		}, 503, "transcription_unavailable", "7"},
		{"not a transcription", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<html>proxy login</html>")
		}, 502, "transcription_failed", ""},
		{"too slow", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, 503, "transcription_unavailable", "5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := httptest.NewServer(tc.handler)
			t.Cleanup(up.Close)
			e := newAPI(t, func(c *config.Config, _ *[]Check) {
				c.WhisperURL, c.WhisperAPIKey, c.WhisperTimeout = up.URL, whisperKey, 300*time.Millisecond
			})
			cl, _ := e.signup("zeno")
			r := cl.postForm(transcriptionsRoute, []string{"model", "whisper-1"}, map[string][]byte{"file": audio})
			require.Equal(t, tc.status, r.Status, "%s", r.Body)
			oe := r.openAIErr(t)
			require.Equal(t, tc.code, oe["code"])
			require.Equal(t, "server_error", oe["type"])
			require.Equal(t, tc.retryAfter, r.Header.Get("Retry-After"))
			require.NotContains(t, string(r.Body), whisperKey)
			require.NotContains(t, e.logs.String(), whisperKey, "the key is not logged either")
		})
	}

	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		gone := httptest.NewServer(http.NotFoundHandler())
		gone.Close()
		e := newAPI(t, func(c *config.Config, _ *[]Check) { c.WhisperURL = gone.URL })
		cl, _ := e.signup("ursula")
		r := cl.postForm(transcriptionsRoute, nil, map[string][]byte{"file": audio})
		require.Equal(t, http.StatusServiceUnavailable, r.Status, "%s", r.Body)
		require.Equal(t, "transcription_unavailable", r.openAIErr(t)["code"])
	})

	t.Run("no speech on a turn", func(t *testing.T) {
		t.Parallel()
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"text": "  "}`)
		}))
		t.Cleanup(up.Close)
		e := newAPI(t, func(c *config.Config, _ *[]Check) { c.WhisperURL = up.URL })
		cl, _ := e.signup("quinn")
		f := &fakeChat{}
		e.srv.chat = f
		created := cl.do("POST", "/v1/sessions", map[string]any{"title": "quiet"})
		require.Equal(t, http.StatusCreated, created.Status, "%s", created.Body)
		r := cl.postForm("/v1/sessions/"+created.JSON(t)["id"].(string)+"/messages", nil, map[string][]byte{"audio": audio})
		require.Equal(t, http.StatusUnprocessableEntity, r.Status, "%s", r.Body)
		require.Equal(t, "NO_SPEECH", r.errCode(t))
		require.Empty(t, f.posted)
	})
}

// Audio is recognised from its content, whatever the client calls it; WebM (what browsers record)
// too, which extract.Sniff does not know.
func TestSniffAudio(t *testing.T) {
	t.Parallel()
	webmHead := []byte("\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08\x42\x82\x84webm\x42\x87\x81\x04")
	mkvHead := bytes.Replace(webmHead, []byte("\x84webm"), []byte("\x88matroska"), 1)
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"wav", whisper.Speak("x"), "audio/wav"},
		{"mp3 with ID3", []byte("ID3\x04\x00\x00\x00\x00\x00\x00" + strings.Repeat("\x00", 32)), "audio/mpeg"},
		{"ogg", append([]byte("OggS\x00\x02"), make([]byte, 40)...), "audio/ogg"},
		{"flac", append([]byte("fLaC\x00\x00\x00\x22"), make([]byte, 40)...), "audio/flac"},
		{"webm", webmHead, "audio/webm"},
		{"matroska video is not webm", mkvHead, ""},
		{"png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), ""},
		{"text", []byte("hello, this is not audio"), ""},
	} {
		mt, err := sniffAudio("file", bytes.NewReader(tc.data), int64(len(tc.data)))
		if tc.want == "" {
			require.ErrorIs(t, err, models.ErrUnsupported, tc.name)
			continue
		}
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.want, mt, tc.name)
	}
}
