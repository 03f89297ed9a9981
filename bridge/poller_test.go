package bridge

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// After a failed read a waiting payment is read again on its usual 2-s
// schedule (its shopper's page reads only what we know); anything else
// backs off pollAfterError, and a payment with no more polls gets one.
func TestAfterPollError(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	waiting := &Payment{State: StateCreated, CreatedAt: now.Add(-time.Minute)}
	require.Equal(t, now.Add(pollWhileWaiting), afterPollError(waiting, now))
	authorized := &Payment{State: StateAuthorized, CreatedAt: now.Add(-time.Hour)}
	require.Equal(t, now.Add(pollAfterError), afterPollError(authorized, now))
	final := &Payment{State: StateAborted, CreatedAt: now.Add(-time.Minute)}
	require.Equal(t, now.Add(pollAfterError), afterPollError(final, now))
}

// A read's release never makes the next read due sooner than
// pollWhileWaiting after it was answered: not by the payment's own
// schedule (a young payment's first poll, 5 s after its create, after a
// read a webhook asked for at 3.5 s), while a later schedule and "no more
// polls" are kept as they are.
func TestReadReleaseKeepsTheGap(t *testing.T) {
	now := time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC)
	s := &Service{Now: func() time.Time { return now }}
	young := &Payment{Reference: "r-1", State: StateCreated, CreatedAt: now.Add(-3500 * time.Millisecond)}
	got := s.readRelease(young, nextPoll(young, now))
	require.Equal(t, PollRelease{Reference: "r-1", Next: now.Add(pollWhileWaiting), Read: now, Gap: pollWhileWaiting}, got)
	require.Equal(t, now.Add(time.Minute), s.readRelease(young, now.Add(time.Minute)).Next)
	require.True(t, s.readRelease(young, time.Time{}).Next.IsZero())
}
