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
	msn, date, from string
	// dates are the distinct ledger dates of the payout's lines.
	dates    []string
	opening  int64
	paid     int64
	sameAs   string
	reported bool
	open     bool
}

// addDate notes that the payout has a line of ledger date d.
func (t *payoutTotals) addDate(d string) {
	if n := len(t.dates); n > 0 && t.dates[n-1] == d || slices.Contains(t.dates, d) {
		return
	}
	t.dates = append(t.dates, d)
}

// add counts a line; false means a sum overflowed.
func (t *Totals) add(k Kind, gross, fee int64, st uint8) bool {
	t.Lines++
	if st == stateDuplicate {
		return true
	}
	if st == stateMatched {
		t.Matched++
	}
	ok := true
	switch lineClass(k) {
	case classIn:
		t.Captured, ok = addChecked(t.Captured, gross)
	case classOut:
		t.Refunded, ok = addChecked(t.Refunded, gross)
	case classOther:
		t.Other, ok = addChecked(t.Other, gross)
	}
	var ok2 bool
	t.Fees, ok2 = addChecked(t.Fees, fee)
	return ok && ok2
}

// finish works out Gross and Net; false means one overflowed.
func (t *Totals) finish() bool {
	g, ok1 := addChecked(t.Captured, t.Refunded)
	g, ok2 := addChecked(g, t.Other)
	n, ok3 := subChecked(g, t.Fees)
	t.Gross, t.Net = g, n
	return ok1 && ok2 && ok3
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
		if !day.add(a.kind, gross, fee, st) {
			e.overflow(fmt.Sprintf("%s %s totals of ledger date %s", a.provider, a.currency, b.date))
		}
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
		if !pay.add(a.kind, gross, fee, st) {
			e.overflow(fmt.Sprintf("%s %s totals of payout %s", a.provider, a.currency, b.payout))
		}
		if st != stateDuplicate && (a.open || e.isOpen(a.provider, a.msn, b.date)) {
			pay.open = true
		}
		if a.msn != "" && (pay.msn == "" || a.msn < pay.msn) {
			pay.msn = a.msn
		}
		pay.addDate(b.date)
	}
	for k, t := range days {
		if !t.finish() {
			e.overflow(fmt.Sprintf("%s %s totals of ledger date %s", k.provider, k.currency, k.v))
		}
	}
	for k, t := range pays {
		if !t.finish() {
			e.overflow(fmt.Sprintf("%s %s totals of payout %s", k.provider, k.currency, k.v))
		}
		slices.Sort(t.dates)
		if len(t.dates) > 0 {
			t.from, t.date = t.dates[0], t.dates[len(t.dates)-1]
		}
	}

	// Payouts that are another one read again come last, so that the
	// payout they repeat is known by then.
	order := make([]int, len(payouts))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		x, y := &payouts[a], &payouts[b]
		return cmp.Or(cmpBool(x.SameAs != "", y.SameAs != ""), cmpPayout(x, y))
	})
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
		from := t.from
		if from == "" {
			from = t.date
		}
		e.res.Payouts = append(e.res.Payouts, PayoutSummary{
			Provider: k.provider, Currency: k.currency, ID: k.v, MSN: t.msn, Date: t.date, From: from,
			Dates: t.dates, Opening: t.opening, SameAs: t.sameAs,
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

// checkPayout compares a payout with the balance carried into it plus
// the sum of its lines, of whatever ledger dates they are: their net, or
// their gross on gross settlement (fees invoiced, refunds still deducted).
// A payout of an open day may still get lines, so it is not yet short. A
// payout that is another one read again (SameAs) is that payout's money:
// it is neither checked nor paid a second time.
func (e *engine) checkPayout(p *Payout, pays map[sumKey]*payoutTotals) {
	k := sumKey{p.Provider, p.Currency, p.ID}
	t := pays[k]
	if p.SameAs != "" {
		if t != nil && t.reported {
			return // the payout it repeats is this one, already reported
		}
		if t == nil {
			t = &payoutTotals{}
			pays[k] = t
		}
		t.reported, t.sameAs, t.date, t.from = true, p.SameAs, p.Date, cmp.Or(p.From, p.Date)
		t.msn = cmp.Or(p.MSN, t.msn)
		return
	}
	if t == nil {
		t = &payoutTotals{}
		pays[k] = t
	}
	if !t.reported {
		from := cmp.Or(p.From, p.Date)
		if t.from != "" {
			// Lines dated before the payout says it starts.
			from = min(from, t.from)
		}
		t.reported, t.paid, t.date, t.from, t.opening = true, p.Amount, p.Date, from, p.Opening
		if p.MSN != "" {
			t.msn = p.MSN
		}
	}
	lines, basis := t.Net, "net"
	if p.Gross {
		lines, basis = t.Gross, "gross"
	}
	want, ok := addChecked(p.Opening, lines)
	if !ok {
		e.overflow(fmt.Sprintf("%s %s balance carried into payout %s plus its lines", p.Provider, p.Currency, p.ID))
		return
	}
	if p.Amount == want || t.open || e.isOpen(p.Provider, p.MSN, p.Date) {
		return
	}
	from := cmp.Or(p.From, p.Date)
	detail := fmt.Sprintf("payout %s (%s..%s) paid %s, its %d line(s) come to %s %s", p.ID, from, p.Date,
		money(p.Amount, p.Currency), t.Lines, money(lines, p.Currency), basis)
	if p.Opening != 0 {
		detail += fmt.Sprintf(", with the balance of %s carried into %s %s", money(p.Opening, p.Currency), from,
			money(want, p.Currency))
	}
	e.res.Exceptions = append(e.res.Exceptions, Exception{
		Reason: ReasonPayoutMismatch, Provider: p.Provider, MSN: t.msn, PayoutID: p.ID, Date: p.Date,
		Amount: p.Amount, Expected: want, Currency: p.Currency, detail: detail,
	})
}

func cmpKeys(p1, p2 Provider, c1, c2, v1, v2 string) int {
	return cmp.Or(strings.Compare(string(p1), string(p2)), strings.Compare(c1, c2), strings.Compare(v1, v2))
}
