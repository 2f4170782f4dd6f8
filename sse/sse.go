// Package sse reads server-sent event streams (the text/event-stream format of the HTML
// standard): the API's turn and ingestion-run streams, read by the command-line client and by the
// tests' API client.
package sse

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"time"
)

// Event is one dispatched event.
type Event struct {
	// ID is the event's id field; "" when it had none.
	ID string
	// Type is the event field; "" when it had none (the standard's default, "message").
	Type string
	// Data is the data lines joined by newlines.
	Data []byte
}

// MaxLine bounds one line of the stream.
const MaxLine = 4 << 20

// Reader reads events from a stream.
type Reader struct {
	sc    *bufio.Scanner
	retry time.Duration
}

// NewReader reads events from r.
func NewReader(r io.Reader) *Reader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLine)
	sc.Split(scanLines)
	return &Reader{sc: sc}
}

// Retry is the reconnection time the stream asked for (its last retry field), 0 if none.
func (r *Reader) Retry() time.Duration { return r.retry }

// Next returns the next event. At the end of the stream it returns io.EOF, or
// io.ErrUnexpectedEOF when the stream ended in the middle of an event; any other error is the
// underlying reader's. Blocks without data (only comments, an id or a retry) are not events.
func (r *Reader) Next() (Event, error) {
	var (
		ev      Event
		data    bytes.Buffer
		hasData bool
		partial bool
	)
	for r.sc.Scan() {
		line := r.sc.Bytes()
		if len(line) == 0 {
			if hasData {
				ev.Data = bytes.Clone(data.Bytes())
				return ev, nil
			}
			ev, data, partial = Event{}, bytes.Buffer{}, false
			continue
		}
		partial = true
		if line[0] == ':' {
			continue // a comment (keep-alive)
		}
		field, value, found := bytes.Cut(line, []byte(":"))
		if found && len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		switch string(field) {
		case "event":
			ev.Type = string(value)
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
		case "id":
			if !bytes.ContainsRune(value, 0) {
				ev.ID = string(value)
			}
		case "retry":
			if ms, err := strconv.ParseUint(string(value), 10, 31); err == nil {
				r.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
	if err := r.sc.Err(); err != nil {
		return Event{}, err
	}
	if partial {
		return Event{}, io.ErrUnexpectedEOF
	}
	return Event{}, io.EOF
}

// scanLines splits at \n, \r\n or a lone \r, as the standard says.
func scanLines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	for i, b := range data {
		switch b {
		case '\n':
			return i + 1, data[:i], nil
		case '\r':
			if i+1 < len(data) {
				if data[i+1] == '\n' {
					return i + 2, data[:i], nil
				}
				return i + 1, data[:i], nil
			}
			if atEOF {
				return i + 1, data[:i], nil
			}
			return 0, nil, nil // a \n may follow
		}
	}
	if atEOF && len(data) > 0 {
		// A last line without its end: the event it belongs to is incomplete; hand it over so
		// that the caller sees a partial event.
		return len(data), data, nil
	}
	return 0, nil, nil
}
