package postgres

import (
	"io/fs"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"vippskco/bridge/storetest"
)

// A database made before 008_payment_polls keeps every payment's poll
// bookkeeping when the migration moves it out of the payments row: the
// schedule, the lease, the last read and an ask still pending.
func TestMigrationMovesPollsToTheirOwnTable(t *testing.T) {
	ctx := t.Context()
	dsn := newSchema(t)
	names, err := migrationNames()
	require.NoError(t, err)

	// The database as the binary before 008 left it.
	conn, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, createMigrationsTable)
	require.NoError(t, err)
	for _, name := range names {
		if name >= "migrations/008" {
			break
		}
		body, err := fs.ReadFile(migrations, name)
		require.NoError(t, err)
		_, err = conn.Exec(ctx, string(body))
		require.NoError(t, err, name)
		_, err = conn.Exec(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES ($1, now())`, name)
		require.NoError(t, err)
	}
	next := time.Date(2026, 12, 7, 10, 0, 2, 0, time.UTC)
	insert := `INSERT INTO payments (reference, unit, kco_order_id, attempt, amount_value, amount_currency, state,
		create_idempotency_key, create_request, redirect_url, return_token, psp_reference,
		authorized, captured, refunded, cancelled, locale, kco_order, failure_reason, created_at, updated_at, version,
		next_poll_at, poll_owner, poll_lease_until, last_read_at, poll_asked_at, poll_asked_by)
		VALUES ($1, 'unit-a', $2, 1, 44700, 'NOK', $3, 'idem', '{}', '', $4, '', 0, 0, 0, 0, 'nb-NO', '{}', '', now(), now(), 1,
		$5, $6, $7, $8, $9, $10)`
	_, err = conn.Exec(ctx, insert, "ld-waiting", "KCO-1", "CREATED", "tok-1",
		next, "replica-1", next.Add(10*time.Second), next.Add(-time.Second), next, "webhook")
	require.NoError(t, err)
	_, err = conn.Exec(ctx, insert, "ld-done", "KCO-2", "AUTHORIZED", "tok-2", nil, "", nil, next, nil, "")
	require.NoError(t, err)
	conn.Close()

	s, err := Open(ctx, dsn, newTestClock().Now)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })

	var (
		owner, by        string
		lease, read, ask time.Time
	)
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT poll_owner, poll_lease_until, last_read_at, poll_asked_at, poll_asked_by
		FROM payment_polls WHERE reference = 'ld-waiting'`).Scan(&owner, &lease, &read, &ask, &by))
	require.Equal(t, "replica-1", owner)
	require.True(t, next.Add(10*time.Second).Equal(lease))
	require.True(t, next.Add(-time.Second).Equal(read))
	require.True(t, next.Equal(ask))
	require.Equal(t, "webhook", by)

	// Then what the store makes of it (the claims there change the row read above).
	storetest.CheckMigratedPolls(t, s, next)

	var left int
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'payments'
		AND column_name IN ('next_poll_at', 'poll_owner', 'poll_lease_until', 'last_read_at', 'poll_asked_at', 'poll_asked_by')`).Scan(&left))
	require.Zero(t, left, "the payments row no longer carries the poll's columns")
}

// A database a newer build has migrated is not this build's: readiness
// says so (a replica of the older build is taken out of service), and the
// older build refuses to open it, rather than read and write a schema it
// was not made for.
func TestNewerSchemaIsRefused(t *testing.T) {
	ctx := t.Context()
	s, dsn := openStore(t, newTestClock().Now)
	_, err := s.pool.Exec(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES ('migrations/999_from_a_newer_build.sql', now())`)
	require.NoError(t, err)
	ok, err := s.MigrationsApplied(ctx)
	require.NoError(t, err)
	require.False(t, ok, "ready on a newer build's schema")

	_, err = Open(ctx, dsn, newTestClock().Now)
	require.ErrorContains(t, err, "newer than this build")
	require.ErrorContains(t, err, "migrations/999_from_a_newer_build.sql")
}
