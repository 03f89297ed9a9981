package sqlite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// syncBuffer is a log destination the checkpointer's goroutine and the
// test may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// A checkpoint beside the writer that fails is logged: the writer's
// commits go on succeeding while the log, no longer copied back beside
// them, grows, so nothing else would tell. Failing at every tick, it is
// logged at once and then once a minute, and its recovery once.
func TestCheckpointFailuresAreLogged(t *testing.T) {
	var out syncBuffer
	c := &checkpointer{}
	c.logger.Store(slog.New(slog.NewTextHandler(&out, nil)))
	t0 := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	broken := errors.New("checkpoint: disk I/O error")
	c.report(nil, t0)
	require.Empty(t, out.String(), "a checkpoint that works is not logged")
	ticks := int(75 * time.Second / checkpointEvery) // 75 s of ticks
	for i := range ticks {
		c.report(broken, t0.Add(time.Duration(i+1)*checkpointEvery))
	}
	c.report(nil, t0.Add(76*time.Second))
	c.report(nil, t0.Add(77*time.Second))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 3, "%s", out.String())
	require.Contains(t, lines[0], "level=ERROR")
	require.Contains(t, lines[0], "disk I/O error")
	require.Contains(t, lines[0], "failed=1 ")
	require.Contains(t, lines[1], fmt.Sprintf("failed=%d ", int((time.Minute+checkpointEvery-1)/checkpointEvery)+1), "retold a minute later, with the count")
	require.Contains(t, lines[2], "level=INFO")
	require.Contains(t, lines[2], "work again")
	require.Contains(t, lines[2], fmt.Sprintf("failed=%d ", ticks))

	// Through the store: its checkpoint connection gone, the loop's next
	// tick fails and says so in the store's log.
	s, err := Open(context.Background(), "file:"+filepath.Join(t.TempDir(), "failing.db"), nil)
	require.NoError(t, err)
	defer s.Close()
	var storeOut syncBuffer
	s.SetLogger(slog.New(slog.NewTextHandler(&storeOut, nil)))
	require.NoError(t, s.checkpoints.db.Close())
	require.Eventually(t, func() bool { return strings.Contains(storeOut.String(), "checkpoint beside the writer failed") },
		5*time.Second, 50*time.Millisecond, "a failing checkpoint was not logged")
}
