package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
)

// workersPerReplica is how many goroutines of each replica claim at once.
const workersPerReplica = 6

// claims records which worker got each row while the leases of one round
// hold; a row handed out twice is an error.
type claims struct {
	mu    sync.Mutex
	owner map[string]string
	errs  []error
}

func newClaims() *claims {
	return &claims{owner: map[string]string{}}
}

func (c *claims) add(id, owner string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, dup := c.owner[id]; dup {
		c.errs = append(c.errs, fmt.Errorf("%s handed to %s and to %s while the lease held", id, prev, owner))
		return
	}
	c.owner[id] = owner
}

func (c *claims) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, err)
}

// onEveryWorker runs work on workersPerReplica goroutines of every replica,
// all started at once, and waits for them.
func onEveryWorker(replicas []*Store, round int, work func(s *Store, owner string)) {
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for r, s := range replicas {
		for w := range workersPerReplica {
			owner := fmt.Sprintf("round%d-replica%d-worker%d", round, r, w)
			wg.Go(func() {
				<-start
				work(s, owner)
			})
		}
	}
	close(start)
	wg.Wait()
}

// drain lets every worker claim with claim until it gets nothing.
func drain(replicas []*Store, round int, claim func(s *Store, owner string) ([]string, error)) *claims {
	c := newClaims()
	onEveryWorker(replicas, round, func(s *Store, owner string) {
		for {
			ids, err := claim(s, owner)
			if err != nil {
				c.fail(err)
				return
			}
			if len(ids) == 0 {
				return
			}
			for _, id := range ids {
				c.add(id, owner)
			}
		}
	})
	return c
}

// TestReplicas is two replicas of the service on one database, each with
// several workers, polling, delivering the outbox and running operations at
// once, in rounds far enough apart that the leases of one round have run out
// in the next (a replica that stopped). In every round each due payment and
// notification is handed to exactly one worker, and each payment's
// operations are leased one at a time, in the order they were stored.
func TestReplicas(t *testing.T) {
	ctx := t.Context()
	dsn := newSchema(t)
	replicas := make([]*Store, 2)
	for i := range replicas {
		s, err := Open(ctx, dsn, newTestClock().Now)
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		replicas[i] = s
	}

	const payments, perPayment, lease = 40, 3, time.Minute
	base := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	// Every notification and operation is created at the same instant, so
	// that only the order they were stored in orders them.
	created := base.Add(-time.Hour)
	var (
		refs, noteIDs, opIDs []string
		opOrder              = map[string][]string{}
	)
	for i := range payments {
		p := payment(fmt.Sprintf("KCO-%03d", i), 1)
		p.NextPollAt = base.Add(-time.Duration(i) * time.Second)
		s := replicas[i%2]
		require.NoError(t, s.InsertPayment(ctx, p))
		c := &bridge.Change{Payment: p}
		for j := range perPayment {
			id := fmt.Sprintf("%s-%d", p.Reference, j)
			c.Notifications = append(c.Notifications, bridge.Notification{ID: "n-" + id, Type: "payment.captured", CreatedAt: created})
			c.Operations = append(c.Operations, bridge.Operation{
				ID: "op-" + id, Kind: bridge.OpCapture, IdempotencyKey: "key-" + id, VippsIdempotencyKey: "vipps-" + id,
				Amount: bridge.Money{Value: 100, Currency: "NOK"}, Source: "merchant", CreatedAt: created,
			})
			noteIDs = append(noteIDs, "n-"+id)
			opIDs = append(opIDs, "op-"+id)
			opOrder[p.Reference] = append(opOrder[p.Reference], "op-"+id)
		}
		require.NoError(t, s.Commit(ctx, c))
		refs = append(refs, p.Reference)
	}

	for round := range perPayment {
		now := base.Add(time.Duration(round) * 2 * lease)
		var (
			wg                sync.WaitGroup
			polls, notes, ops *claims
			taken             sync.Map
		)
		wg.Go(func() {
			polls = drain(replicas, round, func(s *Store, owner string) ([]string, error) {
				ps, err := s.ClaimDuePolls(context.Background(), now, owner, lease, 4)
				ids := make([]string, len(ps))
				for i, p := range ps {
					ids[i] = p.Reference
				}
				return ids, err
			})
		})
		wg.Go(func() {
			notes = drain(replicas, round, func(s *Store, owner string) ([]string, error) {
				ns, err := s.ClaimNotifications(context.Background(), now, owner, lease, 5)
				ids := make([]string, len(ns))
				for i, n := range ns {
					ids[i] = n.ID
				}
				return ids, err
			})
		})
		wg.Go(func() {
			// Every worker tries every operation, each in its own order.
			ops = newClaims()
			onEveryWorker(replicas, round, func(s *Store, owner string) {
				for _, i := range rand.Perm(len(opIDs)) {
					op, ok, err := s.ClaimOperation(context.Background(), opIDs[i], owner, now, now.Add(lease))
					if err != nil {
						ops.fail(err)
						return
					}
					if ok {
						ops.add(op.ID, owner)
						taken.Store(op.ID, op)
					}
				}
			})
		})
		wg.Wait()

		require.Empty(t, polls.errs, "round %d: polls", round)
		require.ElementsMatch(t, refs, keys(polls.owner), "round %d: due payments not claimed", round)
		require.Empty(t, notes.errs, "round %d: notifications", round)
		require.ElementsMatch(t, noteIDs, keys(notes.owner), "round %d: due notifications not claimed", round)
		require.Empty(t, ops.errs, "round %d: operations", round)
		var want []string
		for _, ref := range refs {
			want = append(want, opOrder[ref][round])
		}
		require.ElementsMatch(t, want, keys(ops.owner), "round %d: not the next operation of each payment", round)

		// The runners finish their operations, which lets the next one of
		// each payment go in the next round.
		for _, id := range want {
			v, _ := taken.Load(id)
			op := v.(*bridge.Operation)
			op.State = bridge.OperationSucceeded
			op.LeaseOwner, op.LeaseUntil = "", time.Time{}
			require.NoError(t, replicas[rand.IntN(len(replicas))].UpdateOperation(ctx, op))
		}
	}

	stale, err := replicas[0].StaleOperations(ctx, base.Add(24*time.Hour), len(opIDs))
	require.NoError(t, err)
	require.Empty(t, stale, "operations left pending")
}

// keys lists the keys of m.
func keys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
