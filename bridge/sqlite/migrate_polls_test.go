package sqlite

import (
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge/storetest"
)

// A store made before 008_payment_polls keeps every payment's poll
// bookkeeping when the migration moves it out of the payments row: the
// schedule, the lease, the last read and an ask still pending.
func TestMigrationMovesPollsToTheirOwnTable(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "bridge.db")
	names, err := migrationNames()
	require.NoError(t, err)

	// The database as the binary before 008 left it.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)")
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `CREATE TABLE schema_migrations (name TEXT NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`)
	require.NoError(t, err)
	for _, name := range names {
		if name >= "migrations/008" {
			break
		}
		body, err := fs.ReadFile(migrations, name)
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, string(body))
		require.NoError(t, err, name)
		_, err = db.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, 1)`, name)
		require.NoError(t, err)
	}
	next := time.Date(2026, 12, 7, 10, 0, 2, 0, time.UTC)
	insert := `INSERT INTO payments (reference, unit, kco_order_id, attempt, amount_value, amount_currency, state,
		create_idempotency_key, create_request, redirect_url, return_token, psp_reference,
		authorized, captured, refunded, cancelled, locale, kco_order, failure_reason, created_at, updated_at, version,
		next_poll_at, poll_owner, poll_lease_until, last_read_at, poll_asked_at, poll_asked_by)
		VALUES (?, 'unit-a', ?, 1, 44700, 'NOK', ?, 'idem', X'7B7D', '', ?, '', 0, 0, 0, 0, 'nb-NO', X'7B7D', '', 1, 1, 1, ?, ?, ?, ?, ?, ?)`
	_, err = db.ExecContext(ctx, insert, "ld-waiting", "KCO-1", "CREATED", "tok-1",
		next.UnixNano(), "replica-1", next.Add(10*time.Second).UnixNano(), next.Add(-time.Second).UnixNano(), next.UnixNano(), "webhook")
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, insert, "ld-done", "KCO-2", "AUTHORIZED", "tok-2", 0, "", 0, next.UnixNano(), 0, "")
	require.NoError(t, err)
	require.NoError(t, db.Close())

	s, err := Open(ctx, "file:"+path, newTestClock().Now)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })

	type polls struct {
		next            int64
		owner           string
		lease, read, at int64
		by              string
	}
	var p polls
	require.NoError(t, s.read.QueryRowContext(ctx, `SELECT next_poll_at, poll_owner, poll_lease_until, last_read_at, poll_asked_at, poll_asked_by
		FROM payment_polls WHERE reference = 'ld-waiting'`).Scan(&p.next, &p.owner, &p.lease, &p.read, &p.at, &p.by))
	require.Equal(t, polls{next.UnixNano(), "replica-1", next.Add(10 * time.Second).UnixNano(), next.Add(-time.Second).UnixNano(), next.UnixNano(), "webhook"}, p)

	// Then what the store makes of it (the claims there change the row read above).
	storetest.CheckMigratedPolls(t, s, next)

	var left int
	require.NoError(t, s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info('payments')
		WHERE name IN ('next_poll_at', 'poll_owner', 'poll_lease_until', 'last_read_at', 'poll_asked_at', 'poll_asked_by')`).Scan(&left))
	require.Zero(t, left, "the payments row no longer carries the poll's columns")
}

// A database a newer build has migrated is not this build's: readiness
// says so (a replica of the older build is taken out of service), and the
// older build refuses to open it, rather than read and write a schema it
// was not made for.
func TestNewerSchemaIsRefused(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "bridge.db")
	s, err := Open(ctx, "file:"+path, newTestClock().Now)
	require.NoError(t, err)
	_, err = s.write.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES ('migrations/999_from_a_newer_build.sql', 1)`)
	require.NoError(t, err)
	ok, err := s.MigrationsApplied(ctx)
	require.NoError(t, err)
	require.False(t, ok, "ready on a newer build's schema")
	require.NoError(t, s.Close())

	_, err = Open(ctx, "file:"+path, newTestClock().Now)
	require.ErrorContains(t, err, "newer than this build")
	require.ErrorContains(t, err, "migrations/999_from_a_newer_build.sql")
}
