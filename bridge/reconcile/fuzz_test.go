package reconcile

import (
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fuzzInput turns bytes into a small input drawn from few references, ids,
// amounts and currencies, so that lines and movements collide often.
type fuzzInput struct {
	data []byte
}

func (f *fuzzInput) n(k int) int {
	if len(f.data) == 0 {
		return 0
	}
	b := f.data[0]
	f.data = f.data[1:]
	return int(b) % k
}

func pickOf[T any](f *fuzzInput, vs ...T) T { return vs[f.n(len(vs))] }

func decodeFuzz(data []byte) (Config, []Movement, []Line, []Payout) {
	f := &fuzzInput{data: data}
	base := time.Date(2025, 3, 3, 12, 0, 0, 0, time.UTC)
	cfg := Config{Now: base.Add(time.Duration(f.n(8)) * 24 * time.Hour)}
	if f.n(2) == 0 {
		cfg.ExpectedFee = map[string]FeeModel{"1": {Bps: 100, Fixed: 1, Tolerance: int64(f.n(3))}}
	}
	if f.n(4) == 0 {
		cfg.OpenDays = []Day{{Vipps, pickOf(f, "1", "2"), pickOf(f, "2025-03-03", "2025-03-04")}}
	}
	refs := []string{"ws-A-1", "ws-B-1", "ws-C-1", "", "ws-Z-1", "A-1", "B-1"}
	psps := []string{"", "P1", "P2", "P3", "R1"}
	amounts := []int64{0, 100, 200, 300, 500, 1000, -100}
	var ms []Movement
	for i := range f.n(9) {
		ms = append(ms, Movement{
			ID: "m" + strconv.Itoa(i), Provider: pickOf(f, Vipps, Vipps, Kustom), Reference: pickOf(f, refs[:4]...),
			KCOOrderID: pickOf(f, "A-1", "B-1", ""), MSN: pickOf(f, "1", "2"), Kind: pickOf(f, KindCapture, KindRefund),
			PSPReference: pickOf(f, psps...), Amount: pickOf(f, amounts[1:6]...), Currency: pickOf(f, "NOK", "NOK", "DKK"),
			At: base.Add(time.Duration(f.n(5)*12) * time.Hour),
		})
	}
	var lines []Line
	for i := range f.n(12) {
		if len(lines) > 0 && f.n(6) == 0 {
			lines = append(lines, lines[f.n(len(lines))]) // the same line read twice
			continue
		}
		lines = append(lines, Line{
			Provider: pickOf(f, Vipps, Vipps, Kustom), Source: "fuzz", SourceLine: i, Key: "l" + strconv.Itoa(i),
			Kind:      pickOf(f, KindCapture, KindRefund, KindFee, KindSale, KindReturn, KindOther),
			Reference: pickOf(f, refs...), PSPReference: pickOf(f, psps...), MSN: pickOf(f, "1", "2"),
			Gross: pickOf(f, amounts...) * int64(pickOf(f, 1, 1, -1)), Fee: pickOf(f, int64(0), 0, 2, 3, 7),
			Currency: pickOf(f, "NOK", "NOK", "DKK"), PayoutID: pickOf(f, "", "X", "Y"),
			LedgerDate: pickOf(f, "2025-03-03", "2025-03-04", "2025-03-05"), Open: f.n(10) == 0,
		})
	}
	var payouts []Payout
	for range f.n(3) {
		payouts = append(payouts, Payout{Provider: pickOf(f, Vipps, Kustom), ID: pickOf(f, "X", "Y"), MSN: pickOf(f, "", "1"),
			Date: "2025-03-05", Amount: pickOf(f, amounts...), Currency: pickOf(f, "NOK", "DKK"), Gross: f.n(3) == 0})
	}
	return cfg, ms, lines, payouts
}

// checkInvariants holds for any input: no line or movement is matched
// twice, every match with movements sums exactly, every line is matched or
// excepted, every movement is placed exactly once, and the result does not
// depend on the input's order.
func checkInvariants(t *testing.T, cfg Config, ms []Movement, lines []Line, payouts []Payout) {
	r := noErr(Run(cfg, ms, lines, payouts))

	byKey := map[string]*Line{}
	for i := range lines {
		byKey[lines[i].Key] = &lines[i]
	}
	byID := map[string]*Movement{}
	for i := range ms {
		byID[ms[i].ID] = &ms[i]
	}
	inMatch, movMatch := map[string]int{}, map[string]int{}
	for _, m := range r.Matches {
		require.NotEmpty(t, m.Lines)
		var gross, fee, want int64
		for _, k := range m.Lines {
			inMatch[k]++
			l := byKey[k]
			require.NotNil(t, l)
			require.Equal(t, m.Currency, l.Currency, "per currency only")
			if l.Kind != KindFee {
				gross += l.Gross
			}
			fee += feeCost(l)
		}
		for _, id := range m.Movements {
			movMatch[id]++
			mv := byID[id]
			require.Equal(t, m.Currency, mv.Currency, "per currency only")
			if mv.Kind == KindRefund {
				want -= mv.Amount
			} else {
				want += mv.Amount
			}
		}
		require.Equal(t, gross, m.Gross)
		require.Equal(t, fee, m.Fee)
		if len(m.Movements) > 0 {
			require.Equal(t, want, m.Gross, "a match sums exactly: %+v", m)
		}
	}
	for k, n := range inMatch {
		require.Equal(t, 1, n, "line %s matched once", k)
	}
	for id, n := range movMatch {
		require.Equal(t, 1, n, "movement %s matched once", id)
	}

	placed := maps.Clone(movMatch)
	covered := maps.Clone(inMatch)
	for _, x := range r.Exceptions {
		for _, k := range x.LineKeys {
			covered[k]++
		}
		switch x.Reason {
		case ReasonCapturedNotSettled, ReasonRefundNotSettled, ReasonAmountMismatch:
			for _, id := range x.Movements {
				placed[id]++
			}
		}
	}
	for _, p := range r.Pending {
		placed[p.Movement]++
	}
	for _, l := range lines {
		require.Positive(t, covered[l.Key], "line %s is matched or excepted", l.Key)
	}
	for _, m := range ms {
		require.Equal(t, 1, placed[m.ID], "movement %s is placed exactly once", m.ID)
	}
	for _, s := range r.Days {
		require.Equal(t, s.Captured+s.Refunded+s.Other, s.Gross)
		require.Equal(t, s.Gross-s.Fees, s.Net)
	}

	require.Equal(t, r, noErr(Run(cfg, ms, lines, payouts)))
	rev := func(s []Line) []Line { c := slices.Clone(s); slices.Reverse(c); return c }
	revM := slices.Clone(ms)
	slices.Reverse(revM)
	revP := slices.Clone(payouts)
	slices.Reverse(revP)
	require.Equal(t, r, noErr(Run(cfg, revM, rev(lines), revP)), "the input's order does not matter")
}

func FuzzRun(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("reconcile every krone"))
	f.Add([]byte{3, 0, 1, 4, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0})
	for i := range 16 {
		b := make([]byte, 96)
		for j := range b {
			b[j] = byte(i*31 + j*7)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, ms, lines, payouts := decodeFuzz(data)
		checkInvariants(t, cfg, ms, lines, payouts)
	})
}
