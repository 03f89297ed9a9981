package reconcile

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2025, 3, 3, 10, 0, 0, 0, time.UTC)

func mv(id, ref, psp string, k Kind, amount int64) Movement {
	return Movement{ID: id, Provider: Vipps, Reference: ref, KCOOrderID: strings.TrimPrefix(ref, "ws-"), MSN: "1",
		Kind: k, PSPReference: psp, Amount: amount, Currency: "NOK", At: t0}
}

func ln(key, ref, psp string, k Kind, gross, fee int64) Line {
	return Line{Provider: Vipps, Source: "t", Key: key, Kind: k, Reference: ref, PSPReference: psp, MSN: "1",
		Gross: gross, Fee: fee, Currency: "NOK", LedgerDate: "2025-03-03"}
}

func kl(key, order string, k Kind, gross, fee int64) Line {
	l := ln(key, order, "", k, gross, fee)
	l.Provider, l.MSN = Kustom, ""
	return l
}

func at(m Movement, t time.Time) Movement { m.At = t; return m }

func with[T any](v T, f func(*T)) T { f(&v); return v }

// describe writes matches as "pass lines|movements" and exceptions as
// "reason lines|movements".
func describe(r *Result) (matches, exceptions, pending []string) {
	for _, m := range r.Matches {
		matches = append(matches, string(m.Pass)+" "+strings.Join(m.Lines, ",")+"|"+strings.Join(m.Movements, ","))
	}
	for _, x := range r.Exceptions {
		exceptions = append(exceptions, string(x.Reason)+" "+strings.Join(x.LineKeys, ",")+"|"+strings.Join(x.Movements, ","))
	}
	for _, p := range r.Pending {
		pending = append(pending, p.Movement)
	}
	sort.Strings(matches)
	sort.Strings(exceptions)
	return matches, exceptions, pending
}

func TestPasses(t *testing.T) {
	now := t0.Add(10 * 24 * time.Hour)
	recent := now.Add(-time.Hour)
	fees := map[string]FeeModel{"1": {Bps: 175, Fixed: 100, Tolerance: 1}}
	for _, c := range []struct {
		name       string
		ms         []Movement
		lines      []Line
		payouts    []Payout
		cfg        func(*Config)
		matches    []string
		exceptions []string
		pending    []string
	}{
		{
			name:    "id one to one",
			ms:      []Movement{mv("m1", "ws-A", "P1", KindCapture, 100)},
			lines:   []Line{ln("l1", "ws-A", "P1", KindCapture, 100, 0)},
			matches: []string{"id l1|m1"},
		},
		{
			name:    "id group: two captures under one pspReference, one line",
			ms:      []Movement{mv("m1", "ws-A", "P1", KindCapture, 60), mv("m2", "ws-A", "P1", KindCapture, 40)},
			lines:   []Line{ln("l1", "ws-A", "P1", KindCapture, 100, 0)},
			matches: []string{"id l1|m1,m2"},
		},
		{
			name:       "id amount mismatch",
			ms:         []Movement{mv("m1", "ws-A", "P1", KindCapture, 100)},
			lines:      []Line{ln("l1", "ws-A", "P1", KindCapture, 90, 0)},
			exceptions: []string{"amount_mismatch l1|m1"},
		},
		{
			name:       "id settled twice",
			ms:         []Movement{mv("m1", "ws-A", "P1", KindCapture, 100)},
			lines:      []Line{ln("l1", "ws-A", "P1", KindCapture, 100, 0), ln("l2", "ws-A", "P1", KindCapture, 100, 0)},
			matches:    []string{"id l1|m1"},
			exceptions: []string{"duplicate_line l2|"},
		},
		{
			name:       "same key read twice",
			ms:         []Movement{mv("m1", "ws-A", "P1", KindCapture, 100)},
			lines:      []Line{ln("l1", "ws-A", "P1", KindCapture, 100, 0), ln("l1", "ws-A", "P1", KindCapture, 100, 0)},
			matches:    []string{"id l1|m1"},
			exceptions: []string{"duplicate_line l1|"},
		},
		{
			name:    "line without reference joins by pspReference",
			ms:      []Movement{mv("m1", "ws-A", "P1", KindCapture, 100)},
			lines:   []Line{ln("l1", "", "P1", KindCapture, 100, 0)},
			matches: []string{"id l1|m1"},
		},
		{
			name:    "reference and exact amount without pspReference",
			ms:      []Movement{mv("m1", "ws-A", "", KindCapture, 100), mv("m2", "ws-A", "", KindCapture, 50)},
			lines:   []Line{ln("l1", "ws-A", "", KindCapture, 50, 0), ln("l2", "ws-A", "", KindCapture, 100, 0)},
			matches: []string{"reference l1|m2", "reference l2|m1"},
		},
		{
			name:    "a pspReference that is none of ours is not usable",
			ms:      []Movement{mv("m1", "ws-A", "P1", KindCapture, 100)},
			lines:   []Line{ln("l1", "ws-A", "T-998877", KindCapture, 100, 0)},
			matches: []string{"reference l1|m1"},
		},
		{
			name:    "ids first: a line without id does not take a movement another line names",
			ms:      []Movement{mv("m1", "ws-A", "P1", KindCapture, 100), mv("m2", "ws-A", "P2", KindCapture, 100)},
			lines:   []Line{ln("l1", "ws-A", "", KindCapture, 100, 0), ln("l2", "ws-A", "P1", KindCapture, 100, 0)},
			matches: []string{"id l2|m1", "reference l1|m2"},
		},
		{
			name:    "group: partial captures settled in one line",
			ms:      []Movement{mv("m1", "ws-A", "", KindCapture, 30), mv("m2", "ws-A", "", KindCapture, 20)},
			lines:   []Line{ln("l1", "ws-A", "", KindCapture, 50, 0)},
			matches: []string{"group l1|m1,m2"},
		},
		{
			name:    "group: one capture settled in two lines",
			ms:      []Movement{mv("m1", "ws-A", "", KindCapture, 100)},
			lines:   []Line{ln("l1", "ws-A", "", KindCapture, 60, 0), ln("l2", "ws-A", "", KindCapture, 40, 0)},
			matches: []string{"group l1,l2|m1"},
		},
		{
			name: "group: the captures up to a time, a later one pending",
			ms: []Movement{mv("m1", "ws-A", "", KindCapture, 30), at(mv("m2", "ws-A", "", KindCapture, 20), t0.Add(time.Hour)),
				at(mv("m3", "ws-A", "", KindCapture, 45), recent)},
			lines:   []Line{ln("l1", "ws-A", "", KindCapture, 50, 0)},
			matches: []string{"group l1|m1,m2"},
			pending: []string{"m3"},
		},
		{
			name:       "group that does not add up",
			ms:         []Movement{mv("m1", "ws-A", "", KindCapture, 30), mv("m2", "ws-A", "", KindCapture, 20)},
			lines:      []Line{ln("l1", "ws-A", "", KindCapture, 45, 0)},
			exceptions: []string{"amount_mismatch l1|m1,m2"},
		},
		{
			name:    "refunds match refunds",
			ms:      []Movement{mv("m1", "ws-A", "P1", KindCapture, 100), mv("m2", "ws-A", "R1", KindRefund, 40)},
			lines:   []Line{ln("l1", "ws-A", "P1", KindCapture, 100, 0), ln("l2", "ws-A", "R1", KindRefund, -40, 0)},
			matches: []string{"id l1|m1", "id l2|m2"},
		},
		{
			name:       "a refund never matches a capture",
			ms:         []Movement{mv("m1", "ws-A", "", KindRefund, 40)},
			lines:      []Line{ln("l1", "ws-A", "", KindCapture, 40, 0)},
			exceptions: []string{"refund_not_settled |m1", "settled_unknown l1|"},
		},
		{
			name:       "refund not settled",
			ms:         []Movement{mv("m1", "ws-A", "P1", KindCapture, 100), mv("m2", "ws-A", "R1", KindRefund, 40)},
			lines:      []Line{ln("l1", "ws-A", "P1", KindCapture, 100, 0)},
			matches:    []string{"id l1|m1"},
			exceptions: []string{"refund_not_settled |m2"},
		},
		{
			name:    "capture not yet due is pending",
			ms:      []Movement{at(mv("m1", "ws-A", "P1", KindCapture, 100), recent)},
			pending: []string{"m1"},
		},
		{
			name:       "capture past due",
			ms:         []Movement{mv("m1", "ws-A", "P1", KindCapture, 100)},
			exceptions: []string{"captured_not_settled |m1"},
		},
		{
			name:    "capture past due on an open day",
			ms:      []Movement{mv("m1", "ws-A", "P1", KindCapture, 100)},
			cfg:     func(c *Config) { c.OpenDays = []Day{{Vipps, "1", "2025-03-03"}} },
			pending: []string{"m1"},
		},
		{
			name:    "settlement delay per provider",
			ms:      []Movement{mv("m1", "ws-A", "P1", KindCapture, 100)},
			cfg:     func(c *Config) { c.SettleWithin = map[Provider]time.Duration{Vipps: 11 * 24 * time.Hour} },
			pending: []string{"m1"},
		},
		{
			name:    "fee line joins its capture by pspReference",
			ms:      []Movement{mv("m1", "ws-A", "P1", KindCapture, 10000)},
			lines:   []Line{ln("l1", "ws-A", "P1", KindCapture, 10000, 0), ln("f1", "ws-A", "P1", KindFee, 0, 275)},
			cfg:     func(c *Config) { c.ExpectedFee = fees },
			matches: []string{"id f1,l1|m1"},
		},
		{
			name:       "fee off the model",
			ms:         []Movement{mv("m1", "ws-A", "P1", KindCapture, 10000)},
			lines:      []Line{ln("l1", "ws-A", "P1", KindCapture, 10000, 0), ln("f1", "ws-A", "P1", KindFee, 0, 277)},
			cfg:        func(c *Config) { c.ExpectedFee = fees },
			matches:    []string{"id f1,l1|m1"},
			exceptions: []string{"fee_mismatch l1,f1|m1"},
		},
		{
			name:    "fee within tolerance, booked as negative gross",
			ms:      []Movement{mv("m1", "ws-A", "P1", KindCapture, 10000)},
			lines:   []Line{ln("l1", "ws-A", "P1", KindCapture, 10000, 0), ln("f1", "ws-A", "P1", KindFee, -276, 0)},
			cfg:     func(c *Config) { c.ExpectedFee = fees },
			matches: []string{"id f1,l1|m1"},
		},
		{
			name:    "fee of the reference as a whole",
			ms:      []Movement{mv("m1", "ws-A", "P1", KindCapture, 10000), mv("m2", "ws-A", "P2", KindCapture, 10000)},
			lines:   []Line{ln("l1", "ws-A", "P1", KindCapture, 10000, 0), ln("l2", "ws-A", "P2", KindCapture, 10000, 0), ln("f1", "ws-A", "", KindFee, 0, 550)},
			cfg:     func(c *Config) { c.ExpectedFee = fees },
			matches: []string{"id f1,l1|m1", "id l2|m2"},
		},
		{
			name:    "fee of a capture settled elsewhere",
			ms:      []Movement{at(mv("m1", "ws-A", "P1", KindCapture, 10000), recent)},
			lines:   []Line{ln("f1", "ws-A", "P1", KindFee, 0, 275)},
			cfg:     func(c *Config) { c.ExpectedFee = fees },
			matches: []string{"fee f1|"},
			pending: []string{"m1"},
		},
		{
			name:       "fee for none of ours",
			ms:         []Movement{at(mv("m1", "ws-A", "P1", KindCapture, 10000), recent)},
			lines:      []Line{ln("f1", "ws-A", "PX", KindFee, 0, 275)},
			exceptions: []string{"settled_unknown f1|"},
			pending:    []string{"m1"},
		},
		{
			name:       "a refund is expected to cost nothing",
			ms:         []Movement{mv("m1", "ws-A", "R1", KindRefund, 100)},
			lines:      []Line{ln("l1", "ws-A", "R1", KindRefund, -100, 5)},
			cfg:        func(c *Config) { c.ExpectedFee = fees },
			matches:    []string{"id l1|m1"},
			exceptions: []string{"fee_mismatch l1|m1"},
		},
		{
			name:       "other kinds of line are not ours",
			ms:         []Movement{mv("m1", "ws-A", "P1", KindCapture, 100)},
			lines:      []Line{ln("l1", "ws-A", "P1", KindCapture, 100, 0), ln("l2", "ws-A", "P1", KindOther, -10, 0)},
			matches:    []string{"id l1|m1"},
			exceptions: []string{"settled_unknown l2|"},
		},
		{
			name:    "Kustom lines of an order paid with Klarna",
			lines:   []Line{kl("k1", "K1", KindSale, 100, 0), kl("k2", "K1", KindFee, 0, 3), kl("k3", "K2", KindSale, 50, 0)},
			matches: []string{"provider k1,k2|", "provider k3|"},
		},
		{
			name:       "paid twice: Vipps capture and Kustom sale of one KCO order",
			ms:         []Movement{mv("m1", "ws-K1-1", "P1", KindCapture, 100)},
			lines:      []Line{ln("l1", "ws-K1-1", "P1", KindCapture, 100, 0), kl("k1", "K1-1", KindSale, 100, 0)},
			matches:    []string{"id l1|m1"},
			exceptions: []string{"paid_twice k1|"},
		},
		{
			name:    "not paid twice once Kustom returned it",
			ms:      []Movement{mv("m1", "ws-K1-1", "P1", KindCapture, 100)},
			lines:   []Line{ln("l1", "ws-K1-1", "P1", KindCapture, 100, 0), kl("k1", "K1-1", KindSale, 100, 0), kl("k2", "K1-1", KindReturn, -100, 0)},
			matches: []string{"id l1|m1", "provider k1,k2|"},
		},
		{
			name: "not paid twice once Vipps refunded it",
			ms:   []Movement{mv("m1", "ws-K1-1", "P1", KindCapture, 100), mv("m2", "ws-K1-1", "R1", KindRefund, 100)},
			lines: []Line{ln("l1", "ws-K1-1", "P1", KindCapture, 100, 0), ln("l2", "ws-K1-1", "R1", KindRefund, -100, 0),
				kl("k1", "K1-1", KindSale, 100, 0)},
			matches: []string{"id l1|m1", "id l2|m2", "provider k1|"},
		},
		{
			name:       "currencies never cross",
			ms:         []Movement{mv("m1", "ws-A", "P1", KindCapture, 100)},
			lines:      []Line{with(ln("l1", "ws-A", "P1", KindCapture, 100, 0), func(l *Line) { l.Currency = "DKK" })},
			exceptions: []string{"captured_not_settled |m1", "settled_unknown l1|"},
		},
		{
			name:       "unknown reference",
			lines:      []Line{ln("l1", "ws-Z", "P1", KindCapture, 100, 0)},
			exceptions: []string{"settled_unknown l1|"},
		},
		{
			name: "payouts: net, gross, short, and short on an open day",
			lines: []Line{
				with(ln("l1", "ws-A", "P1", KindCapture, 100, 3), func(l *Line) { l.PayoutID = "net" }),
				with(ln("l2", "ws-B", "P2", KindCapture, 100, 3), func(l *Line) { l.PayoutID = "gross" }),
				with(ln("l3", "ws-C", "P3", KindCapture, 100, 3), func(l *Line) { l.PayoutID = "short" }),
				with(ln("l4", "ws-D", "P4", KindCapture, 100, 3), func(l *Line) { l.PayoutID = "open"; l.MSN = "2" }),
			},
			ms: []Movement{mv("m1", "ws-A", "P1", KindCapture, 100), mv("m2", "ws-B", "P2", KindCapture, 100),
				mv("m3", "ws-C", "P3", KindCapture, 100), with(mv("m4", "ws-D", "P4", KindCapture, 100), func(m *Movement) { m.MSN = "2" })},
			payouts: []Payout{
				{Provider: Vipps, ID: "net", Amount: 97, Currency: "NOK", Date: "2025-03-04"},
				{Provider: Vipps, ID: "gross", Amount: 100, Currency: "NOK", Date: "2025-03-04", Gross: true},
				{Provider: Vipps, ID: "short", Amount: 96, Currency: "NOK", Date: "2025-03-04"},
				{Provider: Vipps, ID: "open", MSN: "2", Amount: 200, Currency: "NOK", Date: "2025-03-04"},
			},
			cfg:        func(c *Config) { c.OpenDays = []Day{{Vipps, "2", "2025-03-03"}} },
			matches:    []string{"id l1|m1", "id l2|m2", "id l3|m3", "id l4|m4"},
			exceptions: []string{"payout_mismatch |"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{Now: now}
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			matches, exceptions, pending := describe(noErr(Run(cfg, c.ms, c.lines, c.payouts)))
			require.Equal(t, c.matches, matches, "matches")
			require.Equal(t, c.exceptions, exceptions, "exceptions")
			require.Equal(t, c.pending, pending, "pending")
		})
	}
}

func TestSummaries(t *testing.T) {
	lines := []Line{
		with(ln("l1", "ws-A", "P1", KindCapture, 1000, 30), func(l *Line) { l.PayoutID = "X" }),
		with(ln("l2", "ws-A", "R1", KindRefund, -400, 0), func(l *Line) { l.PayoutID = "X" }),
		with(ln("l3", "ws-A", "P1", KindFee, 0, 5), func(l *Line) { l.PayoutID = "X"; l.LedgerDate = "2025-03-04" }),
		with(ln("l4", "ws-Z", "P9", KindCapture, 70, 0), func(l *Line) { l.PayoutID = "X"; l.LedgerDate = "2025-03-04" }),
	}
	ms := []Movement{mv("m1", "ws-A", "P1", KindCapture, 1000), mv("m2", "ws-A", "R1", KindRefund, 400)}
	r := noErr(Run(Config{Now: t0.Add(240 * time.Hour)}, ms, lines, []Payout{{Provider: Vipps, ID: "X", Amount: 635, Currency: "NOK", Date: "2025-03-05"}}))
	require.Equal(t, []DaySummary{
		{Provider: Vipps, Currency: "NOK", Date: "2025-03-03", Totals: Totals{Lines: 2, Matched: 2, Captured: 1000, Refunded: -400, Gross: 600, Fees: 30, Net: 570}},
		{Provider: Vipps, Currency: "NOK", Date: "2025-03-04", Totals: Totals{Lines: 2, Matched: 1, Exceptions: 1, Captured: 70, Gross: 70, Fees: 5, Net: 65}},
	}, r.Days)
	require.Equal(t, []PayoutSummary{{Provider: Vipps, Currency: "NOK", ID: "X", MSN: "1", Date: "2025-03-05", From: "2025-03-03",
		Dates: []string{"2025-03-03", "2025-03-04"}, Paid: 635, Reported: true,
		Totals: Totals{Lines: 4, Matched: 3, Exceptions: 1, Captured: 1070, Refunded: -400, Gross: 670, Fees: 35, Net: 635}}}, r.Payouts)
}
