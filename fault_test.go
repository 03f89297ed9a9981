package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/klarna"
	"vippskco/vipps/vippstest"
)

// TestFaultInjection1000Shoppers runs a thousand shoppers (three hundred
// under the race detector) and their merchant through the whole service
// against a fake Vipps that drops 20 % of its webhooks, duplicates 5 %,
// answers 5xx to 5 % of API calls and times out after committing 2 % of
// them. At the end every payment must be what Vipps says it is, no capture
// may have happened twice, and every change must have its notification.
func TestFaultInjection1000Shoppers(t *testing.T) {
	if testing.Short() {
		t.Skip("fault injection with 1000 shoppers is long; run without -short")
	}
	began := time.Now()
	shoppers := 1000
	if raceEnabled {
		shoppers = 300
	}
	const workers = 16

	e := startMain(t, nil, func(m *Main) {
		m.Providers.HTTPClient = &http.Client{Timeout: 300 * time.Millisecond}
		m.PollEvery = 50 * time.Millisecond
	})
	fake := e.m.Sandbox.Vipps
	clockStart := e.clock.Now()
	fake.SetFaults(vippstest.Faults{
		Seed:                   20260302,
		DropWebhookRate:        0.20,
		DuplicateWebhookRate:   0.05,
		ServerErrorRate:        0.05,
		TimeoutAfterCommitRate: 0.02,
		Hang:                   time.Second,
		Ops: []string{vippstest.OpCreate, vippstest.OpGet, vippstest.OpEvents,
			vippstest.OpCapture, vippstest.OpCancel, vippstest.OpRefund},
	})
	f := &faultRun{t: t, e: e, fake: fake, requested: map[string]map[string]int64{}}

	// While people shop and the merchant works, time passes five times
	// faster than real time: leases run out, polls come due, and a
	// duplicated webhook is signed at a later second than its original.
	stopClock := ftRunClock(e.clock, 100*time.Millisecond, 20*time.Millisecond)

	// 1. The shoppers.
	list := make([]*ftShopper, shoppers)
	ftPool(shoppers, workers, func(i int) {
		s := &ftShopper{i: i}
		list[i] = s
		f.shop(s)
	})
	shopDone := time.Since(began)
	outcomes := map[string]int{}
	reloads := 0
	for _, s := range list {
		outcomes[s.outcome]++
		reloads += s.reloads
		if s.problem != "" {
			t.Errorf("shopper %d (%s): %s", s.i, s.ref, s.problem)
		}
	}

	// 2. The merchant ships what it knows is paid. It learns that from us,
	// so first give the poller time to catch the dropped authorizations.
	var approved []*ftShopper
	for _, s := range list {
		if s.outcome == "approved" {
			approved = append(approved, s)
		}
	}
	for waitUntil := time.Now().Add(time.Minute); time.Now().Before(waitUntil); {
		missing := 0
		for _, s := range approved {
			if p, err := e.m.Store.Payment(context.Background(), s.ref); err != nil || p.State != bridge.StateAuthorized {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var authorized []*bridge.Payment
	for _, s := range approved {
		if p, err := e.m.Store.Payment(context.Background(), s.ref); err == nil && p.State == bridge.StateAuthorized {
			authorized = append(authorized, p)
		}
	}
	assert.Len(t, authorized, len(approved), "every approved payment is known as AUTHORIZED before the merchant ships")
	sort.Slice(authorized, func(a, b int) bool { return authorized[a].Reference < authorized[b].Reference })
	ftPool(len(authorized), workers, func(j int) { f.merchant(j, authorized[j]) })
	merchantDone := time.Since(began)
	stopClock()

	// 3. Time passes until everything is quiet: abandoned payments expire
	// after ten minutes, and authorized ones are re-read every ten.
	steps := 0
	quiet, why := false, ""
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); {
		e.clock.Advance(3 * time.Second)
		time.Sleep(50 * time.Millisecond)
		steps++
		if steps%20 == 0 && e.clock.Now().Sub(clockStart) > 11*time.Minute {
			if quiet, why = f.quiet(list); quiet {
				break
			}
			t.Logf("clock +%s, %s: not quiet: %s", e.clock.Now().Sub(clockStart).Round(time.Second), time.Since(began).Round(time.Millisecond), why)
		}
	}
	e.m.Service.Wait()
	if !quiet {
		quiet, why = f.quiet(list)
	}

	// 4. Count, print, then judge.
	c := f.collect(list)
	fc := fake.FaultCounts()
	elapsed := time.Since(began)
	report := []string{
		fmt.Sprintf("shoppers %d: approved %d, rejected %d, abandoned %d, gave up after reloads %d (reloads %d)",
			shoppers, outcomes["approved"], outcomes["rejected"], outcomes["abandoned"], outcomes["gave-up"], reloads),
		fmt.Sprintf("payments here %d (at the fake %d): authorized %d, aborted %d, expired %d, terminated %d, failed %d",
			c.payments, c.fakePayments, c.states[bridge.StateAuthorized], c.states[bridge.StateAborted],
			c.states[bridge.StateExpired], c.states[bridge.StateTerminated], c.states[bridge.StateFailed]),
		fmt.Sprintf("captures requested %d (distinct keys), succeeded %d, refused %d, still pending %d; intentional repeats %d (replayed identically %d); cancels %d/%d; refunds %d/%d",
			f.capReq.Load(), f.capOK.Load(), f.capRefused.Load(), f.capPending.Load(), f.repeats.Load(), f.repeatsOK.Load(),
			f.cancelOK.Load(), f.cancelReq.Load(), f.refundOK.Load(), f.refundReq.Load()),
		fmt.Sprintf("captured at the fake %d CAPTURED events, %d NOK øre; succeeded capture operations here %d",
			c.fakeCaptureEvents, c.fakeCaptured, c.captureOps),
		fmt.Sprintf("faults injected: server errors %d, timeouts after commit %d, webhooks dropped %d, webhooks duplicated %d",
			fc.ServerErrors, fc.TimeoutsAfterCommit, fc.DroppedWebhooks, fc.DuplicatedWebhooks),
		fmt.Sprintf("webhook deliveries %d (2xx %d, refused as replay or otherwise %d); state changes by source %v; poller catch-ups %d",
			c.deliveries, c.deliveriesOK, c.deliveries-c.deliveriesOK, c.bySource, c.bySource[bridge.SourcePoller]),
		fmt.Sprintf("notifications %d %v; to the demo shop's receiver: %v", c.notifications, c.byType, c.delivery),
		fmt.Sprintf("elapsed %s (shoppers done at %s, merchant at %s; then the clock moved to +%s in %d steps); quiet=%v %s",
			elapsed.Round(time.Millisecond), shopDone.Round(time.Millisecond), merchantDone.Round(time.Millisecond),
			e.clock.Now().Sub(clockStart).Round(time.Second), steps, quiet, why),
	}
	for _, line := range report {
		t.Log(line)
		fmt.Printf("    fault-injection: %s\n", line)
	}

	require.True(t, quiet, "the system never became quiet: %s", why)
	for i, p := range c.problems {
		if i == 50 {
			t.Errorf("... and %d more problems", len(c.problems)-50)
			break
		}
		t.Error(p)
	}
	assert.Greater(t, f.capOK.Load(), int64(0))
	assert.Greater(t, c.bySource[bridge.SourcePoller], 0, "with 20 % of webhooks dropped the poller must have caught up some")
}

// faultRun is the shared state of the fault-injection test.
type faultRun struct {
	t    *testing.T
	e    *testEnv
	fake *vippstest.Server

	mu sync.Mutex
	// requested is, per reference, the amount each distinct capture key
	// asked for.
	requested map[string]map[string]int64

	capReq, capOK, capRefused, capPending atomic.Int64
	repeats, repeatsOK                    atomic.Int64
	cancelReq, cancelOK                   atomic.Int64
	refundReq, refundOK                   atomic.Int64
	problemsMu                            sync.Mutex
	problems                              []string
}

func (f *faultRun) problem(format string, args ...any) {
	f.problemsMu.Lock()
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
	f.problemsMu.Unlock()
}

// ftShopper is one simulated person.
type ftShopper struct {
	i       int
	orderID string
	ref     string
	token   string
	outcome string // approved, rejected, abandoned, gave-up
	reloads int
	problem string
}

// shop is one person: the merchant makes the KCO order, the person picks
// Vipps (our redirect), reloads on an error page, decides at Vipps, and
// sees the return page, which polls the status.
func (f *faultRun) shop(s *ftShopper) {
	e := f.e
	o, err := e.m.Sandbox.Kustom.CreateOrder(ftOrder(s.i))
	if err != nil {
		s.problem = "creating the KCO order: " + err.Error()
		return
	}
	s.orderID = o.OrderID
	entry, err := e.m.Service.EPMEntry("webshop", o.OrderID, "nb-NO")
	if err != nil {
		s.problem = "EPM entry: " + err.Error()
		return
	}
	landing := ""
	for try := range 8 {
		status, h, _, err := ftDo(e.http, "GET", entry.RedirectURL, http.Header{"Accept": {"text/html"}}, "")
		if err == nil && status == http.StatusSeeOther {
			landing = h.Get("Location")
			break
		}
		s.reloads++
		time.Sleep(time.Duration(20*(try+1)) * time.Millisecond)
	}
	ps, err := e.m.Store.PaymentsByOrder(context.Background(), o.OrderID)
	if err != nil {
		s.problem = "payments of the order: " + err.Error()
		return
	}
	if len(ps) > 0 {
		s.ref, s.token = ps[len(ps)-1].Reference, ps[len(ps)-1].ReturnToken
	}
	if landing == "" {
		s.outcome = "gave-up"
		return
	}
	if len(ps) != 1 {
		s.problem = fmt.Sprintf("one redirect made %d attempts", len(ps))
		return
	}
	if !strings.HasPrefix(landing, e.m.Sandbox.VippsURL()+"/landing?token=") {
		s.problem = "redirected to " + landing
		return
	}
	// Half the shoppers come back to the return page after deciding; the
	// other half have it open while they decide in the app and close the
	// browser afterwards, so only a webhook or the poller can tell us.
	base := e.m.PublicURL()
	visit := func() {
		_, _, _, _ = ftDo(e.http, "GET", base+"/return/"+s.token, http.Header{"Accept": {"text/html"}}, "")
		_, _, _, _ = ftDo(e.http, "GET", base+"/status/"+s.token, http.Header{"Accept": {"application/json"}}, "")
	}
	returnsAfter := s.i%20 < 10
	if !returnsAfter {
		visit()
	}
	switch s.i % 10 {
	case 0, 1, 2, 3, 4, 5, 6:
		s.outcome = "approved"
		err = f.fake.Approve(s.ref)
	case 7, 8:
		s.outcome = "rejected"
		err = f.fake.Reject(s.ref)
	default:
		s.outcome = "abandoned"
		return
	}
	if err != nil {
		s.problem = "at Vipps: " + err.Error()
		return
	}
	if returnsAfter {
		visit()
	}
}

// merchant ships the j-th authorized payment: a full capture (some then
// refund a little), two partial captures that add up to all, or one
// partial capture (half of those then cancel the rest). Some merchants
// double-click, some send a finished capture again on purpose.
func (f *faultRun) merchant(j int, p *bridge.Payment) {
	ref := p.Reference
	capture := func(name string, amount int64, doubleClick bool) (int, []byte) {
		key := ref + "-" + name
		f.mu.Lock()
		if f.requested[ref] == nil {
			f.requested[ref] = map[string]int64{}
		}
		f.requested[ref][key] = amount
		f.mu.Unlock()
		f.capReq.Add(1)
		body := fmt.Sprintf(`{"amount":{"value":%d,"currency":"NOK"}}`, amount)
		var status int
		var answer []byte
		if doubleClick {
			var wg sync.WaitGroup
			var other int
			var otherBody []byte
			wg.Go(func() { other, otherBody = f.operation("capture", ref, key, body) })
			status, answer = f.operation("capture", ref, key, body)
			wg.Wait()
			if other != status || string(otherBody) != string(answer) {
				f.problem("%s: a double-clicked capture got %d %s and %d %s", key, status, answer, other, otherBody)
			}
		} else {
			status, answer = f.operation("capture", ref, key, body)
		}
		switch {
		case status == http.StatusOK:
			f.capOK.Add(1)
		case status == http.StatusConflict && strings.Contains(string(answer), "operation_in_progress"):
			f.capPending.Add(1)
		default:
			f.capRefused.Add(1)
			f.problem("%s: capture of %d answered %d %s", key, amount, status, answer)
		}
		if status == http.StatusOK && j%7 == 0 {
			// The merchant's job runs again: the same key and body twice.
			for range 2 {
				f.repeats.Add(1)
				again, againBody := f.operation("capture", ref, key, body)
				if again == status && string(againBody) == string(answer) {
					f.repeatsOK.Add(1)
				} else {
					f.problem("%s: a repeated capture got %d %s, the first %d %s", key, again, againBody, status, answer)
				}
			}
		}
		return status, answer
	}
	switch j % 3 {
	case 0:
		if st, _ := capture("full", p.Authorized, j%11 == 0); st == http.StatusOK && j%4 == 0 {
			f.refundReq.Add(1)
			if st, b := f.operation("refund", ref, ref+"-refund", `{"amount":{"value":5000,"currency":"NOK"}}`); st == http.StatusOK {
				f.refundOK.Add(1)
			} else {
				f.problem("%s: refund answered %d %s", ref, st, b)
			}
		}
	case 1:
		if st, _ := capture("a", 10000, j%11 == 0); st == http.StatusOK {
			capture("b", p.Authorized-10000, false)
		}
	case 2:
		if st, _ := capture("a", 20000, j%11 == 0); st == http.StatusOK && j%2 == 0 {
			f.cancelReq.Add(1)
			if st, b := f.operation("cancel", ref, ref+"-cancel", ``); st == http.StatusOK {
				f.cancelOK.Add(1)
			} else {
				f.problem("%s: cancel answered %d %s", ref, st, b)
			}
		}
	}
}

// operation sends a merchant operation, retrying with the same key while
// it is in progress, the service is unavailable, or the network fails, as
// a merchant's job should. It gives up after a minute.
func (f *faultRun) operation(kind, ref, key, body string) (int, []byte) {
	e := f.e
	url := e.m.PublicURL() + "/api/v1/payments/" + ref + "/" + kind
	h := http.Header{
		"Authorization":   {"Bearer " + e.m.Config.APITokens.Merchant},
		"Content-Type":    {"application/json"},
		"Idempotency-Key": {key},
	}
	giveUp := time.Now().Add(time.Minute)
	for {
		status, _, answer, err := ftDo(e.http, "POST", url, h, body)
		retry := err != nil || (status >= 500 && !strings.Contains(string(answer), `"outcome_unknown"`)) ||
			(status == http.StatusConflict && (strings.Contains(string(answer), `"operation_in_progress"`) || strings.Contains(string(answer), `"busy"`)))
		if !retry || time.Now().After(giveUp) {
			return status, answer
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// quiet reports whether everything has settled: Vipps holds no payment
// open, we agree with it on every payment, no operation is pending and the
// fake has no webhook left to deliver.
func (f *faultRun) quiet(list []*ftShopper) (bool, string) {
	ctx := context.Background()
	e := f.e
	for _, ref := range f.fake.References() {
		snap, _ := f.fake.Payment(ref)
		p, err := e.m.Store.Payment(ctx, ref)
		if err != nil {
			return false, ref + ": " + err.Error()
		}
		if snap.State == vippstest.StateCreated {
			return false, ref + " is still CREATED at Vipps"
		}
		if string(snap.State) != string(p.State) {
			return false, fmt.Sprintf("%s is %s at Vipps, %s here", ref, snap.State, p.State)
		}
		if agg := [4]int64{snap.Authorized, snap.Captured, snap.Cancelled, snap.Refunded}; agg != [4]int64{p.Authorized, p.Captured, p.Cancelled, p.Refunded} {
			return false, fmt.Sprintf("%s aggregates at Vipps %v, here %v", ref, agg, [4]int64{p.Authorized, p.Captured, p.Cancelled, p.Refunded})
		}
		if p.State == bridge.StateAuthorized {
			ops, err := e.m.Store.Operations(ctx, ref)
			if err != nil {
				return false, err.Error()
			}
			for _, op := range ops {
				if op.State == bridge.OperationPending {
					return false, fmt.Sprintf("%s operation %s %s is pending", ref, op.Kind, op.IdempotencyKey)
				}
			}
		}
	}
	for _, s := range list {
		if s.orderID == "" {
			continue
		}
		ps, err := e.m.Store.PaymentsByOrder(ctx, s.orderID)
		if err != nil {
			return false, err.Error()
		}
		for _, p := range ps {
			if !p.State.Final() {
				return false, fmt.Sprintf("%s is still %s here", p.Reference, p.State)
			}
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := f.fake.WaitWebhooks(wctx); err != nil {
		return false, "webhooks still queued at Vipps"
	}
	return true, ""
}

// ftCounts is what the end of the test counts and finds wrong.
type ftCounts struct {
	payments, fakePayments        int
	states                        map[bridge.PaymentState]int
	bySource                      map[string]int
	byType                        map[string]int
	delivery                      map[string]int
	notifications                 int
	fakeCaptureEvents, captureOps int
	fakeCaptured                  int64
	deliveries, deliveriesOK      int
	problems                      []string
}

// collect compares every payment with the fake and checks the invariants.
func (f *faultRun) collect(list []*ftShopper) *ftCounts {
	ctx := context.Background()
	e := f.e
	c := &ftCounts{states: map[bridge.PaymentState]int{}, bySource: map[string]int{}, byType: map[string]int{}, delivery: map[string]int{}}
	c.problems = append(c.problems, f.problems...)
	bad := func(format string, args ...any) { c.problems = append(c.problems, fmt.Sprintf(format, args...)) }
	for _, d := range f.fake.Deliveries() {
		if d.Dropped {
			continue
		}
		c.deliveries++
		if d.Succeeded() {
			c.deliveriesOK++
		}
	}

	atFake := map[string]bool{}
	for _, ref := range f.fake.References() {
		atFake[ref] = true
	}
	c.fakePayments = len(atFake)
	var refs []string
	for _, s := range list {
		if s.orderID == "" {
			continue
		}
		ps, err := e.m.Store.PaymentsByOrder(ctx, s.orderID)
		if err != nil {
			bad("payments of %s: %v", s.orderID, err)
			continue
		}
		for _, p := range ps {
			refs = append(refs, p.Reference)
		}
	}
	seenIDs := map[string]string{}
	for _, ref := range refs {
		c.payments++
		p, err := e.m.Store.Payment(ctx, ref)
		if err != nil {
			bad("%s: %v", ref, err)
			continue
		}
		c.states[p.State]++
		snap, ok := f.fake.Payment(ref)
		switch {
		case !ok && p.State != bridge.StateFailed:
			bad("%s: unknown at Vipps but %s here", ref, p.State)
		case ok && snap.State == vippstest.StateAuthorized:
			if p.State != bridge.StateAuthorized {
				bad("%s: AUTHORIZED at Vipps, %s here", ref, p.State)
			}
			if got, want := [4]int64{p.Authorized, p.Captured, p.Cancelled, p.Refunded}, [4]int64{snap.Authorized, snap.Captured, snap.Cancelled, snap.Refunded}; got != want {
				bad("%s: aggregates (authorized, captured, cancelled, refunded) here %v, at Vipps %v", ref, got, want)
			}
		case ok && string(snap.State) != string(p.State):
			bad("%s: %s at Vipps, %s here", ref, snap.State, p.State)
		}

		// Captures: no more than the merchant asked for, one CAPTURED event
		// per key, one per succeeded operation.
		ops, err := e.m.Store.Operations(ctx, ref)
		if err != nil {
			bad("%s operations: %v", ref, err)
		}
		opByVippsKey := map[string]*bridge.Operation{}
		succeededCaptures := 0
		for _, op := range ops {
			opByVippsKey[op.VippsIdempotencyKey] = op
			if op.Kind == bridge.OpCapture && op.State == bridge.OperationSucceeded {
				succeededCaptures++
			}
			if op.State == bridge.OperationPending {
				bad("%s: operation %s (%s) still pending", ref, op.IdempotencyKey, op.Kind)
			}
		}
		c.captureOps += succeededCaptures
		if ok {
			f.mu.Lock()
			var asked int64
			for _, v := range f.requested[ref] {
				asked += v
			}
			f.mu.Unlock()
			if snap.Captured > asked {
				bad("%s: Vipps captured %d, the merchant asked for %d in distinct keys", ref, snap.Captured, asked)
			}
			c.fakeCaptured += snap.Captured
			perKey := map[string]int{}
			fakeCaptures := 0
			for _, ev := range snap.Events {
				if ev.Name != vippstest.EventCaptured || !ev.Success {
					continue
				}
				fakeCaptures++
				perKey[ev.IdempotencyKey]++
				op := opByVippsKey[ev.IdempotencyKey]
				if op == nil || op.Kind != bridge.OpCapture {
					bad("%s: CAPTURED event at Vipps with key %q that none of our capture operations sent", ref, ev.IdempotencyKey)
				}
			}
			for k, n := range perKey {
				if n > 1 {
					bad("%s: %d CAPTURED events at Vipps for one key %s (merchant key %s)", ref, n, k, opByVippsKey[k].IdempotencyKey)
				}
			}
			c.fakeCaptureEvents += fakeCaptures
			if fakeCaptures != succeededCaptures {
				bad("%s: %d CAPTURED events at Vipps, %d succeeded capture operations here", ref, fakeCaptures, succeededCaptures)
			}
		}

		// Notifications: one per state change into a final state, one per
		// money event, ids unique.
		ns, err := e.m.Store.Notifications(ctx, ref, "", 1000)
		if err != nil {
			bad("%s notifications: %v", ref, err)
			continue
		}
		hist, err := e.m.Store.History(ctx, ref)
		if err != nil {
			bad("%s history: %v", ref, err)
			continue
		}
		events, err := e.m.Store.PaymentEvents(ctx, ref)
		if err != nil {
			bad("%s events: %v", ref, err)
			continue
		}
		typeCount := map[string]int{}
		byPSP := map[string]int{}
		for _, n := range ns {
			c.notifications++
			c.delivery[n.State()]++
			c.byType[n.Type]++
			typeCount[n.Type]++
			if other, dup := seenIDs[n.ID]; dup {
				bad("notification id %s repeats (%s and %s)", n.ID, other, ref)
			}
			seenIDs[n.ID] = ref
			var body bridge.NotificationPayload
			if err := json.Unmarshal(n.Payload, &body); err != nil {
				bad("%s: notification %s payload: %v", ref, n.ID, err)
				continue
			}
			if body.ID != n.ID || body.Type != n.Type || body.Payment.Reference != ref {
				bad("%s: notification %s says id %s type %s reference %s", ref, n.ID, body.ID, body.Type, body.Payment.Reference)
			}
			if body.Event != nil {
				byPSP[n.Type+"\x00"+body.Event.PSPReference]++
			}
			if len(body.Payment.Order) == 0 {
				bad("%s: notification %s (%s) carries no KCO order snapshot", ref, n.ID, n.Type)
			}
			if st, ok := strings.CutPrefix(n.Type, "payment."); ok && bridge.PaymentState(strings.ToUpper(st)).Final() && string(body.Payment.State) != strings.ToUpper(st) {
				bad("%s: %s notification shows the payment %s", ref, n.Type, body.Payment.State)
			}
		}
		stateEntries := map[string]int{}
		from := bridge.StatePending
		for _, h := range hist {
			c.bySource[h.Source]++
			if h.FromState != from {
				bad("%s: history goes %s -> %s after reaching %s", ref, h.FromState, h.ToState, from)
			}
			from = h.ToState
			if h.ToState.Final() {
				stateEntries["payment."+strings.ToLower(string(h.ToState))]++
			}
		}
		if from != p.State {
			bad("%s: history ends in %s, the payment is %s", ref, from, p.State)
		}
		for typ, n := range stateEntries {
			if typeCount[typ] != n {
				bad("%s: %d history entries into %s, %d notifications of that type", ref, n, typ, typeCount[typ])
			}
		}
		moneyEvents := map[string]int{}
		for _, ev := range events {
			switch ev.Name {
			case "CAPTURED", "REFUNDED", "CANCELLED":
			default:
				continue
			}
			if !ev.Success || ev.Amount.Value <= 0 {
				continue
			}
			typ := "payment." + strings.ToLower(ev.Name)
			moneyEvents[typ]++
			if n := byPSP[typ+"\x00"+ev.PSPReference]; n != 1 {
				bad("%s: %s event %s of %d has %d notifications", ref, ev.Name, ev.PSPReference, ev.Amount.Value, n)
			}
		}
		for _, typ := range []string{"payment.captured", "payment.refunded", "payment.cancelled"} {
			if typeCount[typ] != moneyEvents[typ] {
				bad("%s: %d %s notifications for %d such events", ref, typeCount[typ], typ, moneyEvents[typ])
			}
		}
		for _, typ := range []string{"payment.authorized", "payment.aborted", "payment.expired", "payment.terminated", "payment.failed"} {
			if typeCount[typ] > 0 && stateEntries[typ] == 0 {
				bad("%s: %d %s notifications without that state change", ref, typeCount[typ], typ)
			}
		}
	}
	for ref := range atFake {
		if !slices.Contains(refs, ref) {
			bad("%s exists at Vipps but belongs to no shopper's order here", ref)
		}
	}
	return c
}

// ftOrder is shopper i's cart: one to three cups and the shipping.
func ftOrder(i int) klarna.Order {
	q := int64(1 + i%3)
	return klarna.Order{
		PurchaseCountry: "NO", PurchaseCurrency: "NOK", Locale: "nb-NO",
		OrderAmount: 39800*q + 4900, OrderTaxAmount: 7960*q + 980,
		OrderLines: []klarna.OrderLine{
			{Type: "physical", Reference: "termokopp", Name: "Termokopp", Quantity: q, QuantityUnit: "pcs", UnitPrice: 39800, TaxRate: 2500, TotalAmount: 39800 * q, TotalTaxAmount: 7960 * q},
			{Type: "shipping_fee", Reference: "frakt", Name: "Frakt", Quantity: 1, UnitPrice: 4900, TaxRate: 2500, TotalAmount: 4900, TotalTaxAmount: 980},
		},
		MerchantReference1: fmt.Sprintf("FAULT-%04d", i),
		BillingAddress:     &klarna.Address{GivenName: "Kari", FamilyName: "Nordmann", Phone: "+47 912 34 567", Country: "NO"},
		MerchantURLs: &klarna.MerchantURLs{Terms: "https://shop.example/terms", Checkout: "https://shop.example/checkout",
			Confirmation: "https://shop.example/thanks", Push: "https://shop.example/push"},
	}
}

// ftDo sends one request and reads the whole answer. It never fails the
// test, so worker goroutines can use it.
func ftDo(c *http.Client, method, url string, header http.Header, body string) (int, http.Header, []byte, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header = header
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

// ftPool runs f(0..n-1) on a bounded number of workers.
func ftPool(n, workers int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}

// ftRunClock moves clk forward by step every real interval until stopped.
func ftRunClock(clk *vippstest.Clock, step, every time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				clk.Advance(step)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
