package bridge

import (
	"cmp"
	"context"
	"sync"
	"time"
)

// Batcher writes the items of many concurrent callers together (group
// commit). Add returns once its item is written, as if it were written
// alone, so a caller's guarantee (written before it answers) is unchanged;
// but while one batch is being written the next callers' items queue, and
// go into the store together in the next write, one transaction for all.
// Under load that is one commit for many items instead of one each; alone,
// an item is written at once, with no timer to wait for.
//
// A batch that fails is written again one item at a time, so that one bad
// item fails its own caller only.
type Batcher[T any] struct {
	// Write stores items in one transaction: all of them or none.
	Write func(ctx context.Context, items []T) error
	// Max bounds a batch; zero means 256.
	Max int
	// Timeout bounds one write; zero means 30 s. A write is not tied to
	// any one caller's context: it holds items of many.
	Timeout time.Duration

	mu      sync.Mutex
	queue   []*batchItem[T]
	writing bool
}

type batchItem[T any] struct {
	item T
	done chan error
}

// Add writes item with whatever other items are waiting, and returns the
// outcome of its write. If ctx ends first Add returns its error, and the
// item may still be written.
func (b *Batcher[T]) Add(ctx context.Context, item T) error {
	it := &batchItem[T]{item: item, done: make(chan error, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, it)
	if !b.writing {
		b.writing = true
		go b.run()
	}
	b.mu.Unlock()
	select {
	case err := <-it.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run writes batches until the queue is empty.
func (b *Batcher[T]) run() {
	for {
		b.mu.Lock()
		n := min(len(b.queue), cmp.Or(b.Max, 256))
		if n == 0 {
			b.writing = false
			b.mu.Unlock()
			return
		}
		batch := make([]*batchItem[T], n)
		copy(batch, b.queue)
		b.queue = append(b.queue[:0], b.queue[n:]...)
		b.mu.Unlock()

		items := make([]T, n)
		for i, it := range batch {
			items[i] = it.item
		}
		err := b.write(items)
		if err != nil && n > 1 {
			for _, it := range batch {
				it.done <- b.write([]T{it.item})
			}
			continue
		}
		for _, it := range batch {
			it.done <- err
		}
	}
}

func (b *Batcher[T]) write(items []T) error {
	ctx, cancel := context.WithTimeout(context.Background(), cmp.Or(b.Timeout, 30*time.Second))
	defer cancel()
	return b.Write(ctx, items)
}
