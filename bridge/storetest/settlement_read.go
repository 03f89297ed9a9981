package storetest

import (
	"context"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/reconcile"
)

// keysOf reads the keys of the lines q selects and checks their order: by
// ledger date and provider, and within those the lines of one payout
// together.
func keysOf(t *testing.T, s bridge.Store, q bridge.SettlementLineQuery) []string {
	t.Helper()
	var lines []reconcile.Line
	require.NoError(t, s.EachSettlementLine(context.Background(), q, func(l *reconcile.Line) error {
		lines = append(lines, *l)
		return nil
	}))
	rank := func(l reconcile.Line) string { return l.LedgerDate + " " + string(l.Provider) }
	keys := []string{}
	seen := map[string]bool{}
	for i, l := range lines {
		keys = append(keys, l.Key)
		if i == 0 {
			continue
		}
		prev := lines[i-1]
		require.LessOrEqual(t, rank(prev), rank(l), "%s after %s", l.Key, prev.Key)
		run := rank(l) + " " + l.PayoutID
		if rank(prev) != rank(l) || prev.PayoutID != l.PayoutID {
			require.False(t, seen[run], "the lines of payout %q of %s come together", l.PayoutID, l.LedgerDate)
		}
		seen[rank(prev)+" "+prev.PayoutID] = true
	}
	sort.Strings(keys)
	return keys
}

// testEachSettlementLine: a query selects the lines of its ledger days and
// every line of the payouts dated in its payout range, whatever their
// ledger date, each once, in order (see keysOf), with every field as
// stored; fn's error stops the read and is returned; a malformed query is
// refused.
func testEachSettlementLine(t *testing.T, s bridge.Store) {
	ctx := context.Background()
	line := func(p reconcile.Provider, key, date, msn, payout string) reconcile.Line {
		l := settlementLine(key, date, 100, 2, false)
		l.Provider, l.MSN, l.PayoutID = p, msn, payout
		return l
	}
	imp := &bridge.SettlementImport{
		Provider: reconcile.Vipps, Source: "month.xlsx", Hash: "read-1",
		Lines: []reconcile.Line{
			// P-DEC is paid 2026-12-05 for sales days in November and one
			// in October, long before any window around December.
			line(reconcile.Vipps, "v-oct", "2026-10-02", "111111", "P-DEC"),
			line(reconcile.Vipps, "v-nov-b", "2026-11-28", "222222", "P-DEC"),
			line(reconcile.Vipps, "v-nov-a", "2026-11-28", "111111", "P-DEC"),
			// A correction booked after the payout, and after any window.
			line(reconcile.Vipps, "v-jan", "2027-01-10", "111111", "P-DEC"),
			line(reconcile.Vipps, "v-dec-2", "2026-12-02", "111111", "P-2"),
			line(reconcile.Vipps, "v-dec-1", "2026-12-02", "111111", "P-1"),
			line(reconcile.Vipps, "v-dec-0", "2026-12-02", "111111", "P-1"),
			// P-JAN is dated after the payout range: its old line stays out.
			line(reconcile.Vipps, "v-old", "2026-09-15", "111111", "P-JAN"),
		},
		Payouts: []reconcile.Payout{
			{Provider: reconcile.Vipps, ID: "P-DEC", MSN: "111111", Date: "2026-12-05", Amount: 1, Currency: "NOK", Source: "month.xlsx"},
			{Provider: reconcile.Vipps, ID: "P-JAN", MSN: "111111", Date: "2027-01-05", Amount: 1, Currency: "NOK", Source: "month.xlsx"},
		},
	}
	_, err := s.ImportSettlement(ctx, imp)
	require.NoError(t, err)
	// A Kustom payout with a Vipps payout's id does not take the Vipps
	// lines: a payout is its provider's.
	_, err = s.ImportSettlement(ctx, &bridge.SettlementImport{
		Provider: reconcile.Kustom, Source: "kustom.csv", Hash: "read-2",
		Lines:   []reconcile.Line{line(reconcile.Kustom, "k-dec", "2026-12-01", "", "K-1")},
		Payouts: []reconcile.Payout{{Provider: reconcile.Kustom, ID: "P-DEC", Date: "2026-12-05", Amount: 1, Currency: "NOK", Source: "kustom.csv"}},
	})
	require.NoError(t, err)

	require.Equal(t, []string{"k-dec", "v-dec-0", "v-dec-1", "v-dec-2"},
		keysOf(t, s, bridge.SettlementLineQuery{From: "2026-12-01", To: "2026-12-31"}),
		"without a payout range, the ledger days alone")
	require.Equal(t, []string{"k-dec", "v-dec-0", "v-dec-1", "v-dec-2", "v-jan", "v-nov-a", "v-nov-b", "v-oct"},
		keysOf(t, s, bridge.SettlementLineQuery{From: "2026-11-28", To: "2026-12-31", PayoutsFrom: "2026-12-01", PayoutsTo: "2026-12-31"}),
		"every line of a payout of the range, once, whatever its ledger date")
	require.Equal(t, []string{"v-jan", "v-nov-a", "v-nov-b", "v-oct"},
		keysOf(t, s, bridge.SettlementLineQuery{From: "2026-12-10", To: "2026-12-10", PayoutsFrom: "2026-12-05", PayoutsTo: "2026-12-05"}))

	var got reconcile.Line
	require.NoError(t, s.EachSettlementLine(ctx, bridge.SettlementLineQuery{From: "2026-10-02", To: "2026-10-02"}, func(l *reconcile.Line) error {
		got = *l
		return nil
	}))
	require.Equal(t, imp.Lines[0], got, "every field as stored")

	stop := errors.New("enough")
	n := 0
	err = s.EachSettlementLine(ctx, bridge.SettlementLineQuery{From: "2026-01-01", To: "2026-12-31"}, func(*reconcile.Line) error {
		n++
		return stop
	})
	require.ErrorIs(t, err, stop)
	require.Equal(t, 1, n, "the read stops at fn's error")

	for _, q := range []bridge.SettlementLineQuery{
		{From: "2026-12-31", To: "2026-12-01"},
		{From: "2026-12-01", To: "31.12.2026"},
		{From: "2026-12-01", To: "2026-12-31", PayoutsFrom: "2026-12-01"},
		{From: "2026-12-01", To: "2026-12-31", PayoutsFrom: "2026-12-31", PayoutsTo: "2026-12-01"},
	} {
		err := s.EachSettlementLine(ctx, q, func(*reconcile.Line) error { return nil })
		require.Equal(t, bridge.ECodeInvalid, bridge.ErrorCode(err), "%+v", q)
	}
}

// testEachMovement: EachMovement gives what Movements gives, in the order
// they happened, CountMovements counts them, and fn's error stops the read.
func testEachMovement(t *testing.T, s bridge.Store) {
	ctx := context.Background()
	p := newPayment("ws-order-7-1", "webshop", "order-7", 1)
	mustInsert(t, s, p)
	events := []bridge.PaymentEvent{newEvent("CAPTURED", "c1", 10000), newEvent("REFUNDED", "r1", 2500),
		newEvent("CAPTURED", "c2", 5000), newEvent("AUTHORIZED", "a1", 15000)}
	base := time.Date(2026, 11, 30, 22, 0, 0, 0, time.UTC)
	for i, at := range []time.Duration{3 * time.Hour, time.Hour, 2 * time.Hour, 0} {
		events[i].OccurredAt = base.Add(at)
	}
	mustCommit(t, s, &bridge.Change{Payment: p, Events: events})
	from, to := base, base.Add(4*time.Hour)

	var got []bridge.Movement
	require.NoError(t, s.EachMovement(ctx, from, to, func(m *bridge.Movement) error {
		got = append(got, *m)
		return nil
	}))
	require.Len(t, got, 3)
	require.Equal(t, []string{"r1", "c2", "c1"}, []string{got[0].PSPReference, got[1].PSPReference, got[2].PSPReference}, "by time")
	require.Equal(t, bridge.Movement{Reference: "ws-order-7-1", KCOOrderID: "order-7", Unit: "webshop", Kind: "refund",
		PSPReference: "r1", Amount: 2500, Currency: "NOK", At: events[1].OccurredAt}, got[0])
	all, err := s.Movements(ctx, from, to)
	require.NoError(t, err)
	require.Equal(t, got, all)

	n, err := s.CountMovements(ctx, from, to)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	n, err = s.CountMovements(ctx, from, base.Add(2*time.Hour))
	require.NoError(t, err)
	require.Equal(t, 1, n, "[from, to): the capture at to is not counted")

	stop := errors.New("enough")
	calls := 0
	err = s.EachMovement(ctx, from, to, func(*bridge.Movement) error {
		calls++
		return stop
	})
	require.ErrorIs(t, err, stop)
	require.Equal(t, 1, calls)
}
