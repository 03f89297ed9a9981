package sqlite

import (
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/storetest"
	"vippskco/vipps/vippstest"
)

func TestSeenWebhookPurge(t *testing.T) {
	ctx := t.Context()
	clock := vippstest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC))
	s, err := Open(ctx, filepath.Join(t.TempDir(), "bridge.db"), clock.Now)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })

	for i := range 3 {
		seen, err := s.SeenWebhook(ctx, fmt.Sprintf("old-%d", i), clock.Now().Add(time.Minute))
		require.NoError(t, err)
		require.False(t, seen)
	}
	seen, err := s.SeenWebhook(ctx, "kept", clock.Now().Add(time.Hour))
	require.NoError(t, err)
	require.False(t, seen)

	clock.Advance(2 * time.Minute)
	seen, err = s.SeenWebhook(ctx, "new", clock.Now().Add(time.Minute))
	require.NoError(t, err)
	require.False(t, seen)

	var n int
	require.NoError(t, s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM seen_webhooks`).Scan(&n))
	require.Equal(t, 2, n, "expired signatures were not purged")
}

// TestZeroTimeIsZero checks the lifecycle columns' encoding: a zero time is
// stored as 0 and read back as the zero time, not as 1970.
func TestZeroTimeIsZero(t *testing.T) {
	ctx := t.Context()
	s := openTestStore(t)
	t.Cleanup(func() { s.Close() })

	p := payment("KCO-1", 1)
	require.NoError(t, s.InsertPayment(ctx, p))
	op := &bridge.Operation{ID: "op-1", Reference: p.Reference, IdempotencyKey: "key-1"}
	require.NoError(t, s.InsertOperation(ctx, op))

	var nextPoll, leaseUntil int64
	require.NoError(t, s.read.QueryRowContext(ctx, `SELECT next_poll_at, poll_lease_until FROM payment_polls`).Scan(&nextPoll, &leaseUntil))
	require.Zero(t, nextPoll)
	require.Zero(t, leaseUntil)
	require.NoError(t, s.read.QueryRowContext(ctx, `SELECT lease_until FROM operations`).Scan(&leaseUntil))
	require.Zero(t, leaseUntil)

	got, err := s.Payment(ctx, p.Reference)
	require.NoError(t, err)
	require.Equal(t, time.Time{}, got.NextPollAt)
	gotOp, err := s.Operation(ctx, op.ID)
	require.NoError(t, err)
	require.Equal(t, time.Time{}, gotOp.LeaseUntil)
	require.Equal(t, bridge.OperationPending, gotOp.State, "a new operation is pending")
}

// TestClaimUsesIndexes keeps the claim queries off full table scans, which
// would make every poll and outbox sweep read every payment ever made.
func TestClaimUsesIndexes(t *testing.T) {
	s := openTestStore(t)
	t.Cleanup(func() { s.Close() })
	tests := []struct {
		name, query, index string
	}{
		{"due polls", `SELECT reference FROM payment_polls WHERE next_poll_at <> 0 AND next_poll_at <= 1 AND poll_lease_until <= 1
			ORDER BY next_poll_at, reference LIMIT 1`, "payment_polls_due"},
		{"pending notifications", `SELECT id FROM notifications WHERE ` + pendingNotification + `
			AND next_attempt_at <= 1 AND lease_until <= 1 ORDER BY created_at, rowid LIMIT 1`, "notifications_pending"},
		{"stale operations", `SELECT id FROM operations WHERE state = 'pending' AND lease_until <= 1
			ORDER BY created_at, rowid LIMIT 1`, "operations_pending"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := s.read.QueryContext(t.Context(), `EXPLAIN QUERY PLAN `+tt.query)
			require.NoError(t, err)
			defer rows.Close()
			var plan string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
				plan += detail + "\n"
			}
			require.NoError(t, rows.Err())
			require.Contains(t, plan, tt.index, "plan:\n%s", plan)
		})
	}
}

// TestMigrateExistingDatabase opens a database made before the lifecycle
// migration, with a payment in it, as an upgraded service would.
func TestMigrateExistingDatabase(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "bridge.db")
	old, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = old.ExecContext(ctx, `CREATE TABLE schema_migrations (name TEXT NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`)
	require.NoError(t, err)
	for _, name := range []string{"migrations/001_payments.sql", "migrations/002_provider_exchanges.sql"} {
		body, err := fs.ReadFile(migrations, name)
		require.NoError(t, err)
		_, err = old.ExecContext(ctx, string(body))
		require.NoError(t, err)
		_, err = old.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, 1)`, name)
		require.NoError(t, err)
	}
	_, err = old.ExecContext(ctx, `INSERT INTO payments (reference, unit, kco_order_id, attempt, amount_value,
		amount_currency, state, create_idempotency_key, redirect_url, return_token, psp_reference, authorized,
		captured, refunded, cancelled, locale, failure_reason, created_at, updated_at, version)
		VALUES ('KCO-1-1', 'unit-a', 'KCO-1', 1, 100, 'NOK', 'CREATED', 'idem', '', 'tok', '', 0, 0, 0, 0, 'nb-NO', '', 1, 1, 3)`)
	require.NoError(t, err)
	require.NoError(t, old.Close())

	s, err := Open(ctx, path, newTestClock().Now)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	ok, err := s.MigrationsApplied(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	p, err := s.Payment(ctx, "KCO-1-1")
	require.NoError(t, err)
	require.Equal(t, time.Time{}, p.NextPollAt)
	require.EqualValues(t, 3, p.Version)

	p.NextPollAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	require.NoError(t, storetest.UpdatePayment(ctx, s, p, nil))
	ps, err := s.ClaimDuePolls(ctx, p.NextPollAt, "r1", time.Minute, 10)
	require.NoError(t, err)
	require.Len(t, ps, 1)
}
