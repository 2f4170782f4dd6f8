package datetime_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/mcpservers/datetime"
	"github.com/youworker/youworker/mcpservers/mcptest"
)

// fixedNow is a Tuesday evening in November: CET in Berlin, a day later in Tokyo.
var fixedNow = time.Date(2026, 11, 24, 21, 15, 0, 0, time.UTC)

var quiet = slog.New(slog.DiscardHandler)

// connect serves the datetime handler on a loopback port and returns a real mcp-go client
// speaking streamable HTTP to it.
func connect(t *testing.T, now time.Time) *client.Client {
	t.Helper()
	srv := httptest.NewServer(datetime.Handler(datetime.Options{Now: func() time.Time { return now }, Logger: quiet}))
	t.Cleanup(srv.Close)
	return mcptest.Dial(t, srv.URL+datetime.EndpointPath, "datetime")
}

func TestListTools(t *testing.T) {
	t.Parallel()
	c := connect(t, fixedNow)
	res, err := c.ListTools(t.Context(), mcp.ListToolsRequest{})
	require.NoError(t, err)

	byName := map[string]mcp.Tool{}
	for _, tool := range res.Tools {
		byName[tool.Name] = tool
	}
	tests := []struct {
		name     string
		params   []string
		required []string
	}{
		{name: "time_now", params: []string{"timezone"}},
		{name: "time_format", params: []string{"time", "layout", "timezone"}, required: []string{"time"}},
		{name: "time_add_delta", params: []string{"time", "delta", "timezone"}, required: []string{"delta"}},
	}
	require.Len(t, byName, len(tests))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tool, ok := byName[tt.name]
			require.True(t, ok)
			require.Greater(t, len(tool.Description), 40, "the model reads the description")
			require.Equal(t, "object", tool.InputSchema.Type)
			require.ElementsMatch(t, tt.required, tool.InputSchema.Required)
			require.Len(t, tool.InputSchema.Properties, len(tt.params))
			for _, p := range tt.params {
				prop, ok := tool.InputSchema.Properties[p].(map[string]any)
				require.True(t, ok, "parameter %s", p)
				require.Equal(t, "string", prop["type"])
				require.NotEmpty(t, prop["description"])
				require.EqualValues(t, 200, prop["maxLength"])
			}
			require.True(t, *tool.Annotations.ReadOnlyHint)
		})
	}
}

func TestTimeNow(t *testing.T) {
	t.Parallel()
	c := connect(t, fixedNow)
	tests := []struct {
		name     string
		args     map[string]any
		want     string
		timezone string
	}{
		{name: "default UTC", args: nil, want: "2026-11-24T21:15:00Z (Tuesday, UTC)", timezone: "UTC"},
		{name: "explicit UTC", args: map[string]any{"timezone": "UTC"}, want: "2026-11-24T21:15:00Z (Tuesday, UTC)", timezone: "UTC"},
		{name: "Berlin winter", args: map[string]any{"timezone": "Europe/Berlin"}, want: "2026-11-24T22:15:00+01:00 (Tuesday, CET)", timezone: "Europe/Berlin"},
		{name: "New York", args: map[string]any{"timezone": "America/New_York"}, want: "2026-11-24T16:15:00-05:00 (Tuesday, EST)", timezone: "America/New_York"},
		{name: "Tokyo is already Wednesday", args: map[string]any{"timezone": "Asia/Tokyo"}, want: "2026-11-25T06:15:00+09:00 (Wednesday, JST)", timezone: "Asia/Tokyo"},
		{name: "half-hour offset", args: map[string]any{"timezone": "Asia/Kolkata"}, want: "2026-11-25T02:45:00+05:30 (Wednesday, IST)", timezone: "Asia/Kolkata"},
		{name: "empty timezone means UTC", args: map[string]any{"timezone": ""}, want: "2026-11-24T21:15:00Z (Tuesday, UTC)", timezone: "UTC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := mcptest.Call(t, c, "time_now", tt.args)
			require.False(t, res.IsError, res.Text)
			require.Equal(t, tt.want, res.Text)
			require.Equal(t, tt.timezone, res.Structured["timezone"])
			require.EqualValues(t, fixedNow.Unix(), res.Structured["unix"])
		})
	}
}

func TestTimeNowSummerTime(t *testing.T) {
	t.Parallel()
	c := connect(t, time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC))
	res := mcptest.Call(t, c, "time_now", map[string]any{"timezone": "Europe/Berlin"})
	require.Equal(t, "2026-07-01T14:00:00+02:00 (Wednesday, CEST)", res.Text)
}

func TestTimeFormat(t *testing.T) {
	t.Parallel()
	c := connect(t, fixedNow)
	tests := []struct {
		name string
		args map[string]any
		want string
	}{
		{name: "default keeps the offset", args: map[string]any{"time": "2026-11-24T22:15:00+01:00"}, want: "2026-11-24T22:15:00+01:00"},
		{name: "rfc3339 to a zone", args: map[string]any{"time": "2026-11-24T21:15:00Z", "timezone": "Europe/Berlin"}, want: "2026-11-24T22:15:00+01:00"},
		{name: "datetime in Tokyo crosses midnight", args: map[string]any{"time": "2026-11-24T21:15:00Z", "layout": "datetime", "timezone": "Asia/Tokyo"}, want: "2026-11-25 06:15:00"},
		{name: "date", args: map[string]any{"time": "2026-11-24T21:15:00Z", "layout": "date"}, want: "2026-11-24"},
		{name: "time", args: map[string]any{"time": "2026-11-24T21:15:09Z", "layout": "time"}, want: "21:15:09"},
		{name: "kitchen", args: map[string]any{"time": "2026-11-24T21:15:00Z", "layout": "kitchen"}, want: "9:15PM"},
		{name: "rfc1123 with zone abbreviation", args: map[string]any{"time": "2026-11-24T21:15:00Z", "layout": "rfc1123", "timezone": "Europe/Berlin"}, want: "Tue, 24 Nov 2026 22:15:00 CET"},
		{name: "layout names are case-insensitive", args: map[string]any{"time": "2026-11-24T21:15:00Z", "layout": "RFC3339", "timezone": "America/New_York"}, want: "2026-11-24T16:15:00-05:00"},
		{name: "Go layout", args: map[string]any{"time": "2026-11-24T21:15:00Z", "layout": "Monday, 2 January 2006 15:04 MST", "timezone": "Europe/Berlin"}, want: "Tuesday, 24 November 2026 22:15 CET"},
		{name: "fractional seconds are accepted", args: map[string]any{"time": "2026-11-24T21:15:00.123456Z", "layout": "15:04:05.000"}, want: "21:15:00.123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := mcptest.Call(t, c, "time_format", tt.args)
			require.False(t, res.IsError, res.Text)
			require.Equal(t, tt.want, res.Text)
			require.Equal(t, tt.want, res.Structured["formatted"])
		})
	}
}

func TestTimeAddDelta(t *testing.T) {
	t.Parallel()
	c := connect(t, fixedNow)
	tests := []struct {
		name string
		args map[string]any
		want string
	}{
		{name: "Go duration from now", args: map[string]any{"delta": "90m"}, want: "2026-11-24T22:45:00Z (Tuesday, UTC)"},
		{name: "negative Go duration", args: map[string]any{"delta": "-2h30m", "time": "2026-11-24T01:00:00Z"}, want: "2026-11-23T22:30:00Z (Monday, UTC)"},
		{name: "ISO days and hours", args: map[string]any{"delta": "P1DT2H", "time": "2026-11-24T21:15:00Z"}, want: "2026-11-25T23:15:00Z (Wednesday, UTC)"},
		{name: "ISO weeks", args: map[string]any{"delta": "P2W", "time": "2026-11-24T21:15:00Z"}, want: "2026-12-08T21:15:00Z (Tuesday, UTC)"},
		{name: "negative ISO month", args: map[string]any{"delta": "-P1M", "time": "2026-03-15T10:00:00Z"}, want: "2026-02-15T10:00:00Z (Sunday, UTC)"},
		{name: "Jan 31 plus a month normalises to March 3", args: map[string]any{"delta": "P1M", "time": "2026-01-31T12:00:00Z"}, want: "2026-03-03T12:00:00Z (Tuesday, UTC)"},
		{name: "Jan 31 plus a month in a leap year is March 2", args: map[string]any{"delta": "P1M", "time": "2024-01-31T12:00:00Z"}, want: "2024-03-02T12:00:00Z (Saturday, UTC)"},
		{name: "a year after Feb 29 is March 1", args: map[string]any{"delta": "P1Y", "time": "2024-02-29T00:00:00Z"}, want: "2025-03-01T00:00:00Z (Saturday, UTC)"},
		{name: "all ISO parts", args: map[string]any{"delta": "P1Y2M3DT4H5M6S", "time": "2026-01-01T00:00:00Z"}, want: "2027-03-04T04:05:06Z (Thursday, UTC)"},
		{name: "lower-case ISO", args: map[string]any{"delta": "p1d", "time": "2026-11-24T21:15:00Z"}, want: "2026-11-25T21:15:00Z (Wednesday, UTC)"},
		{name: "fractional ISO seconds", args: map[string]any{"delta": "PT1.5S", "time": "2026-11-24T21:15:00Z"}, want: "2026-11-24T21:15:01Z (Tuesday, UTC)"},
		{name: "keeps the start's offset", args: map[string]any{"delta": "PT1H", "time": "2026-11-24T22:15:00+01:00"}, want: "2026-11-24T23:15:00+01:00 (Tuesday, +01:00)"},
		{name: "a calendar day across DST keeps the wall clock", args: map[string]any{"delta": "P1D", "time": "2026-03-28T12:00:00+01:00", "timezone": "Europe/Berlin"}, want: "2026-03-29T12:00:00+02:00 (Sunday, CEST)"},
		{name: "24 hours across DST is elapsed time", args: map[string]any{"delta": "PT24H", "time": "2026-03-28T12:00:00+01:00", "timezone": "Europe/Berlin"}, want: "2026-03-29T13:00:00+02:00 (Sunday, CEST)"},
		{name: "now in a zone", args: map[string]any{"delta": "P1D", "timezone": "Asia/Tokyo"}, want: "2026-11-26T06:15:00+09:00 (Thursday, JST)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := mcptest.Call(t, c, "time_add_delta", tt.args)
			require.False(t, res.IsError, res.Text)
			require.Equal(t, tt.want, res.Text)
			require.Equal(t, strings.Fields(tt.want)[0], res.Structured["time"])
		})
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	c := connect(t, fixedNow)
	long := strings.Repeat("a", 201)
	tests := []struct {
		name    string
		tool    string
		args    map[string]any
		naming  string // the argument the message must name
		mention string // another fragment the message must contain
	}{
		{name: "now: unknown timezone", tool: "time_now", args: map[string]any{"timezone": "Mars/Olympus"}, naming: "timezone", mention: "Mars/Olympus"},
		{name: "now: the server's Local zone", tool: "time_now", args: map[string]any{"timezone": "Local"}, naming: "timezone", mention: "IANA"},
		{name: "now: path-like timezone", tool: "time_now", args: map[string]any{"timezone": "../../etc/passwd"}, naming: "timezone"},
		{name: "now: timezone not a string", tool: "time_now", args: map[string]any{"timezone": 1}, naming: "timezone", mention: "string"},
		{name: "now: timezone too long", tool: "time_now", args: map[string]any{"timezone": long}, naming: "timezone", mention: "200"},
		{name: "format: missing time", tool: "time_format", args: map[string]any{"layout": "date"}, naming: "time", mention: "missing"},
		{name: "format: blank time", tool: "time_format", args: map[string]any{"time": "  "}, naming: "time", mention: "missing"},
		{name: "format: unparsable time", tool: "time_format", args: map[string]any{"time": "tomorrow"}, naming: "time", mention: "RFC 3339"},
		{name: "format: time without zone", tool: "time_format", args: map[string]any{"time": "2026-11-24 21:15"}, naming: "time"},
		{name: "format: time too long", tool: "time_format", args: map[string]any{"time": long}, naming: "time"},
		{name: "format: layout without elements", tool: "time_format", args: map[string]any{"time": "2026-11-24T21:15:00Z", "layout": "YYYY-MM-DD"}, naming: "layout", mention: "reference time"},
		{name: "format: layout too long", tool: "time_format", args: map[string]any{"time": "2026-11-24T21:15:00Z", "layout": long}, naming: "layout"},
		{name: "format: unknown timezone", tool: "time_format", args: map[string]any{"time": "2026-11-24T21:15:00Z", "timezone": "CEST+"}, naming: "timezone"},
		{name: "add: missing delta", tool: "time_add_delta", args: map[string]any{"time": "2026-11-24T21:15:00Z"}, naming: "delta", mention: "missing"},
		{name: "add: empty delta", tool: "time_add_delta", args: map[string]any{"delta": ""}, naming: "delta", mention: "missing"},
		{name: "add: delta not a string", tool: "time_add_delta", args: map[string]any{"delta": 90}, naming: "delta", mention: "string"},
		{name: "add: days as a Go duration", tool: "time_add_delta", args: map[string]any{"delta": "1d"}, naming: "delta", mention: "P1D"},
		{name: "add: bare P", tool: "time_add_delta", args: map[string]any{"delta": "P"}, naming: "delta"},
		{name: "add: dangling T", tool: "time_add_delta", args: map[string]any{"delta": "P1DT"}, naming: "delta"},
		{name: "add: fractional ISO days", tool: "time_add_delta", args: map[string]any{"delta": "P1.5D"}, naming: "delta"},
		{name: "add: ISO parts out of order", tool: "time_add_delta", args: map[string]any{"delta": "P1D2M"}, naming: "delta"},
		{name: "add: too many years", tool: "time_add_delta", args: map[string]any{"delta": "P2000000Y"}, naming: "delta", mention: "too large"},
		{name: "add: too many hours", tool: "time_add_delta", args: map[string]any{"delta": "PT999999999H"}, naming: "delta", mention: "too large"},
		{name: "add: Go duration overflow", tool: "time_add_delta", args: map[string]any{"delta": "9999999999h"}, naming: "delta"},
		{name: "add: result after year 9999", tool: "time_add_delta", args: map[string]any{"delta": "P8000Y"}, naming: "delta", mention: "9999"},
		{name: "add: delta too long", tool: "time_add_delta", args: map[string]any{"delta": long}, naming: "delta"},
		{name: "add: unparsable time", tool: "time_add_delta", args: map[string]any{"delta": "P1D", "time": "now"}, naming: "time"},
		{name: "add: unknown timezone", tool: "time_add_delta", args: map[string]any{"delta": "P1D", "timezone": "Europe/Atlantis"}, naming: "timezone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := mcptest.Call(t, c, tt.tool, tt.args)
			require.True(t, res.IsError, "got a result: %s", res.Text)
			require.Contains(t, res.Text, `"`+tt.naming+`"`)
			require.Contains(t, res.Text, tt.mention)
			require.Less(t, len(res.Text), 600, "messages stay short: the model reads them")
		})
	}
}

func TestOversizedRequestIsRefused(t *testing.T) {
	t.Parallel()
	c := connect(t, fixedNow)
	var req mcp.CallToolRequest
	req.Params.Name = "time_now"
	req.Params.Arguments = map[string]any{"timezone": strings.Repeat("a", 70<<10)}
	_, err := c.CallTool(t.Context(), req)
	require.ErrorIs(t, err, mcp.ErrParseError, "a body over 64 KiB is not read")
	require.ErrorContains(t, err, "request body too large")
	require.Equal(t, "2026-11-24T21:15:00Z (Tuesday, UTC)", mcptest.Call(t, c, "time_now", nil).Text, "the server keeps serving")
}

func TestHandlerServesOnlyTheEndpoint(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(datetime.Handler(datetime.Options{Logger: quiet}))
	t.Cleanup(srv.Close)
	tests := []struct {
		name   string
		method string
		path   string
		want   int
	}{
		{name: "root", method: http.MethodPost, path: "/", want: http.StatusNotFound},
		{name: "trailing slash", method: http.MethodPost, path: "/mcp/", want: http.StatusNotFound},
		{name: "sub path", method: http.MethodPost, path: "/mcp/x", want: http.StatusNotFound},
		{name: "no standalone stream", method: http.MethodGet, path: "/mcp", want: http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(t.Context(), tt.method, srv.URL+tt.path, strings.NewReader(`{}`))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, res.Body)
			require.NoError(t, res.Body.Close())
			require.Equal(t, tt.want, res.StatusCode)
		})
	}
}

func TestListenAndServe(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- datetime.ListenAndServe(ctx, addr, datetime.Options{Now: func() time.Time { return fixedNow }, Logger: quiet})
	}()

	var c *client.Client
	require.Eventually(t, func() bool {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		_ = conn.Close()
		return true
	}, 5*time.Second, 10*time.Millisecond)
	c = mcptest.Dial(t, "http://"+addr+datetime.EndpointPath, "datetime")
	require.Equal(t, "2026-11-24T21:15:00Z (Tuesday, UTC)", mcptest.Call(t, c, "time_now", nil).Text)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("ListenAndServe did not return after ctx was cancelled")
	}
	_, err = net.Dial("tcp", addr)
	require.Error(t, err, "the listener is closed")
}
