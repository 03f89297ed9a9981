package reconcile

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// matchAll adds lines to a Matcher in the order given by perm and runs it.
func matchAll(cfg Config, ms []Movement, lines []Line, payouts []Payout, perm []int) *Result {
	m := NewMatcher(cfg, ms)
	for _, i := range perm {
		m.Add(lines[i])
	}
	if m.Len() != len(lines) {
		panic(fmt.Sprintf("Len %d after %d lines", m.Len(), len(lines)))
	}
	return noErr(m.Run(payouts))
}

func TestMatcherAgreesWithRun(t *testing.T) {
	for seed := range uint64(4) {
		d := generate(seed, 3000, 12)
		plantAll(d)
		want := noErr(Run(d.cfg, d.ms, d.lines, d.payouts))
		perm := rand.New(rand.NewPCG(seed, 1)).Perm(len(d.lines))
		require.Equal(t, want, matchAll(d.cfg, d.ms, d.lines, d.payouts, perm), "seed %d", seed)
	}
}

// plantAll plants a discrepancy of every kind the generator's payments
// allow: a line read twice, a line of no payment of ours, a capture never
// settled, and an amount off.
func plantAll(d *dataset) {
	d.lines = append(d.lines, d.lines[7])
	l := d.lines[11]
	l.Key, l.Reference, l.PSPReference = "lx", "ws-nobody-1", "px"
	d.lines = append(d.lines, l)
	for i := range d.payments {
		if p := &d.payments[i]; p.simple {
			d.lines[p.lines[0]].Gross++
			break
		}
	}
	d.lines = append(d.lines[:20], d.lines[21:]...)
}

// A Matcher copies what it keeps: lines whose strings live in a buffer that
// is overwritten after each Add reconcile as their copies do.
func TestMatcherCopiesStrings(t *testing.T) {
	d := generate(5, 500, 6)
	plantAll(d)
	want := noErr(Run(d.cfg, d.ms, d.lines, d.payouts))

	m := NewMatcher(d.cfg, d.ms)
	buf := make([]byte, 0, 1024)
	borrow := func(s string) string {
		if s == "" {
			return ""
		}
		off := len(buf)
		buf = append(buf, s...)
		return unsafe.String(&buf[off], len(s))
	}
	for _, l := range d.lines {
		buf = buf[:0]
		b := Line{
			Provider: Provider(borrow(string(l.Provider))), Source: borrow(l.Source), SourceLine: l.SourceLine,
			Key: borrow(l.Key), Kind: Kind(borrow(string(l.Kind))), Reference: borrow(l.Reference),
			PSPReference: borrow(l.PSPReference), MSN: borrow(l.MSN), Gross: l.Gross, Fee: l.Fee,
			Currency: borrow(l.Currency), PayoutID: borrow(l.PayoutID), LedgerDate: borrow(l.LedgerDate), Open: l.Open,
		}
		m.Add(b)
		for i := range buf {
			buf[i] = '#'
		}
	}
	require.Equal(t, want, noErr(m.Run(d.payouts)))
}

// What does not fit a line's 32 bytes is kept aside, exactly.
func TestLineStoreExtremes(t *testing.T) {
	require.EqualValues(t, 32, unsafe.Sizeof(line{}))
	base := time.Date(2025, 3, 3, 12, 0, 0, 0, time.UTC)
	cfg := Config{Now: base.Add(30 * 24 * time.Hour)}
	long := strings.Repeat("k", arenaChunk/4+1)
	big := int64(math.MaxInt32) * 1000
	ms := []Movement{
		{ID: "m1", Provider: Vipps, Reference: "ws-A-1", Kind: KindCapture, PSPReference: "P1", Amount: big, Currency: "NOK", At: base},
		{ID: "m2", Provider: Vipps, Reference: "ws-B-1", Kind: KindCapture, PSPReference: strings.Repeat("p", 1<<16), Amount: math.MaxInt32 + 1, Currency: "NOK", At: base},
		{ID: "m3", Provider: Vipps, Reference: "ws-C-1", Kind: KindCapture, Amount: 100, Currency: "NOK", At: base},
	}
	lines := []Line{
		{Provider: Vipps, Source: "f", SourceLine: math.MaxInt32 + 5, Key: long, Kind: KindCapture, Reference: "ws-A-1", PSPReference: "P1",
			Gross: big, Fee: -big / 3, Currency: "NOK", PayoutID: "X", LedgerDate: "2025-03-03"},
		{Provider: Vipps, Source: "f", SourceLine: math.MinInt32, Key: long, Kind: KindCapture, Reference: "ws-A-1", PSPReference: "P1",
			Gross: big, Currency: "NOK", PayoutID: "X", LedgerDate: "2025-03-03"},
		{Provider: Vipps, Source: "f", SourceLine: 3, Key: "b", Kind: KindCapture, Reference: "ws-B-1", PSPReference: ms[1].PSPReference,
			Gross: math.MaxInt32 + 1, Fee: math.MinInt32, Currency: "NOK", PayoutID: "X", LedgerDate: "2025-03-03"},
		{Provider: Vipps, Source: "f", SourceLine: 4, Key: "", Kind: KindCapture, Reference: "ws-C-1", Gross: 100, Currency: "NOK", LedgerDate: "2025-03-03"},
	}
	for _, r := range []*Result{noErr(Run(cfg, ms, lines, nil)), matchAll(cfg, ms, lines, nil, []int{3, 2, 1, 0})} {
		require.Len(t, r.Matches, 3)
		a := r.Matches[0]
		require.Equal(t, []string{long}, a.Lines)
		require.Equal(t, big, a.Gross)
		require.Equal(t, -big/3, a.Fee)
		b := r.Matches[1]
		require.Equal(t, []string{"b"}, b.Lines)
		require.Equal(t, int64(math.MaxInt32+1), b.Gross)
		require.Equal(t, int64(math.MinInt32), b.Fee)
		require.Equal(t, PassID, b.Pass)
		require.Equal(t, []string{""}, r.Matches[2].Lines)
		require.Len(t, r.Exceptions, 1)
		x := r.Exceptions[0]
		require.Equal(t, ReasonDuplicateLine, x.Reason)
		// The line with the lower fee sorts first, so the other is the
		// duplicate; the detail names the first by its line.
		require.True(t, strings.HasSuffix(x.Detail(), fmt.Sprintf("f:%d", math.MaxInt32+5)), "detail %.40q…", x.Detail())
		require.Len(t, r.Days, 1)
		require.Equal(t, big+math.MaxInt32+1+100, r.Days[0].Captured, "the duplicate counts for nothing")
		require.Equal(t, 4, r.Days[0].Lines)
	}
}

func TestMatcherMisuse(t *testing.T) {
	m := NewMatcher(Config{}, nil)
	m.Add(Line{Key: "a"})
	require.Equal(t, 1, m.Len())
	noErr(m.Run(nil))
	require.Panics(t, func() { m.Add(Line{Key: "b"}) })
	require.Panics(t, func() { noErr(m.Run(nil)) })
}

// The references are worked through on several goroutines when there are
// enough; the result is the same as on one.
func TestParallelAgreesWithSequential(t *testing.T) {
	d := generate(9, 5*refsPerWorker, 20)
	plantAll(d)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	want := noErr(Run(d.cfg, d.ms, d.lines, d.payouts))
	for _, procs := range []int{2, 3, 8} {
		runtime.GOMAXPROCS(procs)
		require.Equal(t, want, noErr(Run(d.cfg, d.ms, d.lines, d.payouts)), "GOMAXPROCS %d", procs)
	}
}

// FuzzMatcher checks that lines added in any order to a Matcher reconcile
// as Run reconciles them.
func FuzzMatcher(f *testing.F) {
	f.Add([]byte("\x05\x02\x01\x00\x03\x07\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, ms, lines, payouts := decodeFuzz(data)
		want := noErr(Run(cfg, ms, lines, payouts))
		perm := make([]int, len(lines))
		for i := range perm {
			perm[i] = len(lines) - 1 - i
		}
		require.Equal(t, want, matchAll(cfg, ms, lines, payouts, perm))
	})
}

func TestRankRange(t *testing.T) {
	for nref := 1; nref < 40; nref++ {
		for parts := 1; parts <= min(nref, 9); parts++ {
			next := 0
			for w := range parts {
				r0, r1 := rankRange(w, parts, nref)
				require.Equal(t, next, r0)
				for r := r0; r < r1; r++ {
					require.Equal(t, w, r*parts/nref, "rank %d of %d in %d parts", r, nref, parts)
				}
				next = r1
			}
			require.Equal(t, nref, next)
		}
	}
}
