package reconcile

import (
	"fmt"
	"time"
)

// except records an exception about lines and movements. ctx, when not -1,
// is a movement of the same reference that names the payment. Lines and
// movements not yet placed become exceptions; matched ones (a fee that is
// off) stay matched. It returns the exception, valid until the next.
func (e *engine) except(r Reason, ctx int32, lines, movs []int32, amount, expected int64, detail string) *Exception {
	x := Exception{Reason: r, Amount: amount, Expected: expected, detail: detail}
	if len(lines) > 0 {
		a, b := e.attrs(lines[0]), e.book(lines[0])
		x.Provider, x.Currency, x.Reference = a.provider, a.currency, e.reference(lines[0])
		x.MSN, x.PayoutID, x.Date = a.msn, b.payout, b.date
		start := len(e.excKeys)
		for _, i := range lines {
			e.excKeys = append(e.excKeys, e.key(i))
			if s := e.lineState[i]; s == stateFree || s == stateQueued {
				e.lineState[i] = stateException
			}
		}
		x.LineKeys = e.excKeys[start:len(e.excKeys):len(e.excKeys)]
	}
	if ctx < 0 && len(movs) > 0 {
		ctx = movs[0]
	}
	if ctx >= 0 {
		m := &e.ms[ctx]
		x.Reference, x.KCOOrderID, x.Unit = m.Reference, m.KCOOrderID, m.Unit
		if x.MSN == "" && m.Provider == x.Provider {
			// A line of an unknown unit is of the unit of our payment.
			x.MSN = m.MSN
		}
		if len(lines) == 0 {
			x.Provider, x.Currency, x.MSN, x.Date = m.Provider, m.Currency, m.MSN, e.ledgerDate(m)
		}
	}
	if len(movs) > 0 {
		start := len(e.excIDs)
		for _, j := range movs {
			e.excIDs = append(e.excIDs, e.ms[j].ID)
			if e.movState[j] == stateFree {
				e.movState[j] = stateException
			}
		}
		x.Movements = e.excIDs[start:len(e.excIDs):len(e.excIDs)]
	}
	e.res.Exceptions = append(e.res.Exceptions, x)
	return &e.res.Exceptions[len(e.res.Exceptions)-1]
}

// duplicateKey records line i as line first read again.
func (e *engine) duplicateKey(i, first int32) {
	e.lineState[i] = stateDuplicate
	e.except(ReasonDuplicateLine, -1, []int32{i}, nil, e.gross(i), 0, fmt.Sprintf(
		"key %q was already read from %s:%d", e.key(first), e.attrs(first).source, e.ls.srcLine(first)))
}

// ledgerDate is the provider ledger date a movement belongs to.
func (e *engine) ledgerDate(m *Movement) string {
	return m.At.In(e.loc).Format(time.DateOnly)
}

// due reports whether movement j should have a settlement line by now.
func (e *engine) due(j int32) bool {
	m := &e.ms[j]
	if e.cfg.Now.Before(m.At.Add(e.cfg.settleWithin(m.Provider))) {
		return false
	}
	return !e.isOpen(m.Provider, m.MSN, e.ledgerDate(m))
}

// unsettled places a movement no line settled: pending until it is due,
// then an exception.
func (e *engine) unsettled(j int32) {
	m := &e.ms[j]
	dueAt := m.At.Add(e.cfg.settleWithin(m.Provider))
	late := !e.cfg.Now.Before(dueAt)
	open := late && e.isOpen(m.Provider, m.MSN, e.ledgerDate(m))
	if !late || open {
		e.movState[j] = statePending
		e.res.Pending = append(e.res.Pending, Pending{
			Provider: m.Provider, Reference: m.Reference, KCOOrderID: m.KCOOrderID, Unit: m.Unit, MSN: m.MSN,
			Movement: m.ID, Kind: m.Kind, Amount: m.Amount, Currency: m.Currency, At: m.At, Due: dueAt, OpenDay: open,
		})
		return
	}
	r := ReasonCapturedNotSettled
	if m.Kind == KindRefund {
		r = ReasonRefundNotSettled
	}
	e.except(r, j, nil, []int32{j}, 0, e.signed(j), fmt.Sprintf(
		"%s of %s on %s was due in a settlement by %s", kindName(m.Kind), money(m.Amount, m.Currency),
		m.At.In(e.loc).Format(time.RFC3339), dueAt.In(e.loc).Format(time.RFC3339)))
}
