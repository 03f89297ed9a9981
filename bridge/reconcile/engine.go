package reconcile

import (
	"slices"
	"strings"
	"time"
)

// Line and movement states while the engine runs.
const (
	stateFree uint8 = iota
	stateMatched
	stateException
	// stateDuplicate is a line whose key an earlier line already had: it is
	// the same line read twice, so it is no money of its own.
	stateDuplicate
	// stateQueued is a line handed on to the unknown-line pass.
	stateQueued
	// statePending is a movement not yet due.
	statePending
)

// engine is one run's state. Everything it indexes is an int32 position in
// the caller's slices, so a million lines cost a few flat arrays instead of
// a million small allocations.
type engine struct {
	cfg   *Config
	ms    []Movement
	lines []Line
	loc   *time.Location
	open  map[Day]struct{}
	// lastOpen is each unit's latest open day.
	lastOpen map[unit]string

	movRef, lineRef     []int32 // rank of the reference, or -1
	movState, lineState []uint8
	// movLocal and lineLocal are the number of the match a matched
	// movement or line belongs to within the current run.
	movLocal, lineLocal []int32
	unknown             []int32 // lines no run could place

	res *Result
	// Match and exception key lists are windows of these, so that a match
	// costs no allocation of its own.
	matchKeys, matchIDs []string
	excKeys, excIDs     []string

	run runScratch
}

// Run reconciles movements against settlement lines and payouts. It never
// modifies its arguments and gives a deep-equal Result for the same input
// in any order.
func Run(cfg Config, ms []Movement, lines []Line, payouts []Payout) *Result {
	e := &engine{
		cfg: &cfg, ms: ms, lines: lines, loc: cfg.Location,
		movState: make([]uint8, len(ms)), lineState: make([]uint8, len(lines)),
		movLocal: make([]int32, len(ms)), lineLocal: make([]int32, len(lines)),
		res: &Result{
			// Every match holds at least one line.
			Matches: make([]Match, 0, len(lines)),
		},
		matchKeys: make([]string, 0, len(lines)),
		matchIDs:  make([]string, 0, len(ms)),
	}
	if e.loc == nil {
		e.loc = time.UTC
	}
	e.openDays()
	movByRef, lineByRef, nref := e.index()
	e.references(movByRef, lineByRef, nref)
	for j, r := range e.movRef {
		if r < 0 {
			// Without a reference nothing can settle it.
			e.unsettled(int32(j))
		}
	}
	e.unknownLines()
	e.payouts(payouts)
	e.sortResult()
	return e.res
}

// unit is one provider's sales unit.
type unit struct {
	provider Provider
	msn      string
}

func (e *engine) openDays() {
	e.open = make(map[Day]struct{}, len(e.cfg.OpenDays))
	e.lastOpen = make(map[unit]string)
	add := func(d Day) {
		e.open[d] = struct{}{}
		u := unit{d.Provider, d.MSN}
		e.lastOpen[u] = max(e.lastOpen[u], d.Date)
	}
	for _, d := range e.cfg.OpenDays {
		add(d)
	}
	for i := range e.lines {
		if l := &e.lines[i]; l.Open {
			add(Day{Provider: l.Provider, MSN: l.MSN, Date: l.LedgerDate})
		}
	}
}

// openSince reports whether line l's unit has an open day on or after the
// line's: money booked after the line's day (a fee) may still come.
func (e *engine) openSince(l *Line) bool {
	if len(e.lastOpen) == 0 {
		return false
	}
	d, ok := e.lastOpen[unit{l.Provider, l.MSN}]
	return ok && d >= l.LedgerDate
}

func (e *engine) isOpen(p Provider, msn, date string) bool {
	if len(e.open) == 0 {
		return false
	}
	_, ok := e.open[Day{Provider: p, MSN: msn, Date: date}]
	return ok
}

// grouping is a counting sort of positions by reference rank: the
// positions of rank r are idx[off[r]:off[r+1]].
type grouping struct {
	off []int32
	idx []int32
}

func (g *grouping) group(r int) []int32 { return g.idx[g.off[r]:g.off[r+1]] }

func groupBy(ref []int32, nref int) grouping {
	g := grouping{off: make([]int32, nref+1)}
	n := 0
	for _, r := range ref {
		if r >= 0 {
			g.off[r+1]++
			n++
		}
	}
	for r := 1; r <= nref; r++ {
		g.off[r] += g.off[r-1]
	}
	g.idx = make([]int32, n)
	next := slices.Clone(g.off[:nref])
	for i, r := range ref {
		if r >= 0 {
			g.idx[next[r]] = int32(i)
			next[r]++
		}
	}
	return g
}

// index interns the references of our movements and ranks them in sorted
// order, which is the order the references are worked through, then places
// every line under its reference (or under its capture's, found by
// pspReference, when it has none).
func (e *engine) index() (movByRef, lineByRef grouping, nref int) {
	ids := make(map[string]int32, len(e.ms))
	var names []refName
	e.movRef = make([]int32, len(e.ms))
	for i := range e.ms {
		r := e.ms[i].Reference
		if r == "" {
			e.movRef[i] = -1
			continue
		}
		id, ok := ids[r]
		if !ok {
			id = int32(len(names))
			ids[r] = id
			names = append(names, refName{name: r, id: id})
		}
		e.movRef[i] = id
	}
	slices.SortFunc(names, func(a, b refName) int { return strings.Compare(a.name, b.name) })
	rank := make([]int32, len(names))
	for i, n := range names {
		rank[n.id] = int32(i)
	}
	for i, r := range e.movRef {
		if r >= 0 {
			e.movRef[i] = rank[r]
		}
	}

	var byPSP map[string]int32
	e.lineRef = make([]int32, len(e.lines))
	for i := range e.lines {
		l := &e.lines[i]
		e.lineRef[i] = -1
		if l.Reference != "" {
			if id, ok := ids[l.Reference]; ok {
				e.lineRef[i] = rank[id]
			}
		} else if l.PSPReference != "" {
			if byPSP == nil {
				byPSP = e.referencesByPSP()
			}
			if r, ok := byPSP[l.PSPReference]; ok {
				e.lineRef[i] = r
			}
		}
		if e.lineRef[i] < 0 {
			e.unknown = append(e.unknown, int32(i))
		}
	}
	return groupBy(e.movRef, len(names)), groupBy(e.lineRef, len(names)), len(names)
}

type refName struct {
	name string
	id   int32
}

// referencesByPSP maps our movements' pspReferences to their reference
// rank, the lowest when one pspReference has several, which only happens
// in broken data. It is built only when a line needs it.
func (e *engine) referencesByPSP() map[string]int32 {
	m := make(map[string]int32)
	for i := range e.ms {
		psp, r := e.ms[i].PSPReference, e.movRef[i]
		if psp == "" || r < 0 {
			continue
		}
		if old, ok := m[psp]; !ok || r < old {
			m[psp] = r
		}
	}
	return m
}

// references works through our references in sorted order, each split into
// runs of one provider and currency.
func (e *engine) references(movByRef, lineByRef grouping, nref int) {
	for r := 0; r < nref; r++ {
		gm, gl := movByRef.group(r), lineByRef.group(r)
		slices.SortFunc(gm, func(a, b int32) int { return cmpMovement(&e.ms[a], &e.ms[b]) })
		slices.SortFunc(gl, func(a, b int32) int { return cmpLine(&e.lines[a], &e.lines[b]) })
		for len(gm) > 0 || len(gl) > 0 {
			p, cur := e.nextRun(gm, gl)
			i := 0
			for i < len(gm) && e.ms[gm[i]].Provider == p && e.ms[gm[i]].Currency == cur {
				i++
			}
			j := 0
			for j < len(gl) && e.lines[gl[j]].Provider == p && e.lines[gl[j]].Currency == cur {
				j++
			}
			if i == 0 {
				// No movement of ours in this provider and currency: the
				// lines are unknown here, whatever the reference.
				e.unknown = append(e.unknown, gl[:j]...)
			} else {
				e.matchRun(gm[:i], gl[:j])
			}
			gm, gl = gm[i:], gl[j:]
		}
	}
}

// nextRun is the smaller (provider, currency) of the two heads.
func (e *engine) nextRun(gm, gl []int32) (Provider, string) {
	switch {
	case len(gm) == 0:
		l := &e.lines[gl[0]]
		return l.Provider, l.Currency
	case len(gl) == 0:
		m := &e.ms[gm[0]]
		return m.Provider, m.Currency
	}
	m, l := &e.ms[gm[0]], &e.lines[gl[0]]
	if c := strings.Compare(string(m.Provider), string(l.Provider)); c < 0 || c == 0 && m.Currency <= l.Currency {
		return m.Provider, m.Currency
	}
	return l.Provider, l.Currency
}

func (e *engine) sortResult() {
	slices.SortFunc(e.res.Exceptions, func(a, b Exception) int { return cmpException(&a, &b) })
	slices.SortFunc(e.res.Pending, func(a, b Pending) int { return cmpPending(&a, &b) })
}
