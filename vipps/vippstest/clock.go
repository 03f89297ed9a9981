package vippstest

import (
	"sync"
	"time"
)

// Clock is a settable clock for Options.Now, safe for concurrent use. It is
// the one test clock of the service's tests too: the service, the fakes and
// the stores' conformance suite all read it.
type Clock struct {
	mu sync.Mutex
	t  time.Time
	// Step, when set, moves the clock on by itself before each reading, so
	// every reading is distinct: a store that drops precision, or keeps it
	// in one place and not another, is caught.
	Step time.Duration
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.Step)
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}
