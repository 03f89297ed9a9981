package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
)

// CheckMigratedPolls checks, through the store's own calls, a database
// made before the poller's bookkeeping moved to payment_polls and then
// opened by this build. Before the move the database held "ld-waiting"
// (return token "tok-1", next poll at next, leased by "replica-1" until
// next+10s, last read at next-1s, asked for by "webhook" at next) and
// "ld-done" (no poll). Its schedule, its lease and its pending ask must
// all have moved with it.
func CheckMigratedPolls(t *testing.T, s bridge.Store, next time.Time) {
	t.Helper()
	ctx := t.Context()
	ok, err := s.MigrationsApplied(ctx)
	require.NoError(t, err)
	require.True(t, ok)

	got, err := s.Payment(ctx, "ld-waiting")
	require.NoError(t, err)
	require.True(t, next.Equal(got.NextPollAt), "schedule: %v", got.NextPollAt)
	require.Equal(t, "tok-1", got.ReturnToken)
	done, err := s.Payment(ctx, "ld-done")
	require.NoError(t, err)
	require.True(t, done.NextPollAt.IsZero())

	// The lease moved too: another poller cannot claim the payment before it ends.
	claimed, err := s.ClaimDuePolls(ctx, next.Add(time.Second), "replica-2", 10*time.Second, 10)
	require.NoError(t, err)
	require.Empty(t, claimed)
	claimed, err = s.ClaimDuePolls(ctx, next.Add(11*time.Second), "replica-2", 10*time.Second, 10)
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.Equal(t, "ld-waiting", claimed[0].Reference)
	require.Equal(t, "webhook", claimed[0].ReadAskedBy, "the pending ask moved with it")
}
