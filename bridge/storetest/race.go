package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
)

// raceWinner runs n calls at once and returns the index of the one that
// succeeded. Every other call must fail with ErrConflict.
func raceWinner(t *testing.T, n int, call func(i int) error) int {
	t.Helper()
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = call(i)
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			require.Equal(t, -1, winner, "calls %d and %d both succeeded", winner, i)
			winner = i
		default:
			require.ErrorIs(t, err, bridge.ErrConflict, "call %d", i)
		}
	}
	require.NotEqual(t, -1, winner, "no call succeeded")
	return winner
}

// testRaceInsertAttempt is two shoppers (or one double-clicking) hitting the
// redirect for the same order at once: one attempt 1, not fifty.
func testRaceInsertAttempt(t *testing.T, s bridge.Store) {
	const n = 50
	payments := make([]*bridge.Payment, n)
	for i := range payments {
		payments[i] = newPayment(fmt.Sprintf("KCO-1-1-%02d", i), "unit-a", "KCO-1", 1)
	}
	winner := raceWinner(t, n, func(i int) error {
		return s.InsertPayment(t.Context(), payments[i])
	})

	ps, err := s.PaymentsByOrder(t.Context(), "KCO-1")
	require.NoError(t, err)
	require.Len(t, ps, 1)
	want := *payments[winner]
	requirePaymentEqual(t, &want, ps[0])
}

// testRaceUpdateVersion is the webhook, the poller and the return page
// learning the outcome at once: one update wins, the others must reload.
func testRaceUpdateVersion(t *testing.T, s bridge.Store) {
	const n = 20
	p := newPayment("KCO-1-1", "unit-a", "KCO-1", 1)
	mustInsert(t, s, p)

	updates := make([]*bridge.Payment, n)
	entries := make([]*bridge.HistoryEntry, n)
	for i := range updates {
		u := *p
		u.State = bridge.StateAuthorized
		u.FailureReason = fmt.Sprintf("writer %d", i)
		updates[i] = &u
		entries[i] = &bridge.HistoryEntry{Source: "poller", FromState: bridge.StatePending, ToState: bridge.StateAuthorized, Detail: u.FailureReason}
	}
	winner := raceWinner(t, n, func(i int) error {
		return UpdatePayment(t.Context(), s, updates[i], entries[i])
	})

	stored := mustPayment(t, s, p.Reference)
	require.EqualValues(t, 2, stored.Version)
	requirePaymentEqual(t, updates[winner], stored)
	h, err := s.History(t.Context(), p.Reference)
	require.NoError(t, err)
	require.Len(t, h, 1)
	require.Equal(t, entries[winner].ID, h[0].ID)
	require.Equal(t, updates[winner].FailureReason, h[0].Detail)
}
