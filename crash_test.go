package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/vipps/vippstest"
)

// TestCrashRecovery kills the service with SIGKILL in the middle of the
// three things it must never do twice or lose, restarts it on the same
// SQLite file, and checks the outcome from the outside: at the fake Vipps
// (its own count of payments, captures and events), at the merchant's
// webhook receiver, and in the merchant API.
//
// The service runs as a child process: this test binary re-executed with
// crashChildConfigEnv set, which makes TestMain call run(), the product's
// own entry point, with a config.yaml written here (crashchild_test.go).
// The fakes, the receiver and the public URL (a TLS front, since the
// service insists on https outside sandbox mode) live in the test process
// and outlive every child, as the real ones outlive ours. A gate in front
// of the fake Vipps and of the receiver holds the chosen request unanswered
// while the child is killed.
//
// Each crash point runs twice where it matters: once held before the
// provider acted (the request never landed), once after (it landed and only
// the answer was lost, the case an idempotency key exists for). While a
// dead process's lease holds, the restarted one must leave its work alone;
// then the test moves the clock (the child's and the fakes') past the lease
// and the work must be finished exactly once.
func TestCrashRecovery(t *testing.T) {
	t.Run("redirect/held before Vipps acted", func(t *testing.T) { crashDuringRedirect(t, false) })
	t.Run("redirect/Vipps created, answer lost", func(t *testing.T) { crashDuringRedirect(t, true) })
	t.Run("capture/held before Vipps acted", func(t *testing.T) { crashDuringCapture(t, false) })
	t.Run("capture/Vipps captured, answer lost", func(t *testing.T) { crashDuringCapture(t, true) })
	t.Run("notification/received, not answered", crashDuringNotification)
}

// The leases a killed process leaves behind run out after 2 minutes for an
// operation and 1 minute for a notification (operationLease and outboxLease
// in package bridge): the restarted service's clock is moved past them. If
// those grow, these must too.
const (
	crashPastOperationLease    = 3 * time.Minute
	crashPastNotificationLease = 2 * time.Minute
	// crashQuiet is how long the restarted service is watched for touching
	// work a live lease still covers: its start-up sweep and two outbox
	// rounds.
	crashQuiet = time.Second
)

const crashCaptureBody = `{"amount":{"value":44700,"currency":"NOK"}}`

// crashDuringRedirect: the shopper's redirect has reached Vipps as a
// create-payment request when the service dies.
func crashDuringRedirect(t *testing.T, vippsActs bool) {
	w := newCrashWorld(t)
	c := w.start()
	o := w.order()
	redirect := w.redirectURL(o.OrderID)
	ref := crashPrefix + "-" + o.OrderID + "-1"

	if vippsActs {
		// Vipps's webhook about the new payment is lost too: the restarted
		// service must find out by asking.
		w.vipps.SetFaults(vippstest.Faults{DropWebhookRate: 1})
	}
	held := w.vippsGate.holdNext(vippsActs, func(r *http.Request) bool {
		return r.Method == http.MethodPost && r.URL.Path == "/epayment/v1/payments"
	})
	shopper := make(chan int, 1)
	go func() { code, _, _ := w.shopperGet(redirect); shopper <- code }()
	call := w.waitHeld(held, "the create-payment request")
	var sent struct {
		Reference string `json:"reference"`
	}
	require.NoError(t, json.Unmarshal(call.Request.Body, &sent))
	require.Equal(t, ref, sent.Reference)
	key := call.Request.Header.Get("Idempotency-Key")
	require.NotEmpty(t, key)
	select {
	case code := <-shopper:
		t.Fatalf("the shopper was answered (%d) before the kill", code)
	default:
	}
	w.killMidFlight(c, call, "the create-payment request")
	require.NotEqual(t, http.StatusSeeOther, <-shopper, "the shopper's browser sees an error, not Vipps")
	w.vipps.SetFaults(vippstest.Faults{})
	_, atVipps := w.vipps.Payment(ref)
	require.Equal(t, vippsActs, atVipps, "Vipps has the payment only if it acted on the held request")
	if vippsActs {
		require.Equal(t, http.StatusCreated, call.Committed.Code, call.Committed.Body.String())
	}

	w.start()
	// The attempt was stored before the call, so it survived the crash.
	var list struct {
		Payments []crashPayment `json:"payments"`
	}
	w.apiJSON("/api/v1/payments?kco_order_id="+o.OrderID, &list)
	require.Len(t, list.Payments, 1)
	require.Equal(t, ref, list.Payments[0].Reference)
	if !vippsActs {
		require.Equal(t, "PENDING", list.Payments[0].State)
	}

	// The shopper reloads the page: the same attempt goes to Vipps again,
	// with the same key, and the shopper reaches its landing page.
	code, header, body := w.shopperGet(redirect)
	require.Equal(t, http.StatusSeeOther, code, body)
	snap, ok := w.vipps.Payment(ref)
	require.True(t, ok)
	require.Equal(t, snap.RedirectURL, header.Get("Location"))
	w.approve(header.Get("Location"))
	w.waitNotified(ref, "payment.authorized")

	// Vipps's own view: one payment for the order, created once, and every
	// create request for it carried the key and body stored before the
	// first one.
	w.requireOnePaymentAtVipps(o.OrderID, ref)
	snap, _ = w.vipps.Payment(ref)
	require.Equal(t, vippstest.StateAuthorized, snap.State)
	require.Equal(t, int64(44700), snap.Authorized)
	require.Equal(t, 1, countEvents(snap, vippstest.EventCreated))
	creates := w.vippsRequests(http.MethodPost, "/epayment/v1/payments")
	require.Len(t, creates, 2, "the held create and the one resent after the restart")
	for _, r := range creates {
		require.Equal(t, key, r.Header.Get("Idempotency-Key"), "never a new key for the attempt")
		requireSameJSON(t, call.Request.Body, r.Body)
	}
	wantCreates := 1 // the held one never reached the fake
	if vippsActs {
		wantCreates = 2 // the second was answered from the key
	}
	require.Equal(t, wantCreates, w.vipps.Calls(vippstest.OpCreate))

	// Ours: one attempt, authorized, and its create in the provider log.
	w.apiJSON("/api/v1/payments?kco_order_id="+o.OrderID, &list)
	require.Len(t, list.Payments, 1)
	p := w.payment(ref)
	require.Equal(t, "AUTHORIZED", p.State)
	require.Equal(t, 1, p.Attempt)
	require.Equal(t, int64(44700), p.Aggregate.Authorized)
	var plog struct {
		Exchanges []struct {
			Operation  string `json:"operation"`
			StatusCode int    `json:"status_code"`
		} `json:"exchanges"`
	}
	w.apiJSON("/api/v1/payments/"+ref+"/log", &plog)
	created := false
	for _, x := range plog.Exchanges {
		created = created || (x.Operation == "create" && x.StatusCode == http.StatusCreated)
	}
	require.True(t, created, "the log shows the create Vipps answered: %+v", plog.Exchanges)
	w.requireNotifications(ref, "payment.authorized")
}

// crashDuringCapture: the merchant's capture is in flight at Vipps when the
// service dies.
func crashDuringCapture(t *testing.T, vippsActs bool) {
	w := newCrashWorld(t)
	c := w.start()
	orderID, ref := w.pay()

	if vippsActs {
		// The capture's answer and Vipps's webhook about it are both lost.
		w.vipps.SetFaults(vippstest.Faults{DropWebhookRate: 1})
	}
	capturePath := "/epayment/v1/payments/" + ref + "/capture"
	held := w.vippsGate.holdNext(vippsActs, func(r *http.Request) bool {
		return r.Method == http.MethodPost && r.URL.Path == capturePath
	})
	merchant := make(chan int, 1)
	go func() {
		code, _ := w.api("POST", "/api/v1/payments/"+ref+"/capture", "ship-1", crashCaptureBody)
		merchant <- code
	}()
	call := w.waitHeld(held, "the capture request")
	key := call.Request.Header.Get("Idempotency-Key")
	require.NotEmpty(t, key)
	select {
	case code := <-merchant:
		t.Fatalf("the merchant was answered (%d) before the kill", code)
	default:
	}
	w.killMidFlight(c, call, "the capture request")
	require.NotEqual(t, http.StatusOK, <-merchant, "the merchant does not know the outcome")
	w.vipps.SetFaults(vippstest.Faults{})
	snap, _ := w.vipps.Payment(ref)
	capturedBefore, capturesBefore := int64(0), 0
	if vippsActs {
		require.Equal(t, http.StatusOK, call.Committed.Code, call.Committed.Body.String())
		capturedBefore, capturesBefore = 44700, 1
	}
	require.Equal(t, capturedBefore, snap.Captured)
	require.Equal(t, capturesBefore, w.vipps.Calls(vippstest.OpCapture))

	w.start()
	// While the dead process's lease holds, the merchant's retry is told to
	// wait and Vipps hears nothing.
	status, out := w.api("POST", "/api/v1/payments/"+ref+"/capture", "ship-1", crashCaptureBody)
	require.Equal(t, http.StatusConflict, status, string(out))
	require.Equal(t, "operation_in_progress", errorReason(out), string(out))
	w.stays(crashQuiet, "no capture is sent while the dead process's lease holds", func() string {
		if n := len(w.vippsRequests(http.MethodPost, capturePath)); n != 1 {
			return fmt.Sprintf("%d capture requests reached Vipps", n)
		}
		return ""
	})
	p := w.payment(ref)
	require.Len(t, p.Operations, 1)
	require.Equal(t, "pending", p.Operations[0].State)

	// Past the lease, the sweep finishes the capture: by finding the key in
	// Vipps's event log when it landed, by resending it with the same key
	// when it did not.
	w.advance(crashPastOperationLease)
	w.waitFor(15*time.Second, "the capture to be finished", func() (bool, string) {
		p := w.payment(ref)
		return len(p.Operations) == 1 && p.Operations[0].State == "succeeded", fmt.Sprintf("%+v", p.Operations)
	})
	status, out = w.api("POST", "/api/v1/payments/"+ref+"/capture", "ship-1", crashCaptureBody)
	require.Equal(t, http.StatusOK, status, "the merchant's retry gets the stored answer: %s", out)
	var done struct {
		Operation struct {
			State string `json:"state"`
		} `json:"operation"`
	}
	require.NoError(t, json.Unmarshal(out, &done))
	require.Equal(t, "succeeded", done.Operation.State)
	status, out = w.api("POST", "/api/v1/payments/"+ref+"/capture", "ship-1", `{"amount":{"value":100,"currency":"NOK"}}`)
	require.Equal(t, http.StatusConflict, status, string(out))
	require.Equal(t, "idempotency_key_reused", errorReason(out), string(out))
	w.waitNotified(ref, "payment.captured")

	// Vipps's own view: captured once, with the key of the first request.
	require.Equal(t, 1, w.vipps.Calls(vippstest.OpCapture), "Vipps acted on exactly one capture")
	snap, _ = w.vipps.Payment(ref)
	require.Equal(t, int64(44700), snap.Captured)
	var captured []vippstest.Event
	for _, ev := range snap.Events {
		if ev.Name == vippstest.EventCaptured {
			captured = append(captured, ev)
		}
	}
	require.Len(t, captured, 1)
	require.Equal(t, key, captured[0].IdempotencyKey)
	sentCaptures := w.vippsRequests(http.MethodPost, capturePath)
	wantSent := 2 // the held one and the one resent after the lease
	if vippsActs {
		wantSent = 1 // found in the event log: not sent again
	}
	require.Len(t, sentCaptures, wantSent)
	for _, r := range sentCaptures {
		require.Equal(t, key, r.Header.Get("Idempotency-Key"), "never a new key for the operation")
	}
	w.requireOnePaymentAtVipps(orderID, ref)

	// Ours agrees.
	p = w.payment(ref)
	require.Equal(t, "AUTHORIZED", p.State)
	require.Equal(t, int64(44700), p.Aggregate.Captured)
	require.Equal(t, 1, countNames(p, "CAPTURED"))
	require.Len(t, p.Operations, 1)
	require.Equal(t, "capture", p.Operations[0].Kind)
	w.requireNotifications(ref, "payment.authorized", "payment.captured")
}

// crashDuringNotification: the merchant's receiver has the POST of a
// notification and has not answered when the service dies.
func crashDuringNotification(t *testing.T) {
	w := newCrashWorld(t)
	c := w.start()
	held := w.hooks.holdNext(false, func(r *http.Request) bool { return r.Method == http.MethodPost })
	o := w.order()
	code, header, body := w.shopperGet(w.redirectURL(o.OrderID))
	require.Equal(t, http.StatusSeeOther, code, body)
	w.approve(header.Get("Location"))
	call := w.waitHeld(held, "the first notification")
	first := parseReceipt(call.Request.Header, call.Request.Body)
	ref := crashPrefix + "-" + o.OrderID + "-1"
	require.Equal(t, ref, first.Reference)
	require.Equal(t, "payment.authorized", first.Type)
	require.NoError(t, verifyStandardWebhook(w.secrets["CRASHTEST_HOOK_SECRET"], first.ID, call.Request.Header.Get("Webhook-Timestamp"),
		call.Request.Header.Get("Webhook-Signature"), first.Body, w.now()))
	w.killMidFlight(c, call, "the notification")

	w.start()
	ns := w.notifications(ref)
	require.Len(t, ns, 1)
	require.Equal(t, first.ID, ns[0].ID)
	require.Nil(t, ns[0].DeliveredAt, "not delivered: the merchant never answered")
	w.stays(crashQuiet, "nothing is sent again while the dead process's lease holds", func() string {
		if n := len(w.receivedOf(ref)); n != 1 {
			return fmt.Sprintf("the receiver got %d posts", n)
		}
		return ""
	})

	// Past the lease, the same notification is delivered again.
	w.advance(crashPastNotificationLease)
	w.waitNotified(ref, "payment.authorized")
	again := w.ackedOf(ref)
	require.Len(t, again, 1)
	require.Equal(t, first.ID, again[0].ID, "the retry is the same notification")
	require.True(t, bytes.Equal(first.Body, again[0].Body), "byte for byte")
	w.waitFor(10*time.Second, "the service to record the delivery", func() (bool, string) {
		ns := w.notifications(ref)
		return len(ns) == 1 && ns[0].State == "delivered", fmt.Sprintf("%+v", ns)
	})

	// Life goes on: the merchant ships, and hears about it once.
	status, out := w.api("POST", "/api/v1/payments/"+ref+"/capture", "ship-1", crashCaptureBody)
	require.Equal(t, http.StatusOK, status, string(out))
	w.waitNotified(ref, "payment.captured")
	w.requireOnePaymentAtVipps(o.OrderID, ref)
	require.Equal(t, 1, w.vipps.Calls(vippstest.OpCapture))
	w.requireNotifications(ref, "payment.authorized", "payment.captured")
	received := w.receivedOf(ref)
	require.Len(t, received, 3, "the authorization twice (the unanswered post and its retry), the capture once")
}

// pay takes a new order through the redirect and the shopper's approval,
// until the merchant has been told it is authorized.
func (w *crashWorld) pay() (orderID, ref string) {
	w.t.Helper()
	o := w.order()
	code, header, body := w.shopperGet(w.redirectURL(o.OrderID))
	require.Equal(w.t, http.StatusSeeOther, code, body)
	w.approve(header.Get("Location"))
	ref = crashPrefix + "-" + o.OrderID + "-1"
	w.waitNotified(ref, "payment.authorized")
	return o.OrderID, ref
}

// waitNotified waits until the merchant has acknowledged a notification of
// this type for the payment.
func (w *crashWorld) waitNotified(ref, typ string) {
	w.t.Helper()
	w.waitFor(15*time.Second, "the merchant to acknowledge "+typ, func() (bool, string) {
		var got []string
		for _, r := range w.ackedOf(ref) {
			if r.Type == typ {
				return true, ""
			}
			got = append(got, r.Type)
		}
		return false, fmt.Sprintf("acknowledged so far: %v", got)
	})
}

// stays watches cond for d: it must stay empty (cond says what went wrong).
// This is the one place the test waits for a while on purpose: it shows
// that something does not happen.
func (w *crashWorld) stays(d time.Duration, what string, cond func() string) {
	w.t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if why := cond(); why != "" {
			w.t.Fatalf("%s: %s", what, why)
		}
	}
}

// requireOnePaymentAtVipps checks that Vipps has exactly one payment for
// the KCO order, ref.
func (w *crashWorld) requireOnePaymentAtVipps(orderID, ref string) {
	w.t.Helper()
	var refs []string
	for _, r := range w.vipps.References() {
		if strings.HasPrefix(r, crashPrefix+"-"+orderID+"-") {
			refs = append(refs, r)
		}
	}
	require.Equal(w.t, []string{ref}, refs, "one Vipps payment for the order")
	snap, _ := w.vipps.Payment(ref)
	require.Equal(w.t, 1, countEvents(snap, vippstest.EventCreated))
}

// requireNotifications checks what the merchant got for a payment: one
// notification per change, each delivered and acknowledged once; an
// unanswered post may be retried, with the same id and the same bytes.
func (w *crashWorld) requireNotifications(ref string, want ...string) {
	t := w.t
	t.Helper()
	w.hooksMu.Lock()
	require.Empty(t, w.hookProbs, "every notification was signed right")
	w.hooksMu.Unlock()

	// The merchant's answer is recorded just after the merchant gave it.
	var listed []crashNotification
	w.waitFor(10*time.Second, "every notification to be recorded as delivered", func() (bool, string) {
		listed = w.notifications(ref)
		for _, n := range listed {
			if n.State != "delivered" {
				return false, fmt.Sprintf("%s (%s) is %s", n.ID, n.Type, n.State)
			}
		}
		return true, ""
	})
	var types []string
	ids := map[string]string{} // id → type, as the service lists them
	for _, n := range listed {
		types = append(types, n.Type)
		ids[n.ID] = n.Type
		require.Equal(t, "delivered", n.State, "notification %s (%s)", n.ID, n.Type)
	}
	sort.Strings(types)
	wantSorted := append([]string(nil), want...)
	sort.Strings(wantSorted)
	require.Equal(t, wantSorted, types, "one notification per change")

	acked := map[string]int{}
	for _, r := range w.ackedOf(ref) {
		acked[r.ID]++
	}
	for id, typ := range ids {
		require.Equal(t, 1, acked[id], "notification %s (%s) acknowledged once", id, typ)
	}
	require.Len(t, acked, len(ids), "the merchant acknowledged nothing else")

	byType := map[string]string{}
	bodies := map[string][]byte{}
	for _, r := range w.receivedOf(ref) {
		require.Contains(t, ids, r.ID, "the merchant got only listed notifications")
		if prev, ok := byType[r.Type]; ok {
			require.Equal(t, prev, r.ID, "two different notifications for one %s", r.Type)
		}
		byType[r.Type] = r.ID
		if prev, ok := bodies[r.ID]; ok {
			require.True(t, bytes.Equal(prev, r.Body), "a retry of %s carries the same bytes", r.ID)
		}
		bodies[r.ID] = r.Body
	}
}

// vippsRequests lists the requests the fake Vipps's gate saw with this
// method and path, held ones included.
func (w *crashWorld) vippsRequests(method, path string) []seenRequest {
	var out []seenRequest
	for _, r := range w.vippsGate.seen() {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

func countEvents(snap vippstest.PaymentSnapshot, name vippstest.EventName) int {
	n := 0
	for _, ev := range snap.Events {
		if ev.Name == name {
			n++
		}
	}
	return n
}

func countNames(p crashPayment, name string) int {
	n := 0
	for _, ev := range p.Events {
		if ev.Name == name {
			n++
		}
	}
	return n
}

// errorReason is error.reason of a JSON error body.
func errorReason(body []byte) string {
	var e struct {
		Error struct {
			Reason string `json:"reason"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	return e.Error.Reason
}

func requireSameJSON(t *testing.T, want, got []byte) {
	t.Helper()
	var a, b any
	require.NoError(t, json.Unmarshal(want, &a))
	require.NoError(t, json.Unmarshal(got, &b))
	require.True(t, reflect.DeepEqual(a, b), "the same request body:\n%s\n%s", want, got)
}
