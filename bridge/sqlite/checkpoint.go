package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Checkpoints in the background. The writer checkpoints in the commit that
// finds the log past checkpointPages (see sqlite.go), and every writer
// queued behind it waits for the copy and the file's sync: with redirects
// paced at 250/s, those waits were much of the redirect's p99 (48-59 ms;
// 395 ms at a 64,000-page threshold; 32-45 ms with the copying done
// beside the writer, where a bridge making the same two durable writes
// alone has 6-10 ms).
//
// So a connection of its own copies the log back every checkpointEvery,
// beside the writer rather than in its way, and the writer's own
// checkpoint, still at checkpointPages, finds little left to copy. It
// stays: SQLite starts the log again from its beginning only when a
// writer's commit finds it all copied back, which copies made only from
// the side never achieved under steady writes (the log grew past 300 MiB
// when the writer's threshold was 64,000 pages). The background
// checkpoints are PASSIVE: they copy what no reader still needs and never
// wait for or block a writer or a reader; a writer's checkpoint that finds
// one running skips its turn and tries again at its next commit. What a
// commit promises is unchanged: a checkpoint moves committed pages from
// one file to the other, and syncs the file before the log may be reused.
//
// Often, because the writer's own checkpoint still syncs the log and the
// database before it may start the log again, and a sync writes out
// everything not yet synced: with a run every 250 ms, that was a quarter
// of a second of log on the writer's path, once every 4,000 pages (twice
// a second with redirects paced at 250/s), and a trace showed the writer
// stopped in fsync for up to 27 ms and the slowest 5 % of redirects
// waiting 15 ms for it. Every 20 ms, the writer's longest stop was 12 ms,
// and the added p99 of redirects paced at 250/s fell from 22.4 ms (17.9-25.4,
// three runs) to 12.5 ms (11.9-16.5), alternating builds; every 50 ms gave
// 14.8 ms (13.1-15.9). A run that finds nothing new it may copy syncs nothing,
// so an idle store pays a query every 20 ms.
const checkpointEvery = 20 * time.Millisecond

// checkpointer copies the log into the database in the background until
// stopped.
type checkpointer struct {
	db       *sql.DB
	stop     chan struct{}
	done     sync.WaitGroup
	stopOnce sync.Once

	// logger gets the checkpoints' failures (Store.SetLogger); nil is
	// slog.Default.
	logger atomic.Pointer[slog.Logger]
	// failing is when the current run of failures began, lastTold when one
	// was last logged; zero when the last checkpoint worked.
	failing, lastTold time.Time
	failures          int

	mu       sync.Mutex
	runs     int   // checkpoints run, for the tests
	copied   int64 // log frames found copied back since the last run (by any checkpoint), for the tests
	lastLog  int64 // the log's frames at the last run
	lastDone int64 // of them, copied back then
}

func startCheckpointer(db *sql.DB) *checkpointer {
	c := &checkpointer{db: db, stop: make(chan struct{})}
	c.done.Add(1)
	go c.loop()
	return c
}

func (c *checkpointer) loop() {
	defer c.done.Done()
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			// The next tick tries again; a failure is logged.
			c.report(c.checkpoint(context.Background()), now)
		}
	}
}

// checkpoint runs one PASSIVE checkpoint.
func (c *checkpointer) checkpoint(ctx context.Context) error {
	var busy, logPages, copied int64
	if err := c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logPages, &copied); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	// The counts are the log's as it stands: frames in it, and frames of
	// it copied back by any checkpoint. A log that shrank was started
	// again.
	c.mu.Lock()
	defer c.mu.Unlock()
	c.runs++
	if logPages < c.lastLog {
		c.lastDone = 0
	}
	if copied > c.lastDone {
		c.copied += copied - c.lastDone
	}
	c.lastLog, c.lastDone = max(logPages, 0), max(copied, 0)
	return nil
}

// failureRetold is how often a checkpoint that keeps failing is logged
// again.
const failureRetold = time.Minute

// report logs a checkpoint's failure: the first of a run of them at once,
// then at most once per failureRetold while they go on (a tick every
// checkpointEvery must not flood the log), and that checkpoints work again once one
// does. The writer's commits do not show such a failure by themselves:
// they succeed while the log, never copied back, grows.
func (c *checkpointer) report(err error, now time.Time) {
	log := c.logger.Load()
	if log == nil {
		log = slog.Default()
	}
	switch {
	case err == nil && c.failing.IsZero():
	case err == nil:
		log.Info("sqlite: checkpoints beside the writer work again", "failed", c.failures, "for", now.Sub(c.failing).Round(time.Millisecond))
		c.failing, c.lastTold, c.failures = time.Time{}, time.Time{}, 0
	default:
		c.failures++
		if c.failing.IsZero() {
			c.failing = now
		}
		if c.lastTold.IsZero() || now.Sub(c.lastTold) >= failureRetold {
			log.Error("sqlite: checkpoint beside the writer failed; the write-ahead log is copied back only by the writer's own checkpoints",
				"err", err, "failed", c.failures, "since", c.failing)
			c.lastTold = now
		}
	}
}

// stats is what the checkpointer did, for the tests.
func (c *checkpointer) stats() (runs int, copied int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs, c.copied
}

// close stops the loop and closes its connection; closing again does
// nothing more (a store may be closed twice, as database/sql allows).
func (c *checkpointer) close() error {
	c.stopOnce.Do(func() { close(c.stop) })
	c.done.Wait()
	return c.db.Close()
}
