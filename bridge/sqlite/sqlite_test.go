package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/storetest"
	"vippskco/vipps/vippstest"
)

// testClock is a fake clock. Each reading is a millisecond and a few
// nanoseconds after the last, so every reading is distinct and a store that
// drops nanoseconds is caught.
func newTestClock() *vippstest.Clock {
	c := vippstest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC))
	c.Step = time.Millisecond + 7
	return c
}

// openTestStore opens a new store in a fresh file that the test removes.
func openTestStore(tb testing.TB) *Store {
	tb.Helper()
	s, err := Open(context.Background(), filepath.Join(tb.TempDir(), "bridge.db"), newTestClock().Now)
	require.NoError(tb, err)
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) bridge.Store {
		s, err := Open(t.Context(), filepath.Join(t.TempDir(), "bridge.db"), now)
		require.NoError(t, err)
		return s
	})
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

func TestMigrations(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "bridge.db")
	names, err := migrationNames()
	require.NoError(t, err)
	require.NotEmpty(t, names)

	first, err := Open(ctx, "file:"+path, newTestClock().Now)
	require.NoError(t, err)
	ok, err := first.MigrationsApplied(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	p := payment("KCO-1", 1)
	require.NoError(t, first.InsertPayment(ctx, p))
	require.NoError(t, first.Close())

	second, err := Open(ctx, path, newTestClock().Now)
	require.NoError(t, err)
	t.Cleanup(func() { second.Close() })
	ok, err = second.MigrationsApplied(ctx)
	require.NoError(t, err)
	require.True(t, ok)

	rows, err := second.read.QueryContext(ctx, `SELECT name FROM schema_migrations ORDER BY name`)
	require.NoError(t, err)
	var applied []string
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		applied = append(applied, name)
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	require.Equal(t, names, applied, "each migration is recorded once")

	got, err := second.Payment(ctx, p.Reference)
	require.NoError(t, err)
	require.Equal(t, p.CreateRequest, got.CreateRequest)
	require.True(t, p.CreatedAt.Equal(got.CreatedAt))

	// Readiness notices a migration that is not applied.
	_, err = second.write.ExecContext(ctx, `DELETE FROM schema_migrations WHERE name = ?`, names[len(names)-1])
	require.NoError(t, err)
	ok, err = second.MigrationsApplied(ctx)
	require.NoError(t, err)
	require.False(t, ok)
}

func TestOpenDSN(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name        string
		dsn         string
		journalMode string
		busyTimeout int
	}{
		{"path", filepath.Join(dir, "a.db"), "wal", busyTimeoutMillis},
		{"file URI", "file:" + filepath.Join(dir, "b.db"), "wal", busyTimeoutMillis},
		{"file URI with query", "file:" + filepath.Join(dir, "c.db") + "?mode=rwc&cache=private", "wal", busyTimeoutMillis},
		{"caller's pragma kept", filepath.Join(dir, "d.db") + "?_pragma=busy_timeout(1234)", "wal", 1234},
		{"in memory", ":memory:", "memory", busyTimeoutMillis},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			s, err := Open(ctx, tt.dsn, nil)
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })

			var (
				mode              string
				busy, fk, syncing int
			)
			require.NoError(t, s.write.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode))
			require.NoError(t, s.write.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busy))
			require.NoError(t, s.write.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk))
			require.NoError(t, s.write.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&syncing))
			require.Equal(t, tt.journalMode, mode)
			require.Equal(t, tt.busyTimeout, busy)
			require.Equal(t, 1, fk)
			require.Equal(t, 1, syncing, "synchronous is NORMAL")

			p := payment("KCO-1", 1)
			require.NoError(t, s.InsertPayment(ctx, p))
			got, err := s.PaymentByToken(ctx, p.ReturnToken)
			require.NoError(t, err)
			require.Equal(t, p.Reference, got.Reference)
			require.NoError(t, s.Ping(ctx))
		})
	}
}

func TestReadPoolIsReadOnly(t *testing.T) {
	s := openTestStore(t)
	t.Cleanup(func() { s.Close() })
	require.NoError(t, s.InsertPayment(t.Context(), payment("KCO-1", 1)))
	_, err := s.read.ExecContext(t.Context(), `DELETE FROM payments`)
	require.Error(t, err)
	ps, err := s.PaymentsByOrder(t.Context(), "KCO-1")
	require.NoError(t, err)
	require.Len(t, ps, 1)
}

func TestNanoseconds(t *testing.T) {
	ctx := t.Context()
	s := openTestStore(t)
	t.Cleanup(func() { s.Close() })

	p := payment("KCO-1", 1)
	p.CreatedAt = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))
	p.UpdatedAt = time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC)
	require.NoError(t, s.InsertPayment(ctx, p))
	got, err := s.Payment(ctx, p.Reference)
	require.NoError(t, err)
	require.True(t, p.CreatedAt.Equal(got.CreatedAt), "got %s", got.CreatedAt)
	require.True(t, p.UpdatedAt.Equal(got.UpdatedAt), "got %s", got.UpdatedAt)

	ex := &bridge.ProviderExchange{Reference: p.Reference, Provider: "vipps", StartedAt: p.CreatedAt, Duration: 1}
	require.NoError(t, s.AppendExchange(ctx, ex))
	exs, err := s.Exchanges(ctx, p.Reference)
	require.NoError(t, err)
	require.True(t, p.CreatedAt.Equal(exs[0].StartedAt))
	require.Equal(t, time.Duration(1), exs[0].Duration)
}

func TestTimeOutOfRange(t *testing.T) {
	ctx := t.Context()
	s := openTestStore(t)
	t.Cleanup(func() { s.Close() })
	far := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)

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

	err = s.AppendExchange(ctx, &bridge.ProviderExchange{Reference: p.Reference, StartedAt: far})
	require.Equal(t, bridge.ECodeInvalid, bridge.ErrorCode(err), "error %v", err)
	exs, err := s.Exchanges(ctx, p.Reference)
	require.NoError(t, err)
	require.Empty(t, exs)
}

// TestTwoStoresOneFile is two processes on one database file: their writers
// wait for each other at BEGIN IMMEDIATE, so no write fails with SQLITE_BUSY.
func TestTwoStoresOneFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "bridge.db")
	var stores [2]*Store
	for i := range stores {
		s, err := Open(ctx, path, newTestClock().Now)
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}

	const perStore, updates = 16, 3
	var wg sync.WaitGroup
	errs := make(chan error, 2*perStore)
	for i := range 2 * perStore {
		s := stores[i%2]
		wg.Go(func() {
			p := payment(fmt.Sprintf("KCO-%d", i), 1)
			if err := s.InsertPayment(ctx, p); err != nil {
				errs <- err
				return
			}
			for range updates {
				p.Captured += 100
				if err := storetest.UpdatePayment(ctx, s, p, &bridge.HistoryEntry{Source: "merchant", Detail: "capture"}); err != nil {
					errs <- err
					return
				}
				if _, err := s.History(ctx, p.Reference); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	for i := range 2 * perStore {
		p, err := stores[(i+1)%2].Payment(ctx, fmt.Sprintf("KCO-%d-1", i))
		require.NoError(t, err)
		require.EqualValues(t, 1+updates, p.Version)
		require.EqualValues(t, 100*updates, p.Captured)
	}
}

// reportOps adds the throughput to a benchmark's output.
func reportOps(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

func BenchmarkInsertPayment(b *testing.B) {
	s := openTestStore(b)
	b.Cleanup(func() { s.Close() })
	ctx := b.Context()

	b.ResetTimer()
	for i := range b.N {
		if err := s.InsertPayment(ctx, payment(fmt.Sprintf("KCO-%d", i), 1)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportOps(b)
}

func BenchmarkUpdatePaymentWithHistory(b *testing.B) {
	s := openTestStore(b)
	b.Cleanup(func() { s.Close() })
	ctx := b.Context()
	p := payment("KCO-1", 1)
	if err := s.InsertPayment(ctx, p); err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	for i := range b.N {
		p.Captured = int64(i)
		entry := &bridge.HistoryEntry{Source: "merchant", FromState: p.State, ToState: p.State, Detail: "capture"}
		if err := storetest.UpdatePayment(ctx, s, p, entry); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportOps(b)
}

// TestTransact checks that transact stores f's writes only when f returns
// nil, and that neither an error nor a panic leaves the single writer
// connection inside a transaction, where every later write would wait for
// it forever.
func TestTransact(t *testing.T) {
	failed := errors.New("f failed")
	tests := []struct {
		name      string
		f         func(ctx context.Context, tx *tx, p *bridge.Payment) error
		wantErr   error
		wantPanic bool
	}{
		{"nil commits", func(ctx context.Context, tx *tx, p *bridge.Payment) error {
			return insertPayment(ctx, tx, p)
		}, nil, false},
		{"an error rolls back", func(ctx context.Context, tx *tx, p *bridge.Payment) error {
			if err := insertPayment(ctx, tx, p); err != nil {
				return err
			}
			return failed
		}, failed, false},
		{"a panic rolls back", func(ctx context.Context, tx *tx, p *bridge.Payment) error {
			if err := insertPayment(ctx, tx, p); err != nil {
				return err
			}
			panic(failed)
		}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTestStore(t)
			defer s.Close()
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

			_, err := s.Payment(ctx, p.Reference)
			if tt.wantErr == nil && !tt.wantPanic {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, bridge.ErrNotFound)
			}
			// The writer is free again: a leaked transaction would make this
			// write wait until the deadline.
			wait, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			require.NoError(t, s.InsertPayment(wait, payment("KCO-2", 1)))
		})
	}
}

// The writer keeps savepoints' sub-journals in memory (temp_store 2): in a
// file they were as many writes as the log's own under group commit.
func TestWriterKeepsSavepointsInMemory(t *testing.T) {
	s := openTestStore(t)
	defer s.Close()
	var store int
	require.NoError(t, s.write.QueryRowContext(t.Context(), `PRAGMA temp_store`).Scan(&store))
	require.Equal(t, 2, store, "temp_store: 0 default, 1 file, 2 memory")
}
