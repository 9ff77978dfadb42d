package smtptest

import (
	"sync"
	"testing"
)

// HoldStage is where a held transaction stalls.
type HoldStage int

// The stages a transaction can be held at.
const (
	// HoldAtRcpt stalls before answering RCPT TO: the client is mid-send
	// and nothing is accepted yet. A client that dies here has sent
	// nothing.
	HoldAtRcpt HoldStage = iota + 1
	// HoldAfterData stalls after the message was accepted (it is in
	// Messages) but before the client hears so: a client that dies here
	// does not know that it sent the message.
	HoldAfterData
)

// Hold is a stall of the next transaction that reaches its stage.
type Hold struct {
	stage    HoldStage
	reached  chan struct{}
	released chan struct{}
	once     sync.Once
}

// HoldNext stalls the next transaction at stage until the Hold is
// released (at the latest when the test ends).
func (s *Server) HoldNext(t testing.TB, stage HoldStage) *Hold {
	h := &Hold{stage: stage, reached: make(chan struct{}), released: make(chan struct{})}
	s.mu.Lock()
	s.hold = h
	s.mu.Unlock()
	t.Cleanup(h.Release)
	return h
}

// Reached is closed when a transaction stalls at the hold.
func (h *Hold) Reached() <-chan struct{} { return h.reached }

// Release lets the stalled transaction go on.
func (h *Hold) Release() { h.once.Do(func() { close(h.released) }) }

// waitHold stalls the calling transaction if the armed hold is at stage.
func (s *Server) waitHold(stage HoldStage) {
	s.mu.Lock()
	h := s.hold
	if h == nil || h.stage != stage {
		s.mu.Unlock()
		return
	}
	s.hold = nil
	s.mu.Unlock()
	close(h.reached)
	<-h.released
}
