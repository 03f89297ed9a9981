package main

import (
	"cmp"
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/config"
	"vippskco/klarna"
	"vippskco/klarna/klarnatest"
	"vippskco/vipps"
	"vippskco/vipps/vippstest"
)

// The fault-injection test drives the whole service step by step on a test
// clock: nothing runs by itself. Shoppers, the merchant and time are events
// in one queue; each event runs alone, and then the rig settles: it waits
// until the service has no background work (Service.Wait), hands the fake
// Vipps's webhooks to the service one at a time through a gate, and waits
// again. Time only moves between events, when everything is idle. The
// poller, the operation sweep and the outbox run when the test says
// (Main.NoLoops), one payment per poll round. So every call reaches the
// fake Vipps in the same order on every run, and its seeded fault
// generator makes the same decisions: the same seed gives the same run and
// the same numbers.
//
//	go test -run TestFaultInjection -v .                   the default seed
//	go test -run TestFaultInjection -v . -fault.seed=7     another one
//	VIPPSKCO_FAULT_SEED=7 go test -run TestFaultInjection -v .

var faultSeedFlag = flag.Int64("fault.seed", 0, "seed of TestFaultInjection (0: $VIPPSKCO_FAULT_SEED, else the default)")

const defaultFaultSeed = 20260302

func faultSeed(t testing.TB) int64 {
	if *faultSeedFlag != 0 {
		return *faultSeedFlag
	}
	if v := os.Getenv("VIPPSKCO_FAULT_SEED"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		require.NoError(t, err, "VIPPSKCO_FAULT_SEED")
		return n
	}
	return defaultFaultSeed
}

// TestFaultInjection runs the same shoppers and merchant twice against a
// fake Vipps that answers 5xx to 5 % of the payment calls, times out after
// committing 2 % of them and duplicates 5 % of its webhooks, while the
// merchant's endpoint fails a tenth of first deliveries. The first run
// drops no webhooks: the webhooks must then drive the state changes, and
// the poller find almost nothing. The second drops 20 %: the poller must
// catch up exactly the dropped changes that no shopper page caught. Both
// runs end with the invariant checker.
func TestFaultInjection(t *testing.T) {
	if testing.Short() {
		t.Skip("fault injection is long; run without -short")
	}
	seed := faultSeed(t)
	shoppers := 120
	if raceEnabled {
		shoppers = 60
	}
	t.Logf("fault-injection seed %d (-fault.seed=N or VIPPSKCO_FAULT_SEED=N to change it)", seed)
	fmt.Printf("    fault-injection: seed %d, %d shoppers per run\n", seed, shoppers)
	for _, drops := range []bool{false, true} {
		name := "webhooks-delivered"
		if drops {
			name = "webhooks-dropped"
		}
		t.Run(name, func(t *testing.T) {
			// The two runs share nothing, and each is sequential: side by
			// side they use both cores.
			t.Parallel()
			faultRunMode(t, seed, shoppers, drops)
		})
	}
}

func faultRunMode(t *testing.T, seed int64, shoppers int, drops bool) {
	began := time.Now()
	faults := vippstest.Faults{
		Seed:                   seed,
		ServerErrorRate:        0.05,
		TimeoutAfterCommitRate: 0.02,
		DuplicateWebhookRate:   0.05,
		Ops: []string{vippstest.OpCreate, vippstest.OpGet, vippstest.OpEvents,
			vippstest.OpCapture, vippstest.OpCancel, vippstest.OpRefund},
	}
	if drops {
		faults.DropWebhookRate = 0.20
	}
	r := newStepRig(t, seed)
	// The merchant's endpoint stores a tenth of the notifications and then
	// fails to answer: each of those comes again, with the same id.
	r.hooks.fail = func(n *bridge.NotificationPayload, attempt int) bool {
		psp := ""
		if n.Event != nil {
			psp = n.Event.PSPReference
		}
		return attempt == 1 && hashOf(seed, r.shopperOf(n.Payment.Reference), n.Type, psp)%10 == 0
	}
	r.vipps.SetFaults(faults)
	f := &faultRun{t: t, r: r, seed: seed, asked: map[string]int64{}}

	for i := range shoppers {
		s := f.newShopper(i)
		r.at(r.start.Add(time.Duration(i)*1500*time.Millisecond), func() { f.arrive(s) })
	}
	r.runUntilQuiet(0, time.Hour, f.quiet)

	// Count, print, then judge.
	c := f.count()
	report := f.report(c)
	sum := sha256.Sum256([]byte(strings.Join(report, "\n")))
	fingerprint := hex.EncodeToString(sum[:6])
	for _, line := range report {
		t.Log(line)
		fmt.Printf("    fault-injection %s: %s\n", t.Name()[strings.LastIndex(t.Name(), "/")+1:], line)
	}
	wall := fmt.Sprintf("summary fingerprint %s; wall time %s", fingerprint, time.Since(began).Round(time.Millisecond))
	t.Log(wall)
	fmt.Printf("    fault-injection %s: %s\n", t.Name()[strings.LastIndex(t.Name(), "/")+1:], wall)

	for _, p := range f.problems {
		t.Error(p)
	}
	for _, p := range r.hooks.troubles() {
		t.Error(p)
	}
	requireInvariants(t, c.world)

	// The faults had effect, and the client saw each one.
	fc := c.faults
	assert.Greater(t, fc.ServerErrors, 0, "server errors injected")
	assert.Greater(t, fc.TimeoutsAfterCommit, 0, "timeouts injected")
	assert.Greater(t, fc.DuplicatedWebhooks, 0, "webhooks duplicated")
	assert.Equal(t, fc.ServerErrors, c.client5xx, "every injected 5xx reached our client and is in the provider log")
	assert.Equal(t, fc.TimeoutsAfterCommit, c.clientNoAnswer, "every injected timeout is an unanswered attempt in the provider log")
	assert.Zero(t, c.notRetried, "every failed attempt was sent again, unless the client had no retry left")
	assert.Equal(t, c.client5xx+c.clientNoAnswer-c.gaveUp, c.retries, "no attempt was sent again without a failure")
	assert.Zero(t, c.pollerFirst, "the poller never found a change before its webhook came, when the webhook came")
	assert.Greater(t, c.dupAccepted, 0, "duplicated webhooks reached us")
	assert.Zero(t, c.dupRefused, "a duplicated webhook is answered 200, never refused")
	assert.Greater(t, c.redelivered, 0, "the merchant got some notifications again")
	assert.Greater(t, f.capOK, 0)
	assert.Greater(t, c.guarded, 0, "the double-payment guard had something to do")

	final := c.finalChanges
	if !drops {
		assert.Zero(t, fc.DroppedWebhooks)
		assert.GreaterOrEqual(t, float64(c.bySourceFinal[bridge.SourceWebhook]), 0.95*float64(final),
			"with every webhook delivered, webhooks make at least 95 %% of the state changes Vipps reports: %v", c.bySourceFinal)
		assert.LessOrEqual(t, float64(c.bySourceFinal[bridge.SourcePoller]), 0.01*float64(final),
			"with every webhook delivered, the poller catches up next to nothing: %v", c.bySourceFinal)
	} else {
		assert.Greater(t, fc.DroppedWebhooks, 0)
		assert.Greater(t, c.droppedBy[bridge.SourcePoller], 0, "the poller caught up dropped changes")
		assert.Zero(t, c.droppedBy[bridge.SourceWebhook], "a dropped webhook cannot have made a change")
		assert.Equal(t, c.droppedBy[bridge.SourcePoller]+c.pollerAfterWebhook, c.bySourceFinal[bridge.SourcePoller],
			"the poller caught up exactly the dropped changes no page caught (and any whose webhook read failed)")
		made := 0
		for _, n := range c.droppedBy {
			made += n
		}
		assert.Equal(t, c.droppedState, made, "every change whose webhook was dropped was made by another channel")
	}
}

// faultRun is one run's shoppers, merchant and findings.
type faultRun struct {
	t    *testing.T
	r    *stepRig
	seed int64

	shoppers []*ftShopper
	problems []string
	// asked is, per reference, what the merchant asked to capture under
	// distinct keys.
	asked map[string]int64

	shipped                         int
	capReq, capOK, capPending       int
	repeats, repeatsOK              int
	cancelReq, cancelOK             int
	refundReq, refundOK             int
	klarnaToo, cartChanged, reloads int
}

func (f *faultRun) problem(format string, args ...any) {
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
}

// ftShopper is one simulated person.
type ftShopper struct {
	i int
	// kind is what they do: approve, reject, abandon (close the app and
	// let the payment expire), cart (go back, change the address and pay
	// the new attempt) or klarna (pay with Vipps, then complete the same
	// KCO order with Klarna too).
	kind          string
	returnsBefore bool // the return page is open while they decide
	decideAfter   time.Duration

	orderID    string
	ref, token string
	attempts   int
	outcome    string // approved, rejected, abandoned, gave-up
	changed    bool
	klarnaDone bool
}

func (f *faultRun) newShopper(i int) *ftShopper {
	rng := rand.New(rand.NewPCG(uint64(f.seed), uint64(i)))
	s := &ftShopper{i: i, returnsBefore: rng.IntN(2) == 0, decideAfter: time.Duration(2000+rng.IntN(5000)) * time.Millisecond}
	switch x := rng.IntN(100); {
	case x < 68:
		s.kind = "approve"
	case x < 86:
		s.kind = "reject"
	case x < 88:
		s.kind = "abandon"
	case x < 95:
		s.kind = "cart"
	default:
		s.kind = "klarna"
	}
	f.shoppers = append(f.shoppers, s)
	return s
}

// arrive: the merchant makes the KCO order, the shopper picks Vipps.
func (f *faultRun) arrive(s *ftShopper) {
	o, err := f.r.kustom.CreateOrder(cart(int64(1+s.i%3), fmt.Sprintf("FAULT-%04d", s.i)))
	if err != nil {
		f.problem("shopper %d: creating the KCO order: %v", s.i, err)
		return
	}
	s.orderID = o.OrderID
	f.r.orders = append(f.r.orders, o.OrderID)
	f.redirect(s, 0)
}

// redirect follows our redirect_url; on an error page the shopper reloads
// a second later, up to eight times.
func (f *faultRun) redirect(s *ftShopper, try int) {
	r := f.r
	entry, err := r.m.Service.EPMEntry("webshop", s.orderID, "nb-NO")
	if err != nil {
		f.problem("shopper %d: EPM entry: %v", s.i, err)
		return
	}
	status, h, _, err := ftDo(r.http, "GET", r.direct(entry.RedirectURL), http.Header{"Accept": {"text/html"}}, "")
	if err != nil || status != http.StatusSeeOther {
		f.reloads++
		if try < 7 {
			r.after(time.Second, func() { f.redirect(s, try+1) })
		} else {
			s.outcome = "gave-up"
		}
		return
	}
	ps, err := r.m.Store.PaymentsByOrder(context.Background(), s.orderID)
	if err != nil || len(ps) == 0 {
		f.problem("shopper %d: a redirect that made no attempt (%v)", s.i, err)
		return
	}
	last := ps[len(ps)-1]
	s.ref, s.token, s.attempts = last.Reference, last.ReturnToken, len(ps)
	r.refsMu.Lock()
	r.refs[s.ref] = s.i
	r.refsMu.Unlock()
	if landing := h.Get("Location"); !strings.HasPrefix(landing, r.vipps.URL()+"/landing?token=") {
		f.problem("shopper %d: redirected to %s", s.i, landing)
		return
	}
	if s.kind == "cart" && !s.changed {
		// Back to the checkout, a new address, Vipps again: the open
		// attempt is ended at Vipps and a new one made.
		s.changed = true
		f.cartChanged++
		r.after(2*time.Second, func() {
			if err := r.kustom.MutateOrder(s.orderID, func(o *klarna.Order) { o.BillingAddress.StreetAddress = "Nygata 2" }); err != nil {
				f.problem("shopper %d: changing the cart: %v", s.i, err)
				return
			}
			f.redirect(s, 0)
		})
		return
	}
	if s.returnsBefore {
		f.visit(s)
	}
	r.after(s.decideAfter, func() { f.decide(s) })
}

// visit is the return page and its status poll.
func (f *faultRun) visit(s *ftShopper) {
	base := f.r.base
	_, _, _, _ = ftDo(f.r.http, "GET", base+"/return/"+s.token, http.Header{"Accept": {"text/html"}}, "")
	_, _, _, _ = ftDo(f.r.http, "GET", base+"/status/"+s.token, http.Header{"Accept": {"application/json"}}, "")
}

// decide happens in the Vipps app.
func (f *faultRun) decide(s *ftShopper) {
	var err error
	switch s.kind {
	case "approve", "cart", "klarna":
		s.outcome = "approved"
		err = f.r.vipps.Approve(s.ref)
	case "reject":
		s.outcome = "rejected"
		err = f.r.vipps.Reject(s.ref)
	default:
		s.outcome = "abandoned"
		return
	}
	if err != nil {
		f.problem("shopper %d (%s): at Vipps: %v", s.i, s.ref, err)
		return
	}
	if !s.returnsBefore {
		f.r.after(time.Second, func() { f.visit(s) })
	}
	if s.outcome == "approved" {
		f.r.after(3*time.Second, func() { f.waitForPayment(s, 0) })
	}
}

// waitForPayment is the merchant looking at our API until the payment is
// authorized, then shipping.
func (f *faultRun) waitForPayment(s *ftShopper, n int) {
	p, err := f.r.m.Store.Payment(context.Background(), s.ref)
	if err == nil && p.State == bridge.StateAuthorized {
		f.ship(s, p)
		return
	}
	if n == 36 {
		f.problem("shopper %d (%s): approved at Vipps, never AUTHORIZED here", s.i, s.ref)
		return
	}
	f.r.after(5*time.Second, func() { f.waitForPayment(s, n+1) })
}

// ship is what the merchant does with an authorized payment: a full
// capture (some then refund a little), two partial captures that add up
// to all, or one partial capture (half of those then cancel the rest).
// Some merchants send a finished capture again, on purpose. A shopper who
// also paid with Klarna gets a partial capture before that happens.
func (f *faultRun) ship(s *ftShopper, p *bridge.Payment) {
	j := f.shipped
	f.shipped++
	ref := p.Reference
	if s.kind == "klarna" {
		f.capture(j, ref, "a", 20000, func(int) {
			f.r.after(2*time.Second, func() {
				f.klarnaToo++
				s.klarnaDone = true
				if err := f.r.kustom.Complete(s.orderID); err != nil {
					f.problem("shopper %d: completing with Klarna: %v", s.i, err)
				}
			})
		})
		return
	}
	switch j % 3 {
	case 0:
		f.capture(j, ref, "full", p.Authorized, func(st int) {
			if st == http.StatusOK && j%4 == 0 {
				f.refundReq++
				f.operation("refund", ref, ref+"-refund", `{"amount":{"value":5000,"currency":"NOK"}}`, 0, func(st int, b []byte) {
					if st == http.StatusOK {
						f.refundOK++
					} else {
						f.problem("%s: refund answered %d %s", ref, st, b)
					}
				})
			}
		})
	case 1:
		f.capture(j, ref, "a", 10000, func(st int) {
			if st == http.StatusOK {
				f.capture(j, ref, "b", p.Authorized-10000, nil)
			}
		})
	case 2:
		f.capture(j, ref, "a", 20000, func(st int) {
			if st == http.StatusOK && j%2 == 0 {
				f.cancelReq++
				f.operation("cancel", ref, ref+"-cancel", ``, 0, func(st int, b []byte) {
					if st == http.StatusOK {
						f.cancelOK++
					} else {
						f.problem("%s: cancel answered %d %s", ref, st, b)
					}
				})
			}
		})
	}
}

func (f *faultRun) capture(j int, ref, name string, amount int64, then func(status int)) {
	key := ref + "-" + name
	f.asked[ref] += amount
	f.capReq++
	body := fmt.Sprintf(`{"amount":{"value":%d,"currency":"NOK"}}`, amount)
	f.operation("capture", ref, key, body, 0, func(status int, answer []byte) {
		if status == http.StatusOK {
			f.capOK++
		} else {
			f.problem("%s: capture of %d answered %d %s", key, amount, status, answer)
		}
		if status == http.StatusOK && j%7 == 0 {
			// The merchant's job runs again: the same key and body.
			for k := 1; k <= 2; k++ {
				f.r.after(time.Duration(k)*time.Second, func() {
					f.repeats++
					f.operation("capture", ref, key, body, 0, func(again int, againBody []byte) {
						if again == status && string(againBody) == string(answer) {
							f.repeatsOK++
						} else {
							f.problem("%s: a repeated capture got %d %s, the first %d %s", key, again, againBody, status, answer)
						}
					})
				})
			}
		}
		if then != nil {
			then(status)
		}
	})
}

// operation sends a merchant operation and, while it is in progress or
// the service is unavailable, sends it again with the same key two seconds
// later, as a merchant's job should; it gives up after five minutes.
func (f *faultRun) operation(kind, ref, key, body string, try int, then func(int, []byte)) {
	r := f.r
	h := http.Header{
		"Authorization":   {"Bearer " + r.m.Config.APITokens.Merchant},
		"Content-Type":    {"application/json"},
		"Idempotency-Key": {key},
	}
	status, _, answer, err := ftDo(r.http, "POST", r.base+"/api/v1/payments/"+ref+"/"+kind, h, body)
	retry := err != nil || (status >= 500 && !strings.Contains(string(answer), `"outcome_unknown"`)) ||
		(status == http.StatusConflict && (strings.Contains(string(answer), `"operation_in_progress"`) || strings.Contains(string(answer), `"busy"`)))
	if retry && try < 150 {
		if try == 0 && kind == "capture" {
			f.capPending++
		}
		r.after(2*time.Second, func() { f.operation(kind, ref, key, body, try+1, then) })
		return
	}
	then(status, answer)
}

// quiet reports whether the run is over: every attempt final, no
// operation pending, every notification delivered, no webhook queued, and
// the guard has found every order also paid with Klarna (at the payment's
// next poll, up to ten minutes later).
func (f *faultRun) quiet() (bool, string) {
	ctx := context.Background()
	st := f.r.m.Store
	if ns, err := st.Notifications(ctx, "", bridge.NotificationPending, 1); err != nil || len(ns) > 0 {
		return false, "notifications pending"
	}
	if !f.r.fakeIdle() {
		return false, "webhooks queued at Vipps"
	}
	// The newest first: they are the likeliest to be unfinished.
	for k := len(f.shoppers) - 1; k >= 0; k-- {
		s := f.shoppers[k]
		if s.orderID == "" {
			continue
		}
		if done, why := orderSettled(ctx, st, s.orderID); !done {
			return false, why
		}
		if s.klarnaDone {
			if _, err := st.OperationByKey(ctx, "guard-klarna-"+s.ref); err != nil {
				return false, fmt.Sprintf("%s: the guard has not seen the Klarna payment yet", s.ref)
			}
		}
	}
	return true, ""
}

// ftCounts is what the end of a run counts.
type ftCounts struct {
	world  *world
	faults vippstest.FaultCounts

	outcomes map[string]int
	payments int
	states   map[bridge.PaymentState]int
	// bySource counts every state change by channel; bySourceFinal the
	// changes into a state Vipps reports (by webhook too), leaving out
	// the ones our own redirect makes (TERMINATED, FAILED).
	bySource, bySourceFinal map[string]int
	finalChanges            int
	// droppedBy counts the changes whose webhook Vipps dropped, by the
	// channel that made them instead.
	droppedBy                                   map[string]int
	droppedState, droppedMoney                  int
	deliveries, accepted, refused               int
	dupAccepted, dupRefused                     int
	client5xx, clientNoAnswer, retries          int
	gaveUp, notRetried                          int
	pollerAfterWebhook, pollerFirst             int
	unknownOps, opAttempts                      int
	captureEvents                               int
	captured                                    int64
	notifications                               int
	byType                                      map[string]int
	receivedIDs, receivedTotal, redelivered     int
	refusedByMerchant                           int
	guarded, polls, ticks, steps, webhooksGated int
	fakeMinutes                                 time.Duration
}

func (f *faultRun) count() *ftCounts {
	ctx := context.Background()
	r := f.r
	c := &ftCounts{
		outcomes: map[string]int{}, states: map[bridge.PaymentState]int{}, bySource: map[string]int{},
		bySourceFinal: map[string]int{}, droppedBy: map[string]int{}, byType: map[string]int{},
		faults: r.vipps.FaultCounts(), polls: r.polls, ticks: r.ticks, steps: r.steps, webhooksGated: r.gated,
		fakeMinutes: r.clk.Now().Sub(r.start),
	}
	c.world = collectWorld(f.t, worldSources{
		store: r.m.Store, vipps: r.vipps, kustom: r.kustom, merchant: r.hooks, orders: r.orders, asked: f.asked, now: r.clk.Now(),
	})
	for _, s := range f.shoppers {
		c.outcomes[s.outcome]++
	}
	dropped := map[string]bool{}
	// delivered is when a webhook for each (reference, event) was first
	// accepted.
	delivered := map[string]time.Time{}
	for _, d := range r.vipps.Deliveries() {
		if d.Dropped {
			dropped[d.Event.Reference+" "+string(d.Event.Name)] = true
			switch d.Event.Name {
			case vippstest.EventAuthorized, vippstest.EventAborted, vippstest.EventExpired, vippstest.EventTerminated:
				c.droppedState++
			case vippstest.EventCaptured, vippstest.EventRefunded, vippstest.EventCancelled:
				c.droppedMoney++
			}
			continue
		}
		c.deliveries++
		refused := d.Status == http.StatusUnauthorized
		if d.Succeeded() {
			c.accepted++
			key := d.Event.Reference + " " + string(d.Event.Name)
			if at, ok := delivered[key]; !ok || d.At.Before(at) {
				delivered[key] = d.At
			}
		} else if refused {
			c.refused++
		}
		if d.Duplicate && d.Succeeded() {
			c.dupAccepted++
		} else if d.Duplicate && refused {
			c.dupRefused++
		}
	}
	c.receivedIDs, c.receivedTotal, c.redelivered, c.refusedByMerchant = r.hooks.counts()
	c.world.eachAttempt(func(_ *worldOrder, a *worldAttempt) {
		c.payments++
		c.states[a.p.State]++
		for _, h := range a.history {
			c.bySource[h.Source]++
			switch h.ToState {
			case bridge.StateAuthorized, bridge.StateAborted, bridge.StateExpired, bridge.StateTerminated:
				key := a.p.Reference + " " + string(h.ToState)
				if dropped[key] {
					c.droppedBy[h.Source]++
				} else if h.Source == bridge.SourcePoller {
					// The webhook came: either its read of the payment
					// failed (every retry), or the poller got there first.
					if at, ok := delivered[key]; ok && !at.After(h.At) {
						c.pollerAfterWebhook++
					} else {
						c.pollerFirst++
					}
				}
				if h.Source == bridge.SourceRedirect {
					continue // our own cancel of a replaced attempt
				}
				c.bySourceFinal[h.Source]++
				c.finalChanges++
			}
		}
		for _, op := range a.ops {
			c.opAttempts += op.Attempts
			if op.Attempts > 1 {
				c.unknownOps++
			}
			if op.Source == bridge.SourceGuard {
				c.guarded++
			}
		}
		for _, n := range a.notes {
			c.notifications++
			c.byType[n.Type]++
		}
		exs, err := r.m.Store.Exchanges(ctx, a.p.Reference)
		require.NoError(f.t, err)
		for i, ex := range exs {
			if ex.Provider != "vipps" {
				continue
			}
			if ex.Attempt > 1 {
				c.retries++
			}
			failed := ex.StatusCode >= 500 || (ex.StatusCode == 0 && ex.Error != "")
			if !failed {
				continue
			}
			if ex.StatusCode >= 500 {
				c.client5xx++
			} else {
				c.clientNoAnswer++
			}
			// The next attempt of the same call follows at once (calls are
			// one at a time here), unless the client had no retry left.
			if i+1 < len(exs) && exs[i+1].Operation == ex.Operation && exs[i+1].Attempt == ex.Attempt+1 {
				continue
			}
			if ex.Attempt > vipps.DefaultMaxRetries {
				c.gaveUp++
			} else {
				c.notRetried++
			}
		}
		if snap, ok := c.world.vipps[a.p.Reference]; ok {
			c.captured += snap.Captured
			for _, ev := range snap.Events {
				if ev.Name == vippstest.EventCaptured && ev.Success {
					c.captureEvents++
				}
			}
		}
	})
	return c
}

// report is the run in numbers; with the same seed every line is the same.
func (f *faultRun) report(c *ftCounts) []string {
	fc := c.faults
	return []string{
		fmt.Sprintf("shoppers %d: %s; cart changed %d, also paid with Klarna %d, reloads after an error page %d",
			len(f.shoppers), mapText(c.outcomes), f.cartChanged, f.klarnaToo, f.reloads),
		fmt.Sprintf("payments %d (at Vipps %d): %s", c.payments, len(c.world.vipps), mapText(c.states)),
		fmt.Sprintf("faults injected by the fake Vipps: server errors %d, timeouts after commit %d, webhooks dropped %d (state %d, money %d), webhooks duplicated %d",
			fc.ServerErrors, fc.TimeoutsAfterCommit, fc.DroppedWebhooks, c.droppedState, c.droppedMoney, fc.DuplicatedWebhooks),
		fmt.Sprintf("seen by our Vipps client: 5xx answers %d, no answer %d, attempts sent again %d, calls that failed after every retry %d; operations run again after an unknown outcome %d (operation runs in all %d)",
			c.client5xx, c.clientNoAnswer, c.retries, c.gaveUp, c.unknownOps, c.opAttempts),
		fmt.Sprintf("webhook deliveries %d: accepted %d, refused %d; of the %d duplicated, copies answered 200 %d times (duplicates answered 200, changing nothing), refused %d times",
			c.deliveries, c.accepted, c.refused, fc.DuplicatedWebhooks, c.dupAccepted, c.dupRefused),
		fmt.Sprintf("state changes by source %s; of the %d Vipps reports: %s",
			mapText(c.bySource), c.finalChanges, mapText(c.bySourceFinal)),
		fmt.Sprintf("the %d state changes whose webhook was dropped, by who made them instead: %s; poller catch-ups in all %d (after a webhook whose read failed %d, before a webhook %d)",
			c.droppedState, mapText(c.droppedBy), c.bySourceFinal[bridge.SourcePoller], c.pollerAfterWebhook, c.pollerFirst),
		fmt.Sprintf("captures asked %d (distinct keys), succeeded %d, first answered in progress %d; repeats %d (identical %d); cancels %d/%d; refunds %d/%d; guard operations %d",
			f.capReq, f.capOK, f.capPending, f.repeats, f.repeatsOK, f.cancelOK, f.cancelReq, f.refundOK, f.refundReq, c.guarded),
		fmt.Sprintf("at Vipps: %d CAPTURED events, %d øre captured", c.captureEvents, c.captured),
		fmt.Sprintf("notifications %d %s; at the merchant %d ids in %d deliveries, %d came again (%d answered 503 on purpose)",
			c.notifications, mapText(c.byType), c.receivedIDs, c.receivedTotal, c.redelivered, c.refusedByMerchant),
		fmt.Sprintf("test clock +%s in %d steps, %d ticks, %d poll rounds, %d webhooks through the gate",
			c.fakeMinutes.Round(time.Second), c.steps, c.ticks, c.polls, c.webhooksGated),
	}
}

func mapText[K cmp.Ordered, V any](m map[K]V) string {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%v %v", k, m[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func hashOf(seed int64, parts ...any) uint64 {
	h := fnv.New64a()
	fmt.Fprint(h, seed)
	for _, p := range parts {
		fmt.Fprintf(h, "\x00%v", p)
	}
	return h.Sum64()
}

// stepRig is the service with fakes of its own, stepped by the test: the
// clock moves only between steps, background work runs only when the rig
// runs it, and the fake's webhooks pass a gate one at a time.
type stepRig struct {
	t      testing.TB
	clk    *vippstest.Clock
	start  time.Time
	vipps  *vippstest.Server
	kustom *klarnatest.Server
	gate   *webhookGate
	hooks  *merchantReceiver
	m      *Main
	http   *http.Client
	// base is where the service really listens: shoppers and the merchant
	// go there directly, only Vipps goes through the gate.
	base string

	queue  eventQueue
	seq    int
	orders []string
	// refs maps each reference to its shopper, for the merchant's
	// endpoint's deterministic failures.
	refsMu sync.Mutex
	refs   map[string]int

	steps, ticks, polls, gated int
}

// webhookLatency is how long a Vipps webhook takes to arrive: the clock
// moves by it before the gate lets one through.
const webhookLatency = 100 * time.Millisecond

// tickEvery is how often the rig runs the background work. (The service's
// own loops run every 500 ms; every 2 s of test time is enough to keep the
// poller's rhythm, and costs half the rounds.)
const tickEvery = 2 * time.Second

func newStepRig(t testing.TB, seed int64, edits ...func(*config.Config)) *stepRig {
	t.Helper()
	r := &stepRig{t: t, refs: map[string]int{}}
	r.start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	r.clk = vippstest.NewClock(r.start)

	r.gate = &webhookGate{held: make(chan *heldWebhook)}
	gateSrv := httptest.NewServer(r.gate)
	t.Cleanup(gateSrv.Close)

	var secret string
	r.hooks = newMerchantReceiver(t, "", r.clk.Now)
	cfg := testConfig(t, append([]func(*config.Config){func(c *config.Config) {
		c.Server.Addr = freeAddr(t)
		c.Server.PublicURL = gateSrv.URL
		c.MerchantWebhook.URL = r.hooks.URL()
	}}, edits...)...)
	secret = cfg.MerchantWebhook.Secret
	r.hooks.secret = secret

	// The fake Vipps sweeps nothing by itself (the rig calls Tick), keeps
	// every request, and retries a refused webhook after a millisecond.
	vippsSrv := httptest.NewUnstartedServer(nil)
	r.vipps = vippstest.NewUnstartedHandler(vippstest.Options{
		Now: r.clk.Now, AllowInsecureLocalReturnURL: true, Seed: seed,
		WebhookBackoff: time.Millisecond, RecordLimit: 1 << 22,
	}, "http://"+vippsSrv.Listener.Addr().String())
	vippsSrv.Config.Handler = r.vipps.Handler()
	vippsSrv.Start()
	for _, u := range cfg.Units {
		r.vipps.AddSalesUnit(vippstest.SalesUnit{
			MSN: u.MSN, ClientID: u.Vipps.ClientID, ClientSecret: u.Vipps.ClientSecret,
			SubscriptionKey: u.Vipps.SubscriptionKey, Currency: u.Currency, Name: u.Name,
		})
	}
	r.kustom = klarnatest.NewServer(klarnatest.Options{
		Now: r.clk.Now, Credentials: []klarnatest.Credential{{Username: cfg.Kustom.Username, APIKey: cfg.Kustom.APIKey}},
	})
	t.Cleanup(func() { r.kustom.Close(); r.vipps.Close(); vippsSrv.Close() })

	vu, err := url.Parse(r.vipps.URL())
	require.NoError(t, err)
	m := NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	m.Now = r.clk.Now
	m.NoLoops = true
	m.Providers = Providers{
		KustomURL: r.kustom.URL(), VippsURL: r.vipps.URL(),
		HTTPClient: &http.Client{Timeout: 30 * time.Second, Transport: &hangUpTransport{host: vu.Host, fake: r.vipps, next: http.DefaultTransport}},
		Sleep:      func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
	}
	require.NoError(t, m.Run(context.Background()))
	t.Cleanup(func() {
		r.gate.open.Store(true)
		require.NoError(t, m.Close())
	})
	require.Equal(t, gateSrv.URL, m.PublicURL())
	// One payment per poll round, so that the rounds run one after another
	// in the order of their due time.
	m.Service.Store = onePollAtATime{m.Store}
	target, err := url.Parse("http://" + m.Addr())
	require.NoError(t, err)
	r.gate.proxy.Store(httputil.NewSingleHostReverseProxy(target))
	r.m = m
	r.base = target.String()
	r.http = &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	r.settle()
	return r
}

// direct turns a URL on the public URL (the gate) into one straight to
// the service.
func (r *stepRig) direct(u string) string {
	if rest, ok := strings.CutPrefix(u, r.m.PublicURL()); ok {
		return r.base + rest
	}
	return u
}

func (r *stepRig) shopperOf(ref string) int {
	r.refsMu.Lock()
	defer r.refsMu.Unlock()
	if i, ok := r.refs[ref]; ok {
		return i
	}
	return -1
}

// onePollAtATime hands the poller one due payment per round.
type onePollAtATime struct{ bridge.Store }

func (s onePollAtATime) ClaimDuePolls(ctx context.Context, now time.Time, owner string, lease time.Duration, limit int) ([]*bridge.Payment, error) {
	return s.Store.ClaimDuePolls(ctx, now, owner, lease, 1)
}

// hangUpTransport gives up on a request to the fake Vipps the moment the
// fake decides to hang it (TimeoutAfterCommit): the client sees the
// timeout at once instead of after its own timeout, and a slow machine can
// never turn an ordinary call into a timeout.
type hangUpTransport struct {
	host string
	fake *vippstest.Server
	next http.RoundTripper
}

func (h *hangUpTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != h.host {
		return h.next.RoundTrip(req)
	}
	before := h.fake.FaultCounts().TimeoutsAfterCommit
	ctx, cancel := context.WithCancel(req.Context())
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(500 * time.Microsecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if h.fake.FaultCounts().TimeoutsAfterCommit != before {
					cancel()
					return
				}
			}
		}
	}()
	resp, err := h.next.RoundTrip(req.WithContext(ctx))
	close(done)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// webhookGate is the service's public URL. It passes shoppers and the
// merchant straight through, and holds each Vipps webhook until the rig
// lets it through, one at a time.
type webhookGate struct {
	proxy atomic.Pointer[httputil.ReverseProxy]
	held  chan *heldWebhook
	open  atomic.Bool
}

type heldWebhook struct{ release, done chan struct{} }

func (g *webhookGate) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	proxy := g.proxy.Load()
	if proxy == nil {
		http.Error(w, "not started", http.StatusServiceUnavailable)
		return
	}
	if strings.HasPrefix(req.URL.Path, "/webhooks/") && !g.open.Load() {
		h := &heldWebhook{release: make(chan struct{}), done: make(chan struct{})}
		defer close(h.done)
		select {
		case g.held <- h:
		case <-req.Context().Done():
			return
		}
		select {
		case <-h.release:
		case <-req.Context().Done():
			return
		}
	}
	proxy.ServeHTTP(w, req)
}

// fakeIdle reports whether the fake Vipps has no webhook left to deliver.
func (r *stepRig) fakeIdle() bool {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return r.vipps.WaitWebhooks(ctx) == nil
}

// settle waits until nothing is left to do: no background work in the
// service, and no webhook on its way. Webhooks go through one at a time,
// each after webhookLatency, each followed by the work it starts.
func (r *stepRig) settle() {
	for {
		r.m.Service.Wait()
		select {
		case h := <-r.gate.held:
			r.letThrough(h)
			continue
		default:
		}
		if r.fakeIdle() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		idle := make(chan error, 1)
		go func() { idle <- r.vipps.WaitWebhooks(ctx) }()
		select {
		case h := <-r.gate.held:
			cancel()
			<-idle
			r.letThrough(h)
		case err := <-idle:
			cancel()
			require.NoError(r.t, err, "the fake Vipps never finished delivering its webhooks")
		}
	}
}

func (r *stepRig) letThrough(h *heldWebhook) {
	r.gated++
	r.clk.Advance(webhookLatency)
	close(h.release)
	<-h.done
}

// step moves the clock a millisecond, so that no two steps happen at the
// same instant (due times never tie).
func (r *stepRig) step() {
	r.steps++
	r.clk.Advance(time.Millisecond)
}

// tick is one round of the background work, as Start's loops would do it:
// the fake's expiries, every due poll, the operation sweep, the outbox.
func (r *stepRig) tick() {
	ctx := context.Background()
	r.ticks++
	r.step()
	r.vipps.Tick()
	r.settle()
	for {
		r.step()
		n, err := r.m.Service.PollOnce(ctx)
		require.NoError(r.t, err)
		r.settle()
		if n == 0 {
			break
		}
		r.polls++
	}
	r.step()
	require.NoError(r.t, r.m.Service.SweepOperations(ctx))
	r.settle()
	for {
		r.step()
		n, err := r.m.Service.DeliverOnce(ctx)
		require.NoError(r.t, err)
		if n < 20 {
			break
		}
	}
}

// at queues an event; after queues one d after now.
func (r *stepRig) at(t time.Time, fn func()) {
	r.seq++
	heap.Push(&r.queue, &simEvent{at: t, seq: r.seq, fn: fn})
}

func (r *stepRig) after(d time.Duration, fn func()) { r.at(r.clk.Now().Add(d), fn) }

// runUntilQuiet runs the queued events and the background ticks in time
// order; once the queue is empty it keeps ticking, for at least tail of
// test time, until quiet says everything has settled, and fails after
// limit.
func (r *stepRig) runUntilQuiet(tail, limit time.Duration, quiet func() (bool, string)) {
	nextTick := r.clk.Now().Add(tickEvery)
	var lastEvent time.Time
	var why string
	for {
		if r.queue.Len() > 0 && r.queue[0].at.Before(nextTick) {
			ev := heap.Pop(&r.queue).(*simEvent)
			r.moveTo(ev.at)
			r.step()
			ev.fn()
			r.settle()
			lastEvent = r.clk.Now()
			continue
		}
		r.moveTo(nextTick)
		r.tick()
		nextTick = maxTime(nextTick, r.clk.Now()).Add(tickEvery)
		if r.queue.Len() > 0 || r.clk.Now().Sub(lastEvent) < tail || r.ticks%30 != 0 {
			continue
		}
		var ok bool
		if ok, why = quiet(); ok {
			return
		}
		require.Less(r.t, r.clk.Now().Sub(r.start), limit, "not quiet after %s of test time: %s", limit, why)
	}
}

func (r *stepRig) moveTo(t time.Time) {
	if t.After(r.clk.Now()) {
		r.clk.Set(t)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

type simEvent struct {
	at  time.Time
	seq int
	fn  func()
}

// eventQueue orders events by time, then by the order they were queued.
type eventQueue []*simEvent

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*simEvent)) }
func (q *eventQueue) Pop() any {
	old := *q
	ev := old[len(old)-1]
	*q = old[:len(old)-1]
	return ev
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
