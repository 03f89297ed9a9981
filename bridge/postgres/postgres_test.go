package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/storetest"
	"vippskco/vipps/vippstest"
)

// dsnVariable names the database the PostgreSQL tests run against. CI sets
// it; without it they skip.
const dsnVariable = "VIPPSKCO_TEST_POSTGRES_DSN"

// testDSN returns the test database's DSN or skips the test.
func testDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(dsnVariable)
	if dsn == "" {
		tb.Skip(dsnVariable + " is not set: skipping the PostgreSQL store suite (CI sets it)")
	}
	return dsn
}

// newSchema creates an empty schema with a random name, dropped with
// everything in it when the test ends, and returns a DSN whose connections
// work in it. Tests running at once, in one process or several, never see
// each other's tables.
func newSchema(tb testing.TB) string {
	tb.Helper()
	dsn := testDSN(tb)
	var b [8]byte
	_, err := rand.Read(b[:])
	require.NoError(tb, err)
	schema := "test_" + hex.EncodeToString(b[:])

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(tb, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize())
	require.NoError(tb, err)
	tb.Cleanup(func() {
		// The test's context is already cancelled when cleanups run.
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return withParams(tb, dsn, map[string]string{"search_path": schema, "pool_max_conns": "8"})
}

// withParams adds settings to a DSN, which is a URL or key=value pairs.
// pgx sends a setting it does not know itself, such as search_path, to the
// server as a run-time parameter of every connection.
func withParams(tb testing.TB, dsn string, params map[string]string) string {
	tb.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		require.NoError(tb, err)
		q := u.Query()
		for k, v := range params {
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	for k, v := range params {
		dsn += " " + k + "=" + v
	}
	return dsn
}

// openStore opens a store on a fresh schema and closes it when the test ends.
func openStore(tb testing.TB, now func() time.Time) (*Store, string) {
	tb.Helper()
	dsn := newSchema(tb)
	s, err := Open(context.Background(), dsn, now)
	require.NoError(tb, err)
	tb.Cleanup(func() { s.Close() })
	return s, dsn
}

func TestStore(t *testing.T) {
	testDSN(t)
	storetest.Run(t, func(t *testing.T, now func() time.Time) bridge.Store {
		s, err := Open(t.Context(), newSchema(t), now)
		require.NoError(t, err)
		return s
	})
}

// testClock is a fake clock. Each reading is a millisecond and a few
// nanoseconds after the last, so that a store which keeps nanoseconds in one
// place and microseconds in another is caught.
func newTestClock() *vippstest.Clock {
	c := vippstest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 6789, time.UTC))
	c.Step = time.Millisecond + 7
	return c
}

// payment returns a small valid attempt i of order.
func payment(order string, i int) *bridge.Payment {
	ref := fmt.Sprintf("%s-%d", order, i)
	return &bridge.Payment{
		Reference:            ref,
		Unit:                 "unit-a",
		KCOOrderID:           order,
		Attempt:              i,
		Amount:               bridge.Money{Value: 149900, Currency: "NOK"},
		State:                bridge.StatePending,
		CreateIdempotencyKey: "idem-" + ref,
		CreateRequest:        json.RawMessage(`{"reference":"` + ref + `"}`),
		ReturnToken:          "token-" + ref,
		Locale:               "nb-NO",
		Order:                json.RawMessage(`{"order_id":"` + order + `","order_amount":149900}`),
	}
}

// TestMicroseconds checks that times finer than PostgreSQL keeps are
// truncated on the way in, and that what the caller holds afterwards is what
// a read gives back.
func TestMicroseconds(t *testing.T) {
	ctx := t.Context()
	s, _ := openStore(t, newTestClock().Now)

	p := payment("KCO-1", 1)
	p.CreatedAt = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))
	require.NoError(t, s.InsertPayment(ctx, p))
	require.Equal(t, 535897000, p.CreatedAt.Nanosecond())
	require.Equal(t, 0, p.UpdatedAt.Nanosecond()%1000, "UpdatedAt from the clock keeps nanoseconds")
	got, err := s.Payment(ctx, p.Reference)
	require.NoError(t, err)
	require.Equal(t, *p, *got)

	entry := &bridge.HistoryEntry{Source: "poller", At: time.Date(2025, 3, 14, 15, 9, 27, 999, time.UTC)}
	require.NoError(t, storetest.UpdatePayment(ctx, s, p, entry))
	got, err = s.Payment(ctx, p.Reference)
	require.NoError(t, err)
	require.Equal(t, *p, *got)
	h, err := s.History(ctx, p.Reference)
	require.NoError(t, err)
	require.Equal(t, []bridge.HistoryEntry{*entry}, h)
}

func TestTimeOutOfRange(t *testing.T) {
	ctx := t.Context()
	s, _ := openStore(t, newTestClock().Now)
	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)

	p := payment("KCO-1", 1)
	p.CreatedAt = far
	err := s.InsertPayment(ctx, p)
	require.Equal(t, bridge.ECodeInvalid, bridge.ErrorCode(err), "error %v", err)
	_, err = s.Payment(ctx, p.Reference)
	require.ErrorIs(t, err, bridge.ErrNotFound)

	p = payment("KCO-2", 1)
	require.NoError(t, s.InsertPayment(ctx, p))
	before := *p
	err = storetest.UpdatePayment(ctx, s, p, &bridge.HistoryEntry{Source: "poller", At: far})
	require.Equal(t, bridge.ECodeInvalid, bridge.ErrorCode(err), "error %v", err)
	require.Equal(t, before, *p)
	got, err := s.Payment(ctx, p.Reference)
	require.NoError(t, err)
	require.EqualValues(t, 1, got.Version)
	h, err := s.History(ctx, p.Reference)
	require.NoError(t, err)
	require.Empty(t, h)
}

// TestBytesKept checks that provider bodies which text would refuse, and
// JSON documents, read back byte for byte.
func TestBytesKept(t *testing.T) {
	ctx := t.Context()
	s, _ := openStore(t, newTestClock().Now)
	ex := &bridge.ProviderExchange{
		Reference: "KCO-1-1", Provider: "vipps", Operation: "get_payment",
		RequestBody: "\x00\xff not UTF-8", ResponseBody: "{\"a\":\x00}\xfe",
	}
	require.NoError(t, s.AppendExchange(ctx, ex))
	exs, err := s.Exchanges(ctx, "KCO-1-1")
	require.NoError(t, err)
	require.Len(t, exs, 1)
	require.Equal(t, ex.RequestBody, exs[0].RequestBody)
	require.Equal(t, ex.ResponseBody, exs[0].ResponseBody)

	e := &bridge.RawEvent{Reference: "KCO-1-1", Source: "webhook", Body: json.RawMessage("{ \"x\" :\t1 }\n")}
	require.NoError(t, s.AppendRawEvent(ctx, e))
	raw, err := s.RawEvents(ctx, "KCO-1-1")
	require.NoError(t, err)
	require.Equal(t, []bridge.RawEvent{*e}, raw)
}

// TestTransact checks that transact commits when f returns nil, and that
// an error or a panic in f rolls back: without the rollback the connection
// would stay out of the pool, inside its transaction, until the store is
// closed. The failing fs write nothing, so that such a leak fails the test
// instead of making the schema's cleanup wait for its locks.
func TestTransact(t *testing.T) {
	failed := errors.New("f failed")
	tests := []struct {
		name       string
		f          func(ctx context.Context, tx *tx, p *bridge.Payment) error
		wantErr    error
		wantPanic  bool
		wantStored bool
	}{
		{"nil commits", func(ctx context.Context, tx *tx, p *bridge.Payment) error {
			return insertPayment(ctx, tx, p)
		}, nil, false, true},
		{"an error rolls back", func(ctx context.Context, tx *tx, p *bridge.Payment) error {
			return failed
		}, failed, false, false},
		{"a panic rolls back", func(ctx context.Context, tx *tx, p *bridge.Payment) error {
			panic(failed)
		}, nil, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			s, err := Open(ctx, newSchema(t), newTestClock().Now)
			require.NoError(t, err)
			t.Cleanup(func() {
				// Close waits for every connection to come back, which a
				// leaked one never does.
				if s.pool.Stat().AcquiredConns() == 0 {
					s.Close()
				}
			})
			p := payment("KCO-1", 1)
			p.PrepareInsert(time.Now())

			run := func() error {
				return s.transact(ctx, func(tx *tx) error { return tt.f(ctx, tx, p) })
			}
			if tt.wantPanic {
				require.PanicsWithValue(t, failed, func() { _ = run() })
			} else {
				require.ErrorIs(t, run(), tt.wantErr)
			}
			require.Zero(t, s.pool.Stat().AcquiredConns(), "the transaction's connection is still held")

			_, err = s.Payment(ctx, p.Reference)
			if tt.wantStored {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, bridge.ErrNotFound)
			}
		})
	}
}

// The pool holds DefaultMaxConns connections unless the DSN says how many:
// pgxpool's own default (the CPUs, at least 4) made 64 shoppers queue for 4
// connections on a 2-core machine.
func TestPoolSize(t *testing.T) {
	dsn := newSchema(t) // sets pool_max_conns=8
	s, err := Open(t.Context(), dsn, nil)
	require.NoError(t, err)
	defer s.Close()
	require.EqualValues(t, 8, s.pool.Config().MaxConns, "the DSN's pool_max_conns")

	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	q.Del("pool_max_conns")
	u.RawQuery = q.Encode()
	s2, err := Open(t.Context(), u.String(), nil)
	require.NoError(t, err)
	defer s2.Close()
	require.EqualValues(t, DefaultMaxConns, s2.pool.Config().MaxConns)
}

// A webhook's ask for a read never waits for its payment's poll row: while
// another transaction holds the row (the poller's release, a state
// change that moves the schedule), the webhook is recorded at once without the ask, and its
// caller asks on its own. Waiting inside the batch let two replicas'
// transactions deadlock.
func TestWebhookAskSkipsALockedPayment(t *testing.T) {
	clock := newTestClock()
	s, _ := openStore(t, clock.Now)
	ctx := t.Context()
	p := payment("KCO-locked", 1)
	require.NoError(t, s.InsertPayment(ctx, p))
	ask := &bridge.ReadAsk{Units: []string{"unit-a"}, At: clock.Now(), Gap: 2 * time.Second, By: "webhook"}
	raw := func() *bridge.RawEvent {
		return &bridge.RawEvent{Reference: p.Reference, Unit: "unit-a", Source: "webhook", Name: "AUTHORIZED", Body: []byte(`{}`)}
	}

	tx, err := s.pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `SELECT 1 FROM payment_polls WHERE reference = $1 FOR UPDATE`, p.Reference)
	require.NoError(t, err)
	type result struct {
		rec bridge.WebhookRecord
		err error
	}
	done := make(chan result, 1)
	go func() {
		rec, err := s.RecordWebhook(ctx, "sig-locked-1", clock.Now().Add(10*time.Minute), raw(), ask)
		done <- result{rec, err}
	}()
	select {
	case got := <-done:
		require.NoError(t, got.err)
		require.Equal(t, bridge.WebhookRecord{PaymentUnit: "unit-a"}, got.rec, "recorded, not asked")
		require.NoError(t, tx.Rollback(ctx))
	case <-time.After(3 * time.Second):
		require.NoError(t, tx.Rollback(ctx))
		<-done
		t.Fatal("the webhook waited for the locked row")
	}

	rec, err := s.RecordWebhook(ctx, "sig-locked-2", clock.Now().Add(10*time.Minute), raw(), ask)
	require.NoError(t, err)
	require.Equal(t, bridge.WebhookRecord{PaymentUnit: "unit-a", ReadAsked: true}, rec, "with the row free, asked")
	kept, err := s.RawEvents(ctx, p.Reference)
	require.NoError(t, err)
	require.Len(t, kept, 2)
}

// The bookkeeping's setting raises no notice: SET LOCAL in a batch's
// implicit transaction works but warns, a server log line for every claim
// and release.
func TestPollBookkeepingRaisesNoWarning(t *testing.T) {
	s, dsn := openStore(t, nil)
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	var mu sync.Mutex
	var notices []string
	cfg.ConnConfig.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		mu.Lock()
		notices = append(notices, n.Severity+": "+n.Message)
		mu.Unlock()
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer pool.Close()
	own := s.pool
	s.pool = pool
	defer func() { s.pool = own }()
	var inside string
	require.NoError(t, s.bookkeeping(ctx, func(b *pgx.Batch) {
		b.Queue(`SELECT current_setting('synchronous_commit')`).QueryRow(func(r pgx.Row) error { return r.Scan(&inside) })
	}))
	require.Equal(t, "off", inside)
	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, notices)
}

// A poll's claim and release commit without waiting for the log's flush,
// and only they: the setting is the transaction's own, and the
// connection's next transaction waits for its commit again.
func TestPollBookkeepingAloneSkipsTheFlush(t *testing.T) {
	s, _ := openStore(t, nil)
	ctx := context.Background()
	// One connection, so the statement after the bookkeeping runs on the
	// connection it used.
	s.pool.Reset()
	conn, err := s.pool.Acquire(ctx)
	require.NoError(t, err)
	pid := conn.Conn().PgConn().PID()
	conn.Release()

	var inside string
	var insidePID uint32
	err = s.bookkeeping(ctx, func(b *pgx.Batch) {
		b.Queue(`SELECT current_setting('synchronous_commit'), pg_backend_pid()`).QueryRow(func(r pgx.Row) error {
			return r.Scan(&inside, &insidePID)
		})
	})
	require.NoError(t, err)
	require.Equal(t, "off", inside)

	var after string
	var afterPID uint32
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT current_setting('synchronous_commit'), pg_backend_pid()`).Scan(&after, &afterPID))
	require.Equal(t, insidePID, afterPID, "the same connection")
	require.Equal(t, pid, afterPID, "the same connection")
	require.Equal(t, "on", after, "the next transaction on the connection waits for its commit")
}

// The purge of expired webhook signatures walks the keep_until index and
// stops at the first one still kept, even when the table has grown since
// PostgreSQL last counted it (autovacuum counts it only now and then): a
// burst of webhooks left 100,000 signatures, and a purge planned as a
// scan of the table read them all in every webhook's transaction.
func TestSeenWebhookPurgeUsesItsIndexOnAGrownTable(t *testing.T) {
	s, _ := openStore(t, nil)
	ctx := context.Background()
	_, err := s.pool.Exec(ctx, `ANALYZE seen_webhooks`) // counted empty
	require.NoError(t, err)
	_, err = s.pool.Exec(ctx, `INSERT INTO seen_webhooks (signature, keep_until)
		SELECT 'sig-' || g, now() + interval '10 minutes' + g * interval '1 ms' FROM generate_series(1, 100000) g`)
	require.NoError(t, err)

	rows, err := s.pool.Query(ctx, `EXPLAIN `+purgeSeenWebhooks, time.Now(), purgeBatch)
	require.NoError(t, err)
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	text := strings.Join(plan, "\n")
	require.Contains(t, text, "Index Scan using seen_webhooks_keep_until", text)
	require.NotContains(t, text, "Seq Scan on seen_webhooks seen_webhooks_1", text)
}

// TestInsertPaymentWithLogIsOneTransaction: an attempt and its log go to
// PostgreSQL as one pipeline, whose statements share the implicit
// transaction its Sync ends. An exchange PostgreSQL itself refuses (text
// with a NUL byte), queued after the payment, must take the payment with
// it: were each statement its own transaction, the payment would stay.
func TestInsertPaymentWithLogIsOneTransaction(t *testing.T) {
	s, _ := openStore(t, newTestClock().Now)
	ctx := t.Context()
	p := payment("KCO-NUL", 1)
	bad := bridge.ProviderExchange{Reference: "kco:KCO-NUL", Provider: "kustom", Operation: "read_order",
		Method: "GET", URL: "https://api.kustom.co/checkout/v3/orders/KCO\x00NUL", StatusCode: 200, Attempt: 1,
		StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	err := s.InsertPayment(ctx, p, bad)
	require.Error(t, err, "PostgreSQL stored a NUL byte in text")
	_, err = s.Payment(ctx, p.Reference)
	require.ErrorIs(t, err, bridge.ErrNotFound, "the payment was committed without its log")

	good := bad
	good.URL = "https://api.kustom.co/checkout/v3/orders/KCO-NUL"
	require.NoError(t, s.InsertPayment(ctx, p, good), "the same attempt with a good log")
	exs, err := s.Exchanges(ctx, "kco:KCO-NUL")
	require.NoError(t, err)
	require.Len(t, exs, 1)
}
