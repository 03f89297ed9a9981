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
