package reconcile

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCheckedArithmetic(t *testing.T) {
	a, ok := addChecked(math.MaxInt64, 1)
	require.False(t, ok, "MaxInt64+1 wrapped to %d", a)
	_, ok = addChecked(math.MinInt64, -1)
	require.False(t, ok)
	v, ok := addChecked(math.MaxInt64, math.MinInt64)
	require.True(t, ok)
	require.Equal(t, int64(-1), v)
	_, ok = subChecked(math.MinInt64, 1)
	require.False(t, ok)
	_, ok = subChecked(0, math.MinInt64)
	require.False(t, ok)
	_, ok = mulChecked(math.MaxInt64/2+1, 2)
	require.False(t, ok)
	_, ok = mulChecked(-1, math.MinInt64)
	require.False(t, ok)
	v, ok = mulChecked(-3, 7)
	require.True(t, ok)
	require.Equal(t, int64(-21), v)
}

// runErr runs the input through Run and through a Matcher, which must
// fail alike.
func runErr(t *testing.T, cfg Config, ms []Movement, lines []Line, payouts []Payout) error {
	t.Helper()
	r, err := Run(cfg, ms, lines, payouts)
	m := NewMatcher(cfg, ms)
	for _, l := range lines {
		m.Add(l)
	}
	r2, err2 := m.Run(payouts)
	require.Equal(t, err, err2, "Matcher.Run fails as Run does")
	if err != nil {
		require.Nil(t, r)
		require.Nil(t, r2)
	}
	return err
}

func TestOverflowIsAnErrorNamingWhatOverflowed(t *testing.T) {
	big := int64(math.MaxInt64/2 + 1)
	cfg := Config{Now: t0.Add(240 * time.Hour)}
	for _, c := range []struct {
		name    string
		ms      []Movement
		lines   []Line
		payouts []Payout
		what    string
	}{
		{
			name:  "lines of one reference",
			ms:    []Movement{mv("m1", "ws-A", "", KindCapture, 100)},
			lines: []Line{ln("l1", "ws-A", "", KindCapture, big, 0), ln("l2", "ws-A", "", KindCapture, big, 0)},
			what:  "sum of lines of reference ws-A",
		},
		{
			name:  "movements of one reference",
			ms:    []Movement{mv("m1", "ws-A", "", KindCapture, big), mv("m2", "ws-A", "", KindCapture, big)},
			lines: []Line{ln("l1", "ws-A", "", KindCapture, 5, 0)},
			what:  "sum of movements of reference ws-A",
		},
		{
			name:  "day totals of lines of orders not ours",
			lines: []Line{kl("k1", "K1", KindSale, big, 0), kl("k2", "K2", KindSale, big, 0)},
			what:  "kustom NOK totals of ledger date 2025-03-03",
		},
		{
			name:  "fee cost of a fee line",
			lines: []Line{kl("k1", "K1", KindFee, math.MinInt64, 1)},
			what:  "fee cost (fee less gross) of line k1",
		},
		{
			name:    "carried balance plus the payout's lines",
			ms:      []Movement{mv("m1", "ws-A", "P1", KindCapture, 100)},
			lines:   []Line{with(ln("l1", "ws-A", "P1", KindCapture, 100, 0), func(l *Line) { l.PayoutID = "X" })},
			payouts: []Payout{{Provider: Vipps, ID: "X", Date: "2025-03-03", Opening: math.MaxInt64, Amount: 1, Currency: "NOK"}},
			what:    "vipps NOK balance carried into payout X plus its lines",
		},
		{
			name: "a movement's amount",
			ms:   []Movement{mv("m1", "ws-A", "", KindRefund, math.MinInt64)},
			what: "amount of movement m1",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := runErr(t, cfg, c.ms, c.lines, c.payouts)
			require.Error(t, err)
			require.True(t, errors.Is(err, ErrOverflow), "%v", err)
			require.Contains(t, err.Error(), c.what)
		})
	}
}

func TestNoOverflowNearTheLimit(t *testing.T) {
	// Sums up to MaxInt64 are fine: only a wrap is an error.
	big := int64(math.MaxInt64/2 - 1)
	ms := []Movement{mv("m1", "ws-A", "", KindCapture, big), mv("m2", "ws-A", "", KindCapture, big)}
	lines := []Line{ln("l1", "ws-A", "", KindCapture, 2*big, 0)}
	require.NoError(t, runErr(t, Config{Now: t0.Add(240 * time.Hour)}, ms, lines, nil))
	r := noErr(Run(Config{Now: t0.Add(240 * time.Hour)}, ms, lines, nil))
	require.Empty(t, r.Exceptions)
	require.Equal(t, 2*big, r.Matches[0].Gross)
}
