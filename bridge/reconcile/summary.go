package reconcile

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// sumKey names a day (v is the date) or a payout (v is its id) of one
// provider in one currency.
type sumKey struct {
	provider Provider
	currency string
	v        string
}

type payoutTotals struct {
	Totals
	msn, date string
	paid      int64
	reported  bool
	open      bool
}

func (t *Totals) add(k Kind, gross, fee int64, st uint8) {
	t.Lines++
	if st == stateDuplicate {
		return
	}
	if st == stateMatched {
		t.Matched++
	}
	switch lineClass(k) {
	case classIn:
		t.Captured += gross
	case classOut:
		t.Refunded += gross
	case classOther:
		t.Other += gross
	}
	t.Fees += fee
}

func (t *Totals) finish() {
	t.Gross = t.Captured + t.Refunded + t.Other
	t.Net = t.Gross - t.Fees
}

// payouts sums the lines per ledger day and per payout, checks every
// reported payout against the sum of its lines, and writes the summaries.
func (e *engine) payouts(payouts []Payout) {
	days := make(map[sumKey]*Totals)
	pays := make(map[sumKey]*payoutTotals)
	var lastDay sumKey
	var day *Totals
	var lastPay sumKey
	var pay *payoutTotals
	for i := range int32(e.ls.n) {
		l, st := e.line(i), e.lineState[i]
		a, b := e.ls.attrsOf(l), e.ls.bookOf(l)
		gross, fee := e.ls.gross(i, l), e.feeCost(i)
		if k := (sumKey{a.provider, a.currency, b.date}); day == nil || k != lastDay {
			lastDay, day = k, days[k]
			if day == nil {
				day = new(Totals)
				days[k] = day
			}
		}
		day.add(a.kind, gross, fee, st)
		if b.payout == "" {
			continue
		}
		if k := (sumKey{a.provider, a.currency, b.payout}); pay == nil || k != lastPay {
			lastPay, pay = k, pays[k]
			if pay == nil {
				pay = new(payoutTotals)
				pays[k] = pay
			}
		}
		pay.add(a.kind, gross, fee, st)
		if st != stateDuplicate && (a.open || e.isOpen(a.provider, a.msn, b.date)) {
			pay.open = true
		}
		if a.msn != "" && (pay.msn == "" || a.msn < pay.msn) {
			pay.msn = a.msn
		}
		pay.date = max(pay.date, b.date)
	}
	for _, t := range days {
		t.finish()
	}
	for _, t := range pays {
		t.finish()
	}

	order := make([]int, len(payouts))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmpPayout(&payouts[a], &payouts[b]) })
	for _, i := range order {
		e.checkPayout(&payouts[i], pays)
	}

	for i := range e.res.Exceptions {
		x := &e.res.Exceptions[i]
		if x.Date != "" {
			k := sumKey{x.Provider, x.Currency, x.Date}
			if days[k] == nil {
				days[k] = new(Totals)
			}
			days[k].Exceptions++
		}
		if x.PayoutID != "" {
			k := sumKey{x.Provider, x.Currency, x.PayoutID}
			if pays[k] == nil {
				pays[k] = &payoutTotals{msn: x.MSN, date: x.Date}
			}
			pays[k].Exceptions++
		}
	}

	e.res.Days = make([]DaySummary, 0, len(days))
	for k, t := range days {
		e.res.Days = append(e.res.Days, DaySummary{Provider: k.provider, Currency: k.currency, Date: k.v, Totals: *t})
	}
	slices.SortFunc(e.res.Days, func(a, b DaySummary) int {
		return cmpKeys(a.Provider, b.Provider, a.Currency, b.Currency, a.Date, b.Date)
	})
	e.res.Payouts = make([]PayoutSummary, 0, len(pays))
	for k, t := range pays {
		e.res.Payouts = append(e.res.Payouts, PayoutSummary{
			Provider: k.provider, Currency: k.currency, ID: k.v, MSN: t.msn, Date: t.date,
			Paid: t.paid, Reported: t.reported, Totals: t.Totals,
		})
	}
	slices.SortFunc(e.res.Payouts, func(a, b PayoutSummary) int {
		if c := cmpKeys(a.Provider, b.Provider, a.Currency, b.Currency, a.Date, b.Date); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// checkPayout compares a payout with the sum of its lines: their net, or
// their gross on gross settlement. A payout of an open day may still get
// lines, so it is not yet short.
func (e *engine) checkPayout(p *Payout, pays map[sumKey]*payoutTotals) {
	k := sumKey{p.Provider, p.Currency, p.ID}
	t := pays[k]
	if t == nil {
		t = &payoutTotals{}
		pays[k] = t
	}
	if !t.reported {
		t.reported, t.paid, t.date = true, p.Amount, p.Date
		if p.MSN != "" {
			t.msn = p.MSN
		}
	}
	want, basis := t.Net, "net"
	if p.Gross {
		want, basis = t.Gross, "gross"
	}
	if p.Amount == want || t.open || e.isOpen(p.Provider, p.MSN, p.Date) {
		return
	}
	e.res.Exceptions = append(e.res.Exceptions, Exception{
		Reason: ReasonPayoutMismatch, Provider: p.Provider, MSN: t.msn, PayoutID: p.ID, Date: p.Date,
		Amount: p.Amount, Expected: want, Currency: p.Currency,
		Detail: fmt.Sprintf("payout %s paid %s, its %d line(s) come to %s %s", p.ID,
			money(p.Amount, p.Currency), t.Lines, money(want, p.Currency), basis),
	})
}

func cmpKeys(p1, p2 Provider, c1, c2, v1, v2 string) int {
	return cmp.Or(strings.Compare(string(p1), string(p2)), strings.Compare(c1, c2), strings.Compare(v1, v2))
}
