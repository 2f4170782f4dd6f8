package ollama

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
)

const injectedFailure = "stand-in injected failure"

// Faults makes an endpoint misbehave; the zero value means no faults.
type Faults struct {
	FailFirst int     `json:"fail_first"` // fail the first N calls after the faults are set
	FailRate  float64 `json:"fail_rate"`  // then fail this fraction of calls (0..1)
	Hang      bool    `json:"hang"`       // hold requests until the client leaves, the server closes or ClearFaults
	Status    int     `json:"status"`     // HTTP status of a failure, 400..599; default 500
	Seed      int64   `json:"seed"`       // seed of the FailRate sequence
}

func (f Faults) validate() error {
	switch {
	case f.FailFirst < 0:
		return errors.New("fail_first must not be negative")
	case f.FailRate < 0 || f.FailRate > 1:
		return errors.New("fail_rate must be between 0 and 1")
	case f.Status != 0 && (f.Status < 400 || f.Status > 599):
		return fmt.Errorf("status %d is not an HTTP error status (400..599)", f.Status)
	}
	return nil
}

func validEndpoint(endpoint string) bool {
	return endpoint == "chat" || endpoint == "embed" || endpoint == "*"
}

type faultState struct {
	faults Faults
	calls  int
	rng    *rand.Rand
}

type faultAction int

const (
	faultNone faultAction = iota
	faultFail
	faultHang
)

type faultTable struct {
	mu      sync.Mutex
	states  map[string]*faultState
	release chan struct{} // closed by ClearFaults to let hung requests go
	hanging atomic.Int64  // requests being held by Hang
}

// SetFaults replaces the faults of endpoint ("chat", "embed" or "*") and
// restarts its call count and FailRate sequence. Zero Faults remove them.
// An unknown endpoint is a programming error and panics. FailFirst < 0 counts
// as 0, FailRate is clamped to 0..1 and a Status outside 400..599 becomes 500.
func (s *Server) SetFaults(endpoint string, f Faults) {
	if !validEndpoint(endpoint) {
		panic(fmt.Sprintf("ollama stand-in: SetFaults: unknown endpoint %q (want chat, embed or *)", endpoint))
	}
	f.FailFirst = max(f.FailFirst, 0)
	f.FailRate = min(max(f.FailRate, 0), 1)
	if f.Status < 400 || f.Status > 599 {
		f.Status = http.StatusInternalServerError
	}

	t := &s.faults
	t.mu.Lock()
	defer t.mu.Unlock()
	if f.FailFirst == 0 && f.FailRate == 0 && !f.Hang {
		delete(t.states, endpoint)
		return
	}
	if t.states == nil {
		t.states = make(map[string]*faultState)
	}
	seed := uint64(f.Seed)
	t.states[endpoint] = &faultState{faults: f, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// ClearFaults removes all faults and lets hung requests continue normally.
func (s *Server) ClearFaults() {
	t := &s.faults
	t.mu.Lock()
	defer t.mu.Unlock()
	t.states = nil
	if t.release != nil {
		close(t.release)
		t.release = nil
	}
}

// decide counts a call to endpoint and says what to do with it. For
// faultHang it also returns the channel that ClearFaults closes.
func (t *faultTable) decide(endpoint string) (faultAction, int, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.states[endpoint]
	if st == nil {
		st = t.states["*"]
	}
	if st == nil {
		return faultNone, 0, nil
	}
	st.calls++
	switch {
	case st.faults.Hang:
		if t.release == nil {
			t.release = make(chan struct{})
		}
		return faultHang, 0, t.release
	case st.calls <= st.faults.FailFirst:
		return faultFail, st.faults.Status, nil
	case st.faults.FailRate > 0 && st.rng.Float64() < st.faults.FailRate:
		return faultFail, st.faults.Status, nil
	}
	return faultNone, 0, nil
}

// injectFaults applies the faults of endpoint to the request. It reports
// false if it answered the request.
func (s *Server) injectFaults(w http.ResponseWriter, r *http.Request, endpoint string) bool {
	action, status, release := s.faults.decide(endpoint)
	switch action {
	case faultFail:
		s.stats.failures.Add(1)
		s.log.InfoContext(r.Context(), "ollama stand-in injected a failure", "endpoint", endpoint, "status", status)
		writeError(w, status, injectedFailure)
		return false
	case faultHang:
		s.log.InfoContext(r.Context(), "ollama stand-in hanging a request", "endpoint", endpoint)
		s.faults.hanging.Add(1)
		defer s.faults.hanging.Add(-1)
		select {
		case <-release:
			return true
		case <-r.Context().Done():
			writeError(w, http.StatusServiceUnavailable, "stand-in: request cancelled while hung")
			return false
		}
	}
	return true
}
