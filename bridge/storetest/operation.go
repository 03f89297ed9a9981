package storetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
)

// requireOperationEqual fails unless got, read from a store, holds want.
func requireOperationEqual(t *testing.T, want, got *bridge.Operation) {
	t.Helper()
	require.NotNil(t, got)
	requireTimeEqual(t, "LeaseUntil", want.LeaseUntil, got.LeaseUntil)
	requireTimeEqual(t, "CreatedAt", want.CreatedAt, got.CreatedAt)
	requireTimeEqual(t, "UpdatedAt", want.UpdatedAt, got.UpdatedAt)
	w, g := *want, *got
	w.LeaseUntil, w.CreatedAt, w.UpdatedAt = time.Time{}, time.Time{}, time.Time{}
	g.LeaseUntil, g.CreatedAt, g.UpdatedAt = time.Time{}, time.Time{}, time.Time{}
	require.Equal(t, w, g)
}

// operationIDs lists the IDs of ops in order.
func operationIDs(ops []*bridge.Operation) []string {
	ids := make([]string, len(ops))
	for i, op := range ops {
		ids[i] = op.ID
	}
	return ids
}

// mustInsertOperation inserts op and fails the test on error.
func mustInsertOperation(t *testing.T, s bridge.Store, op *bridge.Operation) {
	t.Helper()
	require.NoError(t, s.InsertOperation(t.Context(), op), "insert operation %s", op.ID)
}

func testOperations(t *testing.T, s bridge.Store) {
	ctx := t.Context()
	p := newPayment("KCO-1-1", "unit-a", "KCO-1", 1)
	mustInsert(t, s, p)
	mustInsert(t, s, newPayment("KCO-2-1", "unit-a", "KCO-2", 1))

	tests := []struct {
		name      string
		operation func() bridge.Operation
	}{
		{"every field", func() bridge.Operation {
			op := newOperation("op-1", p.Reference, "merchant-key-1")
			op.Kind = bridge.OpRefund
			op.State = bridge.OperationFailed
			op.ResponseStatus = 409
			op.ResponseBody = json.RawMessage("{\n  \"type\": \"conflict\",\t\"detail\": \"Blåbær 🫐\" }")
			op.Error = "Vipps said 409: ALREADY_REFUNDED"
			op.Attempts = 3
			op.LeaseOwner = "replica-a"
			op.LeaseUntil = time.Date(2025, 6, 1, 12, 0, 30, 999999000, cet)
			op.UpdatedAt = op.CreatedAt.Add(time.Second)
			return op
		}},
		{"times from the clock", func() bridge.Operation {
			op := newOperation("op-2", p.Reference, "direct-capture-KCO-1-1")
			op.Source = "direct-capture"
			op.CreatedAt, op.UpdatedAt = time.Time{}, time.Time{}
			return op
		}},
		{"given version is replaced by 1, older than the first", func() bridge.Operation {
			op := newOperation("op-3", p.Reference, "guard-KCO-1-1")
			op.Kind = bridge.OpCancel
			op.Source = "guard"
			op.Version = 42
			op.CreatedAt = op.CreatedAt.Add(-time.Hour)
			op.UpdatedAt = op.CreatedAt
			return op
		}},
		{"another payment", func() bridge.Operation {
			return newOperation("op-4", "KCO-2-1", "merchant-key-4")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := tt.operation()
			want := op
			mustInsertOperation(t, s, &op)
			require.EqualValues(t, 1, op.Version)
			want.Version = 1
			if want.CreatedAt.IsZero() {
				require.False(t, op.CreatedAt.IsZero(), "CreatedAt not set from the clock")
				want.CreatedAt = op.CreatedAt
			}
			if want.UpdatedAt.IsZero() {
				require.False(t, op.UpdatedAt.IsZero(), "UpdatedAt not set from the clock")
				want.UpdatedAt = op.UpdatedAt
			}
			got, err := s.Operation(ctx, op.ID)
			require.NoError(t, err)
			requireOperationEqual(t, &want, got)
			got, err = s.OperationByKey(ctx, op.IdempotencyKey)
			require.NoError(t, err)
			requireOperationEqual(t, &want, got)
		})
	}

	t.Run("a payment's operations, oldest first", func(t *testing.T) {
		ops, err := s.Operations(ctx, p.Reference)
		require.NoError(t, err)
		require.Equal(t, []string{"op-3", "op-1", "op-2"}, operationIDs(ops))
		ops, err = s.Operations(ctx, "KCO-2-1")
		require.NoError(t, err)
		require.Equal(t, []string{"op-4"}, operationIDs(ops))
	})
}

func testInsertOperationConflict(t *testing.T, s bridge.Store) {
	p := newPayment("KCO-1-1", "unit-a", "KCO-1", 1)
	mustInsert(t, s, p)
	original := newOperation("op-1", p.Reference, "key-1")
	mustInsertOperation(t, s, &original)

	tests := []struct {
		name string
		op   bridge.Operation
	}{
		{"same ID", newOperation("op-1", p.Reference, "key-2")},
		{"same idempotency key", newOperation("op-2", p.Reference, "key-1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			op := tt.op
			err := s.InsertOperation(ctx, &op)
			require.ErrorIs(t, err, bridge.ErrConflict)
			require.Equal(t, bridge.ECodeConflict, bridge.ErrorCode(err))
			require.Equal(t, tt.op, op, "a rejected insert changed the caller's operation")

			ops, err := s.Operations(ctx, p.Reference)
			require.NoError(t, err)
			require.Len(t, ops, 1)
			requireOperationEqual(t, &original, ops[0])
			got, err := s.OperationByKey(ctx, "key-1")
			require.NoError(t, err)
			requireOperationEqual(t, &original, got)
		})
	}
}

func testUpdateOperation(t *testing.T, s bridge.Store) {
	ctx := t.Context()
	p := newPayment("KCO-1-1", "unit-a", "KCO-1", 1)
	mustInsert(t, s, p)
	op := newOperation("op-1", p.Reference, "key-1")
	mustInsertOperation(t, s, &op)
	other := newOperation("op-2", p.Reference, "key-2")
	mustInsertOperation(t, s, &other)
	created := op.CreatedAt

	t.Run("with the stored version", func(t *testing.T) {
		before := op.UpdatedAt
		op.State = bridge.OperationSucceeded
		op.Attempts = 1
		op.ResponseStatus = 200
		op.ResponseBody = json.RawMessage(`{"state":"AUTHORIZED","aggregate":{"capturedAmount":{"value":50000}}}`)
		op.LeaseOwner, op.LeaseUntil = "", time.Time{}
		// An update keeps the creation time, whatever op says.
		op.CreatedAt = created.Add(time.Hour)
		require.NoError(t, s.UpdateOperation(ctx, &op))
		require.EqualValues(t, 2, op.Version)
		require.False(t, before.Equal(op.UpdatedAt), "UpdatedAt not bumped")
		requireTimeEqual(t, "CreatedAt", created, op.CreatedAt)
		got, err := s.Operation(ctx, op.ID)
		require.NoError(t, err)
		requireOperationEqual(t, &op, got)
	})

	tests := []struct {
		name   string
		update func() bridge.Operation
	}{
		{"stale version", func() bridge.Operation {
			stale := op
			stale.Version = 1
			stale.State = bridge.OperationFailed
			return stale
		}},
		{"version not reached yet", func() bridge.Operation {
			ahead := op
			ahead.Version += 5
			ahead.Error = "from the future"
			return ahead
		}},
		{"idempotency key of another operation", func() bridge.Operation {
			dup := op
			dup.IdempotencyKey = other.IdempotencyKey
			return dup
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.update()
			given := u
			err := s.UpdateOperation(ctx, &u)
			require.ErrorIs(t, err, bridge.ErrConflict)
			require.Equal(t, bridge.ECodeConflict, bridge.ErrorCode(err))
			require.Equal(t, given, u, "a rejected update changed the caller's operation")
			got, err := s.Operation(ctx, op.ID)
			require.NoError(t, err)
			requireOperationEqual(t, &op, got)
		})
	}
}

func testClaimOperation(t *testing.T, s bridge.Store) {
	ctx := t.Context()
	const lease = 30 * time.Second
	p := newPayment("KCO-1-1", "unit-a", "KCO-1", 1)
	q := newPayment("KCO-2-1", "unit-a", "KCO-2", 1)
	mustInsert(t, s, p)
	mustInsert(t, s, q)
	ops := map[string]*bridge.Operation{}
	for _, op := range []bridge.Operation{
		newOperation("p-1", p.Reference, "key-p-1"),
		newOperation("p-2", p.Reference, "key-p-2"),
		func() bridge.Operation {
			op := newOperation("p-done", p.Reference, "key-p-done")
			op.State = bridge.OperationSucceeded
			return op
		}(),
		newOperation("q-1", q.Reference, "key-q-1"),
	} {
		mustInsertOperation(t, s, &op)
		ops[op.ID] = &op
	}

	tests := []struct {
		name  string
		id    string
		owner string
		at    time.Duration
		taken bool
		// holder is who holds the lease on id after the call.
		holder string
	}{
		{"free lease", "p-1", "r1", 0, true, "r1"},
		{"live lease, another owner", "p-1", "r2", time.Second, false, "r1"},
		{"live lease, same owner", "p-1", "r1", time.Second, false, "r1"},
		{"another operation of the payment holds a lease", "p-2", "r2", time.Second, false, ""},
		{"another payment is independent", "q-1", "r2", time.Second, true, "r2"},
		{"not pending", "p-done", "r2", time.Second, false, ""},
		{"an earlier pending operation blocks a later one after its lease ran out", "p-2", "r2", lease + time.Second, false, ""},
		{"own lease expired: another runner takes over", "p-1", "r3", lease + 2*time.Second, true, "r3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := base.Add(tt.at)
			before, err := s.Operation(ctx, tt.id)
			require.NoError(t, err)
			got, taken, err := s.ClaimOperation(ctx, tt.id, tt.owner, now, now.Add(lease))
			require.NoError(t, err)
			require.Equal(t, tt.taken, taken)
			require.Equal(t, tt.id, got.ID)
			require.Equal(t, tt.holder, got.LeaseOwner)
			stored, err := s.Operation(ctx, tt.id)
			require.NoError(t, err)
			requireOperationEqual(t, stored, got)
			if !taken {
				requireOperationEqual(t, before, stored)
				return
			}
			requireTimeEqual(t, "LeaseUntil", now.Add(lease), got.LeaseUntil)
			require.Greater(t, got.Version, before.Version, "a claim must make the version before it stale")
			stale := *before
			stale.Error = "written by a runner that lost its lease"
			require.ErrorIs(t, s.UpdateOperation(ctx, &stale), bridge.ErrConflict)
		})
	}

	t.Run("a finished operation no longer blocks the payment", func(t *testing.T) {
		now := base.Add(lease + 3*time.Second)
		p1, err := s.Operation(ctx, "p-1")
		require.NoError(t, err)
		// The runner finishes and keeps its (live) lease on the row.
		p1.State = bridge.OperationSucceeded
		require.NoError(t, s.UpdateOperation(ctx, p1))
		got, taken, err := s.ClaimOperation(ctx, "p-2", "r4", now, now.Add(lease))
		require.NoError(t, err)
		require.True(t, taken)
		require.Equal(t, "r4", got.LeaseOwner)
	})
}

// testRaceClaimOperation is ten replicas trying to run the operations of one
// payment at once: exactly one may.
func testRaceClaimOperation(t *testing.T, s bridge.Store) {
	const n, claimers = 5, 10
	p := newPayment("KCO-1-1", "unit-a", "KCO-1", 1)
	mustInsert(t, s, p)
	for i := range n {
		op := newOperation(fmt.Sprintf("op-%d", i), p.Reference, fmt.Sprintf("key-%d", i))
		mustInsertOperation(t, s, &op)
	}

	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		taken = make([]bool, claimers)
		errs  = make([]error, claimers)
	)
	for i := range claimers {
		wg.Go(func() {
			<-start
			_, taken[i], errs[i] = s.ClaimOperation(t.Context(), fmt.Sprintf("op-%d", i%n), fmt.Sprintf("r%d", i),
				base, base.Add(time.Minute))
		})
	}
	close(start)
	wg.Wait()

	winners := 0
	for i := range claimers {
		require.NoError(t, errs[i], "claimer %d", i)
		if taken[i] {
			winners++
		}
	}
	require.Equal(t, 1, winners, "operations of one payment leased at once")
}

func testStaleOperations(t *testing.T, s bridge.Store) {
	ctx := t.Context()
	now := base.Add(20 * time.Second)
	// Each operation has its own payment, so that no lease blocks another.
	ops := []struct {
		id      string
		state   string
		created time.Duration
		lease   time.Duration
	}{
		{"never started", bridge.OperationPending, 2 * time.Second, 0},
		{"runner died", bridge.OperationPending, 3 * time.Second, 10 * time.Second},
		{"running", bridge.OperationPending, time.Second, 60 * time.Second},
		{"succeeded", bridge.OperationSucceeded, 0, 0},
		{"failed", bridge.OperationFailed, 0, 0},
		{"oldest", bridge.OperationPending, 0, 0},
	}
	for i, o := range ops {
		prefix := fmt.Sprintf("KCO-%d", i)
		p := newPayment(prefix+"-1", "unit-a", prefix, 1)
		mustInsert(t, s, p)
		op := newOperation(o.id, p.Reference, "key-"+o.id)
		op.State = o.state
		op.CreatedAt = base.Add(o.created)
		op.UpdatedAt = op.CreatedAt
		if o.lease != 0 {
			op.LeaseOwner, op.LeaseUntil = "dead-or-alive", base.Add(o.lease)
		}
		mustInsertOperation(t, s, &op)
	}

	tests := []struct {
		name  string
		now   time.Time
		limit int
		want  []string
	}{
		{"free or expired, oldest first", now, 10, []string{"oldest", "never started", "runner died"}},
		{"limit", now, 2, []string{"oldest", "never started"}},
		{"before the lease ran out", base.Add(5 * time.Second), 10, []string{"oldest", "never started"}},
		{"every lease expired", base.Add(time.Hour), 10, []string{"oldest", "running", "never started", "runner died"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.StaleOperations(ctx, tt.now, tt.limit)
			require.NoError(t, err)
			require.Equal(t, tt.want, operationIDs(got))
			for _, op := range got {
				stored, err := s.Operation(ctx, op.ID)
				require.NoError(t, err)
				requireOperationEqual(t, stored, op)
			}
		})
	}
}
