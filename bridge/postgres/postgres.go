// Package postgres is the bridge.Store on PostgreSQL, for merchants who run
// several replicas of the service behind a load balancer. The replicas share
// the pollers' work, the outbox and the operations through row locks: every
// lease is taken with SELECT ... FOR UPDATE SKIP LOCKED, so a row is handed to
// one replica at a time, and a lease whose holder died runs out by itself.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"vippskco/bridge"
)

var _ bridge.Store = (*Store)(nil)

// Store is a bridge.Store on one PostgreSQL schema, reached through a pool
// of connections.
//
// Transactions run at READ COMMITTED, PostgreSQL's default. Updates are
// guarded by the version in their WHERE clause: a concurrent writer of the
// same row waits for the first one's commit, then finds the version changed
// and updates nothing, which is reported as bridge.ErrConflict.
//
// A call that meets a broken connection rides it out as retry.go explains.
type Store struct {
	// Logger gets what the store does about an unavailable database; nil
	// means slog.Default().
	Logger *slog.Logger

	pool      *pgxpool.Pool
	now       func() time.Time
	lastReset atomic.Int64 // when the pool was last reset, Unix ns

	exchangeLog bridge.Batcher[*bridge.ProviderExchange]
	webhookLog  bridge.Batcher[*webhookRecord]
}

// DefaultMaxConns is the pool's size when the DSN does not set
// pool_max_conns: enough for the shopper path, the poller, the provider
// log and the outbox at once, and with PostgreSQL's default
// max_connections of 100 (3 kept for superusers) room for five replicas
// during a rolling deploy plus psql, monitoring and migrations.
const DefaultMaxConns = 16

// Open connects to the database named by dsn (a postgres:// URL or
// key=value pairs, as pgx reads them, including pool_max_conns and the like)
// and applies every migration not yet applied. The tables live in the first
// schema of the connection's search_path. now is the clock; nil means
// time.Now.
func Open(ctx context.Context, dsn string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse postgres dsn: %w", err)
	}
	// Times travel in binary and are instants either way; UTC only makes
	// what a session prints, in logs or psql, agree with what the store reads.
	if _, ok := cfg.ConnConfig.RuntimeParams["timezone"]; !ok {
		cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	}
	if !strings.Contains(dsn, "pool_max_conns=") {
		// pgxpool's default is the number of CPUs, at least 4: on a small
		// machine 64 shoppers then queue for 4 connections while the
		// poller, the provider log and the outbox hold them.
		cfg.MaxConns = DefaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	s := &Store{pool: pool, now: now}
	s.exchangeLog.Write = s.appendExchanges
	s.webhookLog.Write = s.recordWebhooks
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// Close closes every connection of the pool, waiting for those in use to be
// released.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// querier is what the helpers need of a connection: the pool itself for a
// statement that stands alone, or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// tx is one transaction with the time it started at, so that every row it
// writes carries the same clock reading.
type tx struct {
	pgx.Tx
	now time.Time
}

// transact runs f in a transaction and commits it when f returns nil. An
// error from f, a panic in f or a failed commit rolls it back, so a method's
// writes are stored together or not at all; the deferred Rollback does
// nothing after a commit.
//
// A connection that fails before COMMIT is sent (at BEGIN, or under one of
// f's statements) leaves nothing committed: a transaction never commits
// without its COMMIT, so the whole of it is run again on a new connection,
// f included. f must therefore start from nothing each time, and change
// nothing outside the transaction but what it returns. A connection that
// breaks once COMMIT is sent leaves the outcome unknown: the transaction is
// not run again, and the error wraps bridge.ErrConflict. Every caller
// already answers ErrConflict by reading the row again before it decides
// anything: for Commit, a step that did commit shows in the payment's
// version and state, and one that did not is planned and written again,
// its version check making sure it is written once.
func (s *Store) transact(ctx context.Context, f func(tx *tx) error) error {
	return s.retry(ctx, "transaction", repeatable, func() error { return s.transactOnce(ctx, f) })
}

func (s *Store) transactOnce(ctx context.Context, f func(tx *tx) error) error {
	t, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer t.Rollback(ctx)

	if err := f(&tx{Tx: t, now: s.clock()}); err != nil {
		return err
	}
	if err := t.Commit(ctx); err != nil {
		if classify(err) == lost {
			s.resetPool()
			s.logger().WarnContext(ctx, "database connection broke while COMMIT was in flight; the caller reads again", "err", err)
			return fmt.Errorf("commit: the connection broke once COMMIT was sent, so whether it committed is unknown (%v): %w",
				err, bridge.ErrConflict)
		}
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// clock reads the store's clock as a timestamptz column keeps it.
func (s *Store) clock() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}

// Times are stored as timestamptz, which keeps microseconds. A time is
// truncated to the microsecond on the way in, and the caller's copy is set to
// what was stored. The years 1 to 9999 are accepted; a time outside is
// refused rather than stored as another one.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// timeArgs turns times into query arguments and remembers the first that
// cannot be stored, so that a statement's arguments can be listed in one
// expression and checked once.
type timeArgs struct {
	err error
}

// at sets *t to what a timestamptz column keeps of it (the instant in UTC,
// to the microsecond) and returns it as an argument. The zero time is NULL:
// none.
func (a *timeArgs) at(field string, t *time.Time) any {
	if t.IsZero() {
		*t = time.Time{}
		return nil
	}
	return a.instant(field, t)
}

// instant is at for a column that always holds a time: the zero time is
// stored as itself, the first instant of year 1.
func (a *timeArgs) instant(field string, t *time.Time) any {
	if t.Before(minTime) || !t.Before(maxTime) {
		if a.err == nil {
			a.err = bridge.Errorf(bridge.ECodeInvalid, "", "%s %s cannot be stored", field, t.Format(time.RFC3339Nano))
		}
		return nil
	}
	*t = t.UTC().Truncate(time.Microsecond)
	return *t
}

// timeOf reads a timestamptz column: NULL is the zero time, anything else
// the instant in UTC.
func timeOf(ts pgtype.Timestamptz) time.Time {
	if !ts.Valid || ts.InfinityModifier != pgtype.Finite {
		return time.Time{}
	}
	return ts.Time.UTC()
}

// bytea stores a document as its exact bytes, and nil as NULL, so that what
// is read back is what was given, byte for byte.
func bytea(b []byte) any {
	if b == nil {
		return nil
	}
	return []byte(b)
}

// SQLSTATE codes the store tells apart.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)

// conflict turns a unique-key violation into bridge.ErrConflict, and a
// foreign-key violation (a row about a payment that is not stored) into
// bridge.ErrNotFound, and leaves other errors as they are. The message keeps
// the constraint's name but not the DETAIL, which quotes the values: a return
// token is a secret.
func conflict(err error) error {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		switch e.Code {
		case uniqueViolation:
			return fmt.Errorf("%s: %w", e.Error(), bridge.ErrConflict)
		case foreignKeyViolation:
			return fmt.Errorf("%s: payment: %w", e.Error(), bridge.ErrNotFound)
		}
	}
	return err
}

// staleVersion explains why a version-checked update of the row that query
// selects changed nothing: the row is missing (ErrNotFound) or its version is
// not want (ErrConflict).
func staleVersion(ctx context.Context, db querier, query, id string, want int64) error {
	var stored int64
	err := db.QueryRow(ctx, query, id).Scan(&stored)
	if errors.Is(err, pgx.ErrNoRows) {
		return bridge.ErrNotFound
	} else if err != nil {
		return err
	}
	return fmt.Errorf("version %d is not the stored version %d: %w", want, stored, bridge.ErrConflict)
}
