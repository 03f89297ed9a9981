package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/reconcile"
)

func settlementLine(key, date string, gross, fee int64, open bool) reconcile.Line {
	return reconcile.Line{
		Provider: reconcile.Vipps, Source: "report.xml", SourceLine: 7, Key: key, Kind: "capture",
		Reference: "ws-order-1", PSPReference: "psp-" + key, MSN: "123456", Gross: gross, Fee: fee,
		Currency: "NOK", LedgerDate: date, Open: open,
	}
}

// testSettlementImport: lines and payouts round-trip; the same file twice
// changes nothing; a line known open is closed when it comes again closed,
// with the closed day's fee; a line stored closed is left as it is;
// nothing of a failed import is kept.
func testSettlementImport(t *testing.T, s bridge.Store) {
	ctx := context.Background()
	imp := &bridge.SettlementImport{
		Provider: reconcile.Vipps, Source: "report.xml", Hash: "h1",
		Lines: []reconcile.Line{
			settlementLine("a", "2026-11-20", 10000, 175, false),
			settlementLine("b", "2026-11-21", -2500, 0, true),
		},
		Payouts:  []reconcile.Payout{{Provider: reconcile.Vipps, ID: "L1-7", MSN: "123456", Date: "2026-11-20", Amount: 9825, Currency: "NOK", Source: "report.xml"}},
		Warnings: []string{"line 3: note"},
	}
	res, err := s.ImportSettlement(ctx, imp)
	require.NoError(t, err)
	require.Equal(t, bridge.ImportResult{NewLines: 2, NewPayouts: 1}, res)

	res, err = s.ImportSettlement(ctx, imp)
	require.NoError(t, err)
	require.True(t, res.AlreadyImported)

	again := &bridge.SettlementImport{Provider: reconcile.Vipps, Source: "feed", Hash: "h2",
		Lines: []reconcile.Line{settlementLine("a", "2026-11-20", 10000, 999, false), settlementLine("b", "2026-11-21", -2500, 40, false)}}
	again.Lines[1].PayoutID = "L1-8"
	res, err = s.ImportSettlement(ctx, again)
	require.NoError(t, err)
	require.Equal(t, bridge.ImportResult{KnownLines: 2, ClosedLines: 1}, res)

	lines, err := s.SettlementLines(ctx, "2026-11-01", "2026-11-30")
	require.NoError(t, err)
	require.Len(t, lines, 2)
	require.Equal(t, "a", lines[0].Key)
	require.Equal(t, int64(10000), lines[0].Gross)
	require.Equal(t, int64(175), lines[0].Fee)
	require.Equal(t, 7, lines[0].SourceLine)
	require.False(t, lines[1].Open)
	require.Equal(t, "L1-8", lines[1].PayoutID)
	require.Equal(t, int64(-2500), lines[1].Gross)
	require.Equal(t, int64(40), lines[1].Fee, "the closing import's fee replaces the open day's 0")
	require.Equal(t, int64(175), lines[0].Fee, "a line stored closed is left as it is")

	only, err := s.SettlementLines(ctx, "2026-11-21", "2026-11-21")
	require.NoError(t, err)
	require.Len(t, only, 1)

	payouts, err := s.SettlementPayouts(ctx, "2026-11-20", "2026-11-20")
	require.NoError(t, err)
	require.Equal(t, []reconcile.Payout{imp.Payouts[0]}, payouts)

	bad := &bridge.SettlementImport{Provider: reconcile.Vipps, Source: "bad", Hash: "h3",
		Lines: []reconcile.Line{settlementLine("c", "2026-11-22", 1, 0, false), {Source: "bad", SourceLine: 2}}}
	_, err = s.ImportSettlement(ctx, bad)
	require.Error(t, err)
	lines, err = s.SettlementLines(ctx, "2026-11-22", "2026-11-22")
	require.NoError(t, err)
	require.Empty(t, lines, "nothing of a failed import is kept")
	_, err = s.ImportSettlement(ctx, &bridge.SettlementImport{Provider: reconcile.Vipps})
	require.Equal(t, bridge.ECodeInvalid, bridge.ErrorCode(err))
}

// testMovements: successful captures and refunds of our payments, by time.
func testMovements(t *testing.T, s bridge.Store) {
	ctx := context.Background()
	p := newPayment("ws-order-1-1", "webshop", "order-1", 1)
	mustInsert(t, s, p)
	events := []bridge.PaymentEvent{newEvent("CAPTURED", "c1", 10000), newEvent("CAPTURED", "c2", 5000), newEvent("REFUNDED", "r1", 2500), newEvent("AUTHORIZED", "a1", 15000)}
	failed := newEvent("CAPTURED", "c3", 1)
	failed.Success = false
	events = append(events, failed)
	for i := range events {
		events[i].OccurredAt = time.Date(2026, 11, 20, 10, i, 0, 0, time.UTC)
	}
	mustCommit(t, s, &bridge.Change{Payment: p, Events: events})
	ms, err := s.Movements(ctx, time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	require.Len(t, ms, 3)
	require.Equal(t, bridge.Movement{Reference: "ws-order-1-1", KCOOrderID: "order-1", Unit: "webshop", Kind: "capture",
		PSPReference: "c1", Amount: 10000, Currency: "NOK", At: events[0].OccurredAt}, ms[0])
	require.Equal(t, "refund", ms[2].Kind)
	none, err := s.Movements(ctx, time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	require.Empty(t, none)
}

func testReportCursor(t *testing.T, s bridge.Store) {
	ctx := context.Background()
	c, err := s.ReportCursor(ctx, "L1/funds")
	require.NoError(t, err)
	require.Empty(t, c)
	require.NoError(t, s.SetReportCursor(ctx, "L1/funds", "abc"))
	require.NoError(t, s.SetReportCursor(ctx, "L1/funds", "def"))
	c, err = s.ReportCursor(ctx, "L1/funds")
	require.NoError(t, err)
	require.Equal(t, "def", c)
}
