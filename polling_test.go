package main

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/config"
	"vippskco/vipps"
	"vippskco/vipps/vippstest"
)

// vippsReads adds the reads of each payment (GET payment) that reached
// the fake Vipps since the last call, at the fake's clock, and forgets
// them there, so that the fake's bounded record never drops one. A read
// that finds something new is followed by a GET of the payment's events,
// which names the money movements; that is the same read's second half.
func vippsReads(e *testEnv, into map[string][]time.Time) {
	for _, r := range e.m.Sandbox.Vipps.Requests() {
		if r.Op != vippstest.OpGet {
			continue
		}
		ref := strings.TrimPrefix(r.Path, "/epayment/v1/payments/")
		into[ref] = append(into[ref], r.At)
	}
	e.m.Sandbox.Vipps.ResetRecordings()
}

// 2,000 shoppers waiting in the Vipps app: the poller reads each of them
// every 2 s, as Vipps's polling guidance says, and never more often than
// that; counted at the fake Vipps over 20 s of the shoppers' time. Status
// reads of the waiting pages, as many as the shoppers make, add no read.
func TestPollerReadsEachWaitingPaymentEvery2s(t *testing.T) {
	if testing.Short() {
		t.Skip("makes 2,000 payments")
	}
	const n = 2000
	e := startMain(t, nil, func(m *Main) { m.NoLoops = true })
	orders := make([]string, n)
	for i := range orders {
		orders[i] = e.order(nil).OrderID
	}
	var failed atomic.Int64
	pool(n, 16, func(i int) {
		resp, _ := e.get(e.redirectURL(orders[i]))
		if resp.StatusCode != http.StatusSeeOther {
			failed.Add(1)
		}
	})
	require.Zero(t, failed.Load(), "redirects that did not send the shopper to Vipps")
	tokens := make([]string, 0, n)
	for _, o := range orders {
		ps, err := e.m.Store.PaymentsByOrder(context.Background(), o)
		require.NoError(t, err)
		require.Len(t, ps, 1)
		require.Equal(t, bridge.StateCreated, ps[0].State)
		tokens = append(tokens, ps[0].ReturnToken)
	}
	e.settle()
	reads := map[string][]time.Time{}
	vippsReads(e, reads)
	require.Empty(t, reads, "nothing reads a payment before its first poll, 5 s after create")

	start := e.clock.Now()
	const step = 250 * time.Millisecond
	for e.clock.Now().Sub(start) < 20*time.Second {
		e.clock.Advance(step)
		_, err := e.m.Service.PollOnce(context.Background())
		require.NoError(t, err)
		// The waiting pages ask for their status about once a second.
		if e.clock.Now().Sub(start)%time.Second == 0 {
			for _, tok := range tokens[:200] {
				require.Equal(t, "CREATED", e.status(tok).State)
			}
			e.settle() // the reads they asked for are made at this clock
		}
		vippsReads(e, reads)
	}
	require.Len(t, reads, n, "every waiting payment was read")
	minReads, maxReads := 1<<30, 0
	for ref, times := range reads {
		sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
		for i := 1; i < len(times); i++ {
			require.GreaterOrEqual(t, times[i].Sub(times[i-1]), 2*time.Second, "%s read twice within 2 s: %v", ref, offsets(start, times))
		}
		minReads, maxReads = min(minReads, len(times)), max(maxReads, len(times))
	}
	// First read 5 s after create, then every 2 s (on the 250 ms steps of
	// this test: every 2.0–2.25 s): at least 7 reads in 20 s. A waiting
	// page asks for a read before the poller's first, so the payments being
	// looked at are read from 1 s on, still 2 s apart: at most 10.
	t.Logf("reads per payment in 20 s: %d to %d", minReads, maxReads)
	require.GreaterOrEqual(t, minReads, 7, "the poller kept up with 2,000 waiting payments")
	require.LessOrEqual(t, maxReads, 10)
}

// A burst of webhooks for one payment (Vipps retries, duplicates, several
// events at once) costs one read of it, and moves it.
func TestWebhookBurstCostsOneRead(t *testing.T) {
	e := startMain(t, nil)
	o := e.order(nil)
	_, p := e.checkout(o.OrderID)
	e.settle()
	e.m.Sandbox.Vipps.SetFaults(vippstest.Faults{DropWebhookRate: 1})
	require.NoError(t, e.m.Sandbox.Vipps.Approve(p.Reference))
	e.settle()
	reads := map[string][]time.Time{}
	vippsReads(e, reads)
	for i := range 5 {
		ev := vipps.WebhookEvent{MSN: "123456", Reference: p.Reference, PSPReference: fmt.Sprintf("psp-%d", i), Name: vipps.EventAuthorized,
			Amount: vipps.Amount{Currency: "NOK", Value: 44700}, Timestamp: e.clock.Now(), Success: true}
		require.Equal(t, http.StatusOK, e.signedWebhook(ev, nil))
	}
	e.settle()
	vippsReads(e, reads)
	require.Len(t, reads[p.Reference], 1, "five webhooks, one read of the payment")
	require.Equal(t, bridge.StateAuthorized, e.payment(p.Reference).State)
}

func offsets(start time.Time, times []time.Time) []time.Duration {
	out := make([]time.Duration, len(times))
	for i, t := range times {
		out[i] = t.Sub(start)
	}
	return out
}

// The poller's own reads keep to poller.max_reads_per_second: with more
// payments due than that, it reads that many a second, earliest due first,
// and gets to every payment in turn; a shopper looking at a payment it has
// not reached yet gets a read at once, outside the budget.
func TestPollerKeepsToItsReadBudget(t *testing.T) {
	const n, budget = 300, 50
	e := startMain(t, func(c *config.Config) { c.Poller.MaxReadsPerSecond = budget }, func(m *Main) { m.NoLoops = true })
	tokens := map[string]string{} // reference → return token
	for range n {
		_, p := e.checkout(e.order(nil).OrderID)
		require.NotNil(t, p)
		tokens[p.Reference] = p.ReturnToken
	}
	e.settle()
	reads := map[string][]time.Time{}
	vippsReads(e, reads)
	count := func() int {
		vippsReads(e, reads)
		total := 0
		for _, ts := range reads {
			total += len(ts)
		}
		return total
	}

	e.clock.Advance(6 * time.Second) // every payment is due
	_, err := e.m.Service.PollOnce(context.Background())
	require.NoError(t, err)
	require.Equal(t, budget, count(), "the first round spends a second's budget")
	_, err = e.m.Service.PollOnce(context.Background())
	require.NoError(t, err)
	require.Equal(t, budget, count(), "and nothing more until time passes")

	// A shopper looking at a payment the poller has not reached: its page
	// asks, and the read is made at once.
	var unread string
	for ref := range tokens {
		if len(reads[ref]) == 0 {
			unread = ref
			break
		}
	}
	require.NotEmpty(t, unread)
	e.clock.Advance(3 * time.Second)
	e.status(tokens[unread])
	e.settle()
	require.Equal(t, budget+1, count(), "the page's read is made outside the budget")
	require.Len(t, reads[unread], 1)

	// Second by second, the budget is spent again, and every payment is
	// reached in turn.
	for range 8 {
		before := count()
		e.clock.Advance(time.Second)
		_, err := e.m.Service.PollOnce(context.Background())
		require.NoError(t, err)
		got := count() - before
		require.LessOrEqual(t, got, budget, "at most a second's budget per second")
		require.Greater(t, got, 0)
	}
	require.Len(t, reads, n, "every waiting payment was read")
}

// The poller's reads of a batch start evenly spread at its budget, not all
// at once: a batch fired together kept both cores busy for a moment twice
// a second, and the shoppers' requests in that moment waited (the load
// test's status reads paced at 5,000/s: p99 15 ms with 2,000 payments
// waiting, 3.4 ms with the reads spread). With a budget of 100 reads a
// second, 50 due payments are read over half a second.
func TestPollerSpreadsABatchOverItsBudget(t *testing.T) {
	const n, budget = 50, 100
	e := dueWaitingPayments(t, n, budget)

	began := time.Now()
	done := make(chan error, 1)
	go func() { _, err := e.m.Service.PollOnce(context.Background()); done <- err }()
	time.Sleep(150 * time.Millisecond)
	early := 0
	for _, r := range e.m.Sandbox.Vipps.Requests() {
		if r.Op == vippstest.OpGet {
			early++
		}
	}
	elapsed := time.Since(began)
	require.NoError(t, <-done)
	took := time.Since(began)
	reads := map[string][]time.Time{}
	vippsReads(e, reads)
	require.Len(t, reads, n, "every due payment was read")
	// Two reads start every 20 ms: by the time we looked, at most the
	// budget's share of the time since, and a step's two more (four:
	// the look may fall on a step's edge).
	require.LessOrEqual(t, early, int(elapsed.Seconds()*budget)+4, "reads started faster than the budget after %s", elapsed)
	require.GreaterOrEqual(t, took, time.Duration(n/2-1)*20*time.Millisecond, "the batch's reads were not spread")
}

// A budget that is not a multiple of the pace's step still gets its reads:
// 99 a second are 99 reads in a second, not the 50 a rounded-down share
// of each 20-ms step would give.
func TestPollerSpreadsAnUnevenBudget(t *testing.T) {
	const n, budget = 99, 99
	e := dueWaitingPayments(t, n, budget)
	began := time.Now()
	read, err := e.m.Service.PollOnce(context.Background())
	require.NoError(t, err)
	took := time.Since(began)
	require.Equal(t, n, read)
	require.Less(t, took, 1500*time.Millisecond, "a second's budget took %s to spend", took)
	require.GreaterOrEqual(t, took, 900*time.Millisecond, "a second's budget was spent in %s", took)
}

// A batch whose time runs out (the service stopping, or its lease's end)
// starts no more reads: the payments it did not read are released as due
// as they were, for the next round or another replica, with no failed read
// made for them.
func TestPollerStoppedMidBatchReleasesWhatItDidNotRead(t *testing.T) {
	const n, budget = 20, 10
	e := dueWaitingPayments(t, n, budget)

	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	_, err := e.m.Service.PollOnce(ctx)
	require.NoError(t, err)
	reads := map[string][]time.Time{}
	vippsReads(e, reads)
	// Reads are due at 0, 100 and 200 ms; the 300-ms one never starts.
	require.NotEmpty(t, reads)
	require.Less(t, len(reads), budget, "the batch went on reading after its time ran out")

	// The rest are free and due: another replica claims exactly them.
	rest, err := e.m.Store.ClaimDuePolls(context.Background(), e.clock.Now(), "another-replica", time.Minute, 100)
	require.NoError(t, err)
	require.Len(t, rest, n-len(reads))
	for _, p := range rest {
		require.NotContains(t, reads, p.Reference, "a payment read in the batch was released as due")
	}
}

// dueWaitingPayments starts a service with a poller read budget (its loops
// off: the test polls) and n payments waiting at Vipps, all due for a read,
// with the fake's recordings cleared.
func dueWaitingPayments(t *testing.T, n, budget int) *testEnv {
	t.Helper()
	e := startMain(t, func(c *config.Config) { c.Poller.MaxReadsPerSecond = budget }, func(m *Main) { m.NoLoops = true })
	for range n {
		_, p := e.checkout(e.order(nil).OrderID)
		require.NotNil(t, p)
	}
	e.settle()
	e.m.Sandbox.Vipps.ResetRecordings()
	e.clock.Advance(6 * time.Second) // the first read is due 5 s after create
	return e
}
