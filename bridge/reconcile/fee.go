package reconcile

import (
	"fmt"
	"slices"
	"strings"
)

// fees joins the run's fee lines to the capture they were charged for and
// checks what each match cost against its units' fee models.
//
// A fee line with the pspReference of a capture line belongs to that
// capture's match; one without (or with a pspReference that is none of
// ours) is charged to the reference as a whole, and then the reference's
// fees are checked together. A fee whose capture line is not matched, or not in
// this input (Vipps may book a fee on a later day than its capture), is a
// match of its own if it is for a transaction of ours.
func (e *engine) fees() {
	s := &e.run
	captures := s.lDir[classIn]
	byPSP := s.a[:0]
	for _, i := range captures {
		if e.psp(i) != "" {
			byPSP = append(byPSP, i)
		}
	}
	slices.SortStableFunc(byPSP, func(x, y int32) int {
		return strings.Compare(e.psp(x), e.psp(y))
	})
	s.a = byPSP

	firstMatch := int32(-1)
	for _, i := range captures {
		if e.lineState[i] == stateMatched {
			firstMatch = e.line(i).local
			break
		}
	}
	floating := false
	for _, f := range s.fees {
		m := firstMatch
		psp := e.psp(f)
		lo, found := slices.BinarySearchFunc(byPSP, psp, func(i int32, p string) int {
			return strings.Compare(e.psp(i), p)
		})
		switch {
		case psp != "" && found:
			m = -1
			for k := lo; k < len(byPSP) && e.psp(byPSP[k]) == psp; k++ {
				if c := byPSP[k]; e.lineState[c] == stateMatched {
					m = e.line(c).local
					break
				}
			}
		case psp != "" && e.ownFee(f):
			// The fee of a capture of ours whose line is not here.
			m = -1
		default:
			floating = true
		}
		if m >= 0 {
			e.takeLine(m, f)
		}
	}

	own := s.b[:0]
	for _, f := range s.fees {
		if e.lineState[f] == stateFree && e.ownFee(f) {
			own = append(own, f)
		}
	}
	s.b = own
	if len(own) > 0 {
		e.group(PassFee, nil, own)
	}
	if len(e.cfg.ExpectedFee) > 0 {
		e.checkFees(floating)
	}
}

// ownFee reports whether fee line f is for a transaction of ours: it names
// no pspReference, or one of the run's movements has it.
func (e *engine) ownFee(f int32) bool {
	if len(e.run.mDir[classIn])+len(e.run.mDir[classOut]) == 0 {
		return false
	}
	psp := e.psp(f)
	if psp == "" {
		return true
	}
	for d := range 2 {
		for _, j := range e.run.mDir[d] {
			if e.ms[j].PSPReference == psp {
				return true
			}
		}
	}
	return false
}

// Fee expectations of a match.
const (
	feeNoMovements int8 = iota
	feeKnown
	feeUnknown
)

// checkFees compares each match's fees with what its movements should
// cost: per capture the model of the movement's unit, within its
// tolerance; a refund costs nothing. When fee lines were charged to the
// reference as a whole, the reference's matches are checked together.
// Fees short while the unit has an open day on or after a line's day are
// not yet missing: Vipps may book a capture's fee days after the capture.
func (e *engine) checkFees(floating bool) {
	s := &e.run
	n := len(s.passes)
	s.feeGot = resize(s.feeGot, n)
	s.feeWant = resize(s.feeWant, n)
	s.feeTol = resize(s.feeTol, n)
	s.feeKnown = resize(s.feeKnown, n)
	s.feeOpen = resize(s.feeOpen, n)
	for d := range 2 {
		for _, j := range s.mDir[d] {
			if e.movState[j] != stateMatched {
				continue
			}
			m, mv := e.movLocal[j], &e.ms[j]
			model, ok := e.cfg.ExpectedFee[mv.MSN]
			switch {
			case !ok:
				s.feeKnown[m] = feeUnknown
				continue
			case s.feeKnown[m] == feeNoMovements:
				s.feeKnown[m] = feeKnown
			}
			if d == classIn {
				want, ok := model.expected(mv.Amount)
				if !ok {
					e.overflow("expected fee of movement " + mv.ID)
				}
				s.feeWant[m] = e.plus(s.feeWant[m], want, "expected fees")
			}
			s.feeTol[m] = e.plus(s.feeTol[m], model.Tolerance, "fee tolerance")
		}
	}
	for _, ls := range [...][]int32{s.lDir[classIn], s.lDir[classOut], s.fees} {
		for _, i := range ls {
			if e.lineState[i] != stateMatched {
				continue
			}
			m := e.line(i).local
			s.feeGot[m] = e.plus(s.feeGot[m], e.feeCost(i), "fees")
			if e.openSince(i) {
				s.feeOpen[m] = true
			}
		}
	}

	if !floating {
		for m := range n {
			if s.feeKnown[m] == feeKnown {
				e.checkFee(int32(m), s.feeGot[m], s.feeWant[m], s.feeTol[m], s.feeOpen[m])
			}
		}
		return
	}
	var got, want, tol int64
	open := false
	for m := range n {
		switch s.feeKnown[m] {
		case feeUnknown:
			return
		case feeKnown:
			got = e.plus(got, s.feeGot[m], "fees")
			want = e.plus(want, s.feeWant[m], "expected fees")
			tol = e.plus(tol, s.feeTol[m], "fee tolerance")
			open = open || s.feeOpen[m]
		}
	}
	e.checkFee(-1, got, want, tol, open)
}

// checkFee raises a fee mismatch for match m, or for every match of the
// run with movements when m is -1.
func (e *engine) checkFee(m int32, got, want, tol int64, open bool) {
	diff, ok := subChecked(got, want)
	if !ok {
		e.overflow("fees less expected fees of reference " + e.run.reference)
		return
	}
	if diff >= -tol && diff <= tol || diff < 0 && open {
		return
	}
	s := &e.run
	lines, movs := s.c[:0], s.d[:0]
	for _, ls := range [...][]int32{s.lDir[classIn], s.lDir[classOut], s.fees} {
		for _, i := range ls {
			if e.lineState[i] == stateMatched && (e.line(i).local == m || m < 0 && s.feeKnown[e.line(i).local] == feeKnown) {
				lines = append(lines, i)
			}
		}
	}
	for d := range 2 {
		for _, j := range s.mDir[d] {
			if e.movState[j] == stateMatched && (e.movLocal[j] == m || m < 0 && s.feeKnown[e.movLocal[j]] == feeKnown) {
				movs = append(movs, j)
			}
		}
	}
	s.c, s.d = lines, movs
	if len(lines) == 0 {
		return
	}
	e.except(ReasonFeeMismatch, s.ctx, lines, movs, got, want, fmt.Sprintf(
		"fees are %s; for %d movement(s) the unit's fee model says %s ± %s",
		money(got, s.currency), len(movs), money(want, s.currency), money(tol, s.currency)))
}

// resize returns s with n zero elements, reusing its memory.
func resize[T any](s []T, n int) []T {
	s = slices.Grow(s[:0], n)[:n]
	clear(s)
	return s
}
