package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"
)

// Checkpoints. A commit in WAL mode appends the pages it changed to the
// write-ahead log; a checkpoint copies them back into the database file.
// By default the writer does it itself, in the commit that finds the log
// over 1,000 pages, and every writer waiting behind it waits for the copy
// too: under load a commit in a few hundred took tens of milliseconds
// longer, and the copies were about a tenth of the writer's time.
//
// So the writer only checkpoints when the log has grown far past its
// usual size (writerCheckpointPages: the checkpointer below has fallen
// behind or is not running), and a connection of its own copies the log
// back every checkpointEvery, beside the writer rather than in its way.
// Its checkpoints are PASSIVE: they copy what no reader still needs and
// never wait for or block a writer or a reader. What a commit promises is
// unchanged: a checkpoint moves committed pages from one file to the other.
const (
	checkpointEvery       = 250 * time.Millisecond
	writerCheckpointPages = 64000 // 250 MiB of 4 KiB pages
	walLimitBytes         = 64 << 20
)

// checkpointer copies the log into the database in the background until
// stopped.
type checkpointer struct {
	db       *sql.DB
	stop     chan struct{}
	done     sync.WaitGroup
	stopOnce sync.Once

	mu     sync.Mutex
	runs   int   // checkpoints run, for the tests
	copied int64 // pages copied back, for the tests
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
		case <-t.C:
			// A failure (the file gone, the disk full) shows in the
			// writer's own commits; the next tick tries again.
			_ = c.checkpoint(context.Background())
		}
	}
}

// checkpoint runs one PASSIVE checkpoint.
func (c *checkpointer) checkpoint(ctx context.Context) error {
	var busy, logPages, copied int64
	if err := c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logPages, &copied); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	c.mu.Lock()
	c.runs++
	c.copied += max(copied, 0)
	c.mu.Unlock()
	return nil
}

// close stops the loop and closes its connection; closing again does
// nothing more (a store may be closed twice, as database/sql allows).
func (c *checkpointer) close() error {
	c.stopOnce.Do(func() { close(c.stop) })
	c.done.Wait()
	return c.db.Close()
}
