package bridge

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLogSampleOneLinePerPeriod(t *testing.T) {
	var l logSample
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	ok, held := l.allow(t0, time.Minute)
	require.True(t, ok, "the first line is written")
	require.Zero(t, held)
	for i := range 3 {
		ok, _ := l.allow(t0.Add(time.Duration(i+1)*time.Second), time.Minute)
		require.False(t, ok, "a line within the minute is held")
	}
	ok, held = l.allow(t0.Add(time.Minute), time.Minute)
	require.True(t, ok, "a minute later a line is written")
	require.Equal(t, 3, held, "and it says how many were held")
	// A clock set back does not silence the log for as long as it went back.
	ok, held = l.allow(t0.Add(-time.Hour), time.Minute)
	require.True(t, ok)
	require.Zero(t, held)
}
