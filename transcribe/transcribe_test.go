package transcribe_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/standin/whisper"
	"github.com/youworker/youworker/transcribe"
)

// The transcribe client against the stand-in: each response format, the API key, refusals.
func TestClientAgainstStandin(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(whisper.New(whisper.Options{APIKey: "sk-secret-key", MaxBytes: 1 << 20}))
	t.Cleanup(srv.Close)
	c := transcribe.Client{URL: srv.URL + "/v1/audio/transcriptions", APIKey: "sk-secret-key", HTTP: srv.Client()}
	audio := whisper.Speak("turn on the lights")
	req := func(format string, data []byte) transcribe.Request {
		return transcribe.Request{Audio: strings.NewReader(string(data)), Size: int64(len(data)), MediaType: "audio/wav", Format: format, Language: "en"}
	}
	tests := []struct {
		format, wantText, wantBody string
	}{
		{format: "", wantText: "turn on the lights", wantBody: `{"text":"turn on the lights"}`},
		{format: "text", wantText: "turn on the lights\n", wantBody: "turn on the lights\n"},
		{format: "srt", wantBody: "1\n00:00:00,000 --> 00:00:00,925\nturn on the lights\n\n"},
		{format: "vtt", wantBody: "WEBVTT\n\n00:00:00.000 --> 00:00:00.925\nturn on the lights\n\n"},
		{format: "verbose_json", wantText: "turn on the lights"},
	}
	for _, tc := range tests {
		t.Run("format "+tc.format, func(t *testing.T) {
			t.Parallel()
			res, err := c.Transcribe(context.Background(), req(tc.format, audio))
			require.NoError(t, err)
			if tc.wantText != "" {
				require.Equal(t, tc.wantText, res.Text)
			}
			if tc.format == "verbose_json" {
				require.Contains(t, string(res.Body), `"language":"en"`)
				require.Contains(t, string(res.Body), `"duration":0.925`)
			} else {
				require.Equal(t, tc.wantBody, strings.TrimSpace(string(res.Body))+strings.Repeat("\n", len(tc.wantBody)-len(strings.TrimRight(tc.wantBody, "\n"))))
			}
		})
	}
	t.Run("wrong key", func(t *testing.T) {
		t.Parallel()
		bad := c
		bad.APIKey = "sk-other"
		_, err := bad.Transcribe(context.Background(), req("", audio))
		var se *transcribe.StatusError
		require.ErrorAs(t, err, &se)
		require.Equal(t, http.StatusUnauthorized, se.Status)
	})
	t.Run("not speech", func(t *testing.T) {
		t.Parallel()
		_, err := c.Transcribe(context.Background(), req("", []byte("RIFF\x24\x00\x00\x00WAVEfmt ")))
		var se *transcribe.StatusError
		require.ErrorAs(t, err, &se)
		require.Equal(t, http.StatusBadRequest, se.Status)
		require.Contains(t, se.Message, "Invalid file format")
	})
	t.Run("too large", func(t *testing.T) {
		t.Parallel()
		_, err := c.Transcribe(context.Background(), req("", make([]byte, 2<<20)))
		var se *transcribe.StatusError
		require.ErrorAs(t, err, &se)
		require.Equal(t, http.StatusRequestEntityTooLarge, se.Status)
	})
}

// A server that echoes the request's Authorization header in its error never gets the key into
// the error the client returns.
func TestClientRedactsTheKey(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error": {"message": "bad credentials: `+r.Header.Get("Authorization")+`"}}`, http.StatusBadGateway)
	}))
	t.Cleanup(srv.Close)
	c := transcribe.Client{URL: srv.URL, APIKey: "sk-very-secret", HTTP: srv.Client()}
	audio := whisper.Speak("x")
	_, err := c.Transcribe(context.Background(), transcribe.Request{Audio: strings.NewReader(string(audio)), Size: int64(len(audio)), MediaType: "audio/wav"})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "sk-very-secret")
	require.Contains(t, err.Error(), "[redacted]")
}

// Ping: the stand-in's route answers a GET (405), a failing service or none at all is down.
func TestClientPing(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(whisper.New(whisper.Options{APIKey: "k"}))
	t.Cleanup(srv.Close)
	require.NoError(t, (&transcribe.Client{URL: srv.URL + "/v1/audio/transcriptions", HTTP: srv.Client()}).Ping(context.Background()))
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
	t.Cleanup(down.Close)
	require.ErrorContains(t, (&transcribe.Client{URL: down.URL}).Ping(context.Background()), "502")
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	require.Error(t, (&transcribe.Client{URL: gone.URL}).Ping(context.Background()))
}
