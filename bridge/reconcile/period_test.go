package reconcile

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// shiftDays moves a dataset's times and dates by days days.
func shiftDays(d *dataset, days int) {
	shift := func(date string) string {
		if date == "" {
			return ""
		}
		t, err := time.Parse(time.DateOnly, date)
		if err != nil {
			panic(err)
		}
		return t.AddDate(0, 0, days).Format(time.DateOnly)
	}
	for i := range d.ms {
		d.ms[i].At = d.ms[i].At.AddDate(0, 0, days)
	}
	for i := range d.lines {
		d.lines[i].LedgerDate = shift(d.lines[i].LedgerDate)
	}
	for i := range d.payouts {
		d.payouts[i].Date, d.payouts[i].From = shift(d.payouts[i].Date), shift(d.payouts[i].From)
	}
	d.cfg.Now = d.cfg.Now.AddDate(0, 0, days)
}

// window is the input a run of from..to is fed: everything dated within
// margin days of it.
func window(d *dataset, from, to string, margin int) ([]Movement, []Line, []Payout) {
	f, _ := time.Parse(time.DateOnly, from)
	t, _ := time.Parse(time.DateOnly, to)
	lo, hi := f.AddDate(0, 0, -margin).Format(time.DateOnly), t.AddDate(0, 0, margin).Format(time.DateOnly)
	in := func(date string) bool { return date >= lo && date <= hi }
	var ms []Movement
	for _, m := range d.ms {
		if in(m.At.In(d.cfg.Location).Format(time.DateOnly)) {
			ms = append(ms, m)
		}
	}
	var lines []Line
	for _, l := range d.lines {
		if in(l.LedgerDate) {
			lines = append(lines, l)
		}
	}
	var payouts []Payout
	for _, p := range d.payouts {
		if in(p.Date) {
			payouts = append(payouts, p)
		}
	}
	return ms, lines, payouts
}

// parts lists everything a Result reports, one string each.
func parts(r *Result) []string {
	var out []string
	for _, x := range r.Exceptions {
		out = append(out, fmt.Sprintf("exception %+v", x))
	}
	for _, m := range r.Matches {
		out = append(out, fmt.Sprintf("match %+v", m))
	}
	for _, p := range r.Pending {
		out = append(out, fmt.Sprintf("pending %+v", p))
	}
	for _, s := range r.Days {
		out = append(out, fmt.Sprintf("day %+v", s))
	}
	for _, s := range r.Payouts {
		out = append(out, fmt.Sprintf("payout %+v", s))
	}
	sort.Strings(out)
	return out
}

// Issue 9 case 4: the months of a quarter add up to the quarter, each
// thing reported in exactly one of them, whatever crosses a month's edge.
func TestMonthsAddUpToTheQuarter(t *testing.T) {
	d := generate(7, 1500, 92)
	shiftDays(d, int(time.Date(2025, 10, 1, 0, 0, 0, 0, time.UTC).Sub(time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)).Hours()/24))
	// A KCO order captured with Vipps on Nov 28 and sold by Kustom on Dec 10.
	u := genUnits[0]
	capAt := time.Date(2025, 11, 28, 12, 0, 0, 0, oslo)
	d.ms = append(d.ms, Movement{ID: "m-twice", Provider: Vipps, Reference: "ws-twice-1", KCOOrderID: "twice", Unit: "shop",
		MSN: u.msn, Kind: KindCapture, PSPReference: "p-twice", Amount: 50000, Currency: "NOK", At: capAt})
	d.lines = append(d.lines,
		Line{Provider: Vipps, Source: "t", Key: "l-twice", Kind: KindCapture, Reference: "ws-twice-1", PSPReference: "p-twice",
			MSN: u.msn, Gross: 50000, Fee: u.fee.Expected(50000), Currency: "NOK", LedgerDate: "2025-11-28"},
		Line{Provider: Kustom, Source: "t", Key: "k-twice", Kind: KindSale, Reference: "twice", Gross: 50000,
			Currency: "NOK", LedgerDate: "2025-12-10"})
	// A capture late on Oct 31 (Oslo) that never settled, and a Vipps line
	// of Sep 30 for a capture of ours of Oct 1: both across an edge.
	d.ms = append(d.ms,
		Movement{ID: "m-oct31", Provider: Vipps, Reference: "ws-oct31-1", KCOOrderID: "oct31", MSN: u.msn, Kind: KindCapture,
			PSPReference: "p-oct31", Amount: 700, Currency: "NOK", At: time.Date(2025, 10, 31, 23, 30, 0, 0, oslo)},
		Movement{ID: "m-oct1", Provider: Vipps, Reference: "ws-oct1-1", KCOOrderID: "oct1", MSN: u.msn, Kind: KindCapture,
			PSPReference: "p-oct1", Amount: 900, Currency: "NOK", At: time.Date(2025, 10, 1, 0, 30, 0, 0, oslo)})
	d.lines = append(d.lines, Line{Provider: Vipps, Source: "t", Key: "l-oct1", Kind: KindCapture, Reference: "ws-oct1-1",
		PSPReference: "p-oct1", MSN: u.msn, Gross: 900, Fee: u.fee.Expected(900), Currency: "NOK", LedgerDate: "2025-09-30"})

	run := func(from, to string) *Result {
		cfg := d.cfg
		cfg.From, cfg.To = from, to
		ms, lines, payouts := window(d, from, to, 35)
		return noErr(Run(cfg, ms, lines, payouts))
	}
	quarter := run("2025-10-01", "2025-12-31")
	months := []*Result{run("2025-10-01", "2025-10-31"), run("2025-11-01", "2025-11-30"), run("2025-12-01", "2025-12-31")}

	var union []string
	for _, m := range months {
		union = append(union, parts(m)...)
	}
	sort.Strings(union)
	require.Equal(t, parts(quarter), union, "the months, together, are the quarter")
	for k := 1; k < len(union); k++ {
		require.NotEqual(t, union[k-1], union[k], "reported twice")
	}

	reasonsOf := func(r *Result) map[string]string {
		out := map[string]string{}
		for _, x := range r.Exceptions {
			out[x.Reference] = string(x.Reason) + " " + x.Date
		}
		return out
	}
	require.Equal(t, "paid_twice 2025-12-10", reasonsOf(quarter)["ws-twice-1"])
	require.Equal(t, "paid_twice 2025-12-10", reasonsOf(months[2])["ws-twice-1"])
	require.NotContains(t, reasonsOf(months[0]), "ws-twice-1")
	require.NotContains(t, reasonsOf(months[1]), "ws-twice-1")
	require.Equal(t, "captured_not_settled 2025-10-31", reasonsOf(months[0])["ws-oct31-1"])
	require.Len(t, quarter.Exceptions, 2, "nothing but what was planted: %v", reasons(quarter))
	// The Sep 30 line settles the Oct 1 capture: a match of October's.
	found := false
	for _, m := range months[0].Matches {
		found = found || m.Reference == "ws-oct1-1"
	}
	require.True(t, found)
}
