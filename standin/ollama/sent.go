package ollama

import (
	"maps"
	"slices"
	"sync"

	"github.com/ollama/ollama/api"
)

// sentLog keeps the messages and options of the latest chat request the stand-in answered.
type sentLog struct {
	mu      sync.Mutex
	last    []api.Message
	options map[string]any
}

func (l *sentLog) record(req *api.ChatRequest) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last, l.options = slices.Clone(req.Messages), maps.Clone(req.Options)
}

// LastChatMessages returns the messages of the latest chat request the stand-in answered (nil
// before the first): what the "model" was sent, for tests asserting which history reached it.
func (s *Server) LastChatMessages() []api.Message {
	s.sent.mu.Lock()
	defer s.sent.mu.Unlock()
	return slices.Clone(s.sent.last)
}

// LastChatOptions returns the options (temperature, num_predict, …) of the latest chat request
// the stand-in answered, as they arrived (numbers as JSON decodes them: float64); nil when it had
// none.
func (s *Server) LastChatOptions() map[string]any {
	s.sent.mu.Lock()
	defer s.sent.mu.Unlock()
	return maps.Clone(s.sent.options)
}
