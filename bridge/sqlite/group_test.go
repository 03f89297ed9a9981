package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
)

// holdWriter takes the writer connection until the returned function is
// called, so that the writers started meanwhile queue for the next group.
func holdWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	held, free := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.transact(context.Background(), func(*tx) error {
			close(held)
			<-free
			return nil
		})
	}()
	<-held
	return func() { close(free); require.NoError(t, <-done) }
}

// queued waits until n writers wait for the next group.
func queued(t *testing.T, s *Store, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		s.groupMu.Lock()
		defer s.groupMu.Unlock()
		return len(s.groupQueue) == n
	}, 30*time.Second, time.Millisecond, "%d writers queue", n)
}

// queueBehind holds the writer connection and starts a first writer,
// which the group goroutine takes alone and makes wait for the connection:
// the writers started next queue for one group, until release. first
// delivers the first writer's outcome.
func queueBehind(t *testing.T, s *Store) (release func(), first <-chan error) {
	t.Helper()
	// An earlier group may still be preparing its statements on the
	// writer after its callers returned; until it is done, "taken alone"
	// below could be that group, not the first writer.
	require.Eventually(t, func() bool {
		s.groupMu.Lock()
		defer s.groupMu.Unlock()
		return !s.grouping
	}, 30*time.Second, time.Millisecond, "no group is running")
	release = holdWriter(t, s)
	done := make(chan error, 1)
	go func() { done <- s.InsertPayment(context.Background(), payment("KCO-FIRST", 1)) }()
	takenAlone(t, s)
	return release, done
}

// takenAlone waits until the group goroutine has taken the one writer
// queued so far (and waits for the connection with it).
func takenAlone(t *testing.T, s *Store) {
	t.Helper()
	require.Eventually(t, func() bool {
		s.groupMu.Lock()
		defer s.groupMu.Unlock()
		return s.grouping && len(s.groupQueue) == 0
	}, 30*time.Second, time.Millisecond, "the first writer is taken")
}

// Writers that arrive together share one transaction, and each one's
// outcome is its own: a failure, a conflict or a panic in one undoes only
// its own work, and the others' is committed.
func TestGroupCommitSharesOneTransaction(t *testing.T) {
	ctx := t.Context()
	s := openTestStore(t)
	defer s.Close()
	require.NoError(t, s.InsertPayment(ctx, payment("KCO-DUP", 1)))

	release, first := queueBehind(t, s)

	failed := errors.New("this writer fails")
	type writer struct {
		name string
		run  func() error
		want error // nil: its payment is stored
		ref  string
	}
	var ws []writer
	for i := range 6 {
		p := payment("KCO-GROUP", i+1)
		ws = append(ws, writer{fmt.Sprintf("insert %d", i), func() error { return s.InsertPayment(ctx, p) }, nil, p.Reference})
	}
	failing := payment("KCO-FAILS", 1)
	failing.PrepareInsert(time.Now())
	ws = append(ws, writer{"writes, then fails", func() error {
		return s.group(ctx, func(tx *tx) error {
			if err := insertPayment(ctx, tx, failing); err != nil {
				return err
			}
			return failed
		})
	}, failed, failing.Reference})
	panicking := payment("KCO-PANICS", 1)
	panicking.PrepareInsert(time.Now())
	ws = append(ws, writer{"writes, then panics", func() error {
		return s.group(ctx, func(tx *tx) error {
			if err := insertPayment(ctx, tx, panicking); err != nil {
				return err
			}
			panic("a bug in a store method")
		})
	}, errors.New("panicked"), panicking.Reference})
	ws = append(ws, writer{"conflicts", func() error { return s.InsertPayment(ctx, payment("KCO-DUP", 1)) }, bridge.ErrConflict, ""})

	errs := make([]error, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Go(func() { errs[i] = w.run() })
	}
	queued(t, s, len(ws))
	groups0 := s.groupStats.groups.Load()
	release()
	wg.Wait()
	require.NoError(t, <-first)

	require.Equal(t, groups0+1, s.groupStats.groups.Load(), "the queued writers made one transaction")
	require.Zero(t, s.groupStats.fallback.Load())
	for i, w := range ws {
		switch {
		case w.want == nil:
			require.NoError(t, errs[i], w.name)
		case w.want == failed || w.want == bridge.ErrConflict:
			require.ErrorIs(t, errs[i], w.want, w.name)
		default:
			require.ErrorContains(t, errs[i], w.want.Error(), w.name)
		}
		if w.ref == "" {
			continue
		}
		_, err := s.Payment(ctx, w.ref)
		if w.want == nil {
			require.NoError(t, err, "%s: its payment is stored", w.name)
		} else {
			require.ErrorIs(t, err, bridge.ErrNotFound, "%s: nothing of it is stored", w.name)
		}
	}
}

// When the shared transaction itself breaks (here one writer releases the
// savepoint the group rolls back to), nothing of it is kept, and each
// writer runs again alone: the good ones are stored once, the bad one
// fails on its own.
func TestGroupCommitFallsBackToOneTransactionEach(t *testing.T) {
	ctx := t.Context()
	s := openTestStore(t)
	defer s.Close()

	release, _ := queueBehind(t, s)

	good := []*bridge.Payment{payment("KCO-GOOD", 1), payment("KCO-GOOD", 2)}
	errs := make([]error, 3)
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = s.InsertPayment(ctx, good[0]) })
	wg.Go(func() {
		errs[1] = s.group(ctx, func(tx *tx) error {
			if _, err := tx.ExecContext(ctx, "RELEASE group_job"); err != nil {
				return err
			}
			return errors.New("sabotage")
		})
	})
	wg.Go(func() { errs[2] = s.InsertPayment(ctx, good[1]) })
	queued(t, s, 3)
	release()
	wg.Wait()

	require.Equal(t, int64(1), s.groupStats.fallback.Load(), "the group was not committed")
	require.NoError(t, errs[0])
	require.NoError(t, errs[2])
	require.Error(t, errs[1])
	for _, p := range good {
		got, err := s.PaymentsByOrder(ctx, p.KCOOrderID)
		require.NoError(t, err)
		require.Len(t, got, 2, "each good payment is stored, once")
	}
}

// A writer whose context ends while it waits is not run, and says so.
func TestGroupCommitSkipsAWriterThatGaveUp(t *testing.T) {
	ctx := t.Context()
	s := openTestStore(t)
	defer s.Close()

	release, _ := queueBehind(t, s)

	gaveUp, cancel := context.WithCancel(ctx)
	p := payment("KCO-GAVE-UP", 1)
	done := make(chan error, 1)
	go func() { done <- s.InsertPayment(gaveUp, p) }()
	queued(t, s, 1)
	cancel()
	// It leaves while the writer is still held: a stuck store does not
	// hold a request that has given up.
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("a writer that gave up waited for the queue")
	}
	release()
	require.Eventually(t, func() bool {
		s.groupMu.Lock()
		defer s.groupMu.Unlock()
		return !s.grouping
	}, 30*time.Second, time.Millisecond, "the queue drained")
	_, err := s.Payment(ctx, p.Reference)
	require.ErrorIs(t, err, bridge.ErrNotFound, "the work of a writer that gave up ran")
}
