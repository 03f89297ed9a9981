package finance

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/reconcile"
	"vippskco/bridge/sqlite"
	"vippskco/klarna"
	"vippskco/vipps/settlement"
)

// Cancelling an import while its file is parsed and stored returns at
// once with the context's error and stores nothing.
func TestImportReturnsWhenCancelledDuringParse(t *testing.T) {
	st, err := sqlite.Open(context.Background(), "file:"+filepath.Join(t.TempDir(), "fin.db"), nil)
	require.NoError(t, err)
	defer st.Close()
	s := &Service{Store: st}

	var b strings.Builder
	b.WriteString("type,order_id,capture_id,amount,posting_currency,capture_date\n")
	for i := range 100_000 {
		fmt.Fprintf(&b, "SALE,order-%08d,cap-%08d,%d.%02d,NOK,2026-01-%02d\n", i, i, 1+i%997, i%100, 1+i%28)
	}
	data := []byte(b.String())

	start := time.Now()
	_, err = klarna.ParseSettlementCSV(strings.NewReader(b.String()), "probe.csv", klarna.CSVOptions{})
	require.NoError(t, err)
	parse := time.Since(start)

	ctx, cancel := context.WithTimeout(context.Background(), parse/10)
	defer cancel()
	start = time.Now()
	_, err = s.ImportKustomCSV(ctx, "kustom.csv", bytes.NewReader(data), klarna.CSVOptions{}, nil)
	took := time.Since(start)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, took, parse/2, "returned at the cancellation (%s), not after the parse (%s)", took, parse)
	lines, err := st.SettlementLines(context.Background(), "2000-01-01", "2100-01-01")
	require.NoError(t, err)
	require.Empty(t, lines)
}

// A parser that panics on a file fails that import with an error; it does
// not take the process down. A panic of the store, while it takes a line,
// is not the parser's and is not hidden as one.
func TestParserPanicIsAnError(t *testing.T) {
	var last error
	for _, err := range parseLines(func(emit func(reconcile.Line) bool) error {
		emit(reconcile.Line{Key: "a"})
		panic("index out of range")
	}) {
		last = err
	}
	require.ErrorContains(t, last, "the parser failed on this file: index out of range")

	require.PanicsWithValue(t, "store bug", func() {
		for range parseLines(func(emit func(reconcile.Line) bool) error {
			emit(reconcile.Line{Key: "a"})
			return nil
		}) {
			panic("store bug")
		}
	})
}

// parseLines hands over every line in order, across chunks, and a store
// that stops taking lines stops the parser: it sees emit return false and
// parseLines returns once it has returned.
func TestParseLinesInOrderAndStops(t *testing.T) {
	const n = 20*parseChunk + 7
	produce := func(seen *int) func(emit func(reconcile.Line) bool) error {
		return func(emit func(reconcile.Line) bool) error {
			for i := range n {
				*seen = i + 1
				if !emit(reconcile.Line{SourceLine: i}) {
					return errStopped
				}
			}
			return nil
		}
	}
	var parsed, i int
	for l, err := range parseLines(produce(&parsed)) {
		require.NoError(t, err)
		require.Equal(t, i, l.SourceLine)
		i++
	}
	require.Equal(t, n, i)

	taken := 0
	for range parseLines(produce(&parsed)) {
		if taken++; taken == 10 {
			break
		}
	}
	// The parser is done (parseLines waited for it) and stopped within the
	// chunks that fit between the two: the one taken, four in the channel,
	// the one it was filling and the one it could not send.
	require.LessOrEqual(t, parsed, 7*parseChunk)
}

// Every Kustom transaction type moves a line the way it moves Kustom's own
// payout total: a payout's lines add up to klarna's Expected() of the same
// transactions.
func TestKustomLinesAddUpToKustomTotals(t *testing.T) {
	types := []string{klarna.TxSale, klarna.TxReturn, klarna.TxReversal, klarna.TxReversalMerchantProtection,
		klarna.TxFee, klarna.TxFeeRefund, klarna.TxCommission, klarna.TxTax, klarna.TxCorrection,
		klarna.TxCharge, klarna.TxCredit, klarna.TxHoldback, klarna.TxRelease}
	var txs []klarna.Transaction
	var net int64
	for i, typ := range types {
		amount := int64(1000 + 100*i)
		l, warning := kustomLine(typ, "order-1", "", "", amount, "NOK", "payout-1", "2026-03-02")
		require.Empty(t, warning, typ)
		one, err := klarna.TotalsFromTransactions("NOK", []klarna.Transaction{{Type: typ, Amount: amount, CurrencyCode: "NOK"}})
		require.NoError(t, err)
		require.Equal(t, one.SettlementAmount, l.Gross-l.Fee, "%s: the line's net is what Kustom's formula makes of it", typ)
		txs = append(txs, klarna.Transaction{Type: typ, Amount: amount, CurrencyCode: "NOK"})
		net += l.Gross - l.Fee
	}
	all, err := klarna.TotalsFromTransactions("NOK", txs)
	require.NoError(t, err)
	require.Equal(t, all.SettlementAmount, net)

	l, warning := kustomLine("SURPRISE", "order-1", "", "", 500, "NOK", "payout-1", "2026-03-02")
	require.Equal(t, reconcile.KindOther, l.Kind)
	require.Equal(t, int64(500), l.Gross)
	require.Contains(t, warning, `"SURPRISE"`)
}

// Two returns of 199.00 and two fees of 5.00 on one order, with no
// refund_id to tell them apart, are four movements: all five rows are kept
// (with a warning that names the look-alikes), and the same rows exported
// again, with other line endings, add nothing.
func TestKustomLookAlikeRowsAreAllKept(t *testing.T) {
	st, err := sqlite.Open(context.Background(), "file:"+filepath.Join(t.TempDir(), "fin.db"), nil)
	require.NoError(t, err)
	defer st.Close()
	s := &Service{Store: st}
	rows := []string{
		"type,order_id,capture_id,amount,posting_currency,capture_date,payment_reference",
		"SALE,order-1,cap-1,500.00,NOK,2026-03-02,pay-1",
		"RETURN,order-1,,199.00,NOK,2026-03-02,pay-1",
		"RETURN,order-1,,199.00,NOK,2026-03-02,pay-1",
		"FEE,order-1,,5.00,NOK,2026-03-02,pay-1",
		"FEE,order-1,,5.00,NOK,2026-03-02,pay-1",
	}
	res, err := s.ImportKustomCSV(t.Context(), "kustom.csv", strings.NewReader(strings.Join(rows, "\n")+"\n"), klarna.CSVOptions{}, nil)
	require.NoError(t, err)
	require.Equal(t, 5, res.NewLines, "no row is lost")
	lines, err := st.SettlementLines(t.Context(), "2026-03-01", "2026-03-03")
	require.NoError(t, err)
	var gross, fee int64
	for _, l := range lines {
		gross, fee = gross+l.Gross, fee+l.Fee
	}
	require.Equal(t, int64(50000-2*19900), gross)
	require.Equal(t, int64(2*500), fee)

	again, err := s.ImportKustomCSV(t.Context(), "kustom-crlf.csv", strings.NewReader(strings.Join(rows, "\r\n")+"\r\n"), klarna.CSVOptions{}, nil)
	require.NoError(t, err)
	require.Zero(t, again.NewLines, "the same rows exported again count once")
	require.Equal(t, 5, again.KnownLines)
}

// The sample files of every format import through the streaming path with
// every transaction a line and every settlement a payout of what it paid
// out; progress counts every line; the same file again changes nothing; a
// file cut short stores nothing.
func TestImportVippsSamplesStream(t *testing.T) {
	for _, path := range []string{
		"../../vipps/settlement/testdata/csv/settlement-report.csv",
		"../../vipps/settlement/testdata/xml/Example-Net.xml",
		"../../vipps/settlement/testdata/xlsx/vipps-settlement-example.xlsx",
	} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			rep, err := settlement.Parse(path, data)
			require.NoError(t, err)
			wantLines := 0
			wantPayouts := map[string]int64{}
			for _, st := range rep.Settlements {
				wantLines += len(st.Transactions)
				var net int64
				for _, tx := range st.Transactions {
					net += tx.Net
				}
				switch {
				case st.Stated.Has(settlement.TotalSettled):
					net = st.Settled
				case st.Stated.Has(settlement.TotalNet):
					net = st.Net
				}
				wantPayouts[st.ID] = net
			}
			require.Positive(t, wantLines)

			store, err := sqlite.Open(context.Background(), "file:"+filepath.Join(t.TempDir(), "fin.db"), nil)
			require.NoError(t, err)
			defer store.Close()
			s := &Service{Store: store, Units: map[string]*Unit{"u": {MSN: rep.MSN, Currency: "NOK"}}}

			// Cut short: nothing stored.
			_, _, err = s.ImportVippsFile(t.Context(), "cut", bytes.NewReader(data[:len(data)*2/3]), nil)
			require.Equal(t, bridge.ECodeInvalid, bridge.ErrorCode(err), "%v", err)
			lines, err := store.SettlementLines(t.Context(), "2000-01-01", "2100-01-01")
			require.NoError(t, err)
			require.Empty(t, lines)

			seen := 0
			res, _, err := s.ImportVippsFile(t.Context(), filepath.Base(path), bytes.NewReader(data), func(n int) { seen = n })
			require.NoError(t, err)
			require.Equal(t, wantLines, res.NewLines+res.KnownLines)
			require.Equal(t, wantLines, seen)
			require.Equal(t, len(wantPayouts), res.NewPayouts)
			payouts, err := store.SettlementPayouts(t.Context(), "2000-01-01", "2100-01-01")
			require.NoError(t, err)
			got := map[string]int64{}
			for _, p := range payouts {
				got[p.ID] = p.Amount
			}
			require.Equal(t, wantPayouts, got)

			again, _, err := s.ImportVippsFile(t.Context(), "again", bytes.NewReader(data), nil)
			require.NoError(t, err)
			require.True(t, again.AlreadyImported)
		})
	}
}
