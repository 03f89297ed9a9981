package bridge_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
)

// A payout repeats another only when every one of its lines is stored
// under that one other payout; it then repeats the payout stored first.
func TestPayoutLinesSameAs(t *testing.T) {
	pl := bridge.PayoutLines{}
	pl.Count("api-1", "file-1", 2)
	pl.Count("api-1", "file-1", 1)
	pl.Count("api-2", "file-2", 1)
	pl.Count("api-2", "", 1) // one line new to the store
	pl.Count("api-3", "file-3", 1)
	pl.Count("api-3", "file-4", 1)
	pl.Count("api-4", "api-4", 2) // stored under itself: the same source again
	pl.Count("", "file-5", 1)     // lines of no payout are not counted
	require.Equal(t, "file-1", pl.SameAs("api-1"))
	require.Empty(t, pl.SameAs("api-2"), "partly new lines")
	require.Empty(t, pl.SameAs("api-3"), "lines of two other payouts")
	require.Empty(t, pl.SameAs("api-4"))
	require.Empty(t, pl.SameAs("unknown"))
	require.Empty(t, pl.SameAs(""))

	require.Equal(t, "file-1", bridge.PayoutRepeats("api-1", "file-1", ""))
	require.Equal(t, "first", bridge.PayoutRepeats("api-1", "file-1", "first"), "the payout stored first, no chain")
	require.Empty(t, bridge.PayoutRepeats("api-1", "file-1", "api-1"), "the other already repeats it")
}
