package postgres

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/reconcile"
)

// line returns a settlement line of day 2026-11-20.
func line(key string, i int, open bool) reconcile.Line {
	return reconcile.Line{
		Provider: reconcile.Vipps, Source: "report.xml", SourceLine: i + 1, Key: key, Kind: "capture",
		Reference: fmt.Sprintf("order-%d", i), PSPReference: "psp-" + key, MSN: "123456", Gross: int64(1000 + i),
		Fee: 17, Currency: "NOK", LedgerDate: "2026-11-20", Open: open,
	}
}

// TestImportSettlementLarge imports a file of many lines, half of a day not
// closed yet, then the closed day with a few new lines.
func TestImportSettlementLarge(t *testing.T) {
	ctx := t.Context()
	s, _ := openStore(t, newTestClock().Now)
	const n, added = 100_000, 10

	first := &bridge.SettlementImport{Provider: reconcile.Vipps, Source: "report.xml", Hash: "h1"}
	for i := range n {
		first.Lines = append(first.Lines, line(fmt.Sprintf("k%06d", i), i, i%2 == 1))
	}
	res, err := s.ImportSettlement(ctx, first)
	require.NoError(t, err)
	require.Equal(t, bridge.ImportResult{NewLines: n}, res)

	closed := &bridge.SettlementImport{Provider: reconcile.Vipps, Source: "report.xml", Hash: "h2"}
	for i := range n + added {
		l := line(fmt.Sprintf("k%06d", i), i, false)
		l.PayoutID = "P-1"
		closed.Lines = append(closed.Lines, l)
	}
	res, err = s.ImportSettlement(ctx, closed)
	require.NoError(t, err)
	require.Equal(t, bridge.ImportResult{NewLines: added, KnownLines: n, ClosedLines: n / 2}, res)

	lines, err := s.SettlementLines(ctx, "2026-11-20", "2026-11-20")
	require.NoError(t, err)
	require.Len(t, lines, n+added)
	for i, l := range lines {
		// Every line stored without a payout takes the closing line's, the
		// lines stored closed as well as those closed now.
		if l.Key != fmt.Sprintf("k%06d", i) || l.Open || l.PayoutID != "P-1" {
			t.Fatalf("line %d is %+v, want key k%06d, closed, payout P-1", i, l, i)
		}
	}
}

// TestImportSettlementRepeatedKey is one import that holds a key more than
// once: the first line is stored, and a later closed one closes it, as if
// the lines were stored one by one.
func TestImportSettlementRepeatedKey(t *testing.T) {
	ctx := t.Context()
	s, _ := openStore(t, newTestClock().Now)
	openLine, closedLine, again := line("dup", 0, true), line("dup", 1, false), line("dup", 2, false)
	closedLine.PayoutID, again.PayoutID = "P-1", "P-2"
	imp := &bridge.SettlementImport{Provider: reconcile.Vipps, Source: "feed", Hash: "h1",
		Lines:   []reconcile.Line{openLine, closedLine, again, line("once", 3, true)},
		Payouts: []reconcile.Payout{{Provider: reconcile.Vipps, ID: "P-1", Date: "2026-11-20"}, {Provider: reconcile.Vipps, ID: "P-1", Date: "2026-11-21"}},
	}
	res, err := s.ImportSettlement(ctx, imp)
	require.NoError(t, err)
	require.Equal(t, bridge.ImportResult{NewLines: 2, KnownLines: 2, ClosedLines: 1, NewPayouts: 1}, res)

	lines, err := s.SettlementLines(ctx, "2026-11-20", "2026-11-20")
	require.NoError(t, err)
	require.Len(t, lines, 2)
	require.Equal(t, "dup", lines[0].Key)
	require.False(t, lines[0].Open)
	require.Equal(t, "P-1", lines[0].PayoutID)
	require.Equal(t, 1, lines[0].SourceLine, "the first line of a key is the one stored")
	require.True(t, lines[1].Open)
	payouts, err := s.SettlementPayouts(ctx, "2026-11-01", "2026-11-30")
	require.NoError(t, err)
	require.Len(t, payouts, 1)
	require.Equal(t, "2026-11-20", payouts[0].Date)
}
