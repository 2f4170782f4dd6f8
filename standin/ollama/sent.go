package ollama

import (
	"slices"
	"sync"

	"github.com/ollama/ollama/api"
)

// sentLog keeps the messages of the latest chat request the stand-in answered.
type sentLog struct {
	mu   sync.Mutex
	last []api.Message
}

func (l *sentLog) record(msgs []api.Message) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last = slices.Clone(msgs)
}

// LastChatMessages returns the messages of the latest chat request the stand-in answered (nil
// before the first): what the "model" was sent, for tests asserting which history reached it.
func (s *Server) LastChatMessages() []api.Message {
	s.sent.mu.Lock()
	defer s.sent.mu.Unlock()
	return slices.Clone(s.sent.last)
}
