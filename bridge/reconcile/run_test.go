package reconcile

import (
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// reasons lists a result's exceptions as "reason reference-or-payout".
func reasons(r *Result) []string {
	var out []string
	for _, x := range r.Exceptions {
		name := x.Reference
		if x.Reason == ReasonPayoutMismatch {
			name = x.PayoutID
		}
		out = append(out, string(x.Reason)+" "+name)
	}
	sort.Strings(out)
	return out
}

// requireBalanced checks every reported payout against its lines, summed
// here independently of the engine, to the øre; skip names payouts planted
// to be off.
func requireBalanced(t *testing.T, d *dataset, r *Result, skip ...string) {
	t.Helper()
	type key struct {
		p       Provider
		cur, id string
	}
	net, gross := map[key]int64{}, map[key]int64{}
	seen := map[string]bool{}
	for _, l := range d.lines {
		if seen[string(l.Provider)+"\x00"+l.Key] {
			continue // a line read twice is one line
		}
		seen[string(l.Provider)+"\x00"+l.Key] = true
		k := key{l.Provider, l.Currency, l.PayoutID}
		net[k] += l.Gross - feeCost(&l)
		if l.Kind != KindFee {
			gross[k] += l.Gross
		}
	}
	require.NotEmpty(t, d.payouts)
	for _, p := range d.payouts {
		if slices.Contains(skip, p.ID) {
			continue
		}
		want := net[key{p.Provider, p.Currency, p.ID}]
		if p.Gross {
			want = gross[key{p.Provider, p.Currency, p.ID}]
		}
		require.Equal(t, want, p.Amount, "payout %s", p.ID)
	}
	for _, s := range r.Payouts {
		if !s.Reported || slices.Contains(skip, s.ID) {
			continue
		}
		got := s.Net
		if s.Provider == Vipps && s.MSN == "334455" {
			got = s.Gross
		}
		require.Equal(t, s.Paid, got, "payout summary %s", s.ID)
	}
}

func TestGeneratedInputReconciles(t *testing.T) {
	d := generate(1, 3000, 14)
	r := noErr(Run(d.cfg, d.ms, d.lines, d.payouts))
	require.Empty(t, reasons(r))

	matched, lines := 0, 0
	for _, s := range r.Days {
		matched += s.Matched
		lines += s.Lines
		require.Equal(t, s.Captured+s.Refunded+s.Other, s.Gross)
		require.Equal(t, s.Gross-s.Fees, s.Net)
	}
	require.Equal(t, len(d.lines), lines)
	require.Equal(t, len(d.lines), matched)

	var pending []string
	for _, p := range d.payments {
		if p.pending {
			pending = append(pending, d.ms[p.captures[0]].ID)
		}
	}
	var got []string
	for _, p := range r.Pending {
		if p.Due.After(d.cfg.Now) && p.At.Equal(d.cfg.Now.Add(-time.Hour)) {
			got = append(got, p.Movement)
		}
	}
	sort.Strings(pending)
	sort.Strings(got)
	require.NotEmpty(t, pending)
	require.Equal(t, pending, got)
	requireBalanced(t, d, r)

	passes := map[Pass]int{}
	for _, m := range r.Matches {
		passes[m.Pass]++
	}
	for _, p := range []Pass{PassID, PassReference, PassGroup, PassProvider} {
		require.NotZero(t, passes[p], "the generator exercises pass %s", p)
	}
}

// planter picks distinct payments of a dataset to plant discrepancies in.
type planter struct {
	d     *dataset
	taken map[int]bool
	drop  map[int]bool
	add   []Line
}

func (p *planter) pick(t *testing.T, ok func(*genPayment) bool) *genPayment {
	t.Helper()
	for _, i := range p.d.rng.Perm(len(p.d.payments)) {
		g := &p.d.payments[i]
		if !p.taken[i] && !g.pending && ok(g) {
			p.taken[i] = true
			return g
		}
	}
	t.Fatal("no payment to plant in")
	return nil
}

// settled says the movement is due by the run's Now.
func (p *planter) settled(j int) bool {
	return !p.d.cfg.Now.Before(p.d.ms[j].At.Add(DefaultSettleWithin))
}

func (p *planter) apply() {
	d := p.d
	kept := d.lines[:0]
	for i, l := range d.lines {
		if !p.drop[i] {
			kept = append(kept, l)
		}
	}
	d.lines = append(kept, p.add...)
	d.payouts = nil
	d.makePayouts()
}

func TestPlantedDiscrepancies(t *testing.T) {
	for _, seed := range []uint64{2, 3, 4} {
		d := generate(seed, 3000, 14)
		p := &planter{d: d, taken: map[int]bool{}, drop: map[int]bool{}}
		var want []string
		simple := func(g *genPayment) bool { return g.simple && p.settled(g.captures[0]) }

		g := p.pick(t, simple)
		p.drop[g.lines[0]] = true
		want = append(want, "captured_not_settled "+g.ref)

		g = p.pick(t, func(g *genPayment) bool { return g.refLine >= 0 && p.settled(g.refund) })
		p.drop[g.refLine] = true
		want = append(want, "refund_not_settled "+g.ref)

		u := genUnits[0]
		p.add = append(p.add, d.line(Vipps, KindCapture, "ws-unknown-1", "p-unknown", u, 4242, u.fee.Expected(4242),
			genStart.Format(time.DateOnly)))
		want = append(want, "settled_unknown ws-unknown-1")

		g = p.pick(t, simple)
		d.lines[g.lines[0]].Gross += 100
		want = append(want, "amount_mismatch "+g.ref)

		g = p.pick(t, simple)
		d.lines[g.lines[0]].Fee += genUnits[g.unit].fee.Tolerance + 1
		want = append(want, "fee_mismatch "+g.ref)

		g = p.pick(t, simple)
		l := d.lines[g.lines[0]]
		p.add = append(p.add, d.line(Kustom, KindSale, g.kco, "c-twice", genUnit{currency: l.Currency}, l.Gross, 0, l.LedgerDate))
		want = append(want, "paid_twice "+g.ref)

		g = p.pick(t, simple)
		dup := d.lines[g.lines[0]]
		want = append(want, "duplicate_line "+g.ref)

		p.apply()
		d.lines = append(d.lines, dup) // read twice after the provider paid it once
		off := &d.payouts[d.rng.IntN(len(d.payouts))]
		off.Amount++
		want = append(want, "payout_mismatch "+off.ID)
		sort.Strings(want)

		r := noErr(Run(d.cfg, d.ms, d.lines, d.payouts))
		require.Equal(t, want, reasons(r), "seed %d", seed)
		requireBalanced(t, d, r, off.ID)
		for _, x := range r.Exceptions {
			switch x.Reason {
			case ReasonPayoutMismatch:
				require.Equal(t, off.Amount, x.Amount)
				require.Equal(t, off.Amount-1, x.Expected, "off by exactly one øre")
			case ReasonFeeMismatch, ReasonAmountMismatch, ReasonCapturedNotSettled:
				require.Len(t, x.Movements, 1)
			}
		}
		for i := 1; i < len(r.Exceptions); i++ {
			require.LessOrEqual(t, r.Exceptions[i-1].Reason.Severity(), r.Exceptions[i].Reason.Severity())
		}
	}
}

func shuffled[T any](rng *rand.Rand, s []T) []T {
	c := slices.Clone(s)
	rng.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
	return c
}

func TestDeterministic(t *testing.T) {
	d := generate(5, 2000, 10)
	// Some exceptions too, so that their order is tested.
	d.lines = append(d.lines, d.lines[3], d.lines[10])
	d.lines[20].Gross++
	d.lines[30].PSPReference = ""
	d.lines[31].Reference = ""
	d.payouts[0].Amount--

	first := noErr(Run(d.cfg, d.ms, d.lines, d.payouts))
	require.NotEmpty(t, first.Exceptions)
	require.Equal(t, first, noErr(Run(d.cfg, d.ms, d.lines, d.payouts)))
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3 {
		got := noErr(Run(d.cfg, shuffled(rng, d.ms), shuffled(rng, d.lines), shuffled(rng, d.payouts)))
		require.Equal(t, first, got)
	}
}

func TestRunDoesNotModifyInput(t *testing.T) {
	d := generate(6, 300, 5)
	ms, lines, payouts := slices.Clone(d.ms), slices.Clone(d.lines), slices.Clone(d.payouts)
	noErr(Run(d.cfg, d.ms, d.lines, d.payouts))
	require.Equal(t, ms, d.ms)
	require.Equal(t, lines, d.lines)
	require.Equal(t, payouts, d.payouts)
}

func TestOpenDays(t *testing.T) {
	d := generate(8, 1500, 10)
	last := genStart.Add(9 * 24 * time.Hour).Format(time.DateOnly)
	msn := genUnits[0].msn
	// The provider has not closed the unit's last day: only some of its
	// lines are there, and its payout already says the full amount.
	kept := d.lines[:0]
	dropped := 0
	for _, l := range d.lines {
		if l.LedgerDate == last && l.MSN == msn && l.Provider == Vipps && dropped%2 == 0 {
			dropped++
			continue
		}
		if l.LedgerDate == last && l.MSN == msn && l.Provider == Vipps {
			dropped++
		}
		kept = append(kept, l)
	}
	require.Positive(t, dropped)
	d.lines = kept // the payouts stay as the provider reported them

	closed := noErr(Run(d.cfg, d.ms, d.lines, d.payouts))
	require.NotEmpty(t, closed.Exceptions, "a closed day with missing lines is missing money")

	open := d.cfg
	open.OpenDays = []Day{{Provider: Vipps, MSN: msn, Date: last}}
	r := noErr(Run(open, d.ms, d.lines, d.payouts))
	require.Empty(t, reasons(r))
	openPending := 0
	for _, p := range r.Pending {
		if p.OpenDay {
			openPending++
		}
	}
	require.Positive(t, openPending)

	// The importer's flag on a line opens its day the same way.
	for i := range d.lines {
		if d.lines[i].LedgerDate == last && d.lines[i].MSN == msn {
			d.lines[i].Open = true
			break
		}
	}
	flagged := noErr(Run(d.cfg, d.ms, d.lines, d.payouts))
	require.Equal(t, reasons(r), reasons(flagged))
	require.Equal(t, r.Pending, flagged.Pending)
}

func TestEachLineMatchedOnce(t *testing.T) {
	d := generate(9, 500, 5)
	var g *genPayment
	for i := range d.payments {
		if d.payments[i].simple {
			g = &d.payments[i]
			break
		}
	}
	require.NotNil(t, g)
	orig := d.lines[g.lines[0]]

	sameKey := orig
	otherKey := orig
	otherKey.Key += "-again"
	noPSP := orig
	noPSP.Key += "-nopsp"
	noPSP.PSPReference = ""
	for name, c := range map[string]struct {
		dup    Line
		reason Reason
	}{
		"same key":                 {sameKey, ReasonDuplicateLine},
		"same pspReference":        {otherKey, ReasonDuplicateLine},
		"same amount, no pspRef":   {noPSP, ReasonSettledUnknown},
		"same key, other currency": {func() Line { l := sameKey; l.Currency = "SEK"; return l }(), ReasonSettledUnknown},
	} {
		t.Run(name, func(t *testing.T) {
			c2 := *d
			c2.lines = append(slices.Clone(d.lines), c.dup)
			if c.dup.Key != orig.Key {
				// A second line the provider sent is in its payout.
				c2.makePayouts()
			}
			r := noErr(Run(c2.cfg, c2.ms, c2.lines, c2.payouts))
			require.Len(t, r.Exceptions, 1)
			require.Equal(t, c.reason, r.Exceptions[0].Reason)
			require.Equal(t, []string{c.dup.Key}, r.Exceptions[0].LineKeys)
			seen := map[string]int{}
			for _, m := range r.Matches {
				for _, k := range m.Lines {
					seen[k]++
				}
			}
			require.Equal(t, 1, seen[orig.Key])
		})
	}
}

// noErr is a Result whose run must not fail; a failing one panics, which
// fails the test with the error.
func noErr(r *Result, err error) *Result {
	if err != nil {
		panic(err)
	}
	return r
}
