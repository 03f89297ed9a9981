package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/notifysig"
	"vippskco/klarna"
	"vippskco/klarna/klarnatest"
	"vippskco/vipps/vippstest"
)

// The invariant checker is what the long tests (fault injection, replicas)
// judge a run by, once the system is quiet. It reads everything once into a
// world (our store, the fake Vipps and Kustom, what the merchant's endpoint
// received) and checks the product's promises on it:
//
//   - attempts: every attempt of a KCO order is one Vipps payment, with one
//     create idempotency key, and every Vipps payment is one of our attempts;
//   - money: Vipps never captured more than it authorized, nor twice for one
//     operation key, and what our operations say they captured and refunded
//     is what Vipps did;
//   - notifications: every state change and every money event has exactly
//     one notification id, and every notification reached the merchant (at
//     least once; the merchant dedupes by id);
//   - agreement: our state, aggregates and events are what Vipps says;
//   - quiet: nothing is left pending or leased, and Vipps has no webhook
//     left to send;
//   - guard: no shopper is charged twice for one KCO order without us
//     cancelling the surplus reservation and saying so.
//
// Each check is a function of the world, so TestInvariantsCatchBrokenStates
// can break one thing at a time and see the right check fail.

// world is the system as the checker sees it.
type world struct {
	now    time.Time
	orders []*worldOrder
	// vipps is every payment at the fake Vipps, by reference; vippsRefs is
	// its list of references, one entry per payment.
	vipps     map[string]vippstest.PaymentSnapshot
	vippsRefs []string
	// creates is, per reference, the Idempotency-Key of every create
	// request that reached Vipps.
	creates map[string][]string
	// received is every delivery the merchant's endpoint accepted or
	// refused, by notification id.
	received map[string][]receivedNote
	// webhooksQueued says the fake still has webhooks to deliver.
	webhooksQueued bool
	// asked is, when the test tracks it, the sum per reference of the
	// amounts the merchant asked to capture under distinct keys.
	asked map[string]int64
}

type worldOrder struct {
	id string
	// klarnaStatus is the KCO order's status at Kustom ("" when unknown).
	klarnaStatus string
	attempts     []*worldAttempt
}

type worldAttempt struct {
	p       *bridge.Payment
	history []bridge.HistoryEntry
	events  []bridge.PaymentEvent
	ops     []*bridge.Operation
	notes   []*bridge.Notification // oldest first
}

// worldSources is where collectWorld reads from.
type worldSources struct {
	store    bridge.Store
	vipps    *vippstest.Server
	kustom   *klarnatest.Server
	merchant *merchantReceiver
	// orders are the KCO orders the test made.
	orders []string
	asked  map[string]int64
	now    time.Time
}

// collectWorld reads the world. Call it when the system is quiet.
func collectWorld(t testing.TB, src worldSources) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{
		now: src.now, vipps: map[string]vippstest.PaymentSnapshot{}, creates: map[string][]string{},
		received: src.merchant.snapshot(), asked: src.asked,
	}
	w.vippsRefs = src.vipps.References()
	for _, ref := range w.vippsRefs {
		if snap, ok := src.vipps.Payment(ref); ok {
			w.vipps[ref] = snap
		}
	}
	for _, r := range src.vipps.Requests() {
		if r.Op != vippstest.OpCreate {
			continue
		}
		var body struct{ Reference string }
		if json.Unmarshal(r.Body, &body) == nil && body.Reference != "" {
			w.creates[body.Reference] = append(w.creates[body.Reference], r.Header.Get("Idempotency-Key"))
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	cancel()
	w.webhooksQueued = src.vipps.WaitWebhooks(wctx) != nil

	ids := slices.Clone(src.orders)
	sort.Strings(ids)
	for _, id := range slices.Compact(ids) {
		o := &worldOrder{id: id}
		if ko, ok := src.kustom.Order(id); ok {
			o.klarnaStatus = ko.Status
		}
		ps, err := src.store.PaymentsByOrder(ctx, id)
		require.NoError(t, err)
		for _, p := range ps {
			a := &worldAttempt{p: p}
			a.history, err = src.store.History(ctx, p.Reference)
			require.NoError(t, err)
			a.events, err = src.store.PaymentEvents(ctx, p.Reference)
			require.NoError(t, err)
			a.ops, err = src.store.Operations(ctx, p.Reference)
			require.NoError(t, err)
			a.notes, err = src.store.Notifications(ctx, p.Reference, "", 10000)
			require.NoError(t, err)
			slices.Reverse(a.notes)
			o.attempts = append(o.attempts, a)
		}
		w.orders = append(w.orders, o)
	}
	return w
}

// invariant is one promise and its check; a check returns what it found
// wrong, in words.
type invariant struct {
	name  string
	check func(*world) []string
}

var invariants = []invariant{
	{"attempts", checkAttempts},
	{"money", checkMoney},
	{"notifications", checkNotifications},
	{"agreement", checkAgreement},
	{"quiet", checkQuiet},
	{"guard", checkGuard},
}

// checkWorld runs every check and returns the violations by check name.
func checkWorld(w *world) map[string][]string {
	out := map[string][]string{}
	for _, inv := range invariants {
		if v := inv.check(w); len(v) > 0 {
			out[inv.name] = v
		}
	}
	return out
}

// requireInvariants fails the test with every violation (at most 20 per
// check) and returns how many payments it checked.
func requireInvariants(t testing.TB, w *world) int {
	t.Helper()
	bad := checkWorld(w)
	for _, inv := range invariants {
		for i, v := range bad[inv.name] {
			if i == 20 {
				t.Errorf("invariant %s: ... and %d more", inv.name, len(bad[inv.name])-20)
				break
			}
			t.Errorf("invariant %s: %s", inv.name, v)
		}
	}
	n := 0
	for _, o := range w.orders {
		n += len(o.attempts)
	}
	return n
}

func (w *world) eachAttempt(f func(o *worldOrder, a *worldAttempt)) {
	for _, o := range w.orders {
		for _, a := range o.attempts {
			f(o, a)
		}
	}
}

// checkAttempts: every attempt is one Vipps payment, made with the one
// idempotency key stored for it, and every Vipps payment is an attempt.
func checkAttempts(w *world) []string {
	var bad []string
	ours := map[string]int{}
	for _, o := range w.orders {
		numbers := map[int]string{}
		for _, a := range o.attempts {
			p := a.p
			ours[p.Reference]++
			if p.KCOOrderID != o.id {
				bad = append(bad, fmt.Sprintf("%s: listed under KCO order %s but belongs to %s", p.Reference, o.id, p.KCOOrderID))
			}
			if other, dup := numbers[p.Attempt]; dup {
				bad = append(bad, fmt.Sprintf("KCO order %s: attempt %d twice (%s and %s)", o.id, p.Attempt, other, p.Reference))
			}
			numbers[p.Attempt] = p.Reference
			if !strings.HasSuffix(p.Reference, fmt.Sprintf("-%s-%d", o.id, p.Attempt)) {
				bad = append(bad, fmt.Sprintf("%s: not the reference of attempt %d of %s", p.Reference, p.Attempt, o.id))
			}
			if snap, ok := w.vipps[p.Reference]; ok && snap.Amount.Value != p.Amount.Value {
				bad = append(bad, fmt.Sprintf("%s: %d here, %d at Vipps", p.Reference, p.Amount.Value, snap.Amount.Value))
			}
			for _, key := range w.creates[p.Reference] {
				if key != p.CreateIdempotencyKey {
					bad = append(bad, fmt.Sprintf("%s: a create reached Vipps with key %q, not the stored %q", p.Reference, key, p.CreateIdempotencyKey))
				}
			}
		}
	}
	for ref, n := range ours {
		if n > 1 {
			bad = append(bad, fmt.Sprintf("%s: %d attempts share the reference", ref, n))
		}
	}
	atVipps := map[string]int{}
	for _, ref := range w.vippsRefs {
		atVipps[ref]++
	}
	for _, ref := range sortedKeys(atVipps) {
		if atVipps[ref] > 1 {
			bad = append(bad, fmt.Sprintf("%s: %d Vipps payments for one attempt", ref, atVipps[ref]))
		}
		if ours[ref] == 0 {
			bad = append(bad, fmt.Sprintf("%s: a Vipps payment that is none of our attempts", ref))
		}
	}
	return bad
}

// checkMoney: Vipps never captured more than it authorized, nor twice for
// one operation key; our operations account for every capture and refund.
func checkMoney(w *world) []string {
	var bad []string
	w.eachAttempt(func(_ *worldOrder, a *worldAttempt) {
		ref := a.p.Reference
		snap, ok := w.vipps[ref]
		if !ok {
			return
		}
		if snap.Captured+snap.Cancelled > snap.Authorized {
			bad = append(bad, fmt.Sprintf("%s: captured %d + cancelled %d exceed the %d authorized", ref, snap.Captured, snap.Cancelled, snap.Authorized))
		}
		if snap.Refunded > snap.Captured {
			bad = append(bad, fmt.Sprintf("%s: refunded %d of %d captured", ref, snap.Refunded, snap.Captured))
		}
		byKey := map[string]*bridge.Operation{}
		var opCaptured, opRefunded, direct int64
		for _, op := range a.ops {
			byKey[op.VippsIdempotencyKey] = op
			if op.State != bridge.OperationSucceeded {
				continue
			}
			switch op.Kind {
			case bridge.OpCapture:
				opCaptured += op.Amount.Value
				if op.Source == bridge.SourceDirectCapture {
					direct += op.Amount.Value
				}
			case bridge.OpRefund:
				opRefunded += op.Amount.Value
			}
		}
		perKey := map[string]int{}
		for _, ev := range snap.Events {
			if !ev.Success || (ev.Name != vippstest.EventCaptured && ev.Name != vippstest.EventRefunded) {
				continue
			}
			kind := bridge.OpCapture
			if ev.Name == vippstest.EventRefunded {
				kind = bridge.OpRefund
			}
			perKey[string(ev.Name)+" "+ev.IdempotencyKey]++
			if op := byKey[ev.IdempotencyKey]; op == nil || op.Kind != kind {
				bad = append(bad, fmt.Sprintf("%s: %s of %d at Vipps with key %q that none of our %s operations sent", ref, ev.Name, ev.Amount.Value, ev.IdempotencyKey, kind))
			}
		}
		for _, k := range sortedKeys(perKey) {
			if perKey[k] > 1 {
				bad = append(bad, fmt.Sprintf("%s: %d times %s at Vipps for one operation key", ref, perKey[k], k))
			}
		}
		if opCaptured != snap.Captured {
			bad = append(bad, fmt.Sprintf("%s: Vipps captured %d, our succeeded captures add up to %d", ref, snap.Captured, opCaptured))
		}
		if opRefunded != snap.Refunded {
			bad = append(bad, fmt.Sprintf("%s: Vipps refunded %d, our succeeded refunds add up to %d", ref, snap.Refunded, opRefunded))
		}
		if w.asked != nil && snap.Captured > w.asked[ref]+direct {
			bad = append(bad, fmt.Sprintf("%s: Vipps captured %d, the merchant asked for %d under distinct keys", ref, snap.Captured, w.asked[ref]))
		}
	})
	return bad
}

// finalNotification is the notification type of a change into a final
// state.
func finalNotification(s bridge.PaymentState) string {
	return "payment." + strings.ToLower(string(s))
}

// checkNotifications: one notification id per state change and per money
// event, every one delivered and received by the merchant, and the merchant
// received nothing else.
func checkNotifications(w *world) []string {
	var bad []string
	ids := map[string]string{}
	w.eachAttempt(func(_ *worldOrder, a *worldAttempt) {
		ref := a.p.Reference
		types := map[string]int{}
		byEvent := map[string]int{}
		for _, n := range a.notes {
			types[n.Type]++
			if other, dup := ids[n.ID]; dup {
				bad = append(bad, fmt.Sprintf("notification id %s on two rows (%s and %s)", n.ID, other, ref))
			}
			ids[n.ID] = ref
			var body bridge.NotificationPayload
			if err := json.Unmarshal(n.Payload, &body); err != nil {
				bad = append(bad, fmt.Sprintf("%s: notification %s: %v", ref, n.ID, err))
				continue
			}
			if body.ID != n.ID || body.Type != n.Type || body.Payment.Reference != ref {
				bad = append(bad, fmt.Sprintf("%s: notification %s (%s) carries id %s, type %s, reference %s", ref, n.ID, n.Type, body.ID, body.Type, body.Payment.Reference))
			}
			if len(body.Payment.Order) == 0 {
				bad = append(bad, fmt.Sprintf("%s: notification %s (%s) carries no KCO order", ref, n.ID, n.Type))
			}
			if body.Event != nil {
				byEvent[n.Type+" "+body.Event.PSPReference]++
			}
			if n.State() != bridge.NotificationDelivered {
				bad = append(bad, fmt.Sprintf("%s: notification %s (%s) is %s after %d attempts (%s)", ref, n.ID, n.Type, n.State(), n.Attempts, n.LastError))
			}
			got := w.received[n.ID]
			if len(got) == 0 {
				bad = append(bad, fmt.Sprintf("%s: notification %s (%s) never reached the merchant", ref, n.ID, n.Type))
			}
			for _, r := range got {
				if r.Type != n.Type || r.Reference != ref {
					bad = append(bad, fmt.Sprintf("%s: notification %s is %s here, reached the merchant as %s of %s", ref, n.ID, n.Type, r.Type, r.Reference))
				}
			}
		}
		changes := map[string]int{}
		for _, h := range a.history {
			if h.ToState.Final() {
				changes[finalNotification(h.ToState)]++
			}
		}
		for _, s := range []bridge.PaymentState{bridge.StateAuthorized, bridge.StateAborted, bridge.StateExpired, bridge.StateTerminated, bridge.StateFailed} {
			typ := finalNotification(s)
			if changes[typ] != types[typ] {
				bad = append(bad, fmt.Sprintf("%s: %d changes into %s, %d %s notifications", ref, changes[typ], s, types[typ], typ))
			}
		}
		money := map[string]int{}
		for _, ev := range a.events {
			if !ev.Success || ev.Amount.Value <= 0 {
				continue
			}
			switch ev.Name {
			case "CAPTURED", "REFUNDED", "CANCELLED":
			default:
				continue
			}
			typ := "payment." + strings.ToLower(ev.Name)
			money[typ]++
			if n := byEvent[typ+" "+ev.PSPReference]; n != 1 {
				bad = append(bad, fmt.Sprintf("%s: %s %s of %d has %d notifications", ref, ev.Name, ev.PSPReference, ev.Amount.Value, n))
			}
		}
		for _, typ := range []string{"payment.captured", "payment.refunded", "payment.cancelled"} {
			if money[typ] != types[typ] {
				bad = append(bad, fmt.Sprintf("%s: %d %s events, %d notifications", ref, money[typ], strings.TrimPrefix(typ, "payment."), types[typ]))
			}
		}
	})
	for _, id := range sortedKeys(w.received) {
		if _, ok := ids[id]; !ok {
			r := w.received[id][0]
			bad = append(bad, fmt.Sprintf("the merchant received notification %s (%s of %s) that is none of ours", id, r.Type, r.Reference))
		}
	}
	return bad
}

// checkAgreement: our state, aggregates and events are what Vipps says.
func checkAgreement(w *world) []string {
	var bad []string
	w.eachAttempt(func(_ *worldOrder, a *worldAttempt) {
		p := a.p
		snap, ok := w.vipps[p.Reference]
		if !ok {
			if p.State != bridge.StateFailed && p.State != bridge.StatePending {
				bad = append(bad, fmt.Sprintf("%s: %s here, unknown at Vipps", p.Reference, p.State))
			}
			return
		}
		if string(snap.State) != string(p.State) {
			bad = append(bad, fmt.Sprintf("%s: %s at Vipps, %s here", p.Reference, snap.State, p.State))
		}
		if here, there := [4]int64{p.Authorized, p.Captured, p.Cancelled, p.Refunded}, [4]int64{snap.Authorized, snap.Captured, snap.Cancelled, snap.Refunded}; here != there {
			bad = append(bad, fmt.Sprintf("%s: (authorized, captured, cancelled, refunded) %v here, %v at Vipps", p.Reference, here, there))
		}
		atVipps := map[string]bool{}
		for _, ev := range snap.Events {
			atVipps[string(ev.Name)+" "+ev.PSPReference] = true
		}
		ours := map[string]bool{}
		for _, ev := range a.events {
			ours[ev.Name+" "+ev.PSPReference] = true
			if !atVipps[ev.Name+" "+ev.PSPReference] {
				bad = append(bad, fmt.Sprintf("%s: event %s %s here, not at Vipps", p.Reference, ev.Name, ev.PSPReference))
			}
		}
		for _, ev := range snap.Events {
			switch ev.Name {
			case vippstest.EventCaptured, vippstest.EventRefunded, vippstest.EventCancelled:
			default:
				continue
			}
			if ev.Success && ev.Amount.Value > 0 && !ours[string(ev.Name)+" "+ev.PSPReference] {
				bad = append(bad, fmt.Sprintf("%s: %s %s of %d at Vipps, not booked here", p.Reference, ev.Name, ev.PSPReference, ev.Amount.Value))
			}
		}
	})
	return bad
}

// checkQuiet: no attempt is still open, no operation pending, nothing
// leased, and Vipps has no webhook left to send.
func checkQuiet(w *world) []string {
	var bad []string
	w.eachAttempt(func(_ *worldOrder, a *worldAttempt) {
		ref := a.p.Reference
		if !a.p.State.Final() {
			bad = append(bad, fmt.Sprintf("%s: still %s", ref, a.p.State))
		}
		for _, op := range a.ops {
			if op.State == bridge.OperationPending {
				bad = append(bad, fmt.Sprintf("%s: %s operation %s (%s) still pending after %d attempts: %s", ref, op.Kind, op.ID, op.IdempotencyKey, op.Attempts, op.Error))
			}
			if op.LeaseUntil.After(w.now) {
				bad = append(bad, fmt.Sprintf("%s: %s operation %s still leased to %s", ref, op.Kind, op.ID, op.LeaseOwner))
			}
		}
		for _, n := range a.notes {
			if n.State() == bridge.NotificationDelivered {
				continue
			}
			if n.LeaseUntil.After(w.now) {
				bad = append(bad, fmt.Sprintf("%s: notification %s (%s) still leased to %s", ref, n.ID, n.Type, n.LeaseOwner))
			}
		}
	})
	if w.webhooksQueued {
		bad = append(bad, "Vipps still has webhooks to deliver")
	}
	return bad
}

// checkGuard: a KCO order holds the shopper's money at most once (a Vipps
// payment with money not cancelled or refunded, or the order completed with
// Klarna), unless every surplus Vipps payment has its reservation
// cancelled, a notification that says so, and a refund flag for what it
// captured. A Vipps payment flagged as surplus must really be one.
func checkGuard(w *world) []string {
	var bad []string
	for _, o := range w.orders {
		var holders []string
		unflagged := 0
		if o.klarnaStatus == klarna.StatusCheckoutComplete {
			holders = append(holders, "Klarna")
			unflagged++
		}
		authorized := 0
		for _, a := range o.attempts {
			if snap, ok := w.vipps[a.p.Reference]; ok && snap.Authorized > 0 {
				authorized++
			}
		}
		for _, a := range o.attempts {
			ref := a.p.Reference
			snap, ok := w.vipps[ref]
			if !ok {
				continue
			}
			types := map[string]int{}
			for _, n := range a.notes {
				types[n.Type]++
			}
			paidTwice, duplicate := types["payment.paid_twice"] > 0, types["payment.duplicate"] > 0
			if paidTwice && o.klarnaStatus != klarna.StatusCheckoutComplete {
				bad = append(bad, fmt.Sprintf("%s: flagged as paid twice, but KCO order %s is %q at Kustom", ref, o.id, o.klarnaStatus))
			}
			if duplicate && authorized < 2 {
				bad = append(bad, fmt.Sprintf("%s: flagged as a duplicate authorization, but it is the only one of KCO order %s", ref, o.id))
			}
			if snap.Authorized-snap.Cancelled-snap.Refunded <= 0 {
				continue
			}
			holders = append(holders, ref)
			if !paidTwice && !duplicate {
				unflagged++
				continue
			}
			if left := snap.Authorized - snap.Captured - snap.Cancelled; left > 0 {
				bad = append(bad, fmt.Sprintf("%s: surplus for KCO order %s, but %d is still reserved", ref, o.id, left))
			}
			if kept := snap.Captured - snap.Refunded; kept > 0 && types["payment.refund_required"] == 0 {
				bad = append(bad, fmt.Sprintf("%s: surplus for KCO order %s with %d captured, and no refund_required notification", ref, o.id, kept))
			}
		}
		if len(holders) > 1 && unflagged > 1 {
			bad = append(bad, fmt.Sprintf("KCO order %s: the shopper is charged twice (%s), and we said nothing", o.id, strings.Join(holders, ", ")))
		}
	}
	return bad
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// receivedNote is one delivery to the merchant's endpoint.
type receivedNote struct {
	Type, Reference string
	Status          int
}

// merchantReceiver is the merchant's endpoint for our notifications. It
// verifies each signature, records every delivery by Webhook-Id and answers
// 204, or 503 when fail says so (after recording it: a merchant that stored
// the notification and crashed before answering, so it comes again).
type merchantReceiver struct {
	secret string
	now    func() time.Time
	// fail decides whether to answer the attempt-th delivery of a
	// notification (1 for the first) with 503; nil never fails.
	fail func(body *bridge.NotificationPayload, attempt int) bool
	srv  *httptest.Server

	mu       sync.Mutex
	got      map[string][]receivedNote
	problems []string
}

func newMerchantReceiver(t testing.TB, secret string, now func() time.Time) *merchantReceiver {
	r := &merchantReceiver{secret: secret, now: now, got: map[string][]receivedNote{}}
	r.srv = httptest.NewServer(r)
	t.Cleanup(r.srv.Close)
	return r
}

// URL is where the service should deliver.
func (r *merchantReceiver) URL() string { return r.srv.URL + "/hooks" }

func (r *merchantReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	id := req.Header.Get(notifysig.HeaderID)
	var p bridge.NotificationPayload
	err = notifysig.Verify(r.secret, req.Header, body, r.now(), 0)
	if err == nil {
		err = json.Unmarshal(body, &p)
	}
	if err == nil && p.ID != id {
		err = fmt.Errorf("the body says id %q", p.ID)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.problems = append(r.problems, fmt.Sprintf("notification %s refused: %v", id, err))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	status := http.StatusNoContent
	if r.fail != nil && r.fail(&p, len(r.got[id])+1) {
		status = http.StatusServiceUnavailable
	}
	r.got[id] = append(r.got[id], receivedNote{Type: p.Type, Reference: p.Payment.Reference, Status: status})
	w.WriteHeader(status)
}

// snapshot copies what was received.
func (r *merchantReceiver) snapshot() map[string][]receivedNote {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]receivedNote, len(r.got))
	for id, got := range r.got {
		out[id] = slices.Clone(got)
	}
	return out
}

// counts says how many distinct notifications arrived, in how many
// deliveries, how many of them came more than once and how many
// deliveries were answered with an error on purpose.
func (r *merchantReceiver) counts() (ids, deliveries, again, refused int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, got := range r.got {
		ids++
		deliveries += len(got)
		if len(got) > 1 {
			again++
		}
		for _, g := range got {
			if g.Status >= 300 {
				refused++
			}
		}
	}
	return
}

func (r *merchantReceiver) troubles() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.problems)
}

// TestInvariantsCatchBrokenStates runs a few shoppers through the stepped
// rig, checks that the world they leave passes every invariant, and then
// breaks it one way at a time: each break must be caught by its check.
func TestInvariantsCatchBrokenStates(t *testing.T) {
	r := newStepRig(t, 11)
	f := &faultRun{t: t, r: r, seed: 11, asked: map[string]int64{}}
	for i, kind := range []string{"approve", "approve", "approve", "approve", "reject", "cart", "klarna", "approve"} {
		s := f.newShopper(i)
		s.kind, s.returnsBefore = kind, i%2 == 0
		r.at(r.start.Add(time.Duration(i)*time.Second), func() { f.arrive(s) })
	}
	r.runUntilQuiet(0, time.Hour, f.quiet)
	require.Empty(t, f.problems)
	collect := func() *world {
		return collectWorld(t, worldSources{
			store: r.m.Store, vipps: r.vipps, kustom: r.kustom, merchant: r.hooks, orders: r.orders, asked: f.asked, now: r.clk.Now(),
		})
	}
	require.Empty(t, checkWorld(collect()), "the world of a clean run")

	// find returns the first attempt matching ok, with its order.
	find := func(w *world, ok func(o *worldOrder, a *worldAttempt) bool) (*worldOrder, *worldAttempt) {
		for _, o := range w.orders {
			for _, a := range o.attempts {
				if ok(o, a) {
					return o, a
				}
			}
		}
		t.Fatal("no attempt fits")
		return nil, nil
	}
	captured := func(_ *worldOrder, a *worldAttempt) bool {
		return a.p.Captured > 0 && a.p.Refunded == 0 && a.p.Cancelled == 0 && len(a.notes) > 0
	}
	authorized := func(o *worldOrder, a *worldAttempt) bool {
		return a.p.State == bridge.StateAuthorized && o.klarnaStatus != klarna.StatusCheckoutComplete
	}
	note := func(a *worldAttempt, typ string) *bridge.Notification {
		for _, n := range a.notes {
			if n.Type == typ {
				return n
			}
		}
		t.Fatalf("%s has no %s notification", a.p.Reference, typ)
		return nil
	}

	breaks := []struct {
		check, name string
		want        string // a violation says this
		brk         func(w *world)
	}{
		{"attempts", "a Vipps payment that is no attempt of ours", "none of our attempts", func(w *world) {
			_, a := find(w, authorized)
			w.vippsRefs = append(w.vippsRefs, "ws-nobody-1")
			w.vipps["ws-nobody-1"] = w.vipps[a.p.Reference]
		}},
		{"attempts", "a create resent with a new idempotency key", "not the stored", func(w *world) {
			_, a := find(w, authorized)
			w.creates[a.p.Reference] = append(w.creates[a.p.Reference], "a-new-key")
		}},
		{"attempts", "two Vipps payments for one attempt", "Vipps payments for one attempt", func(w *world) {
			_, a := find(w, authorized)
			w.vippsRefs = append(w.vippsRefs, a.p.Reference)
		}},
		{"money", "captured twice for one operation key", "for one operation key", func(w *world) {
			_, a := find(w, captured)
			snap := w.vipps[a.p.Reference]
			for _, ev := range snap.Events {
				if ev.Name == vippstest.EventCaptured {
					ev.PSPReference += "9"
					snap.Events = append(snap.Events, ev)
					snap.Captured += ev.Amount.Value
					break
				}
			}
			w.vipps[a.p.Reference] = snap
		}},
		{"money", "a capture at Vipps that none of our operations sent", "none of our capture operations sent", func(w *world) {
			_, a := find(w, authorized)
			snap := w.vipps[a.p.Reference]
			snap.Events = append(snap.Events, vippstest.Event{Reference: a.p.Reference, PSPReference: "1", Name: vippstest.EventCaptured,
				Amount: snap.Amount, IdempotencyKey: "someone-else", Success: true})
			w.vipps[a.p.Reference] = snap
		}},
		{"money", "captured more than authorized", "exceed the", func(w *world) {
			_, a := find(w, captured)
			snap := w.vipps[a.p.Reference]
			snap.Captured = snap.Authorized + 100
			w.vipps[a.p.Reference] = snap
		}},
		{"notifications", "a state change without its notification", "0 payment.authorized notifications", func(w *world) {
			_, a := find(w, authorized)
			a.notes = slices.DeleteFunc(a.notes, func(n *bridge.Notification) bool { return n.Type == "payment.authorized" })
		}},
		{"notifications", "a capture with two notifications", "has 2 notifications", func(w *world) {
			_, a := find(w, captured)
			dup := *note(a, "payment.captured")
			dup.ID = "another-id"
			a.notes = append(a.notes, &dup)
			w.received[dup.ID] = w.received[note(a, "payment.captured").ID]
		}},
		{"notifications", "a notification that never reached the merchant", "never reached the merchant", func(w *world) {
			_, a := find(w, captured)
			delete(w.received, note(a, "payment.captured").ID)
		}},
		{"notifications", "a notification still pending", "is pending", func(w *world) {
			_, a := find(w, captured)
			note(a, "payment.captured").DeliveredAt = time.Time{}
		}},
		{"notifications", "one id on two notifications", "on two rows", func(w *world) {
			_, a := find(w, captured)
			_, b := find(w, func(_ *worldOrder, b *worldAttempt) bool { return b != a && b.p.State == bridge.StateAborted })
			note(b, "payment.aborted").ID = note(a, "payment.captured").ID
		}},
		{"notifications", "the merchant got a notification we never made", "none of ours", func(w *world) {
			w.received["from-nowhere"] = []receivedNote{{Type: "payment.captured", Reference: "ws-x-1", Status: 204}}
		}},
		{"agreement", "another state than at Vipps", "AUTHORIZED at Vipps, ABORTED here", func(w *world) {
			_, a := find(w, authorized)
			a.p.State = bridge.StateAborted
		}},
		{"agreement", "other aggregates than at Vipps", "at Vipps", func(w *world) {
			_, a := find(w, captured)
			a.p.Captured--
		}},
		{"agreement", "a capture at Vipps not booked here", "not booked here", func(w *world) {
			_, a := find(w, captured)
			a.events = slices.DeleteFunc(a.events, func(e bridge.PaymentEvent) bool { return e.Name == "CAPTURED" })
		}},
		{"quiet", "an attempt still open", "still CREATED", func(w *world) {
			_, a := find(w, authorized)
			a.p.State = bridge.StateCreated
		}},
		{"quiet", "an operation still pending", "still pending", func(w *world) {
			_, a := find(w, captured)
			op := *a.ops[0]
			op.State, op.LeaseOwner, op.LeaseUntil = bridge.OperationPending, "replica-2", w.now.Add(time.Minute)
			a.ops = append(a.ops, &op)
		}},
		{"quiet", "webhooks still queued at Vipps", "webhooks to deliver", func(w *world) { w.webhooksQueued = true }},
		{"guard", "paid with Klarna too, and nobody said so", "charged twice", func(w *world) {
			o, _ := find(w, captured)
			o.klarnaStatus = klarna.StatusCheckoutComplete
		}},
		{"guard", "a surplus reservation left uncancelled", "still reserved", func(w *world) {
			_, a := find(w, func(o *worldOrder, _ *worldAttempt) bool { return o.klarnaStatus == klarna.StatusCheckoutComplete })
			snap := w.vipps[a.p.Reference]
			snap.Cancelled = 0
			w.vipps[a.p.Reference] = snap
		}},
		{"guard", "a surplus capture without a refund flag", "no refund_required", func(w *world) {
			_, a := find(w, func(o *worldOrder, _ *worldAttempt) bool { return o.klarnaStatus == klarna.StatusCheckoutComplete })
			a.notes = slices.DeleteFunc(a.notes, func(n *bridge.Notification) bool { return n.Type == "payment.refund_required" })
		}},
		{"guard", "a payment flagged as paid twice when it was not", "flagged as paid twice", func(w *world) {
			_, a := find(w, captured)
			flag := *a.notes[0]
			flag.ID, flag.Type = "flag", "payment.paid_twice"
			a.notes = append(a.notes, &flag)
		}},
	}
	for _, b := range breaks {
		t.Run(b.check+"/"+b.name, func(t *testing.T) {
			w := collect()
			b.brk(w)
			got := checkWorld(w)
			require.NotEmpty(t, got[b.check], "the %s check let it pass (others said %v)", b.check, got)
			i := slices.IndexFunc(got[b.check], func(v string) bool { return strings.Contains(v, b.want) })
			require.GreaterOrEqual(t, i, 0, "no %s violation says %q: %v", b.check, b.want, got[b.check])
			t.Logf("%s: %s", b.check, got[b.check][i])
		})
	}
}

// orderSettled reports whether every attempt of a KCO order is final and
// none of its operations is pending, and if not, what is still open.
func orderSettled(ctx context.Context, st bridge.Store, orderID string) (bool, string) {
	ps, err := st.PaymentsByOrder(ctx, orderID)
	if err != nil {
		return false, err.Error()
	}
	for _, p := range ps {
		if !p.State.Final() {
			return false, fmt.Sprintf("%s is still %s", p.Reference, p.State)
		}
		ops, err := st.Operations(ctx, p.Reference)
		if err != nil {
			return false, err.Error()
		}
		for _, op := range ops {
			if op.State == bridge.OperationPending {
				return false, fmt.Sprintf("%s: %s %s is pending", p.Reference, op.Kind, op.IdempotencyKey)
			}
		}
	}
	return true, ""
}
