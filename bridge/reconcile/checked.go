package reconcile

import (
	"errors"
	"fmt"
)

// ErrOverflow is the error (errors.Is) Run and Matcher.Run return when a sum
// of amounts does not fit an int64: the result would be a wrapped number,
// so there is none.
var ErrOverflow = errors.New("reconcile: amount overflows int64")

// addChecked is a+b and whether it did not overflow.
func addChecked(a, b int64) (int64, bool) {
	s := a + b
	return s, (s^a)&(s^b) >= 0
}

// subChecked is a-b and whether it did not overflow.
func subChecked(a, b int64) (int64, bool) {
	s := a - b
	return s, (a^b)&(a^s) >= 0
}

// mulChecked is a*b and whether it did not overflow.
func mulChecked(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	p := a * b
	if p/b != a || (a == -1 && b == -1<<63) || (b == -1 && a == -1<<63) {
		return p, false
	}
	return p, true
}

// overflow records that what overflowed; the first overflow of a run is
// its error.
func (e *engine) overflow(what string) {
	if e.err == nil {
		e.err = fmt.Errorf("%w: %s", ErrOverflow, what)
	}
}

// plus is a+b, recording an overflow of what (in the reference being
// matched, when there is one).
func (e *engine) plus(a, b int64, what string) int64 {
	s, ok := addChecked(a, b)
	if !ok {
		if ref := e.run.reference; ref != "" {
			what += " of reference " + ref
		}
		e.overflow(what)
	}
	return s
}
