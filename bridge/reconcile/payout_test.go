package reconcile

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// dated is l of ledger date date in payout id.
func dated(l Line, date, payout string) Line {
	l.LedgerDate, l.PayoutID = date, payout
	return l
}

// Issue 9 case 1: day 1 refunds exceed captures by 200 and pays nothing;
// day 2 captures 500 and pays out 300, the 200 carried in.
func TestPayoutCoversTheCarriedBalance(t *testing.T) {
	cfg := Config{Now: t0.Add(240 * time.Hour)}
	ms := []Movement{mv("m1", "ws-A", "R1", KindRefund, 200), mv("m2", "ws-B", "C2", KindCapture, 500)}
	lines := []Line{
		dated(ln("l1", "ws-A", "R1", KindRefund, -200, 0), "2025-03-03", ""),
		dated(ln("l2", "ws-B", "C2", KindCapture, 500, 0), "2025-03-04", "X"),
	}
	pay := Payout{Provider: Vipps, ID: "X", MSN: "1", Date: "2025-03-04", Opening: -200, Amount: 300, Currency: "NOK"}
	r := noErr(Run(cfg, ms, lines, []Payout{pay}))
	require.Empty(t, r.Exceptions)
	require.Len(t, r.Payouts, 1)
	s := r.Payouts[0]
	require.Equal(t, int64(-200), s.Opening)
	require.Equal(t, int64(300), s.Paid)
	require.Equal(t, int64(500), s.Net)

	// Paid 350 is 50 more than the balance and the line come to; the detail
	// names the balance.
	pay.Amount = 350
	r = noErr(Run(cfg, ms, lines, []Payout{pay}))
	require.Len(t, r.Exceptions, 1)
	x := r.Exceptions[0]
	require.Equal(t, ReasonPayoutMismatch, x.Reason)
	require.Equal(t, int64(300), x.Expected)
	require.Contains(t, x.Detail(), "balance of NOK -2.00 carried into 2025-03-04")
	require.Contains(t, x.Detail(), "NOK 3.00")
}

// Issue 9 case 2: a weekly payout covers the lines of several ledger dates.
func TestPayoutSpanningSeveralLedgerDates(t *testing.T) {
	cfg := Config{Now: t0.Add(240 * time.Hour)}
	var ms []Movement
	var lines []Line
	var net int64
	for d, date := range []string{"2025-03-03", "2025-03-04", "2025-03-05", "2025-03-06"} {
		ref, psp := "ws-"+date, "P"+date
		amount := int64(1000 * (d + 1))
		ms = append(ms, mv("m"+date, ref, psp, KindCapture, amount))
		lines = append(lines, dated(ln("l"+date, ref, psp, KindCapture, amount, 10), date, "W10"))
		net += amount - 10
	}
	// Its refund, on gross settlement too, is deducted.
	ms = append(ms, mv("r1", "ws-2025-03-03", "PR", KindRefund, 300))
	lines = append(lines, dated(ln("lr", "ws-2025-03-03", "PR", KindRefund, -300, 0), "2025-03-05", "W10"))
	net -= 300
	pay := Payout{Provider: Vipps, ID: "W10", MSN: "1", From: "2025-03-03", Date: "2025-03-09", Amount: net, Currency: "NOK"}
	r := noErr(Run(cfg, ms, lines, []Payout{pay}))
	require.Empty(t, r.Exceptions)
	require.Len(t, r.Payouts, 1)
	s := r.Payouts[0]
	require.Equal(t, "2025-03-03", s.From)
	require.Equal(t, "2025-03-09", s.Date)
	require.Equal(t, []string{"2025-03-03", "2025-03-04", "2025-03-05", "2025-03-06"}, s.Dates)
	require.Equal(t, 5, s.Lines)
	// Each match names the payout its lines went into.
	require.Len(t, r.Matches, 5)
	for _, m := range r.Matches {
		require.Equal(t, "W10", m.PayoutID, "match of %s", m.Reference)
	}

	// Gross settlement: fees invoiced, the refund still deducted.
	pay.Gross, pay.Amount = true, 10000-300
	require.Empty(t, noErr(Run(cfg, ms, lines, []Payout{pay})).Exceptions)
	pay.Amount = 10000
	r = noErr(Run(cfg, ms, lines, []Payout{pay}))
	require.Len(t, r.Exceptions, 1)
	require.Equal(t, int64(9700), r.Exceptions[0].Expected)
	require.Contains(t, r.Exceptions[0].Detail(), "(2025-03-03..2025-03-09)")
}

// Issue 9 case 3: the same payout from the API and from a portal file.
func TestPayoutSameAsAnotherIsNotCheckedOrCountedTwice(t *testing.T) {
	cfg := Config{Now: t0.Add(240 * time.Hour)}
	ms := []Movement{mv("m1", "ws-A", "P1", KindCapture, 43918)}
	lines := []Line{dated(ln("l1", "ws-A", "P1", KindCapture, 43918, 0), "2025-03-03", "api-1")}
	api := Payout{Provider: Vipps, ID: "api-1", MSN: "1", Date: "2025-03-03", Amount: 43918, Currency: "NOK", Source: "api"}
	file := Payout{Provider: Vipps, ID: "2000461", MSN: "1", Date: "2025-03-03", Amount: 43918, Currency: "NOK",
		Source: "portal.xml", SameAs: "api-1"}
	for _, in := range [][]Payout{{api, file}, {file, api}} {
		r := noErr(Run(cfg, ms, lines, in))
		require.Empty(t, r.Exceptions)
		require.Len(t, r.Payouts, 2)
		var paid int64
		for _, s := range r.Payouts {
			paid += s.Paid
		}
		require.Equal(t, int64(43918), paid, "the money is paid once")
		require.Equal(t, "2000461", r.Payouts[0].ID)
		require.Equal(t, "api-1", r.Payouts[0].SameAs)
		require.Equal(t, 0, r.Payouts[0].Lines)
	}
	// A repeat under the same id adds nothing at all.
	file.ID = "api-1"
	r := noErr(Run(cfg, ms, lines, []Payout{file, api}))
	require.Empty(t, r.Exceptions)
	require.Len(t, r.Payouts, 1)
	require.Equal(t, int64(43918), r.Payouts[0].Paid)
	require.Empty(t, r.Payouts[0].SameAs)
}
