package sqlite

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/reconcile"
)

// importLine is line i of a streamed import, of day 2026-11-20.
func importLine(prefix string, i int) reconcile.Line {
	return reconcile.Line{Provider: reconcile.Vipps, Source: "big.csv", SourceLine: i + 1, Key: fmt.Sprintf("%s%06d", prefix, i),
		Kind: "capture", Reference: "order", PSPReference: "psp", MSN: "123456", Gross: 100, Fee: 2, Currency: "NOK",
		PayoutID: "P-1", LedgerDate: "2026-11-20"}
}

// leavePending stores what an import killed after its first batch leaves:
// its pending mark, as process pid of host last touched at touched, and
// its tagged lines.
func leavePending(t *testing.T, s *Store, host string, pid int, touched time.Time, n int) {
	t.Helper()
	ctx := t.Context()
	r, err := s.write.ExecContext(ctx, `INSERT INTO settlement_pending_imports (provider, source, host, pid, started_at, touched_at)
		VALUES ('vipps', 'big.csv', ?, ?, ?, ?)`, host, pid, touched.UnixNano(), touched.UnixNano())
	require.NoError(t, err)
	id, err := r.LastInsertId()
	require.NoError(t, err)
	for i := range n {
		l := importLine("k", i)
		_, err := s.write.ExecContext(ctx, `INSERT INTO settlement_lines (key, provider, source, source_line, kind, reference,
			psp_reference, msn, gross, fee, currency, payout_id, ledger_date, open, imported_at, import_id)
			VALUES (?, 'vipps', 'big.csv', ?, 'capture', 'order', 'psp', '123456', 100, 2, 'NOK', 'P-1', '2026-11-20', 0, 1, ?)`,
			l.Key, l.SourceLine, id)
		require.NoError(t, err)
	}
}

func importOf(n int) *bridge.SettlementImport {
	return &bridge.SettlementImport{Provider: reconcile.Vipps, Source: "big.csv", Hash: "h-big",
		Stream: func(yield func(reconcile.Line, error) bool) {
			for i := range n {
				if !yield(importLine("k", i), nil) {
					return
				}
			}
		}}
}

// TestImportSettlementClearsKilledImport: an import killed half way shows
// nothing, and the next import of the file clears it and stores the whole
// file: at once when its process is gone, after importLease when it ran on
// another host; until then the next import refuses, saying why.
func TestImportSettlementClearsKilledImport(t *testing.T) {
	ctx := t.Context()
	host, err := os.Hostname()
	require.NoError(t, err)
	gone := exec.Command("true")
	require.NoError(t, gone.Run())

	for _, tc := range []struct {
		name    string
		host    string
		pid     int
		touched time.Duration // before now
		refused bool
	}{
		{"process gone", host, gone.Process.Pid, 0, false},
		{"other host, lease over", "elsewhere", 1, importLease + time.Minute, false},
		{"other host, within lease", "elsewhere", 1, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTestStore(t)
			defer s.Close()
			leavePending(t, s, tc.host, tc.pid, s.now().Add(-tc.touched), 10)
			lines, err := s.SettlementLines(ctx, "2026-11-20", "2026-11-20")
			require.NoError(t, err)
			require.Empty(t, lines, "a killed import shows nothing")

			res, err := s.ImportSettlement(ctx, importOf(20))
			if tc.refused {
				require.Equal(t, bridge.ECodeConflict, bridge.ErrorCode(err), "%v", err)
				require.ErrorContains(t, err, "is being stored by another import (big.csv")
				lines, err := s.SettlementLines(ctx, "2026-11-20", "2026-11-20")
				require.NoError(t, err)
				require.Empty(t, lines)
				return
			}
			require.NoError(t, err)
			require.Equal(t, bridge.ImportResult{NewLines: 20}, res)
			lines, err = s.SettlementLines(ctx, "2026-11-20", "2026-11-20")
			require.NoError(t, err)
			require.Len(t, lines, 20)
			var pending int
			require.NoError(t, s.write.QueryRowContext(ctx, `SELECT count(*) FROM settlement_pending_imports`).Scan(&pending))
			require.Zero(t, pending)
		})
	}
}

// TestImportSettlementLetsPaymentsWrite: while a large import is being
// stored, a payment is written without waiting for it to end.
func TestImportSettlementLetsPaymentsWrite(t *testing.T) {
	ctx := t.Context()
	s := openTestStore(t)
	defer s.Close()
	n := 3 * bridge.SettlementBatch
	wrote := make(chan time.Duration, 1)
	imp := importOf(n)
	inner := imp.Stream
	imp.Stream = func(yield func(reconcile.Line, error) bool) {
		i := 0
		for l, err := range inner {
			if i == bridge.SettlementBatch+1 { // one batch stored, two to come
				done := make(chan error, 1)
				start := time.Now()
				go func() { done <- s.InsertPayment(context.Background(), payment("order-during-import", 1)) }()
				select {
				case err := <-done:
					require.NoError(t, err)
					wrote <- time.Since(start)
				case <-time.After(10 * time.Second):
					t.Error("a payment write waited for the import")
					return
				}
			}
			i++
			if !yield(l, err) {
				return
			}
		}
	}
	res, err := s.ImportSettlement(ctx, imp)
	require.NoError(t, err)
	require.Equal(t, n, res.NewLines)
	require.Len(t, wrote, 1, "the payment was written during the import")
	p, err := s.Payment(ctx, "order-during-import-1")
	require.NoError(t, err)
	require.Equal(t, "order-during-import", p.KCOOrderID)
}
