package postgres

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"vippskco/bridge"
)

// BenchmarkPollRound is the poller's part of the store with 2,000
// payments waiting: a claim of the 64 due soonest and their release, as
// bridge.Service.pollBatch makes them, on payments whose rows are as large
// as the load test's (a KCO order of about 1.3 KB, a create request of
// about 0.9 KB). It reports the write-ahead log PostgreSQL wrote per round
// (pg_current_wal_lsn; nothing else should write to the server meanwhile),
// which unlike time does not depend on what else the machine does.
//
//	VIPPSKCO_TEST_POSTGRES_DSN=… go test -run '^$' -bench BenchmarkPollRound -benchtime 2000x ./bridge/postgres/
func BenchmarkPollRound(b *testing.B) {
	s, _ := openStore(b, nil)
	ctx := b.Context()
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	order := `{"order_id":"%s","purchase_country":"NO","purchase_currency":"NOK","locale":"nb-NO","order_lines":[` +
		strings.Repeat(`{"type":"physical","reference":"termokopp","name":"Termokopp","quantity":1,"unit_price":39800},`, 12) + `{}]}`
	create := `{"amount":{"currency":"NOK","value":44700},"reference":"%s","paymentDescription":"` + strings.Repeat("x", 800) + `"}`
	for i := range 2000 {
		kco := fmt.Sprintf("%08x-5eb1-457a-b635-3901b93159e7", i*2654435761%(1<<32))
		p := payment(kco, 1)
		p.Order = json.RawMessage(fmt.Sprintf(order, kco))
		p.CreateRequest = json.RawMessage(fmt.Sprintf(create, p.Reference))
		p.CreatedAt, p.UpdatedAt = now.Add(time.Duration(i)*time.Millisecond), now.Add(time.Duration(i)*time.Millisecond)
		p.NextPollAt = now.Add(time.Duration(i) * time.Millisecond)
		if err := s.InsertPayment(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
	clock := now.Add(10 * time.Second)
	round := func() {
		clock = clock.Add(time.Second)
		due, err := s.ClaimDuePolls(ctx, clock, "replica-1", 10*time.Second, 64)
		if err != nil || len(due) != 64 {
			b.Fatalf("claimed %d: %v", len(due), err)
		}
		rel := make([]bridge.PollRelease, len(due))
		for i, p := range due {
			rel[i] = bridge.PollRelease{Reference: p.Reference, Next: clock.Add(2 * time.Second), Read: clock, Gap: 2 * time.Second}
		}
		if err := s.ReleasePolls(ctx, "replica-1", rel); err != nil {
			b.Fatal(err)
		}
	}
	for range 40 { // every payment claimed once, so the rounds measured are alike
		round()
	}
	lsn := func() (at string) {
		if err := s.pool.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&at); err != nil {
			b.Fatal(err)
		}
		return at
	}
	start := lsn()
	b.ResetTimer()
	for range b.N {
		round()
	}
	b.StopTimer()
	var written float64
	if err := s.pool.QueryRow(ctx, `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)`, start).Scan(&written); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(written/float64(b.N)/1024, "KiB-WAL/round")
}
