package sqlite

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync/atomic"
)

// Group commit. The store has one writer connection, and a commit costs
// far more than the statements before it: every page the transaction
// changed goes to the write-ahead log, one write each. Under load most of
// a redirect's store time was commits of a payment row and its indexes,
// one after another, each writing the same few pages again.
//
// So the hot writes (a state change, a new attempt, the poller's claims
// and releases, operations) go through group: callers that arrive while a
// transaction is being written queue, and the next transaction runs all of
// them, each inside a savepoint of its own, then commits once. A caller's
// guarantee is unchanged: group returns after the commit that holds its
// work, or with the error that kept it out; its error rolls back only its
// own savepoint. Alone, a caller's work runs at once, as before.

// maxGroup bounds the callers one transaction takes.
const maxGroup = 64

// groupContext is what a group transaction's statements run under. It is
// not any caller's context: cancelling a statement makes SQLite roll back
// the whole transaction, with the work of every caller in it, so callers'
// contexts are only looked at before their work starts (a caller that
// gives up while its work waits in the queue leaves at once, and its work
// never runs). Nor can it be cancelled at all: for a context that can be,
// the driver starts a goroutine for every statement it runs, to interrupt
// SQLite should the context end, some 200 for a group of 64 redirects,
// each scheduled on the writer's path. A lock another process holds (a
// settlement import run beside the service) is waited for at most
// busyTimeoutMillis, and a statement stuck in the disk could not be
// interrupted anyway; what the group does not bound is a transaction of
// this store's own holding the writer connection (transact: migrations,
// imports), which the group waits for, as its callers' writes must.
var groupContext = context.Background()

// groupStats count what group commit did, for the tests.
type groupStats struct {
	groups   atomic.Int64 // transactions of more than one caller, committed
	jobs     atomic.Int64 // callers in them
	fallback atomic.Int64 // groups not committed, whose callers then ran alone
}

type groupJob struct {
	ctx   context.Context
	f     func(*tx) error
	done  chan error
	state atomic.Int32 // jobQueued, then jobStarted (by the group) or jobAbandoned (by its caller or the group)
}

const (
	jobQueued = iota
	jobStarted
	jobAbandoned
)

// group runs f in a transaction shared with the other writers waiting now
// and returns once that transaction has committed (or f has failed). If
// ctx ends before f starts, f does not run and group returns ctx's error at
// once, however long the queue; once f has started, group waits for the
// outcome, so that what it returns is what the database holds.
func (s *Store) group(ctx context.Context, f func(*tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	j := &groupJob{ctx: ctx, f: f, done: make(chan error, 1)}
	s.groupMu.Lock()
	s.groupQueue = append(s.groupQueue, j)
	if !s.grouping {
		s.grouping = true
		go s.runGroups()
	}
	s.groupMu.Unlock()
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		if j.state.CompareAndSwap(jobQueued, jobAbandoned) {
			return ctx.Err()
		}
		return <-j.done // started: its outcome is what the database holds
	}
}

// runGroups writes groups until no caller waits.
func (s *Store) runGroups() {
	for {
		s.groupMu.Lock()
		n := min(len(s.groupQueue), maxGroup)
		if n == 0 {
			s.grouping = false
			s.groupMu.Unlock()
			return
		}
		jobs := make([]*groupJob, n)
		copy(jobs, s.groupQueue)
		s.groupQueue = append(s.groupQueue[:0], s.groupQueue[n:]...)
		s.groupMu.Unlock()
		s.runGroup(jobs)
	}
}

// runGroup runs jobs in one transaction and tells each its outcome. If
// the transaction itself fails (a savepoint that cannot be taken or
// undone, a failed commit), none of it is kept, and every job is run again
// in a transaction of its own, whose outcome is the job's.
func (s *Store) runGroup(jobs []*groupJob) {
	live := jobs[:0:0]
	for _, j := range jobs {
		if err := j.ctx.Err(); err != nil && j.state.CompareAndSwap(jobQueued, jobAbandoned) {
			j.done <- err
			continue
		}
		if !j.state.CompareAndSwap(jobQueued, jobStarted) {
			continue // its caller gave up and left
		}
		live = append(live, j)
	}
	switch len(live) {
	case 0:
		return
	case 1:
		j := live[0]
		j.done <- s.transactAlone(j.f)
		return
	}
	ok, failed, err := s.groupOnce(live)
	if err == nil {
		s.groupStats.groups.Add(1)
		s.groupStats.jobs.Add(int64(len(live)))
		for _, j := range ok {
			j.done <- nil
		}
		for j, ferr := range failed {
			j.done <- ferr
		}
		return
	}
	// Nothing of the group was kept: each job's own transaction decides.
	s.groupStats.fallback.Add(1)
	for _, j := range live {
		j.done <- s.transactAlone(j.f)
	}
}

// transactAlone runs f in a transaction of its own, under groupContext
// rather than its caller's context.
func (s *Store) transactAlone(f func(*tx) error) error {
	return s.transactIn(groupContext, groupContext, func(x *tx) error { return runJob(x, f) })
}

// runJob runs one caller's work and turns a panic in it into its error:
// the work runs on the group's goroutine, where a panic would end the
// process rather than the caller's request.
func runJob(x *tx, f func(*tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("store write panicked: %v\n%s", r, debug.Stack())
		}
	}()
	return f(x)
}

// groupOnce runs jobs in one transaction, each in a savepoint. It returns
// the jobs whose work was committed and the ones whose work failed (and
// was rolled back to their savepoint); a non-nil error means the
// transaction was not committed and neither list holds.
func (s *Store) groupOnce(jobs []*groupJob) (ok []*groupJob, failed map[*groupJob]error, err error) {
	ctx := groupContext
	t, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("begin: %w", err)
	}
	x := &tx{Tx: t, stmts: &s.writeStmts, ctx: ctx}
	defer x.prepareUnknown(s.write)
	defer t.Rollback()

	failed = map[*groupJob]error{}
	for _, j := range jobs {
		x.now = s.now().UTC()
		if _, err := t.ExecContext(ctx, "SAVEPOINT group_job"); err != nil {
			return nil, nil, fmt.Errorf("savepoint: %w", err)
		}
		if ferr := runJob(x, j.f); ferr != nil {
			if _, err := t.ExecContext(ctx, "ROLLBACK TO group_job"); err != nil {
				return nil, nil, fmt.Errorf("rollback to savepoint after %v: %w", ferr, err)
			}
			failed[j] = ferr
		} else {
			ok = append(ok, j)
		}
		if _, err := t.ExecContext(ctx, "RELEASE group_job"); err != nil {
			return nil, nil, fmt.Errorf("release savepoint: %w", err)
		}
	}
	if err := t.Commit(); err != nil {
		return nil, nil, fmt.Errorf("commit: %w", err)
	}
	return ok, failed, nil
}
