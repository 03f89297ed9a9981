package finance

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/reconcile"
	"vippskco/bridge/sqlite"
)

// reconcileStore is an empty SQLite store for a reconciliation test.
func reconcileStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), "file:"+filepath.Join(t.TempDir(), "fin.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

// moved stores a payment of ours with its successful captures and refunds.
func moved(t *testing.T, st *sqlite.Store, reference string, events ...bridge.PaymentEvent) {
	t.Helper()
	movedIn(t, st, "webshop", reference, events...)
}

// movedIn is moved for a payment of another sales unit.
func movedIn(t *testing.T, st *sqlite.Store, unit, reference string, events ...bridge.PaymentEvent) {
	t.Helper()
	created := events[0].OccurredAt.Add(-time.Minute)
	p := &bridge.Payment{
		Reference: reference, Unit: unit, KCOOrderID: strings.TrimSuffix(strings.TrimPrefix(reference, "ws-"), "-1"), Attempt: 1,
		Amount: bridge.Money{Value: 100000, Currency: "NOK"}, State: bridge.StateAuthorized, CreateIdempotencyKey: "idem-" + reference,
		CreateRequest: json.RawMessage(`{}`), ReturnToken: "token-" + reference, Order: json.RawMessage(`{}`),
		CreatedAt: created, UpdatedAt: created,
	}
	require.NoError(t, st.InsertPayment(t.Context(), p))
	for i := range events {
		events[i].Success, events[i].Source = true, "webhook"
		events[i].IdempotencyKey = "key-" + events[i].PSPReference
	}
	require.NoError(t, st.Commit(t.Context(), &bridge.Change{Payment: p, Events: events}))
}

func event(name, psp string, value int64, at time.Time) bridge.PaymentEvent {
	return bridge.PaymentEvent{Name: name, PSPReference: psp, Amount: bridge.Money{Value: value, Currency: "NOK"}, OccurredAt: at}
}

func vippsLine(reference, psp string, kind reconcile.Kind, gross int64, date, payout string) reconcile.Line {
	return reconcile.Line{Provider: reconcile.Vipps, Source: "report", Key: vippsLineKey(psp, string(kind)), Kind: kind,
		Reference: reference, PSPReference: psp, MSN: "123456", Gross: gross, Currency: "NOK", PayoutID: payout, LedgerDate: date}
}

func matchedMovements(r *Reconciliation) map[string]bool {
	got := map[string]bool{}
	for _, m := range r.Matches {
		for _, id := range m.Movements {
			got[id] = true
		}
	}
	return got
}

// Reconciling one day D..D: a capture and a refund of the next day,
// settled that day, are ours (their movements are read past the period),
// and a capture two days before D that settled on D is matched too, in the
// run of its own day (a match belongs to the ledger day of its earliest
// movement, so that day runs add up to the month). Nothing is
// settled_unknown in either run.
func TestReconcileDayReadsMovementsAroundIt(t *testing.T) {
	st := reconcileStore(t)
	d := time.Date(2026, 11, 20, 12, 0, 0, 0, oslo)
	moved(t, st, "ws-before-1", event("CAPTURED", "c0", 30000, d.AddDate(0, 0, -2)))
	moved(t, st, "ws-today-1", event("CAPTURED", "c1", 10000, d))
	moved(t, st, "ws-next-1", event("CAPTURED", "c2", 20000, d.AddDate(0, 0, 1)), event("REFUNDED", "r2", 5000, d.AddDate(0, 0, 1).Add(time.Hour)))
	_, err := st.ImportSettlement(t.Context(), &bridge.SettlementImport{Provider: reconcile.Vipps, Source: "report", Hash: "h",
		Lines: []reconcile.Line{
			vippsLine("ws-before-1", "c0", reconcile.KindCapture, 30000, "2026-11-20", ""),
			vippsLine("ws-today-1", "c1", reconcile.KindCapture, 10000, "2026-11-20", ""),
			vippsLine("ws-next-1", "c2", reconcile.KindCapture, 20000, "2026-11-21", ""),
			vippsLine("ws-next-1", "r2", reconcile.KindRefund, -5000, "2026-11-21", ""),
		}})
	require.NoError(t, err)
	s := &Service{Store: st, Units: map[string]*Unit{"webshop": {ID: "webshop", MSN: "123456"}}, Now: func() time.Time { return d.AddDate(0, 0, 10) }}

	rec, err := s.Reconcile(t.Context(), "2026-11-20", "2026-11-20")
	require.NoError(t, err)
	require.Empty(t, rec.Exceptions)
	got := matchedMovements(rec)
	require.False(t, got["ws-before-1/capture/c0"], "the capture of an earlier day is that day's match")
	require.True(t, got["ws-today-1/capture/c1"])

	before, err := s.Reconcile(t.Context(), "2026-11-18", "2026-11-18")
	require.NoError(t, err)
	require.Empty(t, before.Exceptions)
	require.True(t, matchedMovements(before)["ws-before-1/capture/c0"], "matched to its line of the 20th, in the run of the 18th")
}

// The real XLSX sample dates its lines by sales day (in November) and its
// payouts by payout day: reconciled over December 2019, payout 2000461
// gets every one of its 20 lines and adds up (5486.45), where it used to
// be a payout_mismatch "paid 5486.45 vs 738.75".
func TestReconcileXLSXPayoutGetsAllItsLines(t *testing.T) {
	st := reconcileStore(t)
	s := &Service{Store: st}
	data, err := os.ReadFile("../../vipps/settlement/testdata/xlsx/vipps-settlement-example.xlsx")
	require.NoError(t, err)
	_, _, err = s.ImportVippsFile(t.Context(), "vipps-settlement-example.xlsx", bytes.NewReader(data), nil)
	require.NoError(t, err)

	rec, err := s.Reconcile(t.Context(), "2019-12-01", "2019-12-31")
	require.NoError(t, err)
	var found bool
	for _, p := range rec.Payouts {
		if p.ID == "2000461" {
			found = true
			require.Equal(t, 20, p.Lines)
			require.Equal(t, int64(548645), p.Paid)
			require.Equal(t, p.Paid, p.Net, "the payout adds up")
		}
	}
	require.True(t, found, "payout 2000461 is reported")
	for _, x := range rec.Exceptions {
		require.NotEqual(t, reconcile.ReasonPayoutMismatch, x.Reason, "%s: %s", x.PayoutID, x.Detail())
	}
}

// A monthly payout reaches back further than the context around the
// period: every line of a payout dated in the period is read whatever its
// ledger date, and the payout adds up.
func TestReconcilePayoutLinesBeforeTheContext(t *testing.T) {
	st := reconcileStore(t)
	_, err := st.ImportSettlement(t.Context(), &bridge.SettlementImport{Provider: reconcile.Vipps, Source: "report", Hash: "h",
		Lines: []reconcile.Line{
			vippsLine("ws-a-1", "a", reconcile.KindCapture, 10000, "2026-09-01", "P-NOV"),
			vippsLine("ws-b-1", "b", reconcile.KindCapture, 20000, "2026-11-02", "P-NOV"),
		},
		Payouts: []reconcile.Payout{{Provider: reconcile.Vipps, ID: "P-NOV", MSN: "123456", Date: "2026-11-03", Amount: 30000, Currency: "NOK", Source: "report"}},
	})
	require.NoError(t, err)
	s := &Service{Store: st, Now: func() time.Time { return time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC) }}
	rec, err := s.Reconcile(t.Context(), "2026-11-01", "2026-11-30")
	require.NoError(t, err)
	require.Len(t, rec.Payouts, 1)
	require.Equal(t, 2, rec.Payouts[0].Lines)
	require.Equal(t, int64(30000), rec.Payouts[0].Net)
	for _, x := range rec.Exceptions {
		require.NotEqual(t, reconcile.ReasonPayoutMismatch, x.Reason, x.Detail())
	}
}

// Each month reports what belongs to it, so that the months of a quarter
// add up to the quarter: a capture on 28 November settled on 2 December
// is matched in November's run (its movement's month) and not in
// December's, and an unknown line of December is December's exception
// only. This needs the engine's period filter (reconcile.Config From/To).
func TestReconcileMonthsAddUpToTheQuarter(t *testing.T) {
	st := reconcileStore(t)
	nov28 := time.Date(2026, 11, 28, 12, 0, 0, 0, oslo)
	moved(t, st, "ws-late-1", event("CAPTURED", "c1", 10000, nov28))
	moved(t, st, "ws-oct-1", event("CAPTURED", "c2", 20000, time.Date(2026, 10, 10, 12, 0, 0, 0, oslo)))
	_, err := st.ImportSettlement(t.Context(), &bridge.SettlementImport{Provider: reconcile.Vipps, Source: "report", Hash: "h",
		Lines: []reconcile.Line{
			vippsLine("ws-late-1", "c1", reconcile.KindCapture, 10000, "2026-12-02", ""),
			vippsLine("ws-oct-1", "c2", reconcile.KindCapture, 20000, "2026-10-12", ""),
			vippsLine("ws-stranger-1", "x1", reconcile.KindCapture, 5000, "2026-12-15", ""),
		}})
	require.NoError(t, err)
	s := &Service{Store: st, Now: func() time.Time { return time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC) }}
	run := func(from, to string) *Reconciliation {
		r, err := s.Reconcile(t.Context(), from, to)
		require.NoError(t, err)
		return r
	}
	oct, nov, dec, q := run("2026-10-01", "2026-10-31"), run("2026-11-01", "2026-11-30"), run("2026-12-01", "2026-12-31"), run("2026-10-01", "2026-12-31")

	require.True(t, matchedMovements(nov)["ws-late-1/capture/c1"], "November's capture is matched in November")
	require.False(t, matchedMovements(dec)["ws-late-1/capture/c1"], "and not again in December")
	require.False(t, matchedMovements(nov)["ws-oct-1/capture/c2"], "October's match is October's")
	require.Empty(t, nov.Exceptions, "December's unknown line is not November's")
	require.Len(t, dec.Exceptions, 1)
	require.Equal(t, len(q.Matches), len(oct.Matches)+len(nov.Matches)+len(dec.Matches), "matches add up to the quarter")
	require.Equal(t, len(q.Exceptions), len(oct.Exceptions)+len(nov.Exceptions)+len(dec.Exceptions), "exceptions add up to the quarter")
}

// Amounts are written exactly in major units with two decimals, the most
// negative int64 included.
func TestMajorIsExact(t *testing.T) {
	for v, want := range map[int64]string{0: "0.00", 5: "0.05", -5: "-0.05", 149000: "1490.00", -149001: "-1490.01",
		math.MaxInt64: "92233720368547758.07", math.MinInt64: "-92233720368547758.08"} {
		require.Equal(t, want, major(v), "%d", v)
	}
}

// Case 10 for portal files: a CSV settlement of one sales unit that holds
// transactions of another (the rows' SaleUnitNumber) books each line under
// the unit of its own row, so a capture made in unit A and paid out with
// unit B's settlement matches A's payment, and the line of B with the same
// order id, which is not a payment of ours, is B's settled_unknown, where
// taking the settlement's unit for both gave a false captured_not_settled
// and two settled_unknown.
func TestReconcileVippsCSVLineTakesItsRowsUnit(t *testing.T) {
	st := reconcileStore(t)
	d := time.Date(2026, 11, 20, 12, 0, 0, 0, oslo)
	movedIn(t, st, "a", "ws-1", event("CAPTURED", "5000000001", 10000, d))
	csv := strings.Join([]string{
		"SettlementInfo,SalesUnitName,SaleUnitNumber,SettlementDate,SettlementID,SettlementAccount,Gross,Currency,Fee,Refund,Net,NumberOfTransactions",
		"SettlementInfo,Shop B,222222,22.11.2026,2000001,15039794613,150.00,NOK,-3.00,0.00,147.00,2",
		"TransactionInfo,SalesDate,SaleUnitName,SaleUnitNumber,TransactionId,SettlementId,OrderID,SettlementDate,Gross,Currency,Fee,Refund,Net",
		"TransactionInfo,20.11.2026,Shop A,111111,5000000001,2000001,ws-1,22.11.2026,100.00,NOK,-2.00,0.00,98.00",
		"TransactionInfo,20.11.2026,Shop B,222222,5000000002,2000001,ws-1,22.11.2026,50.00,NOK,-1.00,0.00,49.00",
	}, "\n") + "\n"
	s := &Service{Store: st, Now: func() time.Time { return d.AddDate(0, 0, 10) }, Units: map[string]*Unit{
		"a": {ID: "a", MSN: "111111", Currency: "NOK"}, "b": {ID: "b", MSN: "222222", Currency: "NOK"}}}
	_, warnings, err := s.ImportVippsFile(t.Context(), "units.csv", strings.NewReader(csv), nil)
	require.NoError(t, err)
	require.Len(t, warnings, 1)
	require.Contains(t, warnings[0], "carry SaleUnitNumber 111111, not 222222 of SettlementInfo 2000001")
	lines, err := st.SettlementLines(t.Context(), "2026-11-01", "2026-11-30")
	require.NoError(t, err)
	msn := map[string]string{}
	for _, l := range lines {
		msn[l.PSPReference] = l.MSN
	}
	require.Equal(t, map[string]string{"5000000001": "111111", "5000000002": "222222"}, msn)

	rec, err := s.Reconcile(t.Context(), "2026-11-20", "2026-11-22")
	require.NoError(t, err)
	require.True(t, matchedMovements(rec)["ws-1/capture/5000000001"], "unit A's capture matched to its line")
	require.Len(t, rec.Exceptions, 1, "%+v", rec.Exceptions)
	x := rec.Exceptions[0]
	require.Equal(t, reconcile.ReasonSettledUnknown, x.Reason)
	require.Equal(t, "222222", x.MSN)
	require.Len(t, rec.Payouts, 1)
	p := rec.Payouts[0]
	require.True(t, p.Reported, "the settlement's payout, dated in the period")
	require.Equal(t, int64(14700), p.Paid)
	require.Equal(t, p.Paid, p.Net, "the payout of both units' lines adds up")
}
