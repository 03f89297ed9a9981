package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
)

// testCaptureDeadlinesDue: the reservations handed out for a capture
// deadline notice are the AUTHORIZED ones with something left to capture
// whose deadline is within the warning (no notice yet) or past (not yet
// told it passed), earliest deadline first, at most limit; a notice, once
// stored, takes the payment out until the next one is due.
func testCaptureDeadlinesDue(t *testing.T, s bridge.Store) {
	ctx := t.Context()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	warnBy := now.Add(48 * time.Hour)
	add := func(ref string, state bridge.PaymentState, deadline time.Time, notice string, captured, cancelled int64) *bridge.Payment {
		p := newPayment(ref, "unit-dk", "KCO-"+ref, 1)
		p.State, p.Authorized, p.Captured, p.Refunded, p.Cancelled = state, 10000, captured, 0, cancelled
		p.CaptureGuaranteedUntil, p.CaptureDeadlineNotice = deadline, notice
		mustInsert(t, s, p)
		return p
	}
	add("near-1", bridge.StateAuthorized, now.Add(47*time.Hour), "", 0, 0)
	add("near-2", bridge.StateAuthorized, now.Add(48*time.Hour), "", 4000, 0)
	add("passed-1", bridge.StateAuthorized, now.Add(-time.Hour), bridge.CaptureDeadlineNear, 0, 0)
	add("passed-2", bridge.StateAuthorized, now, "", 0, 0)
	add("later", bridge.StateAuthorized, now.Add(49*time.Hour), "", 0, 0)
	add("warned", bridge.StateAuthorized, now.Add(time.Hour), bridge.CaptureDeadlineNear, 0, 0)
	add("told", bridge.StateAuthorized, now.Add(-time.Hour), bridge.CaptureDeadlinePassed, 0, 0)
	add("captured", bridge.StateAuthorized, now.Add(time.Hour), "", 10000, 0)
	add("cancelled", bridge.StateAuthorized, now.Add(-time.Hour), "", 3000, 7000)
	add("aborted", bridge.StateAborted, now.Add(time.Hour), "", 0, 0)
	add("unknown", bridge.StateAuthorized, time.Time{}, "", 0, 0)

	refs := func(ps []*bridge.Payment) []string {
		out := []string{}
		for _, p := range ps {
			out = append(out, p.Reference)
		}
		return out
	}
	got, err := s.CaptureDeadlinesDue(ctx, warnBy, now, 100)
	require.NoError(t, err)
	require.Equal(t, []string{"passed-1", "passed-2", "near-1", "near-2"}, refs(got))
	requirePaymentEqual(t, mustPayment(t, s, "passed-1"), got[0])

	got, err = s.CaptureDeadlinesDue(ctx, warnBy, now, 2)
	require.NoError(t, err)
	require.Equal(t, []string{"passed-1", "passed-2"}, refs(got))
	got, err = s.CaptureDeadlinesDue(ctx, warnBy, now, 0)
	require.NoError(t, err)
	require.Empty(t, got)

	p := mustPayment(t, s, "near-1")
	p.CaptureDeadlineNotice = bridge.CaptureDeadlineNear
	require.NoError(t, s.Commit(ctx, &bridge.Change{Payment: p}))
	got, err = s.CaptureDeadlinesDue(ctx, warnBy, now, 100)
	require.NoError(t, err)
	require.Equal(t, []string{"passed-1", "passed-2", "near-2"}, refs(got), "warned: out until its deadline passes")
	got, err = s.CaptureDeadlinesDue(ctx, now.Add(96*time.Hour), now.Add(48*time.Hour), 100)
	require.NoError(t, err)
	require.Equal(t, []string{"passed-1", "passed-2", "warned", "near-1", "near-2", "later"}, refs(got))
}
