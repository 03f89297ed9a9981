package reconcile

import (
	"cmp"
	"fmt"
	"slices"
)

// unknownLines judges the lines no run placed. A Vipps line is money
// settled for something we never captured or refunded. Kustom lines are
// judged per order: an order paid with Klarna is Kustom's business, unless
// we also took Vipps money for it.
func (e *engine) unknownLines() {
	u := e.unknown
	sortLines(e, u)
	// Nearly every Vipps line here becomes an exception: make room for
	// them at once rather than copying a growing array of them (a file of
	// a million orders we do not hold is a million exceptions).
	vipps := 0
	for _, i := range u {
		if e.provider(i) == Vipps {
			vipps++
		}
	}
	e.res.Exceptions = slices.Grow(e.res.Exceptions, vipps)
	e.excKeys = slices.Grow(e.excKeys, vipps)
	var orders []kustomOrder
	for len(u) > 0 {
		first := u[0]
		p, cur, ref := e.provider(first), e.currency(first), e.reference(first)
		n := 1
		for n < len(u) {
			if i := u[n]; e.provider(i) != p || e.currency(i) != cur || e.reference(i) != ref {
				break
			}
			n++
		}
		chunk := u[:n]
		u = u[n:]
		prev := int32(-1)
		for _, i := range chunk {
			if prev >= 0 && e.key(prev) == e.key(i) {
				e.duplicateKey(i, prev)
				continue
			}
			prev = i
		}
		if p == Kustom {
			orders = append(orders, kustomOrder{lines: chunk, ctx: -1})
			continue
		}
		start, payout := len(e.matchKeys), ""
		for _, i := range chunk {
			if e.lineState[i] != stateFree || !e.movesNothing(i) {
				continue
			}
			// It moves no money, so it is nobody's unknown money either.
			e.lineState[i] = stateMatched
			e.matchKeys = append(e.matchKeys, e.key(i))
			payout = cmp.Or(payout, e.book(i).payout)
		}
		if n := len(e.matchKeys); n > start && e.ownsLines(chunk, stateMatched) {
			e.res.Matches = append(e.res.Matches, Match{
				Pass: PassInformational, Provider: p, Currency: cur, Reference: ref, Lines: e.matchKeys[start:n:n], PayoutID: payout,
			})
		}
		if ref == "" {
			e.unitFees(p, cur, chunk)
		}
		for _, i := range chunk {
			if e.lineState[i] != stateFree {
				continue
			}
			g := e.gross(i)
			if e.kind(i) == KindFee {
				g = -e.feeCost(i)
			}
			// Its Detail is made from its kind, amount, reference and
			// currency when it is read.
			e.except(ReasonSettledUnknown, -1, []int32{i}, nil, g, 0, string(e.kind(i))).unknown = true
		}
	}
	e.kustomOrders(orders)
}

// unitFees matches the Vipps fee lines of chunk, lines without a reference
// and without a pspReference of ours, so they name no payment: service fees and fee corrections
// are charged to the sales unit, not to a capture, so they are no unknown
// money. They count in their payout and day like every fee.
func (e *engine) unitFees(p Provider, cur string, chunk []int32) {
	start, payout := len(e.matchKeys), ""
	var fee int64
	for _, i := range chunk {
		if e.lineState[i] != stateFree || e.kind(i) != KindFee {
			continue
		}
		c, ok := addChecked(fee, e.feeCost(i))
		if !ok {
			e.overflow("fees charged to a sales unit")
			return
		}
		fee = c
		e.lineState[i] = stateMatched
		e.matchKeys = append(e.matchKeys, e.key(i))
		payout = cmp.Or(payout, e.book(i).payout)
	}
	if n := len(e.matchKeys); n > start {
		e.res.Matches = append(e.res.Matches, Match{
			Pass: PassUnitFee, Provider: p, Currency: cur, Fee: fee, Lines: e.matchKeys[start:n:n], PayoutID: payout,
		})
	}
}

// kustomOrder is one order's Kustom lines in one currency, and the net
// Vipps money we hold for the same KCO order.
type kustomOrder struct {
	lines []int32
	vipps int64
	ctx   int32 // our first Vipps capture of the order
}

type orderKey struct {
	order, currency string
}

func (e *engine) kustomOrders(orders []kustomOrder) {
	if len(orders) == 0 {
		return
	}
	byOrder := make(map[orderKey]int32, len(orders))
	for g := range orders {
		if i := orders[g].lines[0]; e.reference(i) != "" {
			byOrder[orderKey{e.reference(i), e.currency(i)}] = int32(g)
		}
	}
	for j := range e.ms {
		m := &e.ms[j]
		if m.Provider != Vipps || m.KCOOrderID == "" {
			continue
		}
		g, ok := byOrder[orderKey{m.KCOOrderID, m.Currency}]
		if !ok {
			continue
		}
		o := &orders[g]
		v, ok := addChecked(o.vipps, e.signed(int32(j)))
		if !ok {
			e.overflow("Vipps money of KCO order " + m.KCOOrderID)
		}
		o.vipps = v
		if m.Kind != KindRefund && (o.ctx < 0 || cmpMovement(m, &e.ms[o.ctx]) < 0) {
			o.ctx = int32(j)
		}
	}

	s := &e.run
	for _, o := range orders {
		lines := s.a[:0]
		var gross, fee, paid int64
		sums := true
		for _, i := range o.lines {
			if st := e.lineState[i]; st != stateFree && st != stateQueued {
				continue
			}
			lines = append(lines, i)
			k, g := e.kind(i), e.gross(i)
			ok1, ok2, ok3 := true, true, true
			switch lineClass(k) {
			case classIn, classOut:
				paid, ok1 = addChecked(paid, g)
			}
			if k != KindFee {
				gross, ok2 = addChecked(gross, g)
			}
			fee, ok3 = addChecked(fee, e.feeCost(i))
			sums = sums && ok1 && ok2 && ok3
		}
		if !sums {
			e.overflow("Kustom lines of order " + e.reference(o.lines[0]))
		}
		s.a = lines
		if len(lines) == 0 {
			continue
		}
		first := lines[0]
		ref, cur := e.reference(first), e.currency(first)
		if o.vipps > 0 && paid > 0 && o.ctx >= 0 {
			e.except(ReasonPaidTwice, o.ctx, lines, nil, paid, 0, fmt.Sprintf(
				"KCO order %s was paid with Vipps (%s, %s net) and with Klarna (%s net)", ref,
				e.ms[o.ctx].Reference, money(o.vipps, cur), money(paid, cur)))
			continue
		}
		start, payout := len(e.matchKeys), ""
		for _, i := range lines {
			e.lineState[i] = stateMatched
			e.matchKeys = append(e.matchKeys, e.key(i))
			payout = cmp.Or(payout, e.book(i).payout)
		}
		if !e.ownsLines(lines, stateMatched) {
			continue
		}
		e.res.Matches = append(e.res.Matches, Match{
			Pass: PassProvider, Provider: e.provider(first), Currency: cur, Reference: ref,
			Gross: gross, Fee: fee, Lines: e.matchKeys[start:len(e.matchKeys):len(e.matchKeys)], PayoutID: payout,
		})
	}
}
