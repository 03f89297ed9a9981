package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/config"
	"vippskco/vipps/vippstest"
)

// ecomUnit sets the shipped unit up for the eCom API v2.
func ecomUnit(c *config.Config) { c.Units[0].API = config.APIEcom }

// waitState waits until the stored payment is in state.
func (e *testEnv) waitState(ref string, state bridge.PaymentState) *bridge.Payment {
	e.t.Helper()
	require.Eventually(e.t, func() bool { return e.payment(ref).State == state }, 10*time.Second, 20*time.Millisecond)
	return e.payment(ref)
}

// ecomCallbacks are the fake's callbacks for one payment, once each has
// its answer (or was dropped).
func (e *testEnv) ecomCallbacks(ref string, n int) []vippstest.EcomCallback {
	e.t.Helper()
	var got []vippstest.EcomCallback
	require.Eventually(e.t, func() bool {
		got = got[:0]
		for _, cb := range e.m.Sandbox.Vipps.EcomCallbacks() {
			if cb.OrderID == ref && (cb.Answer != 0 || cb.Dropped) {
				got = append(got, cb)
			}
		}
		return len(got) == n
	}, 10*time.Second, 20*time.Millisecond)
	return got
}

func TestEcomReserveUnit(t *testing.T) {
	e := startMain(t, ecomUnit)
	p := e.paid()
	require.Equal(t, 1, e.m.Sandbox.Vipps.Calls(vippstest.OpEcomInitiate))
	require.Equal(t, 0, e.m.Sandbox.Vipps.Calls(vippstest.OpCreate), "an eCom unit never creates through ePayment")

	cbs := e.ecomCallbacks(p.Reference, 1)
	require.Equal(t, "RESERVED", cbs[0].Status)
	require.Equal(t, http.StatusOK, cbs[0].Answer, "the callback with our authToken is taken")
	got := e.waitState(p.Reference, bridge.StateAuthorized)
	require.Equal(t, int64(44700), got.Authorized)
	e.settle()

	ref := "/api/v1/payments/" + p.Reference
	status, body := e.call("POST", ref+"/capture", "c1", `{"amount":{"value":20000,"currency":"NOK"}}`)
	require.Equal(t, http.StatusOK, status, body)
	status, body = e.call("POST", ref+"/cancel", "x1", ``)
	require.Equal(t, http.StatusOK, status, body)
	status, body = e.call("POST", ref+"/refund", "r1", `{"amount":{"value":5000,"currency":"NOK"}}`)
	require.Equal(t, http.StatusOK, status, body)
	status, body = e.call("POST", ref+"/refund", "r2", `{"amount":{"value":15001,"currency":"NOK"}}`)
	require.Equal(t, http.StatusUnprocessableEntity, status, body)
	e.settle()

	got = e.payment(p.Reference)
	require.Equal(t, int64(20000), got.Captured)
	require.Equal(t, int64(24700), got.Cancelled)
	require.Equal(t, int64(5000), got.Refunded)
	snap, _ := e.m.Sandbox.Vipps.Payment(p.Reference)
	require.Equal(t, int64(20000), snap.Captured)
	require.Equal(t, int64(24700), snap.Cancelled)
	require.Equal(t, int64(5000), snap.Refunded)
	for _, op := range []string{vippstest.OpEcomCapture, vippstest.OpEcomCancel, vippstest.OpEcomRefund} {
		require.Equal(t, 1, e.m.Sandbox.Vipps.Calls(op), op)
	}
	for _, op := range []string{vippstest.OpCapture, vippstest.OpCancel, vippstest.OpRefund, vippstest.OpGet} {
		require.Equal(t, 0, e.m.Sandbox.Vipps.Calls(op), "%s goes through eCom", op)
	}
	require.Equal(t, []string{"payment.authorized", "payment.captured", "payment.cancelled", "payment.refunded"}, e.notifications(p.Reference))
}

func TestEcomCallbackNeedsTheAuthToken(t *testing.T) {
	e := startMain(t, ecomUnit)
	e.m.Sandbox.Vipps.DropEcomCallbacks(1)
	p := e.paid()
	cb := e.ecomCallbacks(p.Reference, 1)[0]
	post := func(auth, body string) int {
		req, err := http.NewRequest("POST", e.m.PublicURL()+"/callbacks/vipps-ecom/webshop/v2/payments/"+p.Reference, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := e.http.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusUnauthorized, post("", string(cb.Body)))
	require.Equal(t, http.StatusUnauthorized, post(cb.Authorization+"x", string(cb.Body)))
	require.Equal(t, http.StatusBadRequest, post(cb.Authorization, `{"orderId":"someone-else"}`))
	require.Equal(t, bridge.StateCreated, e.payment(p.Reference).State, "a refused callback moves nothing")
	require.Equal(t, http.StatusOK, post(cb.Authorization, string(cb.Body)))
	e.waitState(p.Reference, bridge.StateAuthorized)
}

func TestEcomSaleUnit(t *testing.T) {
	e := startMain(t, ecomUnit)
	u := e.m.Config.Units[0]
	e.m.Sandbox.Vipps.AddSalesUnit(vippstest.SalesUnit{
		MSN: u.MSN, ClientID: u.Vipps.ClientID, ClientSecret: u.Vipps.ClientSecret,
		SubscriptionKey: u.Vipps.SubscriptionKey, Currency: u.Currency, Name: u.Name, DirectCapture: true,
	})
	p := e.paid()
	require.Equal(t, "SALE", e.ecomCallbacks(p.Reference, 1)[0].Status)
	got := e.waitState(p.Reference, bridge.StateAuthorized)
	e.settle()
	// Polls and page reads after the callback read the same SALE again.
	e.clock.Advance(10 * time.Second)
	_, err := e.m.Service.PollOnce(context.Background())
	require.NoError(t, err)
	e.settle()

	got = e.payment(p.Reference)
	require.Equal(t, int64(44700), got.Authorized)
	require.Equal(t, int64(44700), got.Captured, "a SALE is captured at once")
	require.Equal(t, 0, e.m.Sandbox.Vipps.Calls(vippstest.OpEcomCapture), "no capture call for a SALE")
	// One sync learns both; the state machine lists the money event first.
	require.ElementsMatch(t, []string{"payment.authorized", "payment.captured"}, e.notifications(p.Reference), "the capture is booked once")

	api := e.api("GET", "/api/v1/payments/"+p.Reference)
	agg := api["aggregate"].(map[string]any)
	require.EqualValues(t, 44700, agg["captured"], api)
	require.EqualValues(t, 0, agg["capturable"], api)

	status, body := e.call("POST", "/api/v1/payments/"+p.Reference+"/capture", "c1", `{"amount":{"value":100,"currency":"NOK"}}`)
	require.Equal(t, http.StatusUnprocessableEntity, status, body)
	require.Equal(t, 0, e.m.Sandbox.Vipps.Calls(vippstest.OpEcomCapture))
}

func TestEcomDroppedCallbackCaughtByPolling(t *testing.T) {
	e := startMain(t, ecomUnit)
	e.m.Sandbox.Vipps.DropEcomCallbacks(1)
	p := e.paid()
	require.True(t, e.ecomCallbacks(p.Reference, 1)[0].Dropped)
	e.settle()
	require.Equal(t, bridge.StateCreated, e.payment(p.Reference).State)
	e.clock.Advance(6 * time.Second)
	got := e.waitState(p.Reference, bridge.StateAuthorized)
	require.Equal(t, int64(44700), got.Authorized)
	hist, err := e.m.Store.History(context.Background(), p.Reference)
	require.NoError(t, err)
	require.Equal(t, bridge.SourcePoller, hist[len(hist)-1].Source)
	require.Equal(t, []string{"payment.authorized"}, e.notifications(p.Reference))
}

func TestEcomInitiateTimeoutResolvedByDetails(t *testing.T) {
	e := startMain(t, ecomUnit, func(m *Main) {
		m.Providers.HTTPClient = &http.Client{Timeout: time.Second}
	})
	e.m.Sandbox.Vipps.SetFaults(vippstest.Faults{TimeoutAfterCommitRate: 1, Hang: 5 * time.Second, Ops: []string{vippstest.OpEcomInitiate}})
	o := e.order(nil)
	resp, p := e.checkout(o.OrderID)
	require.NotNil(t, p, "the redirect answers once /details shows the payment")
	require.Equal(t, e.m.PublicURL()+"/return/"+p.ReturnToken, resp.Header.Get("Location"), "with no landing URL the shopper waits on our page")
	require.Equal(t, bridge.StateCreated, e.payment(p.Reference).State)
	require.Equal(t, 1, e.m.Sandbox.Vipps.Calls(vippstest.OpEcomInitiate), "an unanswered initiate is never sent again")
	require.GreaterOrEqual(t, e.m.Sandbox.Vipps.Calls(vippstest.OpEcomDetails), 2, "read before the initiate, and after it timed out")
	e.m.Sandbox.Vipps.SetFaults(vippstest.Faults{})

	// The shopper reloads: still the one payment, no second initiate.
	_, again := e.checkout(o.OrderID)
	require.Equal(t, p.Reference, again.Reference)
	require.Equal(t, 1, e.m.Sandbox.Vipps.Calls(vippstest.OpEcomInitiate))
	require.Equal(t, []string{p.Reference}, e.m.Sandbox.Vipps.References(), "one payment at the fake")

	require.NoError(t, e.m.Sandbox.Vipps.Approve(p.Reference))
	e.waitState(p.Reference, bridge.StateAuthorized)
}

func TestEcomUnansweredCaptureIsRecognisedByItsRequestID(t *testing.T) {
	e := startMain(t, ecomUnit, func(m *Main) {
		m.Providers.HTTPClient = &http.Client{Timeout: time.Second}
	})
	p := e.paid()
	e.waitState(p.Reference, bridge.StateAuthorized)
	e.settle()
	e.m.Sandbox.Vipps.SetFaults(vippstest.Faults{TimeoutAfterCommitRate: 1, Hang: 5 * time.Second, Ops: []string{vippstest.OpEcomCapture, vippstest.OpEcomCancel}})
	ref := "/api/v1/payments/" + p.Reference
	status, body := e.call("POST", ref+"/capture", "c1", `{"amount":{"value":20000,"currency":"NOK"}}`)
	require.NotEqual(t, http.StatusOK, status, body)
	status, body = e.call("POST", ref+"/cancel", "x1", ``)
	require.NotEqual(t, http.StatusOK, status, body)
	e.m.Sandbox.Vipps.SetFaults(vippstest.Faults{})

	// The operations are tried again; /details names the capture's
	// X-Request-Id and shows the VOID, so neither is sent twice.
	e.clock.Advance(time.Minute)
	require.Eventually(t, func() bool {
		got := e.payment(p.Reference)
		return got.Captured == 20000 && got.Cancelled == 24700
	}, 20*time.Second, 50*time.Millisecond)
	// The payment shows the money before the operation that moved it is
	// marked done (a write of its own); until then the same key answers
	// 409 operation_in_progress, as it should.
	settled := func(path, key, body string) (int, map[string]any) {
		var status int
		var answer map[string]any
		require.Eventually(t, func() bool {
			status, answer = e.call("POST", path, key, body)
			return status != http.StatusConflict
		}, 20*time.Second, 50*time.Millisecond)
		return status, answer
	}
	status, body = settled(ref+"/capture", "c1", `{"amount":{"value":20000,"currency":"NOK"}}`)
	require.Equal(t, http.StatusOK, status, body)
	status, body = settled(ref+"/cancel", "x1", ``)
	require.Equal(t, http.StatusOK, status, body)
	// The client may resend an unanswered capture, always under its one
	// X-Request-Id, which the fake answers instead of capturing again; an
	// eCom cancel has no such id and is sent once.
	ids := map[string]bool{}
	for _, r := range e.m.Sandbox.Vipps.Requests() {
		if r.Op == vippstest.OpEcomCapture {
			ids[r.Header.Get("X-Request-Id")] = true
		}
	}
	require.Len(t, ids, 1, "one X-Request-Id for every try of the capture")
	require.Equal(t, 1, e.m.Sandbox.Vipps.Calls(vippstest.OpEcomCancel))
	snap, _ := e.m.Sandbox.Vipps.Payment(p.Reference)
	require.Equal(t, int64(20000), snap.Captured)
}
