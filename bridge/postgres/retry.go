package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"vippskco/bridge"
)

// Riding out an outage. A restart of PostgreSQL (or a failover, or a
// network blip) breaks every connection of the pool at once, and for a
// second or two no new one can be made. Each call of the store rides that
// out on its own, for at most retryBudget: a call that cannot have changed
// anything is simply made again, with backoff; a write that may have reached
// the server before its connection broke is never blindly made again, and
// its caller is told that its outcome is unknown.

// The retry budget of one call (a variable for the tests), and its
// backoff: 25 ms doubling to 500 ms, with jitter, so that the replicas do
// not reconnect in step. An immediate restart of a small server takes a
// second or two; six seconds also cover a slow crash recovery, and are
// still a wait a shopper sits through rather than an error page.
var retryBudget = 6 * time.Second

const (
	retryFirstWait = 25 * time.Millisecond
	retryMaxWait   = 500 * time.Millisecond
)

// failure is what a failed call says about its connection.
type failure int

const (
	// notConnection: nothing failed, or the server answered (a SQL error
	// is an answer), or the caller gave up. Never retried here.
	notConnection failure = iota
	// notSent: the statement never reached a server that could run it: no
	// connection could be made, the server refused new sessions while it
	// started up or shut down, or pgx knows it sent nothing. Nothing of it
	// ran, so it is safe to send again.
	notSent
	// lost: the connection broke after the statement was sent. The server
	// may have run it, and for a statement on its own or a COMMIT, may have
	// committed it. A read can be made again; a write only if repeating it
	// is harmless.
	lost
)

func (f failure) String() string {
	switch f {
	case notSent:
		return "not sent"
	case lost:
		return "lost"
	}
	return "not a connection failure"
}

// classify tells a connection failure from everything else, and a failure
// before the statement was sent from one after. SQL errors are answers of a
// working server and are never retried here, except for the SQLSTATEs of
// its going away: class 08 (connection exception), 57P01 (admin shutdown:
// pg_ctl stop or restart, pg_terminate_backend), 57P02 (crash shutdown: a
// backend of another session crashed) and 57P03 (cannot connect now: the
// server is starting up or shutting down).
func classify(err error) failure {
	if err == nil {
		return notConnection
	}
	switch bridge.ErrorReason(err) {
	case bridge.ReasonStoreUnavailable, bridge.ReasonStoreOutcomeUnknown:
		return notConnection // already decided by an inner call
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		// No session was ever set up, so nothing ran. A server that refused
		// us for good (a wrong password, an unknown database) is not worth
		// waiting for; one that is starting, stopping, full or unreachable is.
		var pe *pgconn.PgError
		if errors.As(err, &pe) && !transientServerCode(pe.Code) {
			return notConnection
		}
		return notSent
	}
	if errors.Is(err, pgconn.ErrConnClosed) {
		// "conn closed" claims SafeToRetry, and is true to it when the
		// connection was closed before the call; but pgx also reports it
		// for a simple-protocol statement (BEGIN, COMMIT) whose connection
		// broke after it was sent: the failed read closes the connection,
		// and the next read finds it closed (pgconn's MultiResultReader,
		// v5.12). A COMMIT retried on that claim could commit twice.
		return lost
	}
	if pgconn.SafeToRetry(err) {
		return notSent
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "57P03":
			return notSent
		case pe.Code == "57P01" || pe.Code == "57P02" || strings.HasPrefix(pe.Code, "08"):
			return lost
		}
		return notConnection
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if pgconn.Timeout(err) {
			// A statement given up on while it ran: pgx cancels it and
			// closes the connection, so it may or may not have run.
			return lost
		}
		return notConnection
	}
	var ne net.Error
	if errors.As(err, &ne) || pgconn.Timeout(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, net.ErrClosed) {
		return lost
	}
	return notConnection
}

// transientServerCode reports whether a server that refused a new session
// with this SQLSTATE may take one a moment later.
func transientServerCode(code string) bool {
	switch {
	case code == "57P03", code == "57P01", code == "57P02", code == "53300", strings.HasPrefix(code, "08"):
		// cannot connect now, shutting down, crashed, too many connections,
		// connection exception
		return true
	}
	return false
}

// callKind says what may be repeated of a call after its connection broke.
type callKind int

const (
	// readOnly changes nothing: it is made again after any connection
	// failure.
	readOnly callKind = iota
	// repeatable is a write whose repeat changes nothing more than the
	// first did, or fails with bridge.ErrConflict because the first
	// succeeded: an upsert to the same values, a delete, an update guarded
	// by the row's version, an insert under a unique key, or a transaction
	// that did not get as far as its COMMIT (see transact). It is made
	// again after any connection failure.
	repeatable
	// once is a write whose repeat would do it twice (an append to a log)
	// or whose first outcome its caller must know (a lease claim): it is
	// made again only when it never reached the server; otherwise it ends
	// with bridge.ReasonStoreOutcomeUnknown. A call that found no working
	// connection within the budget ends with bridge.ReasonStoreUnavailable.
	once
)

// retry makes the call f, and makes it again after a connection failure
// when kind allows, with backoff, for at most retryBudget or until ctx
// ends. what names the call in the log.
func (s *Store) retry(ctx context.Context, what string, kind callKind, f func() error) error {
	start := time.Now()
	wait := retryFirstWait
	for try := 1; ; try++ {
		err := f()
		fail := classify(err)
		if fail == notConnection {
			if try > 1 {
				s.logger().InfoContext(ctx, "database answered again", "call", what, "tries", try,
					"waited_ms", time.Since(start).Milliseconds())
			}
			return err
		}
		if ctx.Err() != nil {
			return err // the caller gave up: its own error, as without a retry
		}
		if fail == lost {
			// The server went away under this connection, and most likely
			// under the pool's idle ones too: drop them, or each would fail
			// once more, each time with its outcome unknown.
			s.resetPool()
		}
		if fail == lost && kind == once {
			s.logger().WarnContext(ctx, "database connection broke after a write was sent; its outcome is unknown",
				"call", what, "tries", try, "err", err)
			return &bridge.Error{Code: bridge.ECodeUnavailable, Reason: bridge.ReasonStoreOutcomeUnknown,
				Message: "the database connection broke; whether the change was stored is unknown",
				Err:     errors.New(what + ": " + err.Error())}
		}
		jittered := wait/2 + rand.N(wait)
		if time.Since(start)+jittered > retryBudget {
			s.logger().ErrorContext(ctx, "database unavailable; giving up", "call", what, "tries", try,
				"waited_ms", time.Since(start).Milliseconds(), "err", err)
			return &bridge.Error{Code: bridge.ECodeUnavailable, Reason: bridge.ReasonStoreUnavailable,
				Message: "the database is unavailable; try again in a moment",
				Err:     fmt.Errorf("%s: gave up after %d tries in %s: %s", what, try, time.Since(start).Round(time.Millisecond), err)}
		}
		if try == 1 {
			s.logger().WarnContext(ctx, "database unavailable; retrying", "call", what, "failure", fail.String(), "err", err)
		}
		t := time.NewTimer(jittered)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, retryMaxWait)
	}
}

// retried is retry for a call that returns a value.
func retried[T any](ctx context.Context, s *Store, what string, kind callKind, f func() (T, error)) (T, error) {
	var v T
	err := s.retry(ctx, what, kind, func() (err error) {
		v, err = f()
		return err
	})
	return v, err
}

// resetPool closes the pool's connections (those in use when they are
// released), at most once a second: a restarted server has ended them all.
func (s *Store) resetPool() {
	now := time.Now().UnixNano()
	last := s.lastReset.Load()
	if now-last < int64(time.Second) || !s.lastReset.CompareAndSwap(last, now) {
		return
	}
	s.pool.Reset()
}

func (s *Store) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}
