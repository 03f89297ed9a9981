package reconcile

import (
	"fmt"
	"slices"
	"strings"
)

// Line classes: the two directions money moves in, fees, and the rest.
const (
	classIn = iota
	classOut
	classFee
	classOther
)

func lineClass(k Kind) int {
	switch k {
	case KindCapture, KindSale:
		return classIn
	case KindRefund, KindReturn:
		return classOut
	case KindFee:
		return classFee
	}
	return classOther
}

func movementClass(k Kind) int {
	if k == KindRefund {
		return classOut
	}
	return classIn
}

// signed is a movement's amount with the sign its settlement line has.
func (e *engine) signed(j int32) int64 {
	m := &e.ms[j]
	if m.Kind == KindRefund {
		return -m.Amount
	}
	return m.Amount
}

// feeCost is what a line cost in fees. A fee line's cost is its Fee less
// its Gross, so that an importer that booked the fee as negative gross
// still yields the right cost and net.
func feeCost(l *Line) int64 {
	if l.Kind == KindFee {
		return l.Fee - l.Gross
	}
	return l.Fee
}

// runScratch is reused from run to run so that matching a reference
// allocates nothing.
type runScratch struct {
	// ctx is the run's first movement, which names the payment.
	ctx                 int32
	provider            Provider
	currency, reference string
	mDir, lDir          [2][]int32
	fees                []int32
	// zero are the run's lines that move no money.
	zero []int32
	// msn is the sales unit the run is of when one reference is settled
	// under several (see matchUnits), else empty.
	msn        string
	a, b, c, d []int32
	passes     []Pass
	cnt        []int32
	// Per match: fees charged and expected, the tolerance, whether the
	// expectation is known (a movement without a fee model makes it
	// unknown), and whether fees may still come on an open day.
	feeGot, feeWant, feeTol []int64
	feeKnown                []int8
	feeOpen                 []bool
}

// matchRun matches one reference's movements and lines of one provider and
// currency (and unit, see matchUnits), both in canonical order. It has at
// least one movement or line.
func (e *engine) matchRun(rm, rl []int32) {
	s := &e.run
	if len(rm) > 0 {
		m0 := &e.ms[rm[0]]
		s.ctx, s.provider, s.currency, s.reference = rm[0], m0.Provider, m0.Currency, m0.Reference
	} else {
		a := e.attrs(rl[0])
		s.ctx, s.provider, s.currency, s.reference = -1, a.provider, a.currency, e.reference(rl[0])
	}
	s.passes = s.passes[:0]
	for d := range 2 {
		s.mDir[d], s.lDir[d] = s.mDir[d][:0], s.lDir[d][:0]
	}
	s.fees, s.zero = s.fees[:0], s.zero[:0]

	for _, j := range rm {
		d := movementClass(e.ms[j].Kind)
		s.mDir[d] = append(s.mDir[d], j)
	}
	prev := int32(-1)
	for _, i := range rl {
		if prev >= 0 && e.key(prev) == e.key(i) {
			e.duplicateKey(i, prev)
			continue
		}
		prev = i
		c := lineClass(e.kind(i))
		if c != classFee && e.movesNothing(i) {
			s.zero = append(s.zero, i)
			continue
		}
		switch c {
		case classIn, classOut:
			s.lDir[c] = append(s.lDir[c], i)
		case classFee:
			s.fees = append(s.fees, i)
		}
	}

	for d := range 2 {
		e.passID(s.mDir[d], s.lDir[d])
		e.passReference(s.mDir[d], s.lDir[d])
		e.passGroup(s.mDir[d], s.lDir[d])
	}
	e.fees()
	for _, f := range s.fees {
		// A fee of zero that joined no capture's match.
		if e.lineState[f] == stateFree && e.movesNothing(f) {
			s.zero = append(s.zero, f)
		}
	}
	if len(s.zero) > 0 {
		e.group(PassInformational, nil, s.zero)
	}

	for _, i := range rl {
		if e.lineState[i] != stateFree {
			continue
		}
		if e.provider(i) == Kustom {
			// Kustom settles orders paid with Klarna on its own; a line
			// that is not ours is judged with the other Kustom lines.
			e.lineState[i] = stateQueued
			e.unknown = append(e.unknown, i)
			continue
		}
		e.except(ReasonSettledUnknown, s.ctx, []int32{i}, nil, e.gross(i), 0, e.unknownDetail(i))
	}
	for _, j := range rm {
		if e.movState[j] == stateFree {
			e.unsettled(j)
		}
	}
	e.emitMatches(rm, rl)
}

func (e *engine) unknownDetail(i int32) string {
	k := e.kind(i)
	var d string
	switch lineClass(k) {
	case classFee:
		d = fmt.Sprintf("fee for pspReference %q of %s, which is none of ours", e.psp(i), e.run.reference)
	case classOther:
		d = fmt.Sprintf("%s line of %s ties to no capture or refund", kindName(k), e.run.reference)
	default:
		d = fmt.Sprintf("%s of %s with pspReference %q ties to none of our movements of it", kindName(k), money(e.gross(i), e.currency(i)), e.psp(i))
	}
	if e.run.msn != "" {
		d += " under MSN " + e.run.msn
	}
	return d
}

// movesNothing reports whether line i has gross and fee zero.
func (e *engine) movesNothing(i int32) bool {
	l := e.line(i)
	return l.gross == 0 && l.fee == 0
}

func kindName(k Kind) string {
	if k == "" {
		return "untyped"
	}
	return string(k)
}

func (e *engine) newMatch(p Pass) int32 {
	e.run.passes = append(e.run.passes, p)
	return int32(len(e.run.passes) - 1)
}

func (e *engine) takeLine(m, i int32) {
	e.lineState[i], e.line(i).local = stateMatched, m
}

func (e *engine) takeMovement(m, j int32) {
	e.movState[j], e.movLocal[j] = stateMatched, m
}

func (e *engine) group(p Pass, movs, lines []int32) {
	m := e.newMatch(p)
	for _, j := range movs {
		e.takeMovement(m, j)
	}
	for _, i := range lines {
		e.takeLine(m, i)
	}
}

func (e *engine) freeMovements(dst, src []int32) []int32 {
	dst = dst[:0]
	for _, j := range src {
		if e.movState[j] == stateFree {
			dst = append(dst, j)
		}
	}
	return dst
}

func (e *engine) freeLines(dst, src []int32) []int32 {
	dst = dst[:0]
	for _, i := range src {
		if e.lineState[i] == stateFree {
			dst = append(dst, i)
		}
	}
	return dst
}

func (e *engine) sumMovements(js []int32) (n int64) {
	for _, j := range js {
		n = e.plus(n, e.signed(j), "sum of movements")
	}
	return n
}

func (e *engine) sumLines(is []int32) (n int64) {
	for _, i := range is {
		n = e.plus(n, e.gross(i), "sum of lines")
	}
	return n
}

// passID joins on pspReference: within each pspReference both sides have,
// lines and movements pair one to one by exact amount, and what remains
// must sum exactly. The provider's id is authoritative, so a remainder that
// does not sum is an amount mismatch, and lines left over once every
// movement of the id is settled are duplicates. Movements left over stay
// free for the later passes.
func (e *engine) passID(dm, dl []int32) {
	if len(dm) == 0 || len(dl) == 0 {
		return
	}
	s := &e.run
	pm, pl := s.a[:0], s.b[:0]
	for _, j := range dm {
		if e.ms[j].PSPReference != "" {
			pm = append(pm, j)
		}
	}
	for _, i := range dl {
		if e.psp(i) != "" {
			pl = append(pl, i)
		}
	}
	s.a, s.b = pm, pl
	if len(pm) == 0 || len(pl) == 0 {
		return
	}
	slices.SortStableFunc(pm, func(x, y int32) int {
		if c := strings.Compare(e.ms[x].PSPReference, e.ms[y].PSPReference); c != 0 {
			return c
		}
		return cmpInt64(e.signed(x), e.signed(y))
	})
	slices.SortStableFunc(pl, func(x, y int32) int {
		if c := strings.Compare(e.psp(x), e.psp(y)); c != 0 {
			return c
		}
		return cmpInt64(e.gross(x), e.gross(y))
	})
	for len(pm) > 0 && len(pl) > 0 {
		a, b := e.ms[pm[0]].PSPReference, e.psp(pl[0])
		k := 1
		for k < len(pm) && e.ms[pm[k]].PSPReference == a {
			k++
		}
		l := 1
		for l < len(pl) && e.psp(pl[l]) == b {
			l++
		}
		switch {
		case a < b:
			pm = pm[k:]
		case a > b:
			pl = pl[l:]
		default:
			e.idBucket(pm[:k], pl[:l])
			pm, pl = pm[k:], pl[l:]
		}
	}
}

func (e *engine) idBucket(bm, bl []int32) {
	x, y := 0, 0
	for x < len(bm) && y < len(bl) {
		am, al := e.signed(bm[x]), e.gross(bl[y])
		switch {
		case am == al:
			m := e.newMatch(PassID)
			e.takeMovement(m, bm[x])
			e.takeLine(m, bl[y])
			x++
			y++
		case am < al:
			x++
		default:
			y++
		}
	}
	s := &e.run
	s.c = e.freeMovements(s.c, bm)
	s.d = e.freeLines(s.d, bl)
	lm, ll := s.c, s.d
	switch {
	case len(lm) > 0 && len(ll) > 0:
		got, want := e.sumLines(ll), e.sumMovements(lm)
		if got == want {
			e.group(PassID, lm, ll)
			return
		}
		e.except(ReasonAmountMismatch, s.ctx, ll, lm, got, want, fmt.Sprintf(
			"pspReference %q: settled %s, we recorded %s", e.psp(ll[0]),
			money(got, s.currency), money(want, s.currency)))
	case len(ll) > 0:
		for _, i := range ll {
			e.except(ReasonDuplicateLine, s.ctx, []int32{i}, nil, e.gross(i), 0, fmt.Sprintf(
				"pspReference %q is already settled in full", e.psp(i)))
		}
	}
}

// passReference pairs what has no usable pspReference on reference,
// direction and exact amount. Of several movements of one amount, the
// earliest (by At, then ID) pairs first, so a line equal to one of several
// same-amount captures settles the earliest of them.
func (e *engine) passReference(dm, dl []int32) {
	s := &e.run
	s.a, s.b = e.freeMovements(s.a, dm), e.freeLines(s.b, dl)
	pm, pl := s.a, s.b
	if len(pm) == 0 || len(pl) == 0 {
		return
	}
	slices.SortStableFunc(pm, func(x, y int32) int {
		if c := cmpInt64(e.signed(x), e.signed(y)); c != 0 {
			return c
		}
		if c := e.ms[x].At.Compare(e.ms[y].At); c != 0 {
			return c
		}
		return strings.Compare(e.ms[x].ID, e.ms[y].ID)
	})
	slices.SortStableFunc(pl, func(x, y int32) int { return cmpInt64(e.gross(x), e.gross(y)) })
	x, y := 0, 0
	for x < len(pm) && y < len(pl) {
		am, al := e.signed(pm[x]), e.gross(pl[y])
		switch {
		case am == al:
			m := e.newMatch(PassReference)
			e.takeMovement(m, pm[x])
			e.takeLine(m, pl[y])
			x++
			y++
		case am < al:
			x++
		default:
			y++
		}
	}
}

// passGroup matches what is left of one direction as groups with exact
// sums: all lines against all movements, or against the movements up to
// some time (the later ones not settled yet). What still does not add up is
// an amount mismatch when both sides have something left.
func (e *engine) passGroup(dm, dl []int32) {
	s := &e.run
	s.a, s.b = e.freeMovements(s.a, dm), e.freeLines(s.b, dl)
	pm, pl := s.a, s.b
	if len(pm) == 0 || len(pl) == 0 {
		return
	}
	got, want := e.sumLines(pl), e.sumMovements(pm)
	if got == want {
		e.group(PassGroup, pm, pl)
		return
	}
	slices.SortStableFunc(pm, func(x, y int32) int { return e.ms[x].At.Compare(e.ms[y].At) })
	var sum int64
	for k, j := range pm[:len(pm)-1] {
		sum = e.plus(sum, e.signed(j), "sum of movements")
		if sum == got {
			e.group(PassGroup, pm[:k+1], pl)
			return
		}
	}
	// Movements not yet due stay pending unless nothing else is left.
	s.c = s.c[:0]
	for _, j := range pm {
		if e.due(j) {
			s.c = append(s.c, j)
		}
	}
	if len(s.c) > 0 {
		pm = s.c
	}
	want = e.sumMovements(pm)
	e.except(ReasonAmountMismatch, s.ctx, pl, pm, got, want, fmt.Sprintf(
		"%d line(s) settled %s, our %d %s(s) were %s", len(pl), money(got, s.currency),
		len(pm), kindName(e.ms[pm[0]].Kind), money(want, s.currency)))
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// emitMatches turns the run's matches into Matches, each listing its lines
// and movements in canonical order as windows of the shared key arrays.
func (e *engine) emitMatches(rm, rl []int32) {
	s := &e.run
	n := len(s.passes)
	if n == 0 {
		return
	}
	base := len(e.res.Matches)
	for _, p := range s.passes {
		e.res.Matches = append(e.res.Matches, Match{Pass: p, Provider: s.provider, Currency: s.currency, Reference: s.reference})
	}
	out := e.res.Matches[base:]

	cnt := e.counts(n)
	for _, i := range rl {
		if e.lineState[i] == stateMatched {
			cnt[e.line(i).local+1]++
		}
	}
	keys, start := e.grow(&e.matchKeys, cnt)
	for _, i := range rl {
		if e.lineState[i] != stateMatched {
			continue
		}
		l, m := e.line(i), e.line(i).local
		keys[cnt[m]] = e.ls.key(l)
		cnt[m]++
		if out[m].PayoutID == "" {
			out[m].PayoutID = e.ls.bookOf(l).payout
		}
		if e.ls.attrsOf(l).kind != KindFee {
			out[m].Gross = e.plus(out[m].Gross, e.ls.gross(i, l), "gross of a match")
		}
		out[m].Fee = e.plus(out[m].Fee, e.feeCost(i), "fees of a match")
	}
	for m := range out {
		out[m].Lines = keys[start[m]:cnt[m]:cnt[m]]
	}

	cnt = e.counts(n)
	for _, j := range rm {
		if e.movState[j] == stateMatched {
			cnt[e.movLocal[j]+1]++
		}
	}
	ids, start := e.grow(&e.matchIDs, cnt)
	for _, j := range rm {
		if e.movState[j] != stateMatched {
			continue
		}
		m := e.movLocal[j]
		ids[cnt[m]] = e.ms[j].ID
		cnt[m]++
	}
	for m := range out {
		if start[m] < cnt[m] {
			out[m].Movements = ids[start[m]:cnt[m]:cnt[m]]
		}
	}
	if e.period {
		e.ownMatches(out, rm, rl)
	}
}

// ownMatches marks the run's matches that are not the period's to be
// dropped (Pass ""): a match is of the ledger date of its earliest
// movement, or of its earliest line when it has no movement.
func (e *engine) ownMatches(out []Match, rm, rl []int32) {
	s := &e.run
	s.c = resize(s.c, len(out))
	for m := range s.c {
		s.c[m] = -1
	}
	for _, j := range rm {
		if e.movState[j] != stateMatched {
			continue
		}
		m := e.movLocal[j]
		if k := s.c[m]; k < 0 || e.ms[j].At.Before(e.ms[k].At) {
			s.c[m] = j
		}
	}
	for m := range out {
		if k := s.c[m]; k >= 0 && !e.inPeriod(e.ledgerDate(&e.ms[k])) {
			out[m].Pass = ""
		}
	}
	s.d = resize(s.d, len(out)) // the earliest line of a match without movements
	for m := range s.d {
		s.d[m] = -1
	}
	for _, i := range rl {
		if e.lineState[i] != stateMatched {
			continue
		}
		m := e.line(i).local
		if s.c[m] < 0 && (s.d[m] < 0 || e.book(i).date < e.book(s.d[m]).date) {
			s.d[m] = i
		}
	}
	for m := range out {
		if k := s.d[m]; s.c[m] < 0 && k >= 0 && !e.inPeriod(e.book(k).date) {
			out[m].Pass = ""
		}
	}
}

// counts is a zeroed scratch array of n+1 counters.
func (e *engine) counts(n int) []int32 {
	s := &e.run
	s.cnt = slices.Grow(s.cnt[:0], n+1)[:n+1]
	clear(s.cnt)
	return s.cnt
}

// grow turns per-match counts (at cnt[m+1]) into write cursors and returns
// the window of *arr they index and each match's start. cnt[m] is then the
// next write position of match m, and its end once filled.
func (e *engine) grow(arr *[]string, cnt []int32) ([]string, []int32) {
	n := len(cnt) - 1
	for m := 1; m <= n; m++ {
		cnt[m] += cnt[m-1]
	}
	total := int(cnt[n])
	old := len(*arr)
	*arr = slices.Grow(*arr, total)[:old+total]
	starts := e.run.d[:0]
	for m := 0; m < n; m++ {
		starts = append(starts, cnt[m])
	}
	e.run.d = starts
	return (*arr)[old:], starts
}
