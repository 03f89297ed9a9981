package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"vippskco/bridge"
)

// These tests need no database: a fake server that speaks just enough of
// the PostgreSQL protocol makes pgx fail the way an outage makes it fail,
// so the errors classified are pgx's own, not imitations.

// fakeServer accepts connections and answers each simple query as answer
// says. refuse, when set, is the SQLSTATE it refuses every new session with.
type fakeServer struct {
	l      net.Listener
	refuse string
	answer func(sql string) reply

	mu      sync.Mutex
	queries []string
}

// reply is what the fake does with one query.
type reply struct {
	kind string // "ok", "hangup" (close without a word), "fatal" or "error" (with code)
	code string
}

func newFakeServer(t *testing.T, refuse string, answer func(sql string) reply) *fakeServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &fakeServer{l: l, refuse: refuse, answer: answer}
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go f.serve(conn)
		}
	}()
	t.Cleanup(func() { l.Close() })
	return f
}

func (f *fakeServer) dsn() string {
	return "postgres://test@" + f.l.Addr().String() + "/test?sslmode=disable&connect_timeout=5"
}

func (f *fakeServer) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.queries...)
}

func (f *fakeServer) serve(conn net.Conn) {
	defer conn.Close()
	be := pgproto3.NewBackend(conn, conn)
	if _, err := be.ReceiveStartupMessage(); err != nil {
		return
	}
	if f.refuse != "" {
		be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", Code: f.refuse, Message: "refused by the fake"})
		_ = be.Flush()
		return
	}
	be.Send(&pgproto3.AuthenticationOk{})
	for _, p := range [][2]string{{"server_version", "15.0"}, {"client_encoding", "UTF8"},
		{"standard_conforming_strings", "on"}, {"DateStyle", "ISO, MDY"}, {"integer_datetimes", "on"}, {"TimeZone", "UTC"}} {
		be.Send(&pgproto3.ParameterStatus{Name: p[0], Value: p[1]})
	}
	be.Send(&pgproto3.BackendKeyData{ProcessID: 1, SecretKey: []byte{0, 0, 0, 1}})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if be.Flush() != nil {
		return
	}
	status := byte('I')
	for {
		msg, err := be.Receive()
		if err != nil {
			return
		}
		q, ok := msg.(*pgproto3.Query)
		if !ok {
			return // Terminate, or a protocol the fake does not speak
		}
		sql := strings.ToLower(strings.TrimSpace(q.String))
		f.mu.Lock()
		f.queries = append(f.queries, sql)
		f.mu.Unlock()
		r := reply{kind: "ok"}
		if f.answer != nil && sql != "-- ping" {
			r = f.answer(sql)
		}
		switch r.kind {
		case "hangup":
			return
		case "fatal":
			be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", Code: r.code, Message: "terminating connection (fake)"})
			_ = be.Flush()
			return
		case "error":
			be.Send(&pgproto3.ErrorResponse{Severity: "ERROR", Code: r.code, Message: "statement failed (fake)"})
		default:
			switch sql {
			case "-- ping":
				be.Send(&pgproto3.EmptyQueryResponse{})
			case "begin":
				status = 'T'
				be.Send(&pgproto3.CommandComplete{CommandTag: []byte("BEGIN")})
			case "commit", "rollback":
				status = 'I'
				be.Send(&pgproto3.CommandComplete{CommandTag: []byte(strings.ToUpper(sql))})
			default:
				be.Send(&pgproto3.CommandComplete{CommandTag: []byte("SELECT 0")})
			}
		}
		be.Send(&pgproto3.ReadyForQuery{TxStatus: status})
		if be.Flush() != nil {
			return
		}
	}
}

// connectErr is what pgx says when it cannot open a session at dsn.
func connectErr(t *testing.T, dsn string) error {
	t.Helper()
	conn, err := pgconn.Connect(t.Context(), dsn)
	if err == nil {
		conn.Close(t.Context())
	}
	require.Error(t, err)
	return err
}

// execErr is what pgx says when the statement sql fails on a session the
// fake opened.
func execErr(t *testing.T, answer reply) error {
	t.Helper()
	f := newFakeServer(t, "", func(string) reply { return answer })
	conn, err := pgconn.Connect(t.Context(), f.dsn())
	require.NoError(t, err)
	defer conn.Close(t.Context())
	_, err = conn.Exec(t.Context(), "select 1").ReadAll()
	require.Error(t, err)
	return err
}

// execParamsErr is what pgx says when the server hangs up on a statement
// sent with the extended protocol (the fake answers none of its messages).
func execParamsErr(t *testing.T) error {
	t.Helper()
	f := newFakeServer(t, "", nil)
	conn, err := pgconn.Connect(t.Context(), f.dsn())
	require.NoError(t, err)
	defer conn.Close(t.Context())
	err = conn.ExecParams(t.Context(), "select $1::int", [][]byte{[]byte("1")}, nil, nil, nil).Read().Err
	require.Error(t, err)
	return err
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// TestClassify tells every kind of failure an outage (or anything else)
// produces apart: retried as never sent, retried only when repeating is
// harmless (lost), or not retried at all.
func TestClassify(t *testing.T) {
	// A session already closed refuses a statement before sending it.
	f := newFakeServer(t, "", nil)
	closed, err := pgconn.Connect(t.Context(), f.dsn())
	require.NoError(t, err)
	require.NoError(t, closed.Close(t.Context()))
	_, closedErr := closed.Exec(t.Context(), "select 1").ReadAll()

	tests := []struct {
		name string
		err  error
		want failure
	}{
		{"nothing failed", nil, notConnection},
		{"some other error", errors.New("boom"), notConnection},
		{"a row not found", fmt.Errorf("payment: %w", bridge.ErrNotFound), notConnection},
		{"a version conflict", fmt.Errorf("commit: %w", bridge.ErrConflict), notConnection},

		// Sessions that were never opened: nothing ran.
		{"connection refused (server down)", connectErr(t, "postgres://test@"+closedPort(t)+"/test?sslmode=disable&connect_timeout=5"), notSent},
		{"57P03 the database system is starting up", connectErr(t, newFakeServer(t, "57P03", nil).dsn()), notSent},
		{"57P01 refused while shutting down", connectErr(t, newFakeServer(t, "57P01", nil).dsn()), notSent},
		{"53300 too many connections", connectErr(t, newFakeServer(t, "53300", nil).dsn()), notSent},
		{"28P01 password authentication failed", connectErr(t, newFakeServer(t, "28P01", nil).dsn()), notConnection},
		{"3D000 database does not exist", connectErr(t, newFakeServer(t, "3D000", nil).dsn()), notConnection},
		{"a session already closed (pgx cannot tell it from one closed under a statement)", closedErr, lost},
		{"57P03 as a statement's error", &pgconn.PgError{Severity: "FATAL", Code: "57P03"}, notSent},

		// Sessions that broke under a statement: it may have run.
		{"the server hangs up mid-statement (simple protocol, as BEGIN and COMMIT)", execErr(t, reply{kind: "hangup"}), lost},
		{"the server hangs up mid-statement (extended protocol, as statements with arguments)", execParamsErr(t), lost},
		{"57P01 terminating connection due to administrator command", execErr(t, reply{kind: "fatal", code: "57P01"}), lost},
		{"57P02 terminating connection because of crash of another server process", execErr(t, reply{kind: "fatal", code: "57P02"}), lost},
		{"08006 connection failure", &pgconn.PgError{Code: "08006"}, lost},
		{"08P01 protocol violation", fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: "08P01"}), lost},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, lost},
		{"broken pipe", fmt.Errorf("write: %w", syscall.EPIPE), lost},
		{"unexpected EOF", fmt.Errorf("receive message failed: %w", io.ErrUnexpectedEOF), lost},
		{"EOF", io.EOF, lost},
		{"a read timeout", &net.OpError{Op: "read", Net: "tcp", Err: timeoutError{}}, lost},

		// Answers of a working server, and callers that gave up.
		{"23505 unique violation", execErr(t, reply{kind: "error", code: "23505"}), notConnection},
		{"40001 serialization failure", &pgconn.PgError{Code: "40001"}, notConnection},
		{"42P01 undefined table", &pgconn.PgError{Code: "42P01"}, notConnection},
		{"57014 query cancelled", &pgconn.PgError{Code: "57014"}, notConnection},
		{"context cancelled", fmt.Errorf("payment: %w", context.Canceled), notConnection},
		{"context deadline", context.DeadlineExceeded, notConnection},

		// Already decided by an inner call: never retried again.
		{"store unavailable", &bridge.Error{Code: bridge.ECodeUnavailable, Reason: bridge.ReasonStoreUnavailable,
			Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, notConnection},
		{"outcome unknown", fmt.Errorf("insert: %w", &bridge.Error{Code: bridge.ECodeUnavailable, Reason: bridge.ReasonStoreOutcomeUnknown,
			Err: io.ErrUnexpectedEOF}), notConnection},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want.String(), classify(tt.err).String(), "%T: %v", tt.err, tt.err)
		})
	}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// fakeStore is a Store on the fake server, with a short retry budget.
func fakeStore(t *testing.T, f *fakeServer) *Store {
	t.Helper()
	old := retryBudget
	retryBudget = 500 * time.Millisecond
	t.Cleanup(func() { retryBudget = old })
	pool, err := pgxpool.New(t.Context(), f.dsn())
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return &Store{pool: pool, now: time.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// TestRetry checks what each kind of call does after each kind of failure.
func TestRetry(t *testing.T) {
	lostErr := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	notSentErr := &pgconn.PgError{Severity: "FATAL", Code: "57P03"}
	sqlErr := &pgconn.PgError{Code: "23505"}
	tests := []struct {
		name     string
		kind     callKind
		failures []error // the first calls fail with these, the next succeeds
		calls    int
		reason   string // of the error it ends with; "" is success
		is       error
	}{
		{"a read is made again after a lost connection", readOnly, []error{lostErr, lostErr}, 3, "", nil},
		{"a repeatable write is made again after a lost connection", repeatable, []error{lostErr}, 2, "", nil},
		{"a repeatable write whose first try landed ends in a conflict", repeatable, []error{lostErr, bridge.ErrConflict}, 2, "", bridge.ErrConflict},
		{"a once write is made again when it was never sent", once, []error{notSentErr, notSentErr}, 3, "", nil},
		{"a once write is not made again after a lost connection", once, []error{lostErr}, 1, bridge.ReasonStoreOutcomeUnknown, nil},
		{"a SQL error is not retried", readOnly, []error{sqlErr}, 1, "", sqlErr},
		{"the budget runs out", readOnly, repeatErr(notSentErr, 1000), -1, bridge.ReasonStoreUnavailable, nil},
	}
	s := fakeStore(t, newFakeServer(t, "", nil))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			start := time.Now()
			err := s.retry(t.Context(), "test", tt.kind, func() error {
				calls++
				if calls <= len(tt.failures) {
					return tt.failures[calls-1]
				}
				return nil
			})
			if tt.calls >= 0 {
				require.Equal(t, tt.calls, calls)
			} else {
				require.Greater(t, calls, 3)
				require.Less(t, time.Since(start), retryBudget+retryMaxWait, "bounded by the budget")
			}
			switch {
			case tt.reason != "":
				require.Equal(t, tt.reason, bridge.ErrorReason(err), "%v", err)
				require.Equal(t, bridge.ECodeUnavailable, bridge.ErrorCode(err))
				require.Equal(t, notConnection, classify(err), "a decided error is not retried by an outer call")
			case tt.is != nil:
				require.ErrorIs(t, err, tt.is)
			default:
				require.NoError(t, err)
			}
		})
	}

	t.Run("a caller that gives up gets its own error at once", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		calls := 0
		err := s.retry(ctx, "test", readOnly, func() error {
			calls++
			cancel()
			return lostErr
		})
		require.Equal(t, 1, calls)
		require.ErrorIs(t, err, syscall.ECONNRESET)
	})
}

func repeatErr(err error, n int) []error {
	out := make([]error, n)
	for i := range out {
		out[i] = err
	}
	return out
}

// TestTransactAfterAConnectionFailure: a transaction whose connection broke
// before COMMIT is run again, whole; one whose connection broke once COMMIT
// was sent is not, and ends in ErrConflict, which makes its caller read
// again before it decides anything.
func TestTransactAfterAConnectionFailure(t *testing.T) {
	tests := []struct {
		name     string
		failOn   string // the statement whose first try fails
		failure  reply
		runs     int // of f
		conflict bool
	}{
		{"BEGIN on a dead connection", "begin", reply{kind: "hangup"}, 1, false},
		{"a statement on a connection the server dropped", "select 1", reply{kind: "hangup"}, 2, false},
		{"a statement killed by a restart (57P01)", "select 1", reply{kind: "fatal", code: "57P01"}, 2, false},
		{"COMMIT on a connection that broke", "commit", reply{kind: "hangup"}, 1, true},
		{"COMMIT killed by a restart (57P01)", "commit", reply{kind: "fatal", code: "57P01"}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var failed atomic.Bool
			f := newFakeServer(t, "", func(sql string) reply {
				if sql == tt.failOn && failed.CompareAndSwap(false, true) {
					return tt.failure
				}
				return reply{kind: "ok"}
			})
			s := fakeStore(t, f)
			runs := 0
			err := s.transact(t.Context(), func(tx *tx) error {
				runs++
				_, err := tx.Exec(t.Context(), "select 1")
				return err
			})
			require.Equal(t, tt.runs, runs, "f ran; the server saw %q", f.seen())
			commits := 0
			for _, q := range f.seen() {
				if q == "commit" {
					commits++
				}
			}
			if tt.conflict {
				require.ErrorIs(t, err, bridge.ErrConflict)
				require.Contains(t, err.Error(), "unknown")
				require.Equal(t, 1, commits, "COMMIT is never sent twice")
			} else {
				require.NoError(t, err)
				require.Equal(t, 1, commits)
			}
		})
	}
}
