package storetest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"vippskco/bridge"
)

// BenchPollRound is the poller's part of a store with 2,000 payments
// waiting: a claim of the 64 due soonest and their release, as
// bridge.Service.pollBatch makes them, on payments whose rows are as large
// as the load test's (a KCO order of about 1.3 KB, a create request of
// about 0.9 KB). written is what the store has written so far, in bytes,
// by a measure of the store's own (unit names it in the report): unlike
// time, it does not move with what else the machine does.
func BenchPollRound(b *testing.B, s bridge.Store, unit string, written func() float64) {
	ctx := b.Context()
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	order := `{"order_id":"%s","purchase_country":"NO","purchase_currency":"NOK","locale":"nb-NO","order_lines":[` +
		strings.Repeat(`{"type":"physical","reference":"termokopp","name":"Termokopp","quantity":1,"unit_price":39800},`, 12) + `{}]}`
	create := `{"amount":{"currency":"NOK","value":44700},"reference":"%s","paymentDescription":"` + strings.Repeat("x", 800) + `"}`
	for i := range 2000 {
		// KCO order IDs are random, and so are the references made of them.
		kco := fmt.Sprintf("%08x-5eb1-457a-b635-3901b93159e7", i*2654435761%(1<<32))
		p := newPayment("ld-"+kco+"-1", "unit-a", kco, 1)
		p.State, p.Authorized, p.Captured, p.Refunded, p.Cancelled = bridge.StateCreated, 0, 0, 0, 0
		p.Order = json.RawMessage(fmt.Sprintf(order, kco))
		p.CreateRequest = json.RawMessage(fmt.Sprintf(create, p.Reference))
		p.CreatedAt = now.Add(time.Duration(i) * time.Millisecond)
		p.UpdatedAt, p.NextPollAt = p.CreatedAt, p.CreatedAt
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
	start := written()
	b.ResetTimer()
	for range b.N {
		round()
	}
	b.StopTimer()
	b.ReportMetric((written()-start)/float64(b.N)/1024, unit)
}
