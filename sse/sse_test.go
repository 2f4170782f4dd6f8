package sse_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/sse"
)

func readAll(t *testing.T, stream string) ([]sse.Event, *sse.Reader, error) {
	t.Helper()
	r := sse.NewReader(strings.NewReader(stream))
	var evs []sse.Event
	for {
		ev, err := r.Next()
		if err != nil {
			return evs, r, err
		}
		evs = append(evs, ev)
	}
}

func TestReader(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		stream  string
		want    []sse.Event
		wantErr error
		retry   time.Duration
	}{
		{
			name:    "the API's framing: retry, keep-alive, events",
			stream:  "retry: 1000\n\n: keep-alive\n\nid: 1\nevent: token\ndata: {\"delta\":\"hi\"}\n\nid: 2\nevent: turn.completed\ndata: {}\n\n",
			want:    []sse.Event{{ID: "1", Type: "token", Data: []byte(`{"delta":"hi"}`)}, {ID: "2", Type: "turn.completed", Data: []byte(`{}`)}},
			wantErr: io.EOF,
			retry:   time.Second,
		},
		{
			name:    "multi-line data, no space after the colon, CRLF and lone CR line ends",
			stream:  "id:7\r\nevent:x\r\ndata:a\rdata: b\r\n\r\n",
			want:    []sse.Event{{ID: "7", Type: "x", Data: []byte("a\nb")}},
			wantErr: io.EOF,
		},
		{
			name:    "data without an event type (OpenAI-style chunks)",
			stream:  "data: {\"n\":1}\n\ndata: [DONE]\n\n",
			want:    []sse.Event{{Data: []byte(`{"n":1}`)}, {Data: []byte("[DONE]")}},
			wantErr: io.EOF,
		},
		{
			name:    "a stream cut inside an event drops the event and says so",
			stream:  "id: 1\nevent: token\ndata: {}\n\nid: 2\nevent: token\ndata: {\"del",
			want:    []sse.Event{{ID: "1", Type: "token", Data: []byte(`{}`)}},
			wantErr: io.ErrUnexpectedEOF,
		},
		{
			name:    "a stream cut before the blank line that ends an event",
			stream:  "id: 1\nevent: token\ndata: {}\n",
			wantErr: io.ErrUnexpectedEOF,
		},
		{
			name:    "unknown fields and a bad retry are ignored",
			stream:  "retry: soon\nfoo: bar\nid: 3\nevent: e\ndata: d\n\n",
			want:    []sse.Event{{ID: "3", Type: "e", Data: []byte("d")}},
			wantErr: io.EOF,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			evs, r, err := readAll(t, tc.stream)
			require.Equal(t, tc.want, evs)
			require.True(t, errors.Is(err, tc.wantErr), "got %v, want %v", err, tc.wantErr)
			require.Equal(t, tc.retry, r.Retry())
		})
	}
}

func TestReaderLongLine(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 2<<20)
	evs, _, err := readAll(t, "event: big\ndata: "+big+"\n\n")
	require.ErrorIs(t, err, io.EOF)
	require.Len(t, evs, 1)
	require.Len(t, evs[0].Data, len(big))
}
