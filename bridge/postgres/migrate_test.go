package postgres

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// appliedMigrations lists the rows of schema_migrations by name.
func appliedMigrations(t *testing.T, s *Store) []string {
	t.Helper()
	rows, err := s.pool.Query(t.Context(), `SELECT name FROM schema_migrations ORDER BY name`)
	require.NoError(t, err)
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		names = append(names, name)
	}
	require.NoError(t, rows.Err())
	return names
}

func TestMigrations(t *testing.T) {
	ctx := t.Context()
	dsn := newSchema(t)
	names, err := migrationNames()
	require.NoError(t, err)
	require.NotEmpty(t, names)

	first, err := Open(ctx, dsn, newTestClock().Now)
	require.NoError(t, err)
	ok, err := first.MigrationsApplied(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	p := payment("KCO-1", 1)
	require.NoError(t, first.InsertPayment(ctx, p))
	require.NoError(t, first.Close())

	second, err := Open(ctx, dsn, newTestClock().Now)
	require.NoError(t, err)
	t.Cleanup(func() { second.Close() })
	ok, err = second.MigrationsApplied(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, names, appliedMigrations(t, second), "each migration is recorded once")

	got, err := second.Payment(ctx, p.Reference)
	require.NoError(t, err)
	require.Equal(t, *p, *got, "a second Open changed the data")

	// Readiness notices a migration that is not applied.
	_, err = second.pool.Exec(ctx, `DELETE FROM schema_migrations WHERE name = $1`, names[len(names)-1])
	require.NoError(t, err)
	ok, err = second.MigrationsApplied(ctx)
	require.NoError(t, err)
	require.False(t, ok)
}

// TestConcurrentOpen is several replicas starting at once on an empty
// schema: the advisory lock lets one of them migrate, the others wait and
// find the migrations applied, and every one of them opens.
func TestConcurrentOpen(t *testing.T) {
	dsn := newSchema(t)
	names, err := migrationNames()
	require.NoError(t, err)

	const replicas = 6
	var (
		wg     sync.WaitGroup
		start  = make(chan struct{})
		stores = make([]*Store, replicas)
		errs   = make([]error, replicas)
	)
	for i := range replicas {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = Open(context.Background(), dsn, newTestClock().Now)
		})
	}
	close(start)
	wg.Wait()
	for i := range replicas {
		require.NoError(t, errs[i], "replica %d", i)
		t.Cleanup(func() { stores[i].Close() })
	}
	for i, s := range stores {
		ok, err := s.MigrationsApplied(t.Context())
		require.NoError(t, err)
		require.True(t, ok, "replica %d", i)
	}
	require.Equal(t, names, appliedMigrations(t, stores[0]), "each migration is recorded once")
	require.NoError(t, stores[1].InsertPayment(t.Context(), payment("KCO-1", 1)))
	_, err = stores[replicas-1].Payment(t.Context(), "KCO-1-1")
	require.NoError(t, err)
}
