package reconcile

import (
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"
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
// the movements or the line store, so a million lines cost a few flat
// arrays instead of a million small allocations.
type engine struct {
	cfg  *Config
	ms   []Movement
	ls   lineStore
	loc  *time.Location
	open map[Day]struct{}
	// lastOpen is each unit's latest open day.
	lastOpen map[unit]string

	// refs finds our movements by reference while lines are added; movRef
	// is each movement's reference rank (or -1), and byRank the first
	// movement of each rank.
	refs   refIndex
	movRef []int32
	byRank []int32
	// byPSP maps our pspReferences to their reference rank, built the
	// first time a line without a reference needs it.
	byPSP map[string]int32
	// queries are lines waiting for their reference to be looked up, and
	// qbuf holds copies of their references.
	queries []refQuery
	qbuf    []byte

	movState, lineState []uint8
	// movLocal is the number of the match a matched movement belongs to
	// within the current run (line.local for lines).
	movLocal []int32
	unknown  []int32 // lines no run could place

	res *Result
	// Match and exception key lists are windows of these, so that a match
	// costs no allocation of its own.
	matchKeys, matchIDs []string
	excKeys, excIDs     []string

	run runScratch
	// period says Config.From or To bound the Result (see keepPeriod).
	period bool
	// err is the run's first overflow (see ErrOverflow).
	err error
}

// Run reconciles movements against settlement lines and payouts. It never
// modifies its arguments and gives a deep-equal Result for the same input
// in any order. Its error is ErrOverflow (errors.Is) when a sum does not
// fit an int64, naming what overflowed; there is no Result then.
func Run(cfg Config, ms []Movement, lines []Line, payouts []Payout) (*Result, error) {
	e := newEngine(cfg, ms)
	for i := range lines {
		e.add(&lines[i], len(lines)-i)
	}
	return e.finish(payouts)
}

func newEngine(cfg Config, ms []Movement) *engine {
	e := &engine{cfg: &cfg, ms: ms, loc: cfg.Location, period: cfg.From != "" || cfg.To != ""}
	if e.loc == nil {
		e.loc = time.UTC
	}
	e.open = make(map[Day]struct{}, len(cfg.OpenDays))
	e.lastOpen = make(map[unit]string)
	for _, d := range cfg.OpenDays {
		e.addOpen(d)
	}
	e.index()
	for i := range ms {
		if ms[i].Amount == math.MinInt64 {
			// Its signed amount, -Amount for a refund, does not exist.
			e.overflow("amount of movement " + ms[i].ID)
		}
	}
	return e
}

// add stores a line and places it under its reference (or under its
// capture's, found by pspReference, when it has none); hint is how many
// lines are still coming, when known. Lines with a reference are placed
// in batches (see refQuery).
func (e *engine) add(l *Line, hint int) {
	s := &e.ls
	pos := int32(s.n)
	n := line{key: s.arena.add(l.Key)}
	s.setAmounts(&n, pos, l.Gross, l.Fee)
	s.setSrcLine(&n, pos, l.SourceLine)
	n.psp = s.pspOf(s.key(&n), l.PSPReference)
	n.group = s.internGroup(lineGroup{
		attrs: s.internAttrs(lineAttrs{provider: l.Provider, kind: l.Kind, msn: l.MSN, currency: l.Currency, source: l.Source, open: l.Open}),
		book:  s.internBook(lineBook{payout: l.PayoutID, date: l.LedgerDate}),
	})
	if l.Open {
		e.addOpen(Day{Provider: l.Provider, MSN: l.MSN, Date: l.LedgerDate})
	}
	s.push(&n, hint)
	if l.Reference == "" {
		rank := int32(-1)
		if l.PSPReference != "" {
			if e.byPSP == nil {
				e.byPSP = e.referencesByPSP()
			}
			if r, ok := e.byPSP[l.PSPReference]; ok {
				rank = r
			}
		}
		e.place(pos, "", rank)
		return
	}
	ref := l.Reference
	if s.own {
		// The caller may reuse its memory before the batch is resolved.
		off := len(e.qbuf)
		e.qbuf = append(e.qbuf, ref...)
		ref = unsafe.String(&e.qbuf[off], len(ref))
	}
	e.queries = append(e.queries, refQuery{ref: ref, line: pos})
	if len(e.queries) == refBatch {
		e.resolve()
	}
}

// place puts line i, with reference ref, under reference rank (-1: none).
func (e *engine) place(i int32, ref string, rank int32) {
	l := e.ls.at(i)
	l.ref = rank
	if rank < 0 || ref == "" {
		l.ref = e.ls.oddRef(ref, rank)
	}
	if rank < 0 {
		e.unknown = append(e.unknown, i)
	}
}

// finish reconciles the lines added.
func (e *engine) finish(payouts []Payout) (*Result, error) {
	e.resolve()
	e.refs, e.queries, e.qbuf = refIndex{}, nil, nil
	e.byPSP = nil
	nl := e.ls.n
	e.movState, e.movLocal = make([]uint8, len(e.ms)), make([]int32, len(e.ms))
	e.lineState = make([]uint8, nl)
	// Every match of a reference holds at least one of its lines; the lines
	// no reference placed (a file of orders we do not hold) need no room,
	// and what is matched of them later appends.
	placed := nl - len(e.unknown)
	e.res = &Result{Matches: make([]Match, 0, placed)}
	e.matchKeys = make([]string, 0, placed)
	e.matchIDs = make([]string, 0, len(e.ms))

	e.referencesParallel()
	for j, r := range e.movRef {
		if r < 0 {
			// Without a reference nothing can settle it.
			e.unsettled(int32(j))
		}
	}
	e.unknownLines()
	e.payouts(payouts)
	if e.period {
		e.keepPeriod()
	}
	e.sortResult()
	if e.err != nil {
		return nil, e.err
	}
	return e.res, nil
}

// unit is one provider's sales unit.
type unit struct {
	provider Provider
	msn      string
}

func (e *engine) addOpen(d Day) {
	if _, ok := e.open[d]; ok {
		return
	}
	if e.ls.own {
		d.Provider, d.MSN, d.Date = Provider(strings.Clone(string(d.Provider))), strings.Clone(d.MSN), strings.Clone(d.Date)
	}
	e.open[d] = struct{}{}
	u := unit{d.Provider, d.MSN}
	e.lastOpen[u] = max(e.lastOpen[u], d.Date)
}

// openSince reports whether line i's unit has an open day on or after the
// line's: money booked after the line's day (a fee) may still come.
func (e *engine) openSince(i int32) bool {
	if len(e.lastOpen) == 0 {
		return false
	}
	a := e.attrs(i)
	d, ok := e.lastOpen[unit{a.provider, a.msn}]
	return ok && d >= e.book(i).date
}

func (e *engine) isOpen(p Provider, msn, date string) bool {
	if len(e.open) == 0 {
		return false
	}
	_, ok := e.open[Day{Provider: p, MSN: msn, Date: date}]
	return ok
}

// Line fields, by position in the store.

func (e *engine) line(i int32) *line        { return e.ls.at(i) }
func (e *engine) attrs(i int32) *lineAttrs  { return e.ls.attrsOf(e.ls.at(i)) }
func (e *engine) book(i int32) *lineBook    { return e.ls.bookOf(e.ls.at(i)) }
func (e *engine) key(i int32) string        { return e.ls.key(e.ls.at(i)) }
func (e *engine) gross(i int32) int64       { return e.ls.gross(i, e.ls.at(i)) }
func (e *engine) kind(i int32) Kind         { return e.attrs(i).kind }
func (e *engine) provider(i int32) Provider { return e.attrs(i).provider }
func (e *engine) currency(i int32) string   { return e.attrs(i).currency }
func (e *engine) psp(i int32) string        { return e.ls.pspRef(e.ls.at(i)) }

// reference is line i's Reference as it was added.
func (e *engine) reference(i int32) string {
	r := e.ls.at(i).ref
	if r >= 0 {
		return e.ms[e.byRank[r]].Reference
	}
	return e.ls.odd[^r].ref
}

// rank is the rank of the reference line i is placed under, or -1.
func (e *engine) rank(i int32) int32 {
	r := e.ls.at(i).ref
	if r >= 0 {
		return r
	}
	return e.ls.odd[^r].rank
}

// feeCost is what line i cost in fees (see feeCost).
func (e *engine) feeCost(i int32) int64 {
	l := e.ls.at(i)
	if e.ls.attrsOf(l).kind == KindFee {
		c, ok := subChecked(e.ls.fee(i, l), e.ls.gross(i, l))
		if !ok {
			e.overflow("fee cost (fee less gross) of line " + e.ls.key(l))
		}
		return c
	}
	return e.ls.fee(i, l)
}

// chains links the movements and the lines of each reference rank: the
// first movement of rank r is byRank[r] and the next one movLocal's entry;
// the first line is the returned head's entry and the next one its local.
// Both fields serve as links until the rank's run, which then reads them
// before it numbers its matches in them. It also counts the lines and
// movements of each of parts ranges of ranks (see rankRange).
func (e *engine) chains(parts int) (lineHead []int32, lines, movs []int) {
	nref := len(e.byRank)
	part := func(r int32) int { return int(int64(r) * int64(parts) / int64(nref)) }
	lines, movs = make([]int, parts), make([]int, parts)
	for r := range e.byRank {
		e.byRank[r] = -1
	}
	for j := len(e.ms) - 1; j >= 0; j-- {
		if r := e.movRef[j]; r >= 0 {
			e.movLocal[j], e.byRank[r] = e.byRank[r], int32(j)
			movs[part(r)]++
		}
	}
	lineHead = make([]int32, nref)
	for r := range lineHead {
		lineHead[r] = -1
	}
	for i := int32(e.ls.n) - 1; i >= 0; i-- {
		if r := e.rank(i); r >= 0 {
			e.line(i).local, lineHead[r] = lineHead[r], i
			lines[part(r)]++
		}
	}
	return lineHead, lines, movs
}

// rankRange is the ranks r0 to r1 of part w of parts: those with
// r*parts/nref = w.
func rankRange(w, parts, nref int) (r0, r1 int) {
	return (w*nref + parts - 1) / parts, ((w+1)*nref + parts - 1) / parts
}

// refsPerWorker is the fewest references worth a goroutine of their own.
const refsPerWorker = 2048

// referencesParallel works through the references in equal ranges of
// ranks on up to GOMAXPROCS goroutines. What a range's run touches is its
// own: its movements and lines (their states and links), its scratch, and
// its region of the match and key arrays, which are as long as the range
// has lines (every match holds one of them) and movements. The regions'
// matches are then moved together in rank order; exceptions, pending
// movements and unknown lines are sorted later anyway.
func (e *engine) referencesParallel() {
	nref := len(e.byRank)
	parts := min(runtime.GOMAXPROCS(0), 8, nref/refsPerWorker)
	parts = max(parts, 1)
	lineHead, lines, movs := e.chains(parts)
	if parts == 1 {
		e.references(lineHead, 0, nref)
		return
	}
	matches, keys, ids := e.res.Matches[:cap(e.res.Matches)], e.matchKeys[:cap(e.matchKeys)], e.matchIDs[:cap(e.matchIDs)]
	ws := make([]*engine, parts)
	var wg sync.WaitGroup
	lo, mlo := 0, 0
	for w := range ws {
		p := *e
		p.run = runScratch{}
		p.res = &Result{Matches: matches[lo : lo : lo+lines[w]]}
		p.matchKeys, p.matchIDs = keys[lo:lo:lo+lines[w]], ids[mlo:mlo:mlo+movs[w]]
		p.excKeys, p.excIDs, p.unknown = nil, nil, nil
		ws[w] = &p
		lo, mlo = lo+lines[w], mlo+movs[w]
		r0, r1 := rankRange(w, parts, nref)
		wg.Go(func() { p.references(lineHead, r0, r1) })
	}
	wg.Wait()
	n := 0
	for _, p := range ws {
		n += copy(matches[n:], p.res.Matches)
		e.res.Exceptions = append(e.res.Exceptions, p.res.Exceptions...)
		e.res.Pending = append(e.res.Pending, p.res.Pending...)
		e.unknown = append(e.unknown, p.unknown...)
		if e.err == nil {
			// Workers take ranks in order, so this is the first overflow
			// in rank order, whatever the number of workers.
			e.err = p.err
		}
	}
	e.res.Matches = matches[:n]
	// What is matched later (Kustom's own orders) holds only lines of no
	// rank, for which the rest of the key array is.
	e.matchKeys, e.matchIDs = keys[lo:lo], ids[mlo:mlo]
}

// index interns the references of our movements and ranks them in sorted
// order, which is the order the references are worked through.
func (e *engine) index() {
	e.movRef = make([]int32, len(e.ms))
	e.refs.init(len(e.ms))
	// Hash every reference first: the loads of the references' bytes do
	// not wait on each other.
	hs := make([]uint64, len(e.ms))
	for i := range e.ms {
		if r := e.ms[i].Reference; r != "" {
			hs[i] = e.refs.hash(r)
		}
	}
	first := make([]int32, 0, len(e.ms))
	for i := range e.ms {
		r := e.ms[i].Reference
		if r == "" {
			e.movRef[i] = -1
			continue
		}
		if j := e.refs.find(e.ms, r, hs[i], int32(i), true); j >= 0 {
			e.movRef[i] = e.movRef[j]
			continue
		}
		e.movRef[i] = int32(len(first))
		first = append(first, int32(i))
	}
	// first[id] is the first movement of reference id; sorted, it is the
	// first movement of each rank.
	sortReferences(e.ms, first)
	rank := make([]int32, len(first))
	for r, j := range first {
		rank[e.movRef[j]] = int32(r)
	}
	for i, id := range e.movRef {
		if id >= 0 {
			e.movRef[i] = rank[id]
		}
	}
	e.byRank = first
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

// references works through the references of ranks r0 to r1 in sorted
// order, each split into runs of one provider and currency.
func (e *engine) references(lineHead []int32, r0, r1 int) {
	var bufM, bufL []int32
	for r := r0; r < r1; r++ {
		gm, gl := bufM[:0], bufL[:0]
		for j := e.byRank[r]; j >= 0; j = e.movLocal[j] {
			gm = append(gm, j)
		}
		for i := lineHead[r]; i >= 0; i = e.line(i).local {
			gl = append(gl, i)
		}
		bufM, bufL = gm, gl
		sortMovements(e, gm)
		sortLines(e, gl)
		for len(gm) > 0 || len(gl) > 0 {
			p, cur := e.nextRun(gm, gl)
			i := 0
			for i < len(gm) && e.ms[gm[i]].Provider == p && e.ms[gm[i]].Currency == cur {
				i++
			}
			j := 0
			for j < len(gl) && e.provider(gl[j]) == p && e.currency(gl[j]) == cur {
				j++
			}
			if i == 0 {
				// No movement of ours in this provider and currency: the
				// lines are unknown here, whatever the reference.
				e.unknown = append(e.unknown, gl[:j]...)
			} else {
				e.matchUnits(gm[:i], gl[:j])
			}
			gm, gl = gm[i:], gl[j:]
		}
	}
}

// nextRun is the smaller (provider, currency) of the two heads.
func (e *engine) nextRun(gm, gl []int32) (Provider, string) {
	switch {
	case len(gm) == 0:
		a := e.attrs(gl[0])
		return a.provider, a.currency
	case len(gl) == 0:
		m := &e.ms[gm[0]]
		return m.Provider, m.Currency
	}
	m, a := &e.ms[gm[0]], e.attrs(gl[0])
	if c := strings.Compare(string(m.Provider), string(a.provider)); c < 0 || c == 0 && m.Currency <= a.currency {
		return m.Provider, m.Currency
	}
	return a.provider, a.currency
}

func (e *engine) sortResult() {
	slices.SortFunc(e.res.Exceptions, func(a, b Exception) int { return cmpException(&a, &b) })
	slices.SortFunc(e.res.Pending, func(a, b Pending) int { return cmpPending(&a, &b) })
}
