package web

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The limiter is a token bucket per client: a burst, then a wait it names;
// clients do not share buckets; it remembers at most MaxKeys clients, and
// forgets one whose bucket has filled up again.
func TestRateLimiterPerKeyAndBounded(t *testing.T) {
	l := NewRateLimiter(1, 3)
	l.MaxKeys = 100
	now := time.Unix(1_800_000_000, 0)
	for range 3 {
		ok, _ := l.Allow("a", now)
		require.True(t, ok)
	}
	ok, wait := l.Allow("a", now)
	require.False(t, ok)
	require.InDelta(t, time.Second, wait, float64(time.Millisecond))
	ok, _ = l.Allow("b", now)
	require.True(t, ok, "another client has its own bucket")
	ok, _ = l.Allow("a", now.Add(time.Second))
	require.True(t, ok, "a second later one token is back")
	ok, _ = l.Allow("a", now.Add(time.Second))
	require.False(t, ok, "and only one")

	for i := range 1000 {
		l.Allow("client-"+string(rune('a'+i%26))+strings.Repeat("x", i/26), now.Add(time.Second))
	}
	require.Equal(t, 100, l.Len(), "at most MaxKeys clients are remembered")
	l.Allow("late", now.Add(time.Minute))
	require.Equal(t, 1, l.Len(), "clients idle past a full bucket are forgotten")
}
