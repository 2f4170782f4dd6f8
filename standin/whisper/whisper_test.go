package whisper_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/standin/whisper"
)

func TestSpeakTranscribesBack(t *testing.T) {
	t.Parallel()
	for _, text := range []string{"hello", "What is the weather in Paris? ünïcödé ✓", "x"} {
		got, duration, err := whisper.Transcribe(whisper.Speak(text))
		require.NoError(t, err)
		require.Equal(t, text, got)
		require.InDelta(t, 0.025+float64(len(text))*0.05, duration, 0.001)
	}
	silence := whisper.Speak("")
	_, _, err := whisper.Transcribe(silence)
	require.ErrorIs(t, err, whisper.ErrNotSpeech, "silence holds no speech")
	hum := whisper.Speak("abc") // the same length, its tones replaced by a 1100 Hz hum (between two codes)
	for i := 44 + 800; i+1 < len(hum); i += 2 {
		v := int16(8000 * math.Sin(2*math.Pi*1100*float64(i/2)/whisper.SampleRate+0.3))
		binary.LittleEndian.PutUint16(hum[i:], uint16(v))
	}
	_, _, err = whisper.Transcribe(hum)
	require.ErrorIs(t, err, whisper.ErrNotSpeech, "a tone off the code is not taken for speech")
	_, _, err = whisper.Transcribe([]byte("ID3\x04\x00\x00\x00\x00\x00\x00"))
	require.ErrorIs(t, err, whisper.ErrNotSpeech, "an MP3 is not decoded")
}

// The stand-in refuses what OpenAI refuses, in OpenAI's error shape, and says it is a stand-in.
func TestServerRefusals(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(whisper.New(whisper.Options{APIKey: "k"}))
	t.Cleanup(srv.Close)
	post := func(fields map[string]string, file []byte, auth string) (int, http.Header, string) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		for k, v := range fields {
			_ = mw.WriteField(k, v)
		}
		if file != nil {
			w, _ := mw.CreateFormFile("file", "a.wav")
			_, _ = w.Write(file)
		}
		_ = mw.Close()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/audio/transcriptions", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Authorization", auth)
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var e struct {
			Error struct {
				Param any `json:"param"`
			} `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		param, _ := e.Error.Param.(string)
		return resp.StatusCode, resp.Header, param
	}
	audio := whisper.Speak("ok")
	for _, tc := range []struct {
		name   string
		fields map[string]string
		file   []byte
		auth   string
		status int
		param  string
	}{
		{"served", map[string]string{"model": "whisper-1"}, audio, "Bearer k", 200, ""},
		{"wrong key", map[string]string{"model": "whisper-1"}, audio, "Bearer x", 401, ""},
		{"no model", nil, audio, "Bearer k", 400, "model"},
		{"no file", map[string]string{"model": "whisper-1"}, nil, "Bearer k", 400, "file"},
		{"bad temperature", map[string]string{"model": "whisper-1", "temperature": "2"}, audio, "Bearer k", 400, "temperature"},
		{"bad format", map[string]string{"model": "whisper-1", "response_format": "xml"}, audio, "Bearer k", 400, "response_format"},
		{"not speech", map[string]string{"model": "whisper-1"}, []byte("RIFF"), "Bearer k", 400, "file"},
	} {
		status, h, param := post(tc.fields, tc.file, tc.auth)
		require.Equal(t, tc.status, status, tc.name)
		require.Equal(t, tc.param, param, tc.name)
		require.Equal(t, "true", h.Get("X-Whisper-Standin"), tc.name)
	}
}
