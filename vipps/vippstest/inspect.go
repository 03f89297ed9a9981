package vippstest

import (
	"bytes"
	"time"
)

// Payment returns a snapshot of the payment with this reference; false when
// no payment, or more than one sales unit's, has it. Time-based transitions
// that are due are applied first.
func (s *Server) Payment(reference string) (PaymentSnapshot, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	p, ok := s.findPayment(reference)
	if !ok {
		return PaymentSnapshot{}, false
	}
	return p.snapshot(), true
}

// PaymentOf is Payment for one sales unit.
func (s *Server) PaymentOf(msn, reference string) (PaymentSnapshot, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	p, ok := s.payments[paymentKey{msn: msn, reference: reference}]
	if !ok {
		return PaymentSnapshot{}, false
	}
	return p.snapshot(), true
}

// References lists the references of all payments in creation order.
func (s *Server) References() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.order))
	for i, k := range s.order {
		out[i] = k.reference
	}
	return out
}

// Calls counts the requests for op (one of the Op* names) that reached the
// fake, rejected ones included.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// Requests returns every request that reached the fake, in order, with its
// headers (Vipps-System-* included) and body.
func (s *Server) Requests() []RecordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]RecordedRequest, len(s.requests))
	for i, r := range s.requests {
		c := *r
		c.Header = r.Header.Clone()
		c.Body = bytes.Clone(r.Body)
		out[i] = c
	}
	return out
}

// ResetRecordings forgets the recorded requests, call counts, deliveries
// and fault counts; payments, tokens and webhooks stay.
func (s *Server) ResetRecordings() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
	s.calls = map[string]int{}
	s.deliveries = nil
	s.faultCounts = FaultCounts{}
}

// ResetRateLimits forgets the rate-limit counters.
func (s *Server) ResetRateLimits() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rate = map[rateKey][]time.Time{}
}
