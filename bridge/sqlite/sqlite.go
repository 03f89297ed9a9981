// Package sqlite is the embedded bridge.Store: one SQLite file, pure Go
// (modernc.org/sqlite), so the service runs anywhere with one command.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"vippskco/bridge"
)

var _ bridge.Store = (*Store)(nil)

// busyTimeoutMillis is how long a connection waits for a lock held by another
// process on the same file before it gives up with SQLITE_BUSY.
const busyTimeoutMillis = 5000

// readerCacheKiB is each reader's page cache. SQLite's default, 2 MiB, is
// made for small devices: under load the readers read their pages back
// from the file. The writer keeps the default: SQLite walks its whole
// cache at the end of some write transactions, and a 64 MiB one cost more
// there than it saved in reads.
const readerCacheKiB = 16 << 10

// The write-ahead log. A commit appends the pages it changed to the log;
// a checkpoint, run by the commit that finds the log past
// checkpointPages, copies them back into the database file, and the next
// commit starts the log again from its beginning. SQLite's default, 1,000
// pages, made the writer copy the same hot pages (payments, their indexes,
// the poller's) back every few hundred commits; a page changed many times
// between two checkpoints is copied once, so a longer log means fewer
// copies. journal_size_limit cuts the file back after each. Most of the
// copying is done beforehand by checkpoints beside the writer
// (checkpoint.go), so the writer's own finds little left.
const (
	checkpointPages = 4000 // 16 MiB of 4 KiB pages
	walLimitBytes   = 64 << 20
)

// Store is a bridge.Store on one SQLite database.
//
// Writes go through a pool of exactly one connection whose transactions
// begin IMMEDIATE: writers in this process queue in database/sql instead of
// racing for SQLite's write lock, and a writer in another process is waited
// for (busy_timeout) at BEGIN, never after reads inside the transaction, where
// SQLite could only fail with SQLITE_BUSY. Reads use a separate read-only pool;
// in WAL mode they run alongside the writer and see every committed write.
type Store struct {
	write *sql.DB
	read  *sql.DB
	now   func() time.Time

	// The hot writers' group commit (group.go).
	groupMu    sync.Mutex
	groupQueue []*groupJob
	grouping   bool
	groupStats groupStats

	// checkpoints copies the write-ahead log back into the file beside
	// the writer (checkpoint.go); nil for an in-memory database.
	checkpoints *checkpointer

	exchangeLog bridge.Batcher[*bridge.ProviderExchange]
	webhookLog  bridge.Batcher[*webhookRecord]

	// Statements prepared once per pool, by their text: preparing one
	// took a tenth of a redirect's CPU.
	writeStmts, readStmts stmtCache
}

// stmtCache keeps the prepared statements of one pool by their SQL text.
// A statement is prepared after the first transaction that runs it has
// ended, never during one: the writer pool has a single connection, which
// that transaction holds. database/sql then prepares it once on each
// connection that runs it.
type stmtCache struct {
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// maxCachedStmts bounds the cache: the store's statements are a few dozen
// fixed texts; anything beyond is run unprepared.
const maxCachedStmts = 256

func (c *stmtCache) get(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stmts[query]
}

// prepare prepares the queries not cached yet. A query that does not
// prepare is left to run unprepared, where its error is reported.
func (c *stmtCache) prepare(ctx context.Context, db *sql.DB, queries []string) {
	for _, q := range queries {
		c.mu.Lock()
		_, have := c.stmts[q]
		full := len(c.stmts) >= maxCachedStmts
		c.mu.Unlock()
		if have || full {
			continue
		}
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			continue
		}
		c.mu.Lock()
		if _, have := c.stmts[q]; have {
			st.Close()
		} else {
			if c.stmts == nil {
				c.stmts = map[string]*sql.Stmt{}
			}
			c.stmts[q] = st
		}
		c.mu.Unlock()
	}
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.stmts {
		st.Close()
	}
	c.stmts = nil
}

// Open opens the database named by dsn, creating it when missing, and applies
// every migration not yet applied. dsn is a path ("bridge.db") or a URI
// ("file:bridge.db?mode=rwc"); connection settings the store needs are added
// to its query. An in-memory database (":memory:") lives as long as the store
// and is reached through a single connection. now is the clock; nil means
// time.Now.
func Open(ctx context.Context, dsn string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	name, query, err := splitDSN(dsn)
	if err != nil {
		return nil, err
	}
	memory := inMemory(name, query)

	write, err := sql.Open("sqlite", joinDSN(name, query, map[string]string{"_txlock": "immediate"},
		fmt.Sprintf("busy_timeout(%d)", busyTimeoutMillis),
		"foreign_keys(1)",
		"journal_mode(WAL)",
		"synchronous(NORMAL)",
		fmt.Sprintf("wal_autocheckpoint(%d)", checkpointPages),
		fmt.Sprintf("journal_size_limit(%d)", walLimitBytes),
		// Group commit gives each caller a savepoint (group.go), and a
		// savepoint keeps the pages it changes in a sub-journal, which
		// SQLite writes to a temporary file once it passes 64 KiB: a
		// group of redirects wrote as much there as to the log itself
		// (6% of the service's CPU under load, all of it system calls on
		// the one writer's path). In memory it costs a copy. It only
		// serves rolling a savepoint back: a commit's durability is the
		// log's, and after a crash an unfinished transaction is gone
		// whichever way its savepoints were kept.
		"temp_store(MEMORY)",
	))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	// One connection, kept for the life of the store: it serialises writers
	// and, for an in-memory database, it is the database.
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	s := &Store{write: write, read: write, now: now}
	s.exchangeLog.Write = s.appendExchanges
	s.webhookLog.Write = s.recordWebhooks

	if err := s.checkJournalMode(ctx, memory); err != nil {
		write.Close()
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		write.Close()
		return nil, err
	}

	if !memory {
		read, err := sql.Open("sqlite", joinDSN(name, query, nil,
			fmt.Sprintf("busy_timeout(%d)", busyTimeoutMillis),
			"foreign_keys(1)",
			"query_only(1)",
			fmt.Sprintf("cache_size(-%d)", readerCacheKiB),
		))
		if err != nil {
			write.Close()
			return nil, fmt.Errorf("open %s for reading: %w", name, err)
		}
		// The readers stay open: one closed and opened again reads the
		// schema and prepares its statements anew (database/sql keeps
		// only 2 idle connections unless told).
		readers := max(4, runtime.NumCPU())
		read.SetMaxOpenConns(readers)
		read.SetMaxIdleConns(readers)
		read.SetConnMaxIdleTime(0)
		read.SetConnMaxLifetime(0)
		s.read = read

		cp, err := sql.Open("sqlite", joinDSN(name, query, nil,
			fmt.Sprintf("busy_timeout(%d)", busyTimeoutMillis),
			fmt.Sprintf("journal_size_limit(%d)", walLimitBytes),
		))
		if err != nil {
			read.Close()
			write.Close()
			return nil, fmt.Errorf("open %s for checkpoints: %w", name, err)
		}
		cp.SetMaxOpenConns(1)
		s.checkpoints = startCheckpointer(cp)
	}
	return s, nil
}

// SetLogger sends what the store does in the background (its checkpoints'
// failures) to l; nil is slog.Default.
func (s *Store) SetLogger(l *slog.Logger) {
	if s.checkpoints != nil {
		s.checkpoints.logger.Store(l)
	}
}

// checkJournalMode makes sure a file database is in WAL mode, which the
// one-writer, many-readers split relies on.
func (s *Store) checkJournalMode(ctx context.Context, memory bool) error {
	var mode string
	if err := s.write.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal mode: %w", err)
	}
	if !memory && !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, the store needs WAL", mode)
	}
	return nil
}

// Ping checks that both pools reach the database.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.write.PingContext(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	if err := s.read.PingContext(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// Close closes the database. Closing the writer last lets SQLite checkpoint
// the WAL into the main file.
func (s *Store) Close() error {
	s.readStmts.close()
	s.writeStmts.close()
	var errs []error
	if s.checkpoints != nil {
		errs = append(errs, s.checkpoints.close())
	}
	if s.read != s.write {
		errs = append(errs, s.read.Close())
	}
	errs = append(errs, s.write.Close())
	return errors.Join(errs...)
}

// tx is one transaction with the time it started at, so that every row it
// writes carries the same clock reading. Its statements are prepared once
// per pool and reused.
type tx struct {
	*sql.Tx
	// ctx, when set, runs every statement in place of the context the
	// caller passes: a group transaction (group.go) is no one caller's.
	ctx     context.Context
	now     time.Time
	stmts   *stmtCache
	unknown []string // statements it ran that are not prepared yet
}

// stmt is the transaction's handle on query prepared once, or nil when it
// is not prepared yet (it is run unprepared, and prepared after the
// transaction).
func (t *tx) stmt(ctx context.Context, query string) *sql.Stmt {
	if t.stmts == nil {
		return nil
	}
	if st := t.stmts.get(query); st != nil {
		return t.Tx.StmtContext(ctx, st)
	}
	t.unknown = append(t.unknown, query)
	return nil
}

// context is the context a statement runs under: the transaction's own,
// when it has one.
func (t *tx) context(ctx context.Context) context.Context {
	if t.ctx != nil {
		return t.ctx
	}
	return ctx
}

func (t *tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = t.context(ctx)
	if st := t.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

func (t *tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = t.context(ctx)
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, query, args...)
}

func (t *tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = t.context(ctx)
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}

// prepareUnknown prepares, once the transaction has ended, what it ran
// unprepared.
func (t *tx) prepareUnknown(db *sql.DB) {
	if len(t.unknown) > 0 {
		t.stmts.prepare(context.Background(), db, t.unknown)
	}
}

// transact runs f in a write transaction on the single writer connection
// and commits it when f returns nil. An error from f, a panic in f or a
// failed commit rolls it back, so a method's writes are stored together or
// not at all; the deferred Rollback does nothing after a commit.
func (s *Store) transact(ctx context.Context, f func(tx *tx) error) error {
	return s.transactIn(ctx, nil, f)
}

// transactIn runs f in a transaction of its own that begins under ctx; its
// statements run under stmtCtx when that is set, else under the context f
// passes them.
func (s *Store) transactIn(ctx, stmtCtx context.Context, f func(tx *tx) error) error {
	t, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	x := &tx{Tx: t, now: s.now().UTC(), stmts: &s.writeStmts, ctx: stmtCtx}
	defer x.prepareUnknown(s.write) // runs last, once the connection is free
	defer t.Rollback()

	if err := f(x); err != nil {
		return err
	}
	if err := t.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// view runs f in a read-only transaction, so that a method reading more
// than one statement sees one snapshot, and then rolls it back: it has
// nothing to commit. It reads no clock: nothing it does is dated.
func (s *Store) view(ctx context.Context, f func(tx *tx) error) error {
	t, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	x := &tx{Tx: t, stmts: &s.readStmts}
	defer x.prepareUnknown(s.read)
	defer t.Rollback()

	return f(x)
}

// splitDSN separates a DSN into the database name and its query.
func splitDSN(dsn string) (string, url.Values, error) {
	name, raw, _ := strings.Cut(dsn, "?")
	query, err := url.ParseQuery(raw)
	if err != nil {
		return "", nil, fmt.Errorf("parse dsn query: %w", err)
	}
	return name, query, nil
}

// joinDSN builds a DSN from name and query plus params and pragmas. params
// replace the caller's, since the store depends on them; a pragma the caller
// set keeps the caller's value.
func joinDSN(name string, query url.Values, params map[string]string, pragmas ...string) string {
	q := url.Values{}
	for k, v := range query {
		q[k] = append([]string(nil), v...)
	}
	for k, v := range params {
		q.Set(k, v)
	}
	for _, p := range pragmas {
		key, _, _ := strings.Cut(p, "(")
		if !hasPragma(q["_pragma"], key) {
			q.Add("_pragma", p)
		}
	}
	return name + "?" + q.Encode()
}

// hasPragma reports whether one of the _pragma values sets key.
func hasPragma(values []string, key string) bool {
	for _, v := range values {
		v = strings.ToLower(strings.TrimSpace(v))
		if rest, ok := strings.CutPrefix(v, key); ok {
			rest = strings.TrimSpace(rest)
			if rest == "" || rest[0] == '(' || rest[0] == '=' {
				return true
			}
		}
	}
	return false
}

// inMemory reports whether the DSN names a database that exists only inside
// its connection; such a database cannot be shared with a second pool.
func inMemory(name string, query url.Values) bool {
	return name == "" || name == ":memory:" || strings.HasPrefix(name, "file::memory:") ||
		query.Get("mode") == "memory"
}

// Times are stored as UTC Unix nanoseconds, which is exact and sorts right.
// That covers the years 1677 to 2262; a time outside is refused rather than
// stored as a different one.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// encodeTime converts t for storage; the zero time is stored as NULL.
func encodeTime(field string, t time.Time) (any, error) {
	if t.IsZero() {
		return nil, nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		return nil, bridge.Errorf(bridge.ECodeInvalid, "", "%s %s cannot be stored", field, t.Format(time.RFC3339Nano))
	}
	return t.UnixNano(), nil
}

// decodeTime is the inverse of encodeTime.
func decodeTime(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.Unix(0, v.Int64).UTC()
}

// nanos converts t for a column where 0 means none (the lifecycle tables):
// the zero time is stored as 0. The one instant that cannot be told from none
// is the Unix epoch itself, which no payment lives at.
func nanos(field string, t time.Time) (int64, error) {
	if t.IsZero() {
		return 0, nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		return 0, bridge.Errorf(bridge.ECodeInvalid, "", "%s %s cannot be stored", field, t.Format(time.RFC3339Nano))
	}
	return t.UnixNano(), nil
}

// fromNanos is the inverse of nanos: 0 is the zero time, not 1970.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// conflict turns a unique-key violation into bridge.ErrConflict, and a
// foreign-key violation (a row about a payment that is not stored) into
// bridge.ErrNotFound, and leaves other errors as they are.
func conflict(err error) error {
	var e *sqlite.Error
	if errors.As(err, &e) {
		switch e.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%s: %w", e.Error(), bridge.ErrConflict)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%s: payment: %w", e.Error(), bridge.ErrNotFound)
		}
	}
	return err
}
