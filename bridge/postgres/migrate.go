package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"vippskco/bridge"
)

// migrations holds the schema as numbered files. They are applied in name
// order, each in its own transaction together with its row in
// schema_migrations, so a file is applied completely once or not at all.
//
//go:embed migrations/*.sql
var migrations embed.FS

// migrationNames returns the embedded migration files in the order they apply.
func migrationNames() ([]string, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

// migrationLock is the transaction-scoped advisory lock that serialises
// migrations of one schema: replicas starting at once take turns, and each
// finds what the ones before it applied. The key is derived from the schema
// the tables are created in, so that stores in different schemas of one
// database do not wait for each other.
const migrationLock = `SELECT pg_advisory_xact_lock(
	hashtextextended('vippskco bridge/postgres migrations ' || coalesce(current_schema(), ''), 0))`

// createMigrationsTable makes the record of applied migrations.
const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	name       text        NOT NULL PRIMARY KEY,
	applied_at timestamptz NOT NULL
)`

// migrate applies the migrations that the database has not seen yet.
func (s *Store) migrate(ctx context.Context) error {
	names, err := migrationNames()
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	unknown, err := s.unknownMigrations(ctx, names)
	if err != nil {
		return err
	}
	if len(unknown) > 0 {
		return bridge.NewerSchema(unknown)
	}
	for _, name := range names {
		if err := s.migrateFile(ctx, name); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

// migrateFile applies one migration unless it is recorded as applied. The
// check, the migration and its record run under the migration lock in one
// transaction, so two replicas cannot both apply it, and a replica that
// waited sees it applied.
func (s *Store) migrateFile(ctx context.Context, name string) error {
	return s.transact(ctx, func(tx *tx) error {
		if _, err := tx.Exec(ctx, migrationLock); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if _, err := tx.Exec(ctx, createMigrationsTable); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var applied bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE name = $1)`, name).Scan(&applied); err != nil {
			return err
		}
		if applied {
			return nil
		}
		body, err := fs.ReadFile(migrations, name)
		if err != nil {
			return err
		}
		// Without arguments pgx sends the file as one simple query, which may
		// hold several statements.
		if _, err := tx.Exec(ctx, string(body)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)`, name, tx.now)
		return err
	})
}

// MigrationsApplied reports whether every migration this binary carries has
// been applied; the readiness check uses it.
func (s *Store) MigrationsApplied(ctx context.Context) (bool, error) {
	names, err := migrationNames()
	if err != nil {
		return false, fmt.Errorf("list migrations: %w", err)
	}
	var known, all int
	_, err = retried(ctx, s, "migrations applied", readOnly, func() (struct{}, error) {
		return struct{}{}, s.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE name = ANY ($1)), count(*) FROM schema_migrations`,
			names).Scan(&known, &all)
	})
	if err != nil {
		return false, fmt.Errorf("read schema_migrations: %w", err)
	}
	// All of this build's, and no other (a newer build's).
	return known == len(names) && all == known, nil
}

// unknownMigrations lists the migrations the database records that are
// not among names: those of a newer build. A database without
// schema_migrations has none.
func (s *Store) unknownMigrations(ctx context.Context, names []string) ([]string, error) {
	unknown, err := retried(ctx, s, "unknown migrations", readOnly, func() ([]string, error) {
		rows, err := s.pool.Query(ctx, `SELECT name FROM schema_migrations WHERE name <> ALL ($1) ORDER BY name`, names)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, pgx.RowTo[string])
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table: a new database
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	return unknown, nil
}
