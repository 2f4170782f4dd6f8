package ollama

// Hanging returns the number of requests held by a Hang fault, so that tests
// can wait for a request to be hung instead of sleeping.
func (s *Server) Hanging() int64 { return s.faults.hanging.Load() }
