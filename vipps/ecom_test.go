package vipps

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"vippskco/vipps/vippstest"
)

// ecomFake is the strict fake with one NOK unit and a callback receiver.
type ecomFake struct {
	srv *vippstest.Server
	c   *Client
	cb  *httptest.Server

	mu       sync.Mutex
	received []*http.Request
	bodies   [][]byte
	answer   int
}

func newEcomFake(t *testing.T, direct bool) *ecomFake {
	t.Helper()
	f := &ecomFake{answer: http.StatusOK}
	f.srv = vippstest.NewServer(vippstest.Options{Seed: 3, AllowInsecureLocalReturnURL: true})
	t.Cleanup(f.srv.Close)
	f.srv.AddSalesUnit(vippstest.SalesUnit{MSN: testMSN, ClientID: testClientID, ClientSecret: testClientSecret, SubscriptionKey: testSubscriptionKey, DirectCapture: direct})
	f.cb = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.received = append(f.received, r)
		f.bodies = append(f.bodies, b)
		status := f.answer
		f.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(f.cb.Close)
	f.c = newTestClient(t, testConfig(f.srv.URL(), &sleeper{}))
	return f
}

func (f *ecomFake) initiate(t *testing.T, orderID string, amount int64) *EcomInitiateResponse {
	t.Helper()
	resp, err := f.c.EcomInitiatePayment(context.Background(), EcomInitiateRequest{
		MerchantInfo: EcomMerchantInfo{CallbackPrefix: f.cb.URL + "/cb", FallBack: "https://shop.example/return", AuthToken: "Ecom secret-" + orderID},
		Transaction:  EcomInitiateTransaction{OrderID: orderID, Amount: amount, TransactionText: "Two cups"},
	})
	if err != nil {
		t.Fatalf("initiate %s: %v", orderID, err)
	}
	return resp
}

// callbacks waits for n callbacks to have been answered or lost.
func (f *ecomFake) callbacks(t *testing.T, n int) []vippstest.EcomCallback {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		all := f.srv.EcomCallbacks()
		done := 0
		for _, cb := range all {
			if cb.Answer != 0 || cb.Dropped {
				done++
			}
		}
		if done == n && len(all) == n {
			return all
		}
		if time.Now().After(deadline) {
			t.Fatalf("callbacks: want %d finished, have %+v", n, all)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ops(d *EcomDetails) []string {
	var out []string
	for _, l := range d.TransactionLogHistory {
		out = append(out, l.Operation)
	}
	return out
}

func TestEcomReserveCaptureCancelRefund(t *testing.T) {
	f := newEcomFake(t, false)
	ctx := context.Background()
	resp := f.initiate(t, "ecom-order-1", 30000)
	if resp.OrderID != "ecom-order-1" || resp.URL == "" {
		t.Fatalf("initiate answer %+v", resp)
	}
	d, err := f.c.EcomGetDetails(ctx, "ecom-order-1")
	if err != nil {
		t.Fatal(err)
	}
	if d.TransactionSummary != nil || len(d.TransactionLogHistory) != 1 || d.TransactionLogHistory[0].Operation != EcomInitiate {
		t.Fatalf("fresh details: %+v", d)
	}
	if err := f.c.EcomForceApprove(ctx, "ecom-order-1", "91234567"); err != nil {
		t.Fatal(err)
	}
	cbs := f.callbacks(t, 1)
	if cbs[0].Status != "RESERVED" || cbs[0].Answer != http.StatusOK {
		t.Fatalf("callback %+v", cbs[0])
	}
	f.mu.Lock()
	r, body := f.received[0], f.bodies[0]
	f.mu.Unlock()
	if r.URL.Path != "/cb/v2/payments/ecom-order-1" || r.Header.Get("Authorization") != "Ecom secret-ecom-order-1" {
		t.Fatalf("callback went to %s with Authorization %q", r.URL.Path, r.Header.Get("Authorization"))
	}
	var cb EcomCallback
	if err := json.Unmarshal(body, &cb); err != nil || cb.OrderID != "ecom-order-1" || cb.TransactionInfo.Status != "RESERVED" || cb.TransactionInfo.Amount != 30000 {
		t.Fatalf("callback body %s: %v", body, err)
	}

	if _, err := f.c.EcomCapture(ctx, "ecom-order-1", "cap-1", 10000, "Parcel 1"); err != nil {
		t.Fatal(err)
	}
	// The same X-Request-Id is answered, not done again.
	if _, err := f.c.EcomCapture(ctx, "ecom-order-1", "cap-1", 10000, "Parcel 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.EcomCancel(ctx, "ecom-order-1", "Rest", false); ErrorCodeOf(err) != "51" {
		t.Fatalf("cancel after a capture without shouldReleaseRemainingFunds: %v", err)
	}
	if _, err := f.c.EcomCancel(ctx, "ecom-order-1", "Rest", true); err != nil {
		t.Fatal(err)
	}
	_, err = f.c.EcomRefund(ctx, "ecom-order-1", "ref-1", 10001, "Too much")
	var verr *Error
	if !errors.As(err, &verr) || verr.ErrorCode != "71" || verr.Type != "Payment" || verr.TraceID == "" || len(verr.Body) == 0 {
		t.Fatalf("refund over the captured amount: %#v", err)
	}
	if _, err := f.c.EcomRefund(ctx, "ecom-order-1", "ref-1", 4000, "Returned cup"); err != nil {
		t.Fatal(err)
	}
	d, err = f.c.EcomGetDetails(ctx, "ecom-order-1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{EcomRefund, EcomVoid, EcomCapture, EcomReserve, EcomInitiate}
	if got := ops(d); len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Fatalf("log %v, want newest first %v", got, want)
	}
	if d.TransactionLogHistory[2].RequestID != "cap-1" || d.TransactionLogHistory[0].RequestID != "ref-1" {
		t.Fatalf("requestIds not logged: %+v", d.TransactionLogHistory)
	}
	s := d.TransactionSummary
	if s == nil || s.CapturedAmount != 10000 || s.RemainingAmountToCapture != 0 || s.RefundedAmount != 4000 || s.RemainingAmountToRefund != 6000 {
		t.Fatalf("summary %+v", s)
	}
	if n := len(f.srv.Deliveries()); n != 0 {
		t.Fatalf("%d ePayment webhooks fired for an eCom payment", n)
	}
}

func TestEcomInitiateIsNotIdempotent(t *testing.T) {
	f := newEcomFake(t, false)
	f.initiate(t, "ecom-order-2", 20000)
	_, err := f.c.EcomInitiatePayment(context.Background(), EcomInitiateRequest{
		MerchantInfo: EcomMerchantInfo{CallbackPrefix: f.cb.URL, FallBack: "https://shop.example/return"},
		Transaction:  EcomInitiateTransaction{OrderID: "ecom-order-2", Amount: 20000, TransactionText: "Again"},
	})
	var verr *Error
	if !errors.As(err, &verr) || verr.ErrorCode != "34" || verr.Type != "Merchant" {
		t.Fatalf("second initiate of one orderId: %v", err)
	}
	if _, err := f.c.EcomGetDetails(context.Background(), "no-such-order"); ErrorCodeOf(err) != "35" {
		t.Fatalf("details of an unknown orderId: %v", err)
	}
}

func TestEcomDirectCaptureIsSale(t *testing.T) {
	f := newEcomFake(t, true)
	ctx := context.Background()
	f.initiate(t, "ecom-sale-1", 15000)
	if err := f.c.EcomForceApprove(ctx, "ecom-sale-1", "91234567"); err != nil {
		t.Fatal(err)
	}
	if cbs := f.callbacks(t, 1); cbs[0].Status != "SALE" {
		t.Fatalf("callback %+v", cbs[0])
	}
	d, err := f.c.EcomGetDetails(ctx, "ecom-sale-1")
	if err != nil {
		t.Fatal(err)
	}
	if got := ops(d); len(got) != 2 || got[0] != EcomSale {
		t.Fatalf("log %v, want SALE then INITIATE", got)
	}
	if s := d.TransactionSummary; s.CapturedAmount != 15000 || s.RemainingAmountToCapture != 0 {
		t.Fatalf("summary %+v", s)
	}
	if _, err := f.c.EcomCapture(ctx, "ecom-sale-1", "cap-1", 100, "x"); ErrorCodeOf(err) != "61" {
		t.Fatalf("capture of a SALE: %v", err)
	}
}

func TestEcomCallbackIsSingleShot(t *testing.T) {
	f := newEcomFake(t, false)
	f.answer = http.StatusInternalServerError
	f.initiate(t, "ecom-order-3", 20000)
	if err := f.c.EcomForceApprove(context.Background(), "ecom-order-3", "91234567"); err != nil {
		t.Fatal(err)
	}
	cbs := f.callbacks(t, 1)
	time.Sleep(100 * time.Millisecond)
	f.mu.Lock()
	n := len(f.received)
	f.mu.Unlock()
	if cbs[0].Answer != http.StatusInternalServerError || n != 1 || len(f.srv.EcomCallbacks()) != 1 {
		t.Fatalf("a failed callback must not be retried: %d received, %+v", n, f.srv.EcomCallbacks())
	}
}

func TestEcomCaptureNeedsRequestID(t *testing.T) {
	f := newEcomFake(t, false)
	if _, err := f.c.EcomCapture(context.Background(), "ecom-order-4", "", 100, "x"); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("capture without X-Request-Id: %v", err)
	}
	if _, err := f.c.EcomCapture(context.Background(), "ecom-order-4", "0123456789012345678901234567890123456789x", 100, "x"); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("capture with a 41-character X-Request-Id: %v", err)
	}
	if _, err := f.c.EcomInitiatePayment(context.Background(), EcomInitiateRequest{
		MerchantInfo: EcomMerchantInfo{CallbackPrefix: f.cb.URL, FallBack: "https://shop.example/return"},
		Transaction:  EcomInitiateTransaction{OrderID: "ecom-order-4", Amount: 99, TransactionText: "x"},
	}); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("initiate under 1 NOK: %v", err)
	}
}
