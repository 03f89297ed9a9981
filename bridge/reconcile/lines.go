package reconcile

import (
	"cmp"
	"encoding/binary"
	"hash/maphash"
	"math"
	"slices"
	"strings"
	"unsafe"
)

// A Matcher reconciles settlement lines that arrive one at a time, as a
// parser hands them over, against movements, without the caller holding
// every Line: Add keeps a line in 32 bytes plus its key, where a []Line
// costs 208 bytes a line plus its strings.
//
//	m := reconcile.NewMatcher(cfg, movements)
//	rep, problems, err := settlement.ParseCSVFunc(f, name, func(s settlement.Settlement, t settlement.Transaction) error {
//		m.Add(lineOf(s, t))
//		return nil
//	})
//	// ... check err, map rep.Settlements into payouts ...
//	res, err := m.Run(payouts)
//
// m.Run gives the Result Run gives for the same input, whatever the order
// lines were added in. A Matcher is not safe for concurrent use.
type Matcher struct {
	e   *engine
	ran bool
}

// NewMatcher indexes the movements a Matcher reconciles lines against. It
// keeps ms, which must not change until Run returns.
func NewMatcher(cfg Config, ms []Movement) *Matcher {
	e := newEngine(cfg, ms)
	e.ls.own = true
	return &Matcher{e: e}
}

// Add adds a settlement line. It copies the strings it keeps, so l may come
// from a buffer that is reused. Add panics after Run.
func (m *Matcher) Add(l Line) {
	if m.ran {
		panic("reconcile: Matcher.Add after Run")
	}
	m.e.add(&l, 0)
}

// Len is the number of lines added.
func (m *Matcher) Len() int { return m.e.ls.n }

// Run reconciles the lines added against the movements and payouts, as
// Run does, with Run's errors. It can be called once.
func (m *Matcher) Run(payouts []Payout) (*Result, error) {
	if m.ran {
		panic("reconcile: Matcher.Run called twice")
	}
	m.ran = true
	return m.e.finish(payouts)
}

// line is a settlement line as the engine holds it, in 32 bytes without
// pointers (the collector never scans the store). What many lines share
// (provider, kind, unit, currency, source, payout, ledger date) is
// interned as the line's group, the key is in the store's arena, the
// pspReference is usually a part of the key, the reference is a rank of
// our movements' references, and amounts of more than ±21 million (in
// minor units) are kept aside.
type line struct {
	key uint32 // arena position
	// gross and fee are the amounts, or amountBig: see lineStore.amounts.
	gross, fee int32
	// srcLine is the SourceLine, or srcLineBig when it does not fit.
	srcLine int32
	// ref is the rank of the line's reference among our movements'
	// references when the line names it, or ^k for lineStore.odd[k].
	ref int32
	// psp is where the pspReference is: pspSide|k for lineStore.psps[k],
	// else the key's bytes psp>>16 to psp>>16 + psp&0xffff.
	psp   uint32
	group uint32 // lineStore.groups
	// local is, until the line's reference is worked on, the next line of
	// the same reference, and then the number of the match the line
	// belongs to within the reference's run, once it is matched.
	local int32
}

const (
	srcLineBig = math.MinInt32
	amountBig  = math.MinInt32
	pspSide    = 1 << 31
)

type lineAttrs struct {
	provider Provider
	kind     Kind
	msn      string
	currency string
	source   string
	open     bool
}

type lineBook struct {
	payout, date string
}

// lineGroup is what a line shares with others: its attributes and book.
type lineGroup struct {
	attrs, book uint32
}

// oddRef is the reference of a line that does not name one of our
// movements' references: one of no movement of ours (rank -1), or none,
// with a pspReference of ours giving the rank.
type oddRef struct {
	ref  string
	rank int32
}

const (
	chunkBits = 15
	chunkLen  = 1 << chunkBits
)

// lineStore holds the lines in fixed chunks, so that adding a million
// lines never copies them.
type lineStore struct {
	chunks [][]line
	n      int
	attrs  []lineAttrs
	books  []lineBook
	groups []lineGroup
	psps   []string
	odd    []oddRef
	// srcLines and amounts hold, by position, what does not fit a line.
	srcLines map[int32]int
	amounts  map[int32][2]int64

	attrIdx  map[lineAttrs]uint32
	bookIdx  map[lineBook]uint32
	groupIdx map[lineGroup]uint32
	// The last attributes, book and group found: lines come in runs.
	lastAttrs, lastBook, lastGroup uint32
	// arena holds the keys, and with own (Matcher.Add) copies of every
	// other string the store keeps; without, it keeps the caller's.
	arena arena
	own   bool
}

func (s *lineStore) at(i int32) *line { return &s.chunks[i>>chunkBits][i&(chunkLen-1)] }

// push appends a line; hint is how many more are coming, when known.
func (s *lineStore) push(l *line, hint int) {
	if s.n >= math.MaxInt32 {
		panic("reconcile: more than 2³¹-1 lines")
	}
	c := s.n >> chunkBits
	if c == len(s.chunks) {
		size := chunkLen
		if hint > 0 {
			size = min(chunkLen, hint)
		}
		s.chunks = append(s.chunks, make([]line, 0, size))
	}
	s.chunks[c] = append(s.chunks[c], *l)
	s.n++
}

func (s *lineStore) str(v string) string {
	if s.own {
		return s.arena.get(s.arena.add(v))
	}
	return v
}

func (s *lineStore) key(l *line) string         { return s.arena.get(l.key) }
func (s *lineStore) attrsOf(l *line) *lineAttrs { return &s.attrs[s.groups[l.group].attrs] }
func (s *lineStore) bookOf(l *line) *lineBook   { return &s.books[s.groups[l.group].book] }

func (s *lineStore) srcLine(i int32) int {
	if v := s.at(i).srcLine; v != srcLineBig {
		return int(v)
	}
	return s.srcLines[i]
}

func (s *lineStore) setSrcLine(l *line, i int32, v int) {
	if v > math.MinInt32 && v <= math.MaxInt32 {
		l.srcLine = int32(v)
		return
	}
	l.srcLine = srcLineBig
	if s.srcLines == nil {
		s.srcLines = map[int32]int{}
	}
	s.srcLines[i] = v
}

// gross and fee are line i's amounts.
func (s *lineStore) gross(i int32, l *line) int64 {
	if l.gross != amountBig {
		return int64(l.gross)
	}
	return s.amounts[i][0]
}

func (s *lineStore) fee(i int32, l *line) int64 {
	if l.fee != amountBig {
		return int64(l.fee)
	}
	return s.amounts[i][1]
}

func (s *lineStore) setAmounts(l *line, i int32, gross, fee int64) {
	small := func(v int64) bool { return v > math.MinInt32 && v <= math.MaxInt32 }
	if small(gross) && small(fee) {
		l.gross, l.fee = int32(gross), int32(fee)
		return
	}
	l.gross, l.fee = amountBig, amountBig
	if s.amounts == nil {
		s.amounts = map[int32][2]int64{}
	}
	s.amounts[i] = [2]int64{gross, fee}
}

func (s *lineStore) internGroup(c lineGroup) uint32 {
	if k := s.lastGroup; int(k) < len(s.groups) && s.groups[k] == c {
		return k
	}
	if k, ok := s.groupIdx[c]; ok {
		s.lastGroup = k
		return k
	}
	if s.groupIdx == nil {
		s.groupIdx = map[lineGroup]uint32{}
	}
	k := uint32(len(s.groups))
	s.groups = append(s.groups, c)
	s.groupIdx[c], s.lastGroup = k, k
	return k
}

func (s *lineStore) internAttrs(a lineAttrs) uint32 {
	if k := s.lastAttrs; int(k) < len(s.attrs) && s.attrs[k] == a {
		return k
	}
	if k, ok := s.attrIdx[a]; ok {
		s.lastAttrs = k
		return k
	}
	if s.attrIdx == nil {
		s.attrIdx = map[lineAttrs]uint32{}
	}
	if s.own {
		a.provider, a.kind = Provider(strings.Clone(string(a.provider))), Kind(strings.Clone(string(a.kind)))
		a.msn, a.currency, a.source = strings.Clone(a.msn), strings.Clone(a.currency), strings.Clone(a.source)
	}
	k := uint32(len(s.attrs))
	s.attrs = append(s.attrs, a)
	s.attrIdx[a], s.lastAttrs = k, k
	return k
}

func (s *lineStore) internBook(b lineBook) uint32 {
	if k := s.lastBook; int(k) < len(s.books) && s.books[k] == b {
		return k
	}
	if k, ok := s.bookIdx[b]; ok {
		s.lastBook = k
		return k
	}
	if s.bookIdx == nil {
		s.bookIdx = map[lineBook]uint32{}
	}
	if s.own {
		b.payout, b.date = strings.Clone(b.payout), strings.Clone(b.date)
	}
	k := uint32(len(s.books))
	s.books = append(s.books, b)
	s.bookIdx[b], s.lastBook = k, k
	return k
}

// pspOf encodes a pspReference, in key (already stored) when it is there.
func (s *lineStore) pspOf(key, psp string) uint32 {
	if psp == "" {
		return 0
	}
	off := len(key) - len(psp)
	if !strings.HasSuffix(key, psp) {
		off = strings.Index(key, psp)
	}
	if off >= 0 && off < 1<<15 && len(psp) < 1<<16 {
		return uint32(off)<<16 | uint32(len(psp))
	}
	s.psps = append(s.psps, s.str(psp))
	return pspSide | uint32(len(s.psps)-1)
}

func (s *lineStore) pspRef(l *line) string {
	if l.psp&pspSide != 0 {
		return s.psps[l.psp&^pspSide]
	}
	off, n := l.psp>>16, l.psp&0xffff
	if n == 0 {
		return ""
	}
	return s.key(l)[off : off+n]
}

// oddRef records the reference of a line that is not its rank's.
func (s *lineStore) oddRef(ref string, rank int32) int32 {
	if n := len(s.odd); n > 0 && s.odd[n-1].ref == ref && s.odd[n-1].rank == rank {
		return ^int32(n - 1)
	}
	s.odd = append(s.odd, oddRef{ref: s.str(ref), rank: rank})
	return ^int32(len(s.odd) - 1)
}

// arena copies strings into shared chunks: a million short keys cost their
// bytes and a length byte, not a million allocations, and a position in it
// is 4 bytes without a pointer. A chunk's bytes are never written again
// once added. It holds up to 4 GiB.
type arena struct {
	chunks [][]byte
	big    []string // strings of a quarter chunk or more
}

const (
	arenaChunkBits = 20
	arenaChunk     = 1 << arenaChunkBits
	arenaChunks    = 1<<(32-arenaChunkBits) - 1 // the last chunk number marks big strings
	arenaBig       = arenaChunks << arenaChunkBits
)

// add copies s into the arena and returns its position: chunk<<20 |
// offset of its length (a uvarint), or arenaBig|k for big[k]. Position 0
// is the empty string.
func (a *arena) add(s string) uint32 {
	switch {
	case len(s) == 0:
		return 0
	case len(s) >= arenaChunk/4:
		if len(a.big) >= arenaChunk {
			panic("reconcile: too many long strings")
		}
		a.big = append(a.big, strings.Clone(s))
		return arenaBig | uint32(len(a.big)-1)
	}
	n := len(a.chunks)
	if n == 0 || cap(a.chunks[n-1])-len(a.chunks[n-1]) < len(s)+binary.MaxVarintLen32 {
		if n == arenaChunks {
			panic("reconcile: more than 4 GiB of strings")
		}
		c := make([]byte, 0, arenaChunk)
		if n == 0 {
			c = append(c, 0) // position 0: the empty string
		}
		a.chunks = append(a.chunks, c)
		n++
	}
	c := &a.chunks[n-1]
	off := len(*c)
	*c = binary.AppendUvarint(*c, uint64(len(s)))
	*c = append(*c, s...)
	return uint32(n-1)<<arenaChunkBits | uint32(off)
}

// get is the string at a position, without a copy.
func (a *arena) get(pos uint32) string {
	if pos == 0 {
		return ""
	}
	if pos&arenaBig == arenaBig {
		return a.big[pos&^arenaBig]
	}
	c := a.chunks[pos>>arenaChunkBits][pos&(arenaChunk-1):]
	if len(c) == 0 || c[0] == 0 {
		return ""
	}
	n, k := uint64(c[0]), 1
	if n >= 0x80 {
		n, k = binary.Uvarint(c)
	}
	return unsafe.String(&c[k], int(n))
}

// refIndex finds a movement by its reference: an open-addressing table of
// a hash fingerprint and the position of the first movement with the
// reference, 8 bytes a slot at most half full.
type refIndex struct {
	seed  maphash.Seed
	slots []uint64 // fingerprint<<32 | position+1; 0 is empty
	mask  uint64
}

func (x *refIndex) init(n int) {
	size := 16
	for size < 2*n {
		size *= 2
	}
	x.seed = maphash.MakeSeed()
	x.slots = make([]uint64, size)
	x.mask = uint64(size - 1)
}

// find returns the position of the movement with reference ref (of hash
// h), or -1; with add, it records j as that movement when there is none.
func (x *refIndex) find(ms []Movement, ref string, h uint64, j int32, add bool) int32 {
	fp := h >> 32
	for i := h & x.mask; ; i = (i + 1) & x.mask {
		v := x.slots[i]
		if v == 0 {
			if add {
				x.slots[i] = fp<<32 | uint64(j+1)
			}
			return -1
		}
		if v>>32 == fp {
			if k := int32(uint32(v)) - 1; ms[k].Reference == ref {
				return k
			}
		}
	}
}

func (x *refIndex) hash(ref string) uint64 { return maphash.String(x.seed, ref) }

// refQuery is a line whose reference is looked up with others: a lookup
// waits on memory three times (the slot, the movement, its reference), and
// a batch lets those waits overlap.
type refQuery struct {
	ref  string
	line int32
	h    uint64
	slot uint64
	cand string // the reference of the movement the slot names
}

const refBatch = 64

// resolve places the queued lines under their references.
func (e *engine) resolve() {
	q, x := e.queries, &e.refs
	for k := range q {
		h := x.hash(q[k].ref)
		q[k].h, q[k].slot = h, x.slots[h&x.mask]
	}
	for k := range q {
		if v := q[k].slot; v != 0 && v>>32 == q[k].h>>32 {
			q[k].cand = e.ms[int32(uint32(v))-1].Reference
		}
	}
	for k := range q {
		var j int32
		switch v := q[k].slot; {
		case v == 0:
			j = -1
		case v>>32 == q[k].h>>32 && q[k].cand == q[k].ref:
			j = int32(uint32(v)) - 1
		default:
			j = x.find(e.ms, q[k].ref, q[k].h, 0, false)
		}
		rank := int32(-1)
		if j >= 0 {
			rank = e.movRef[j]
		}
		e.place(q[k].line, q[k].ref, rank)
		q[k] = refQuery{}
	}
	e.queries, e.qbuf = q[:0], e.qbuf[:0]
}

// sortReferences orders the distinct references (first movements) by
// reference. It compares 8 bytes past the prefix all references share as
// one number first, which sorts a million references in a fraction of
// the time string comparisons take.
func sortReferences(ms []Movement, first []int32) {
	if len(first) == 0 {
		return
	}
	p := len(ms[first[0]].Reference)
	for _, j := range first[1:] {
		r := ms[j].Reference
		p = min(p, len(r))
		for k := 0; k < p; k++ {
			if r[k] != ms[first[0]].Reference[k] {
				p = k
				break
			}
		}
	}
	type keyed struct {
		key uint64
		j   int32
	}
	ks := make([]keyed, len(first))
	for i, j := range first {
		var b [8]byte
		copy(b[:], ms[j].Reference[p:])
		ks[i] = keyed{binary.BigEndian.Uint64(b[:]), j}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		if c := cmp.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(ms[a.j].Reference, ms[b.j].Reference)
	})
	for i := range ks {
		first[i] = ks[i].j
	}
}
