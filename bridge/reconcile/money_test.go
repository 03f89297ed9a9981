package reconcile

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMinorUnits(t *testing.T) {
	for cur, want := range map[string]int{
		"NOK": 2, "DKK": 2, "EUR": 2, "SEK": 2, "XXX-unknown": 2,
		"JPY": 0, "ISK": 0, "KRW": 0, "CLP": 0, "VND": 0,
		"KWD": 3, "BHD": 3, "JOD": 3, "OMR": 3, "TND": 3, "IQD": 3, "LYD": 3, "kwd": 3,
	} {
		require.Equal(t, want, MinorUnits(cur), cur)
	}
}

func TestFormatMinor(t *testing.T) {
	for _, c := range []struct {
		v    int64
		cur  string
		want string
	}{
		{0, "NOK", "0.00"},
		{5, "NOK", "0.05"},
		{-1250, "NOK", "-12.50"},
		{123456, "DKK", "1234.56"},
		{1500, "JPY", "1500"},
		{-7, "ISK", "-7"},
		{1500, "KWD", "1.500"},
		{-5, "BHD", "-0.005"},
		{math.MinInt64, "NOK", "-92233720368547758.08"},
		{math.MaxInt64, "JPY", "9223372036854775807"},
	} {
		require.Equal(t, c.want, FormatMinor(c.v, c.cur), "%d %s", c.v, c.cur)
	}
	require.Equal(t, "KWD -1.500", money(-1500, "KWD"))
}

func TestExceptionDetailUsesTheCurrencysDecimals(t *testing.T) {
	lines := []Line{with(ln("l1", "ws-X", "", KindCapture, 1500, 0), func(l *Line) { l.Currency = "JPY" })}
	r := noErr(Run(Config{Now: t0}, nil, lines, nil))
	require.Len(t, r.Exceptions, 1)
	require.Contains(t, r.Exceptions[0].Detail(), "JPY 1500")
}
