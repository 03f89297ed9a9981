package reconcile

import (
	"cmp"
	"slices"
	"strings"
)

// The engine never depends on the order of its input: every group it works
// on is first put in these canonical orders, which compare every field, so
// two values they call equal are indistinguishable in the result.

func cmpLine(a, b *Line) int {
	if c := strings.Compare(string(a.Provider), string(b.Provider)); c != 0 {
		return c
	}
	if c := strings.Compare(a.Currency, b.Currency); c != 0 {
		return c
	}
	if c := strings.Compare(a.Reference, b.Reference); c != 0 {
		return c
	}
	if c := strings.Compare(a.Key, b.Key); c != 0 {
		return c
	}
	if c := strings.Compare(string(a.Kind), string(b.Kind)); c != 0 {
		return c
	}
	if c := strings.Compare(a.PSPReference, b.PSPReference); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Gross, b.Gross); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Fee, b.Fee); c != 0 {
		return c
	}
	if c := strings.Compare(a.MSN, b.MSN); c != 0 {
		return c
	}
	if c := strings.Compare(a.PayoutID, b.PayoutID); c != 0 {
		return c
	}
	if c := strings.Compare(a.LedgerDate, b.LedgerDate); c != 0 {
		return c
	}
	if c := strings.Compare(a.Source, b.Source); c != 0 {
		return c
	}
	if c := cmp.Compare(a.SourceLine, b.SourceLine); c != 0 {
		return c
	}
	return cmpBool(a.Open, b.Open)
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
	return strings.Compare(a.Detail, b.Detail)
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
