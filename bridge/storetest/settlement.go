package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// streamOf yields n lines keyed prefix000000.., of day 2026-11-20, payout
// payout; after yields failAt lines it yields fail instead (failAt < 0:
// never); before each line it calls during with the line's index.
func streamOf(prefix string, n int, payout string, failAt int, fail error, during func(i int)) func(func(reconcile.Line, error) bool) {
	return func(yield func(reconcile.Line, error) bool) {
		for i := range n {
			if i == failAt {
				yield(reconcile.Line{}, fail)
				return
			}
			if during != nil {
				during(i)
			}
			l := settlementLine(fmt.Sprintf("%s%06d", prefix, i), "2026-11-20", int64(100+i), 2, false)
			l.SourceLine, l.PayoutID = i+1, payout
			if !yield(l, nil) {
				return
			}
		}
	}
}

// testSettlementImportStream: a stream of several batches is stored whole,
// with the hash and payouts it sets only once drained; while it is stored
// no reader sees any of it; a stream that fails after several batches, or
// whose context ends, leaves nothing, and the same lines import whole
// afterwards.
func testSettlementImportStream(t *testing.T, s bridge.Store) {
	ctx := context.Background()
	n := 2*bridge.SettlementBatch + 7

	imp := &bridge.SettlementImport{Provider: reconcile.Vipps, Source: "big.csv"}
	var seenMidway []reconcile.Line
	inner := streamOf("s", n, "P-9", -1, nil, func(i int) {
		if i == bridge.SettlementBatch+3 { // a batch stored, the import not done
			var err error
			seenMidway, err = s.SettlementLines(ctx, "2026-11-20", "2026-11-20")
			require.NoError(t, err)
		}
	})
	imp.Stream = func(yield func(reconcile.Line, error) bool) {
		inner(yield)
		imp.Hash = "stream-hash"
		imp.Payouts = []reconcile.Payout{{Provider: reconcile.Vipps, ID: "P-9", MSN: "123456", Date: "2026-11-20", Amount: 1, Currency: "NOK", Source: "big.csv"}}
	}
	res, err := s.ImportSettlement(ctx, imp)
	require.NoError(t, err)
	require.Equal(t, bridge.ImportResult{NewLines: n, NewPayouts: 1}, res)
	require.Zero(t, len(seenMidway), "lines of an import in progress are not shown")
	lines, err := s.SettlementLines(ctx, "2026-11-20", "2026-11-20")
	require.NoError(t, err)
	require.Len(t, lines, n)
	require.Equal(t, "s000000", lines[0].Key)
	require.Equal(t, "P-9", lines[n-1].PayoutID)

	again := &bridge.SettlementImport{Provider: reconcile.Vipps, Source: "big.csv", Hash: "stream-hash", Stream: streamOf("s", n, "P-9", -1, nil, nil)}
	res, err = s.ImportSettlement(ctx, again)
	require.NoError(t, err)
	require.Equal(t, bridge.ImportResult{AlreadyImported: true}, res)

	// A parse error after two batches: nothing of the file, then the
	// whole file.
	bad := errors.New("line 10007: not a number")
	failing := &bridge.SettlementImport{Provider: reconcile.Vipps, Source: "t.csv", Hash: "t1", Stream: streamOf("t", n, "P-10", 2*bridge.SettlementBatch+1, bad, nil)}
	_, err = s.ImportSettlement(ctx, failing)
	require.ErrorIs(t, err, bad)
	lines, err = s.SettlementLines(ctx, "2026-11-20", "2026-11-20")
	require.NoError(t, err)
	require.Len(t, lines, n, "nothing of a failed import is kept")

	// Ctrl-C after one batch.
	cctx, cancel := context.WithCancel(ctx)
	cancelled := &bridge.SettlementImport{Provider: reconcile.Vipps, Source: "t.csv", Hash: "t1",
		Stream: streamOf("t", n, "P-10", -1, nil, func(i int) {
			if i == bridge.SettlementBatch+1 {
				cancel()
			}
		})}
	_, err = s.ImportSettlement(cctx, cancelled)
	require.ErrorIs(t, err, context.Canceled)
	lines, err = s.SettlementLines(ctx, "2026-11-20", "2026-11-20")
	require.NoError(t, err)
	require.Len(t, lines, n, "nothing of a cancelled import is kept")

	whole := &bridge.SettlementImport{Provider: reconcile.Vipps, Source: "t.csv", Hash: "t1", Stream: streamOf("t", n, "P-10", -1, nil, nil)}
	res, err = s.ImportSettlement(ctx, whole)
	require.NoError(t, err)
	require.Equal(t, bridge.ImportResult{NewLines: n}, res, "the failed imports left no key behind")
	lines, err = s.SettlementLines(ctx, "2026-11-20", "2026-11-20")
	require.NoError(t, err)
	require.Len(t, lines, 2*n)

	// A line without a key in the stream fails the import.
	nokey := &bridge.SettlementImport{Provider: reconcile.Vipps, Source: "u.csv", Hash: "u1", Stream: func(yield func(reconcile.Line, error) bool) {
		_ = yield(settlementLine("u1", "2026-11-20", 1, 0, false), nil) && yield(reconcile.Line{Source: "u.csv", SourceLine: 2}, nil)
	}}
	_, err = s.ImportSettlement(ctx, nokey)
	require.Equal(t, bridge.ECodeInvalid, bridge.ErrorCode(err))
	// A stream that never sets a hash fails too, and keeps nothing.
	nohash := &bridge.SettlementImport{Provider: reconcile.Vipps, Source: "u.csv", Stream: streamOf("u", 3, "", -1, nil, nil)}
	_, err = s.ImportSettlement(ctx, nohash)
	require.Equal(t, bridge.ECodeInvalid, bridge.ErrorCode(err))
	lines, err = s.SettlementLines(ctx, "2026-11-20", "2026-11-20")
	require.NoError(t, err)
	require.Len(t, lines, 2*n)
}

// testSettlementPayoutSpan: a payout's From, Opening and SameAs round-trip;
// a payout seen again with an earlier From takes that From and its Opening,
// one with a later From changes nothing; a line stored without a payout id
// takes the one it comes again with, closed or not.
func testSettlementPayoutSpan(t *testing.T, s bridge.Store) {
	ctx := context.Background()
	p := reconcile.Payout{Provider: reconcile.Vipps, ID: "L1-3", MSN: "123456", Date: "2026-11-22", From: "2026-11-21", Opening: -200,
		Amount: 300, Currency: "NOK", Source: "feed"}
	q := reconcile.Payout{Provider: reconcile.Vipps, ID: "L1-4", MSN: "123456", Date: "2026-11-22", SameAs: "L1-3", Amount: 300, Currency: "NOK", Source: "x.csv"}
	res, err := s.ImportSettlement(ctx, &bridge.SettlementImport{Provider: reconcile.Vipps, Source: "feed", Hash: "p1",
		Lines: []reconcile.Line{settlementLine("a", "2026-11-22", 500, 0, false)}, Payouts: []reconcile.Payout{p, q}})
	require.NoError(t, err)
	require.Equal(t, bridge.ImportResult{NewLines: 1, NewPayouts: 2}, res)
	got, err := s.SettlementPayouts(ctx, "2026-11-22", "2026-11-22")
	require.NoError(t, err)
	require.Equal(t, []reconcile.Payout{p, q}, got)

	later, earlier := p, p
	later.From, later.Opening = "2026-11-22", 0
	earlier.From, earlier.Opening = "2026-11-20", 150
	_, err = s.ImportSettlement(ctx, &bridge.SettlementImport{Provider: reconcile.Vipps, Source: "feed", Hash: "p2", Payouts: []reconcile.Payout{later}})
	require.NoError(t, err)
	got, err = s.SettlementPayouts(ctx, "2026-11-22", "2026-11-22")
	require.NoError(t, err)
	require.Equal(t, p, got[0], "a later From changes nothing")
	res, err = s.ImportSettlement(ctx, &bridge.SettlementImport{Provider: reconcile.Vipps, Source: "feed", Hash: "p3",
		Lines: []reconcile.Line{withPayout(settlementLine("a", "2026-11-22", 500, 0, false), "L1-3")}, Payouts: []reconcile.Payout{earlier}})
	require.NoError(t, err)
	require.Equal(t, bridge.ImportResult{KnownLines: 1}, res)
	got, err = s.SettlementPayouts(ctx, "2026-11-22", "2026-11-22")
	require.NoError(t, err)
	require.Equal(t, earlier, got[0], "an earlier From is taken with its Opening")

	lines, err := s.SettlementLines(ctx, "2026-11-22", "2026-11-22")
	require.NoError(t, err)
	require.Equal(t, "L1-3", lines[0].PayoutID, "a closed line stored without a payout takes the one it comes again with")
	_, err = s.ImportSettlement(ctx, &bridge.SettlementImport{Provider: reconcile.Vipps, Source: "feed", Hash: "p4",
		Lines: []reconcile.Line{withPayout(settlementLine("a", "2026-11-22", 500, 0, false), "L1-9")}})
	require.NoError(t, err)
	lines, err = s.SettlementLines(ctx, "2026-11-22", "2026-11-22")
	require.NoError(t, err)
	require.Equal(t, "L1-3", lines[0].PayoutID, "a payout id once stored is kept")
}

func withPayout(l reconcile.Line, payout string) reconcile.Line {
	l.PayoutID = payout
	return l
}

// sameMoney is one Vipps payout of two captures and a refund, as the
// Report API (payout "4711-<n>") or a portal file (settlement "200<n>")
// gives it: the same line keys, another payout id. n tells the payouts of
// one case from the others'.
func sameMoney(api bool, amount int64, n int) *bridge.SettlementImport {
	id, source, hash := fmt.Sprintf("200%d", n), "settlement.csv", fmt.Sprintf("file-%d-%d", n, amount)
	if api {
		id, source, hash = fmt.Sprintf("4711-%d", n), "report-api", fmt.Sprintf("api-%d-%d", n, amount)
	}
	imp := &bridge.SettlementImport{Provider: reconcile.Vipps, Source: source, Hash: hash,
		Payouts: []reconcile.Payout{{Provider: reconcile.Vipps, ID: id, MSN: "123456", Date: "2026-11-21", Amount: amount, Currency: "NOK", Source: source}}}
	for i, g := range []int64{30000, 15000, -1500} {
		l := settlementLine(fmt.Sprintf("vipps:capture:%d-%d", n, i), "2026-11-20", g, 0, false)
		if g < 0 {
			l.Kind, l.Key = "refund", fmt.Sprintf("vipps:refund:%d-%d", n, i)
		}
		l.Source, l.PayoutID = source, id
		imp.Lines = append(imp.Lines, l)
	}
	return imp
}

// payoutsByID reads the payouts of 2026-11-21 by id.
func payoutsByID(t *testing.T, s bridge.Store) map[string]reconcile.Payout {
	got, err := s.SettlementPayouts(context.Background(), "2026-11-21", "2026-11-21")
	require.NoError(t, err)
	out := map[string]reconcile.Payout{}
	for _, p := range got {
		out[p.ID] = p
	}
	return out
}

// testSettlementSameMoney: the Report API and a portal file describe one
// payout with the same transactions but different payout ids; whichever
// comes second is stored with SameAs naming the first, and keeps no line;
// a payout stored before any of its lines came gets SameAs when they do.
// A payout whose amount differs, or whose lines are only partly the
// other's, is not the same money.
func testSettlementSameMoney(t *testing.T, s bridge.Store) {
	ctx := context.Background()
	for n, apiFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("api first %t", apiFirst), func(t *testing.T) {
			first, second := sameMoney(apiFirst, 43500, n), sameMoney(!apiFirst, 43500, n)
			res, err := s.ImportSettlement(ctx, first)
			require.NoError(t, err)
			require.Equal(t, bridge.ImportResult{NewLines: 3, NewPayouts: 1}, res)
			res, err = s.ImportSettlement(ctx, second)
			require.NoError(t, err)
			require.Equal(t, bridge.ImportResult{KnownLines: 3, NewPayouts: 1}, res)
			byID := payoutsByID(t, s)
			firstID, secondID := first.Payouts[0].ID, second.Payouts[0].ID
			require.Contains(t, byID, firstID)
			require.Empty(t, byID[firstID].SameAs)
			require.Equal(t, firstID, byID[secondID].SameAs)
			lines, err := s.SettlementLines(ctx, "2026-11-20", "2026-11-20")
			require.NoError(t, err)
			for _, l := range lines {
				if strings.HasPrefix(l.Key, fmt.Sprintf("vipps:capture:%d-", n)) || strings.HasPrefix(l.Key, fmt.Sprintf("vipps:refund:%d-", n)) {
					require.Equal(t, firstID, l.PayoutID, "the lines stay with the payout stored first")
				}
			}
		})
	}
	t.Run("api payout first without its lines", func(t *testing.T) {
		// The portal file first, then a sync from the payout's day on (the
		// payout without its lines), then one over the whole period: the
		// API's payout, already stored, is the file's money.
		_, err := s.ImportSettlement(ctx, sameMoney(false, 43500, 6))
		require.NoError(t, err)
		bare := sameMoney(true, 43500, 6)
		bare.Lines, bare.Hash = nil, "api-6-bare"
		_, err = s.ImportSettlement(ctx, bare)
		require.NoError(t, err)
		require.Empty(t, payoutsByID(t, s)["4711-6"].SameAs, "nothing shows yet that it is the file's")
		res, err := s.ImportSettlement(ctx, sameMoney(true, 43500, 6))
		require.NoError(t, err)
		require.Equal(t, bridge.ImportResult{KnownLines: 3}, res)
		byID := payoutsByID(t, s)
		require.Equal(t, "2006", byID["4711-6"].SameAs)
		require.Empty(t, byID["2006"].SameAs)
	})
	t.Run("other amount", func(t *testing.T) {
		_, err := s.ImportSettlement(ctx, sameMoney(true, 43500, 7))
		require.NoError(t, err)
		_, err = s.ImportSettlement(ctx, sameMoney(false, 43400, 7))
		require.NoError(t, err)
		byID := payoutsByID(t, s)
		require.Contains(t, byID, "2007")
		require.Empty(t, byID["2007"].SameAs)
	})
	t.Run("partly other lines", func(t *testing.T) {
		_, err := s.ImportSettlement(ctx, sameMoney(true, 43500, 8))
		require.NoError(t, err)
		file := sameMoney(false, 43500, 8)
		file.Lines[2].Key = "vipps:refund:8-other"
		_, err = s.ImportSettlement(ctx, file)
		require.NoError(t, err)
		byID := payoutsByID(t, s)
		require.Contains(t, byID, "2008")
		require.Empty(t, byID["2008"].SameAs)
	})
}
