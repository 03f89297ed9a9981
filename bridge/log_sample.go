package bridge

import (
	"sync"
	"time"
)

// logSample lets one line of a kind through per period and counts the
// ones it holds back, so that a flood of the same event is one line a
// minute that says how many it stands for.
type logSample struct {
	mu     sync.Mutex
	last   time.Time
	logged bool
	held   int
}

// allow reports whether a line may be written at now, and how many were
// held back since the last one written.
func (l *logSample) allow(now time.Time, every time.Duration) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.logged && now.Sub(l.last) < every && now.Sub(l.last) >= 0 {
		l.held++
		return false, 0
	}
	held := l.held
	l.last, l.logged, l.held = now, true, 0
	return true, held
}
