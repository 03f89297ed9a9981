package vippstest

import (
	mrand "math/rand/v2"
	"slices"
	"time"
)

// Faults injects failures for fault tests. Rates are probabilities in
// [0, 1] (floats are fine here: they are not money).
type Faults struct {
	// Seed makes the fault decisions reproducible; zero keeps the current
	// generator (derived from Options.Seed).
	Seed int64
	// ServerErrorRate answers 500 (ErrorCode 3010) before acting.
	ServerErrorRate float64
	// TimeoutAfterCommitRate acts, then hangs until the client gives up
	// (its request context ends), Hang passes, or the server closes; after
	// Hang the real answer is written. The client sees "outcome unknown".
	TimeoutAfterCommitRate float64
	// Hang bounds a TimeoutAfterCommit hang (default 30 s).
	Hang time.Duration
	// DropWebhookRate never delivers a webhook (recorded as Dropped).
	DropWebhookRate float64
	// DuplicateWebhookRate delivers a webhook twice.
	DuplicateWebhookRate float64
	// Ops limits ServerErrorRate and TimeoutAfterCommitRate to these
	// operations (the Op* names); empty means every API operation,
	// including the token endpoint but not the landing page.
	Ops []string
}

// FaultCounts counts the faults injected so far.
type FaultCounts struct {
	ServerErrors        int
	TimeoutsAfterCommit int
	DroppedWebhooks     int
	DuplicatedWebhooks  int
}

const defaultHang = 30 * time.Second

// SetFaults replaces the fault configuration; Faults{} turns faults off.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Hang <= 0 {
		f.Hang = defaultHang
	}
	f.Ops = slices.Clone(f.Ops)
	s.faults = f
	if f.Seed != 0 {
		s.faultRand = mrand.New(mrand.NewPCG(uint64(f.Seed), 0x766970707374))
	}
}

// FaultCounts reports how many faults were injected.
func (s *Server) FaultCounts() FaultCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faultCounts
}

func (s *Server) faultOp(op string) bool {
	if len(s.faults.Ops) == 0 {
		return slices.Contains(apiOps, op)
	}
	return slices.Contains(s.faults.Ops, op)
}

func (s *Server) roll(rate float64) bool {
	return rate > 0 && s.faultRand.Float64() < rate
}

func (s *Server) injectServerError(op string) bool {
	if s.faultOp(op) && s.roll(s.faults.ServerErrorRate) {
		s.faultCounts.ServerErrors++
		return true
	}
	return false
}

func (s *Server) injectHang(op string) time.Duration {
	if s.faultOp(op) && s.roll(s.faults.TimeoutAfterCommitRate) {
		s.faultCounts.TimeoutsAfterCommit++
		return s.faults.Hang
	}
	return 0
}

func (s *Server) injectDrop() bool {
	if s.roll(s.faults.DropWebhookRate) {
		s.faultCounts.DroppedWebhooks++
		return true
	}
	return false
}

func (s *Server) injectDuplicate() bool {
	if s.roll(s.faults.DuplicateWebhookRate) {
		s.faultCounts.DuplicatedWebhooks++
		return true
	}
	return false
}
