package bridge

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Concurrent callers share writes, each returns only once its own item is
// written, and one bad item fails only its caller.
func TestBatcherGroupsConcurrentWrites(t *testing.T) {
	var mu sync.Mutex
	written := map[int]bool{}
	var writes atomic.Int64
	release := make(chan struct{})
	b := &Batcher[int]{Write: func(_ context.Context, items []int) error {
		if writes.Add(1) == 1 {
			<-release // the first write is slow: the rest queue behind it
		}
		for _, it := range items {
			if it < 0 {
				return errors.New("bad item")
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for _, it := range items {
			written[it] = true
		}
		return nil
	}}
	var wg sync.WaitGroup
	errs := make([]error, 101)
	wg.Go(func() { errs[0] = b.Add(context.Background(), 0) })
	require.Eventually(t, func() bool { return writes.Load() == 1 }, time.Second, time.Millisecond)
	for i := 1; i <= 100; i++ {
		item := i
		if i == 50 {
			item = -50
		}
		wg.Go(func() { errs[i] = b.Add(context.Background(), item) })
	}
	require.Eventually(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.queue) == 100
	}, time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	for i, err := range errs {
		if i == 50 {
			require.EqualError(t, err, "bad item")
			continue
		}
		require.NoError(t, err, "item %d", i)
		require.True(t, written[i], "item %d returned before it was written", i)
	}
	// The first write, one for the 100 that queued (refused for the bad
	// one), then those 100 one at a time.
	require.Equal(t, int64(102), writes.Load())

	// Alone, an item is written at once in a write of its own.
	writes.Store(1)
	require.NoError(t, b.Add(context.Background(), 1000))
	require.Equal(t, int64(2), writes.Load())
}
