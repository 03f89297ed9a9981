package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/config"
	"vippskco/bridge/reconcile"
	"vippskco/vipps"
	"vippskco/vipps/vippstest"
)

// paid takes a fresh order through the redirect and the shopper's approval.
func (e *testEnv) paid() *bridge.Payment {
	e.t.Helper()
	o := e.order(nil)
	_, p := e.checkout(o.OrderID)
	require.NotNil(e.t, p)
	require.NoError(e.t, e.m.Sandbox.Vipps.Approve(p.Reference))
	return p
}

// settle lets the fake deliver its webhooks and the service finish what
// they started. The bound is generous: 2,000 payments' webhooks under the
// race detector on a busy machine took over 10 s.
func (e *testEnv) settle() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(e.t, e.m.Sandbox.Vipps.WaitWebhooks(ctx))
	e.m.Service.Wait()
}

func (e *testEnv) payment(ref string) *bridge.Payment {
	e.t.Helper()
	p, err := e.m.Store.Payment(context.Background(), ref)
	require.NoError(e.t, err)
	return p
}

// call sends a merchant API request and returns the status and JSON body.
func (e *testEnv) call(method, path, key, body string) (int, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.m.PublicURL()+path, strings.NewReader(body))
	require.NoError(e.t, err)
	req.Header.Set("Authorization", "Bearer "+e.m.Config.APITokens.Merchant)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := e.http.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	require.NoError(e.t, json.Unmarshal(b, &out), string(b))
	return resp.StatusCode, out
}

func (e *testEnv) notifications(ref string) []string {
	e.t.Helper()
	ns, err := e.m.Store.Notifications(context.Background(), ref, "", 500)
	require.NoError(e.t, err)
	var types []string
	for i := len(ns) - 1; i >= 0; i-- {
		types = append(types, ns[i].Type)
	}
	return types
}

func TestWebhookAuthorizesWithoutThePage(t *testing.T) {
	e := startMain(t, nil)
	p := e.paid()
	e.settle()
	got := e.payment(p.Reference)
	require.Equal(t, bridge.StateAuthorized, got.State, "the webhook alone must move the payment")
	require.Equal(t, int64(44700), got.Authorized)
	require.Equal(t, []string{"payment.authorized"}, e.notifications(p.Reference))
	// The merchant (the demo shop's receiver, which verifies our
	// signature) gets it from the outbox.
	require.Eventually(t, func() bool {
		got := e.m.ShopHooks.Received(p.Reference)
		return len(got) == 1 && got[0].Type == "payment.authorized"
	}, 10*time.Second, 20*time.Millisecond)
	raw, err := e.m.Store.RawEvents(context.Background(), p.Reference)
	require.NoError(t, err)
	names := []string{}
	for _, r := range raw {
		require.Equal(t, bridge.SourceWebhook, r.Source)
		names = append(names, r.Name)
	}
	require.Contains(t, names, "AUTHORIZED")
	hist, err := e.m.Store.History(context.Background(), p.Reference)
	require.NoError(t, err)
	require.Equal(t, bridge.SourceWebhook, hist[len(hist)-1].Source)
}

// signedWebhook posts an ePayment webhook to our endpoint, signed with the
// unit's stored secret, after letting mutate spoil it.
func (e *testEnv) signedWebhook(ev vipps.WebhookEvent, mutate func(h http.Header, body *[]byte)) int {
	e.t.Helper()
	reg, err := e.m.Store.WebhookRegistration(context.Background(), "webshop")
	require.NoError(e.t, err)
	body, err := json.Marshal(ev)
	require.NoError(e.t, err)
	target := e.m.Service.WebhookURL("webshop")
	host := strings.TrimPrefix(e.m.PublicURL(), "http://")
	date := e.clock.Now().UTC().Format(http.TimeFormat)
	hash, auth := vipps.SignWebhook(reg.Secret, "POST", "/webhooks/vipps/webshop", host, date, body)
	h := http.Header{"X-Ms-Date": {date}, "X-Ms-Content-Sha256": {hash}, "Authorization": {auth}, "Content-Type": {"application/json"}}
	if mutate != nil {
		mutate(h, &body)
	}
	req, err := http.NewRequest("POST", target, bytes.NewReader(body))
	require.NoError(e.t, err)
	req.Header = h
	resp, err := e.http.Do(req)
	require.NoError(e.t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func TestWebhookRejections(t *testing.T) {
	e := startMain(t, nil)
	o := e.order(nil)
	_, p := e.checkout(o.OrderID)
	// Vipps holds the payment as authorized, but nothing has told us yet:
	// a rejected webhook must not be what moves it. (Any webhook is only a
	// signal to read the payment, so the CREATED one must be done first.)
	e.settle()
	e.m.Sandbox.Vipps.SetFaults(vippstest.Faults{DropWebhookRate: 1})
	require.NoError(t, e.m.Sandbox.Vipps.Approve(p.Reference))
	e.settle()
	ev := vipps.WebhookEvent{MSN: "123456", Reference: p.Reference, PSPReference: "2018200034", Name: vipps.EventAuthorized,
		Amount: vipps.Amount{Currency: "NOK", Value: 44700}, Timestamp: e.clock.Now(), Success: true}
	cases := []struct {
		name   string
		mutate func(h http.Header, body *[]byte)
	}{
		{"forged signature", func(h http.Header, _ *[]byte) {
			h.Set("Authorization", "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
		}},
		{"body changed after signing", func(_ http.Header, b *[]byte) { *b = bytes.Replace(*b, []byte("44700"), []byte("99999"), 1) }},
		{"hash header changed to match the new body", func(h http.Header, b *[]byte) {
			*b = bytes.Replace(*b, []byte("44700"), []byte("99999"), 1)
			h.Set("X-Ms-Content-Sha256", vipps.ContentHash(*b))
		}},
		{"stale date", func(h http.Header, _ *[]byte) {
			h.Set("X-Ms-Date", e.clock.Now().Add(-10*time.Minute).UTC().Format(http.TimeFormat))
		}},
		{"missing date", func(h http.Header, _ *[]byte) { h.Del("X-Ms-Date") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, http.StatusUnauthorized, e.signedWebhook(ev, tc.mutate))
			require.Equal(t, bridge.StateCreated, e.payment(p.Reference).State)
		})
	}
	t.Run("replay", func(t *testing.T) {
		var saved http.Header
		var savedBody []byte
		// The CREATED webhook had the payment read just now; a payment is
		// read at most once per 2 s, whoever asks.
		e.clock.Advance(2 * time.Second)
		require.Equal(t, http.StatusOK, e.signedWebhook(ev, func(h http.Header, b *[]byte) { saved, savedBody = h.Clone(), *b }))
		require.Eventually(t, func() bool { return e.payment(p.Reference).State == bridge.StateAuthorized }, 5*time.Second, 10*time.Millisecond)
		e.settle()
		before := len(e.notifications(p.Reference))
		rawBefore, err := e.m.Store.RawEvents(context.Background(), p.Reference)
		require.NoError(t, err)
		// A delivery seen before (a duplicate, or a replay inside the date
		// window) is answered 200, so Vipps does not retry it for days,
		// and changes nothing: not even the raw log.
		require.Equal(t, http.StatusOK, e.signedWebhook(ev, func(h http.Header, b *[]byte) {
			for k := range h {
				h.Del(k)
			}
			for k, v := range saved {
				h[k] = v
			}
			*b = savedBody
		}))
		e.settle()
		require.Equal(t, before, len(e.notifications(p.Reference)))
		rawAfter, err := e.m.Store.RawEvents(context.Background(), p.Reference)
		require.NoError(t, err)
		require.Equal(t, len(rawBefore), len(rawAfter))
		require.Equal(t, bridge.StateAuthorized, e.payment(p.Reference).State)
	})
	t.Run("unknown reference is acknowledged and ignored", func(t *testing.T) {
		unknown := ev
		unknown.Reference = "ws-00000000-0000-0000-0000-000000000000-1"
		require.Equal(t, http.StatusOK, e.signedWebhook(unknown, nil))
		_, err := e.m.Store.Payment(context.Background(), unknown.Reference)
		require.Equal(t, bridge.ECodeNotFound, bridge.ErrorCode(err))
	})
	t.Run("duplicated and reordered", func(t *testing.T) {
		before := e.notifications(p.Reference)
		for _, name := range []vipps.EventName{vipps.EventAuthorized, vipps.EventCreated, vipps.EventAuthorized} {
			dup := ev
			dup.Name = name
			e.clock.Advance(time.Second)
			require.Equal(t, http.StatusOK, e.signedWebhook(dup, nil))
		}
		e.settle()
		require.Equal(t, before, e.notifications(p.Reference))
		require.Equal(t, bridge.StateAuthorized, e.payment(p.Reference).State)
	})
}

func TestDroppedWebhooksThePollerCatchesUp(t *testing.T) {
	e := startMain(t, nil)
	e.m.Sandbox.Vipps.SetFaults(vippstest.Faults{DropWebhookRate: 1})
	p := e.paid()
	e.settle()
	require.Equal(t, bridge.StateCreated, e.payment(p.Reference).State)
	e.clock.Advance(6 * time.Second)
	require.Eventually(t, func() bool { return e.payment(p.Reference).State == bridge.StateAuthorized }, 10*time.Second, 50*time.Millisecond)
	hist, err := e.m.Store.History(context.Background(), p.Reference)
	require.NoError(t, err)
	require.Equal(t, bridge.SourcePoller, hist[len(hist)-1].Source)
	require.Equal(t, []string{"payment.authorized"}, e.notifications(p.Reference))
}

func TestMerchantOperations(t *testing.T) {
	e := startMain(t, nil)
	p := e.paid()
	e.settle()
	ref := "/api/v1/payments/" + p.Reference

	status, body := e.call("POST", ref+"/capture", "", `{"amount":{"value":100,"currency":"NOK"}}`)
	require.Equal(t, http.StatusBadRequest, status, body)

	status, body = e.call("POST", ref+"/capture", "over", `{"amount":{"value":44701,"currency":"NOK"}}`)
	require.Equal(t, http.StatusUnprocessableEntity, status, body)
	require.Equal(t, "amount_exceeds_remaining", body["error"].(map[string]any)["reason"])
	require.Equal(t, 0, e.m.Sandbox.Vipps.Calls("capture"), "an amount over what is left never reaches Vipps")

	status, body = e.call("POST", ref+"/capture", "c1", `{"amount":{"value":20000,"currency":"NOK"}}`)
	require.Equal(t, http.StatusOK, status, body)
	status, again := e.call("POST", ref+"/capture", "c1", `{"amount":{"value":20000,"currency":"NOK"}}`)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, body, again, "the same key and body replay the stored answer")
	status, body = e.call("POST", ref+"/capture", "c1", `{"amount":{"value":20001,"currency":"NOK"}}`)
	require.Equal(t, http.StatusConflict, status)
	require.Equal(t, "idempotency_key_reused", body["error"].(map[string]any)["reason"])
	require.Equal(t, 1, e.m.Sandbox.Vipps.Calls("capture"))

	status, body = e.call("POST", ref+"/capture", "c2", `{"amount":{"value":10000}}`)
	require.Equal(t, http.StatusOK, status, body)
	status, body = e.call("POST", ref+"/cancel", "x1", ``)
	require.Equal(t, http.StatusOK, status, body)
	status, body = e.call("POST", ref+"/refund", "r1", `{"amount":{"value":5000,"currency":"NOK"}}`)
	require.Equal(t, http.StatusOK, status, body)
	status, body = e.call("POST", ref+"/refund", "r2", `{"amount":{"value":25001,"currency":"NOK"}}`)
	require.Equal(t, http.StatusUnprocessableEntity, status, body)
	e.settle()

	got := e.payment(p.Reference)
	require.Equal(t, int64(30000), got.Captured)
	require.Equal(t, int64(14700), got.Cancelled)
	require.Equal(t, int64(5000), got.Refunded)
	snap, _ := e.m.Sandbox.Vipps.Payment(p.Reference)
	require.Equal(t, int64(30000), snap.Captured)
	require.Equal(t, int64(5000), snap.Refunded)
	require.Equal(t, []string{"payment.authorized", "payment.captured", "payment.captured", "payment.cancelled", "payment.refunded"}, e.notifications(p.Reference))
	events, err := e.m.Store.PaymentEvents(context.Background(), p.Reference)
	require.NoError(t, err)
	captures := map[string]bool{}
	for _, ev := range events {
		if ev.Name == "CAPTURED" {
			captures[ev.PSPReference] = true
		}
	}
	require.Len(t, captures, 2, "two partial captures are two events")

	full := e.api("GET", ref)
	require.Len(t, full["operations"], 6, "failed operations are listed too")
	require.NotEmpty(t, full["events"])
}

func TestConcurrentIdenticalCapturesHaveOneEffect(t *testing.T) {
	e := startMain(t, nil)
	p := e.paid()
	e.settle()
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i], _ = e.call("POST", "/api/v1/payments/"+p.Reference+"/capture", "same-key", `{"amount":{"value":44700,"currency":"NOK"}}`)
		}()
	}
	wg.Wait()
	e.settle()
	ok := 0
	for _, s := range statuses {
		require.Contains(t, []int{http.StatusOK, http.StatusConflict}, s)
		if s == http.StatusOK {
			ok++
		}
	}
	require.GreaterOrEqual(t, ok, 1)
	require.Equal(t, 1, e.m.Sandbox.Vipps.Calls("capture"))
	snap, _ := e.m.Sandbox.Vipps.Payment(p.Reference)
	require.Equal(t, int64(44700), snap.Captured)
}

func TestDirectCaptureExactlyOnceFromThreeChannels(t *testing.T) {
	e := startMain(t, func(c *config.Config) { c.Units[0].Capture = "direct" })
	o := e.order(nil)
	_, p := e.checkout(o.OrderID)
	require.NoError(t, e.m.Sandbox.Vipps.Approve(p.Reference))
	// The return page, the status poll, the webhook and the poller all
	// report the authorization.
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(2)
		go func() { defer wg.Done(); e.get(e.m.PublicURL() + "/return/" + p.ReturnToken) }()
		go func() { defer wg.Done(); e.get(e.m.PublicURL() + "/status/" + p.ReturnToken) }()
	}
	e.clock.Advance(6 * time.Second)
	wg.Wait()
	e.settle()
	require.Eventually(t, func() bool { return e.payment(p.Reference).Captured == 44700 }, 10*time.Second, 50*time.Millisecond)
	e.settle()
	require.Equal(t, 1, e.m.Sandbox.Vipps.Calls("capture"))
	snap, _ := e.m.Sandbox.Vipps.Payment(p.Reference)
	require.Equal(t, int64(44700), snap.Captured)
	require.Equal(t, []string{"payment.authorized", "payment.captured"}, e.notifications(p.Reference))
}

func TestDoublePaymentGuardKlarna(t *testing.T) {
	e := startMain(t, nil)
	p := e.paid()
	e.settle()
	require.NoError(t, e.m.Sandbox.Kustom.Complete(p.KCOOrderID))
	// The poller re-reads authorized payments and their KCO orders.
	e.clock.Advance(11 * time.Minute)
	require.Eventually(t, func() bool { return e.payment(p.Reference).Cancelled == 44700 }, 10*time.Second, 50*time.Millisecond)
	e.settle()
	require.Contains(t, e.notifications(p.Reference), "payment.paid_twice")
	require.Contains(t, e.notifications(p.Reference), "payment.cancelled")
	ops, err := e.m.Store.Operations(context.Background(), p.Reference)
	require.NoError(t, err)
	require.Len(t, ops, 1)
	require.Equal(t, bridge.SourceGuard, ops[0].Source)
}

// Two sales units on one KCO order (say Vipps and MobilePay as two EPM
// entries), opened in two tabs and both approved: the guard keeps one and
// cancels the other, whichever channel sees it first.
func TestDoublePaymentGuardSecondAuthorization(t *testing.T) {
	e := startMain(t, withUnit("mobilepay", "mp", func(u *config.Unit) {
		u.MSN, u.EPMName, u.Capture = "123457", "MobilePay", "reserve"
		u.Vipps, u.ExpectedFee = config.Vipps{}, reconcile.FeeModel{}
	}))
	o := e.order(nil)
	_, a := e.checkout(o.OrderID)
	e.clock.Advance(time.Second)
	entry, err := e.m.Service.EPMEntry("mobilepay", o.OrderID, "nb-NO")
	require.NoError(t, err)
	resp, _ := e.get(entry.RedirectURL)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	b, err := e.m.Store.Payment(context.Background(), "mp-"+o.OrderID+"-1")
	require.NoError(t, err)
	require.NoError(t, e.m.Sandbox.Vipps.Approve(a.Reference))
	require.NoError(t, e.m.Sandbox.Vipps.Approve(b.Reference))
	e.settle()
	if !assert.Eventually(t, func() bool {
		snap, _ := e.m.Sandbox.Vipps.Payment(b.Reference)
		return snap.Cancelled == 44700
	}, 10*time.Second, 50*time.Millisecond) {
		for _, r := range []string{a.Reference, b.Reference} {
			ops, _ := e.m.Store.Operations(context.Background(), r)
			for _, op := range ops {
				t.Logf("%s op %+v", r, *op)
			}
			t.Logf("%s %+v notes %v", r, *e.payment(r), e.notifications(r))
		}
		t.FailNow()
	}
	e.settle()
	snapA, _ := e.m.Sandbox.Vipps.Payment(a.Reference)
	require.Equal(t, int64(0), snapA.Cancelled, "the first payment is kept")
	require.Contains(t, e.notifications(b.Reference), "payment.duplicate")
	// A third try at either unit is refused: the order is paid.
	resp, body := e.get(entry.RedirectURL)
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	require.Contains(t, body, `data-reason="order_already_paid"`)
}

func TestWebhookRegistration(t *testing.T) {
	e := startMain(t, nil)
	ctx := context.Background()
	first, err := e.m.Store.WebhookRegistration(ctx, "webshop")
	require.NoError(t, err, "start-up registers the unit's webhook")
	require.Equal(t, e.m.PublicURL()+"/webhooks/vipps/webshop", first.URL)
	require.NotEmpty(t, first.Secret)
	require.Len(t, first.Events, 8)

	again, err := e.m.Service.EnsureWebhook(ctx, "webshop")
	require.NoError(t, err)
	require.Equal(t, first.ID, again.ID, "a registration we hold the secret of is kept")

	// We lost the secret (say, a new database): the old registration is
	// replaced, because Vipps only returns a secret once.
	require.NoError(t, e.m.Store.DeleteWebhookRegistration(ctx, "webshop"))
	replaced, err := e.m.Service.EnsureWebhook(ctx, "webshop")
	require.NoError(t, err)
	require.NotEqual(t, first.ID, replaced.ID)
	listed, err := e.m.Service.Units["webshop"].Webhooks.ListWebhooks(ctx)
	require.NoError(t, err)
	require.Len(t, listed, 1)
	require.Equal(t, replaced.ID, listed[0].ID)

	// And webhooks signed with the new secret are accepted.
	p := e.paid()
	e.settle()
	require.Equal(t, bridge.StateAuthorized, e.payment(p.Reference).State)
}

// One sales unit shared by two stores: the same MSN and keys, the store in
// the reference prefix. Each store's payments are told apart by reference,
// and Vipps's webhooks for the MSN reach whichever URL and still apply.
func TestSharedSalesUnitTwoStores(t *testing.T) {
	e := startMain(t, withUnit("outlet", "out", func(u *config.Unit) {
		u.Name, u.Capture = "Demo Outlet", "direct"
		u.Vipps = config.Vipps{ClientIDEnv: u.Vipps.ClientIDEnv, ClientSecretEnv: u.Vipps.ClientSecretEnv, SubscriptionKeyEnv: u.Vipps.SubscriptionKeyEnv}
		u.EPMName, u.ExpectedFee = "", reconcile.FeeModel{}
	}))
	a := e.paid()
	o := e.order(nil)
	entry, err := e.m.Service.EPMEntry("outlet", o.OrderID, "nb-NO")
	require.NoError(t, err)
	resp, _ := e.get(entry.RedirectURL)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	b := e.payment("out-" + o.OrderID + "-1")
	require.NoError(t, e.m.Sandbox.Vipps.Approve(b.Reference))
	e.settle()
	require.Eventually(t, func() bool {
		return e.payment(a.Reference).State == bridge.StateAuthorized && e.payment(b.Reference).Captured == 44700
	}, 10*time.Second, 20*time.Millisecond)
	e.settle()
	require.Equal(t, int64(0), e.payment(a.Reference).Captured, "the webshop reserves; only the outlet captures directly")
	require.Equal(t, "outlet", e.payment(b.Reference).Unit)
}
