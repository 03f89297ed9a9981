package reconcile

import (
	"cmp"
	"slices"
	"strings"
)

// The engine never depends on the order of its input: every group it works
// on is first put in these canonical orders, which compare every field, so
// two values they call equal are indistinguishable in the result.

// cmpLines orders lines i and j by every field of the Line they were
// added as: provider, currency, reference, key, kind, pspReference, gross,
// fee, MSN, payout, ledger date, source, source line, open.
func (e *engine) cmpLines(i, j int32) int {
	a, b := e.line(i), e.line(j)
	ca, cb := e.ls.groups[a.group], e.ls.groups[b.group]
	aa, ba := &e.ls.attrs[ca.attrs], &e.ls.attrs[cb.attrs]
	same := ca.attrs == cb.attrs
	if !same {
		if c := strings.Compare(string(aa.provider), string(ba.provider)); c != 0 {
			return c
		}
		if c := strings.Compare(aa.currency, ba.currency); c != 0 {
			return c
		}
	}
	if a.ref != b.ref {
		if c := strings.Compare(e.reference(i), e.reference(j)); c != 0 {
			return c
		}
	}
	if c := strings.Compare(e.ls.key(a), e.ls.key(b)); c != 0 {
		return c
	}
	if !same {
		if c := strings.Compare(string(aa.kind), string(ba.kind)); c != 0 {
			return c
		}
	}
	if c := strings.Compare(e.ls.pspRef(a), e.ls.pspRef(b)); c != 0 {
		return c
	}
	if c := cmp.Compare(e.ls.gross(i, a), e.ls.gross(j, b)); c != 0 {
		return c
	}
	if c := cmp.Compare(e.ls.fee(i, a), e.ls.fee(j, b)); c != 0 {
		return c
	}
	if !same {
		if c := strings.Compare(aa.msn, ba.msn); c != 0 {
			return c
		}
	}
	if ca.book != cb.book {
		ab, bb := &e.ls.books[ca.book], &e.ls.books[cb.book]
		if c := strings.Compare(ab.payout, bb.payout); c != 0 {
			return c
		}
		if c := strings.Compare(ab.date, bb.date); c != 0 {
			return c
		}
	}
	if !same {
		if c := strings.Compare(aa.source, ba.source); c != 0 {
			return c
		}
	}
	if a.srcLine != b.srcLine || a.srcLine == srcLineBig {
		if c := cmp.Compare(e.ls.srcLine(i), e.ls.srcLine(j)); c != 0 {
			return c
		}
	}
	if same {
		return 0
	}
	return cmpBool(aa.open, ba.open)
}

// sortLines puts line positions in canonical order.
func sortLines(e *engine, is []int32) {
	if len(is) > 1 {
		slices.SortFunc(is, e.cmpLines)
	}
}

// sortMovements puts movement positions in canonical order.
func sortMovements(e *engine, js []int32) {
	if len(js) > 1 {
		slices.SortFunc(js, func(a, b int32) int { return cmpMovement(&e.ms[a], &e.ms[b]) })
	}
}

func cmpMovement(a, b *Movement) int {
	if c := strings.Compare(string(a.Provider), string(b.Provider)); c != 0 {
		return c
	}
	if c := strings.Compare(a.Currency, b.Currency); c != 0 {
		return c
	}
	if c := strings.Compare(a.Reference, b.Reference); c != 0 {
		return c
	}
	if c := strings.Compare(string(a.Kind), string(b.Kind)); c != 0 {
		return c
	}
	if c := strings.Compare(a.PSPReference, b.PSPReference); c != 0 {
		return c
	}
	if c := a.At.Compare(b.At); c != 0 {
		return c
	}
	if c := strings.Compare(a.ID, b.ID); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Amount, b.Amount); c != 0 {
		return c
	}
	if c := strings.Compare(a.KCOOrderID, b.KCOOrderID); c != 0 {
		return c
	}
	if c := strings.Compare(a.Unit, b.Unit); c != 0 {
		return c
	}
	return strings.Compare(a.MSN, b.MSN)
}

func cmpPayout(a, b *Payout) int {
	if c := strings.Compare(string(a.Provider), string(b.Provider)); c != 0 {
		return c
	}
	if c := strings.Compare(a.Currency, b.Currency); c != 0 {
		return c
	}
	if c := strings.Compare(a.ID, b.ID); c != 0 {
		return c
	}
	if c := strings.Compare(a.Date, b.Date); c != 0 {
		return c
	}
	if c := strings.Compare(a.MSN, b.MSN); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Amount, b.Amount); c != 0 {
		return c
	}
	return cmpBool(a.Gross, b.Gross)
}

func cmpException(a, b *Exception) int {
	if c := cmp.Compare(a.Reason.Severity(), b.Reason.Severity()); c != 0 {
		return c
	}
	if c := strings.Compare(a.Date, b.Date); c != 0 {
		return c
	}
	if c := strings.Compare(a.Reference, b.Reference); c != 0 {
		return c
	}
	if c := strings.Compare(string(a.Reason), string(b.Reason)); c != 0 {
		return c
	}
	if c := strings.Compare(string(a.Provider), string(b.Provider)); c != 0 {
		return c
	}
	if c := strings.Compare(a.Currency, b.Currency); c != 0 {
		return c
	}
	if c := strings.Compare(a.PayoutID, b.PayoutID); c != 0 {
		return c
	}
	if c := slices.Compare(a.LineKeys, b.LineKeys); c != 0 {
		return c
	}
	if c := slices.Compare(a.Movements, b.Movements); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Amount, b.Amount); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Expected, b.Expected); c != 0 {
		return c
	}
	if c := strings.Compare(a.KCOOrderID, b.KCOOrderID); c != 0 {
		return c
	}
	if c := strings.Compare(a.MSN, b.MSN); c != 0 {
		return c
	}
	if c := strings.Compare(a.Unit, b.Unit); c != 0 {
		return c
	}
	return strings.Compare(a.Detail(), b.Detail())
}

func cmpPending(a, b *Pending) int {
	if c := a.Due.Compare(b.Due); c != 0 {
		return c
	}
	if c := strings.Compare(string(a.Provider), string(b.Provider)); c != 0 {
		return c
	}
	if c := strings.Compare(a.Currency, b.Currency); c != 0 {
		return c
	}
	if c := strings.Compare(a.Reference, b.Reference); c != 0 {
		return c
	}
	if c := strings.Compare(a.Movement, b.Movement); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Amount, b.Amount); c != 0 {
		return c
	}
	if c := strings.Compare(string(a.Kind), string(b.Kind)); c != 0 {
		return c
	}
	if c := a.At.Compare(b.At); c != 0 {
		return c
	}
	if c := strings.Compare(a.KCOOrderID, b.KCOOrderID); c != 0 {
		return c
	}
	if c := strings.Compare(a.MSN, b.MSN); c != 0 {
		return c
	}
	if c := strings.Compare(a.Unit, b.Unit); c != 0 {
		return c
	}
	return cmpBool(a.OpenDay, b.OpenDay)
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}
