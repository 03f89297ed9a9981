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

// The checkpoints beside the writer copy the log back on their own: with
// the writer's own checkpoints turned off, every frame written is soon
// copied back into the file, and the writer never waited for it.
func TestCheckpointsBesideTheWriterCopyTheLog(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "beside.db")
	s, err := Open(ctx, "file:"+path, nil)
	require.NoError(t, err)
	defer s.Close()
	_, err = s.write.ExecContext(ctx, `PRAGMA wal_autocheckpoint = 0`)
	require.NoError(t, err)

	runs0, _ := s.checkpoints.stats()
	body := []byte(`{"pad":"` + strings.Repeat("x", 12<<10) + `"}`)
	until := time.Now().Add(time.Hour)
	for i := range 200 { // some 600 pages
		_, err := s.RecordWebhook(ctx, fmt.Sprintf("sig-beside-%d", i), until,
			&bridge.RawEvent{Reference: "KCO-beside-1", Unit: "u", Source: "webhook", Name: "AUTHORIZED", Body: body}, nil)
		require.NoError(t, err)
	}
	// The log's frames, read off its file (a checkpoint pragma here would
	// be a checkpoint of the writer's own): a 32-byte header, then a
	// 24-byte header and a page each.
	st, err := os.Stat(path + "-wal")
	require.NoError(t, err)
	logFrames := (st.Size() - 32) / (24 + 4096)
	require.Greater(t, logFrames, int64(500))
	require.Eventually(t, func() bool {
		runs, copied := s.checkpoints.stats()
		return runs > runs0 && copied >= logFrames
	}, 5*time.Second, 50*time.Millisecond, "the log's %d frames were not copied back beside the writer", logFrames)
}
