package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
)

// Under steady writes, with readers reading all along, the log stays
// bounded: the checkpoints beside the writer copy most of it back, and the
// writer's own, at checkpointPages, copies the rest and starts it again.
// With checkpoints made only beside the writer it grew past 300 MiB.
func TestWriteAheadLogStaysBoundedUnderSteadyWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("writes some 100 MiB")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "steady.db")
	s, err := Open(ctx, "file:"+path, nil)
	require.NoError(t, err)
	defer s.Close()

	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = s.RawEvents(ctx, "KCO-steady-0")
				time.Sleep(time.Millisecond) // a page's poll, not a loop that never lets go
			}
		})
	}
	body := []byte(`{"pad":"` + strings.Repeat("x", 12<<10) + `"}`) // some three pages an event
	until := time.Now().Add(time.Hour)
	var writerPages int
	require.NoError(t, s.write.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&writerPages))
	require.Equal(t, checkpointPages, writerPages)
	var biggest int64
	const total = 6 * checkpointPages * 4096 // bytes of events: six times the checkpoint's threshold
	for i := 0; i*len(body) < total; i++ {
		_, err := s.RecordWebhook(ctx, fmt.Sprintf("sig-steady-%d", i), until,
			&bridge.RawEvent{Reference: "KCO-steady-1", Unit: "u", Source: "webhook", Name: "AUTHORIZED", Body: body}, nil)
		require.NoError(t, err)
		if i%100 == 0 {
			if st, err := os.Stat(path + "-wal"); err == nil {
				biggest = max(biggest, st.Size())
			}
		}
	}
	close(stop)
	readers.Wait()
	runs, copied := s.checkpoints.stats()
	t.Logf("largest write-ahead log seen: %.1f MiB; checkpoints beside the writer: %d, %d pages copied", float64(biggest)/(1<<20), runs, copied)
	require.Positive(t, biggest)
	require.Positive(t, copied, "the checkpoints beside the writer copied nothing")
	require.LessOrEqual(t, biggest, int64(walLimitBytes), "the log outgrew its limit under steady writes")
}
