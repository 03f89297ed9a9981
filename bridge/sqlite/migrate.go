package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"

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

// migrate applies the migrations that the database has not seen yet.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name       TEXT    NOT NULL PRIMARY KEY,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
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
// check runs inside the write transaction, so two processes opening the same
// file cannot both apply it.
func (s *Store) migrateFile(ctx context.Context, name string) error {
	return s.transact(ctx, func(tx *tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		body, err := fs.ReadFile(migrations, name)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`,
			name, tx.now.UnixNano())
		return err
	})
}

// unknownMigrations lists the migrations the database records that are
// not among names: those of a newer build.
func (s *Store) unknownMigrations(ctx context.Context, names []string) ([]string, error) {
	known, err := json.Marshal(names)
	if err != nil {
		return nil, err
	}
	rows, err := s.read.QueryContext(ctx, `SELECT name FROM schema_migrations
		WHERE name NOT IN (SELECT value FROM json_each(?)) ORDER BY name`, string(known))
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	unknown := []string{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		unknown = append(unknown, name)
	}
	return unknown, rows.Err()
}

// MigrationsApplied reports whether every migration this binary carries has
// been applied, and no other (a newer build's); the readiness check uses it.
func (s *Store) MigrationsApplied(ctx context.Context) (bool, error) {
	names, err := migrationNames()
	if err != nil {
		return false, fmt.Errorf("list migrations: %w", err)
	}
	unknown, err := s.unknownMigrations(ctx, names)
	if err != nil || len(unknown) > 0 {
		return false, err
	}
	applied := true
	err = s.view(ctx, func(tx *tx) error {
		for _, name := range names {
			var got string
			err := tx.QueryRowContext(ctx, `SELECT name FROM schema_migrations WHERE name = ?`, name).Scan(&got)
			if errors.Is(err, sql.ErrNoRows) {
				applied = false
				return nil
			} else if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("read schema_migrations: %w", err)
	}
	return applied, nil
}
