package vippstest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCaptureRejects(t *testing.T) {
	tests := []struct {
		name       string
		approve    bool
		before     int64 // captured first, with another key
		body       any
		wantStatus int
		wantCode   string
		wantField  string
	}{
		{name: "before authorization", body: amountBody(1000), wantStatus: 400, wantCode: "6080"},
		{name: "more than authorized", approve: true, body: amountBody(10001), wantStatus: 400, wantCode: "6090"},
		{name: "more than is left", approve: true, before: 6000, body: amountBody(4001), wantStatus: 400, wantCode: "6090"},
		{name: "zero", approve: true, body: amountBody(0), wantStatus: 400, wantCode: "4040"},
		{name: "other currency", approve: true, wantStatus: 400, wantCode: "4040",
			body: map[string]any{"modificationAmount": map[string]any{"currency": "EUR", "value": 100}}},
		{name: "decimal value", approve: true, wantStatus: 400, wantField: "modificationAmount.value",
			body: map[string]any{"modificationAmount": map[string]any{"currency": "NOK", "value": 10.5}}},
		{name: "missing modificationAmount", approve: true, wantStatus: 400, wantField: "modificationAmount",
			body: map[string]any{"amount": map[string]any{"currency": "NOK", "value": 100}}},
		{name: "unknown reference", wantStatus: 404, wantCode: "5090", body: amountBody(100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			h.mustCreate("capture-test-1", 10000)
			if tt.approve {
				h.forceApprove("capture-test-1")
			}
			if tt.before > 0 {
				h.mod(h.capture("capture-test-1", "first", tt.before))
			}
			ref := "capture-test-1"
			if tt.wantCode == "5090" {
				ref = "capture-test-2"
			}
			status, body := h.call(http.MethodPost, "/epayment/v1/payments/"+ref+"/capture", tt.body, key("k1"))
			if tt.wantField != "" {
				requireFields(t, status, body, tt.wantField)
			} else {
				p := requireCode(t, status, body, tt.wantStatus, tt.wantCode)
				assert.Equal(t, "/v1/payments/"+ref+"/capture", p.Instance)
			}
			snap, _ := h.srv.Payment("capture-test-1")
			assert.Equal(t, tt.before, snap.Captured, "a rejected capture moves no money")
		})
	}
}

func TestPartialCaptureNotAllowed(t *testing.T) {
	h := newHarness(t, Options{})
	full := SalesUnit{MSN: "444444", ClientID: "full", ClientSecret: "full-secret", SubscriptionKey: "full-sub", PartialCaptureNotAllowed: true}
	h.srv.AddSalesUnit(full)
	h.unit, h.token = full, h.fetchToken(full)
	h.mustCreate("full-capture-1", 10000)
	h.forceApprove("full-capture-1")
	status, body := h.capture("full-capture-1", "k1", 5000)
	requireCode(t, status, body, 400, "6140")
	m := h.mod(h.capture("full-capture-1", "k2", 10000))
	assert.Equal(t, int64(10000), m.Aggregate.CapturedAmount.Value)
}

func TestRefundRejects(t *testing.T) {
	tests := []struct {
		name     string
		approve  bool
		capture  int64
		refund   int64
		wantCode string
	}{
		{name: "before authorization", refund: 100, wantCode: "6020"},
		{name: "nothing captured", approve: true, refund: 100, wantCode: "6150"},
		{name: "more than captured", approve: true, capture: 5000, refund: 5001, wantCode: "6150"},
		{name: "magic amount 123 (no receiving account)", approve: true, capture: 5000, refund: 123, wantCode: "5100"},
		{name: "magic amount 124 (refund period expired)", approve: true, capture: 5000, refund: 124, wantCode: "6220"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			h.mustCreate("refund-test-1", 10000)
			if tt.approve {
				h.forceApprove("refund-test-1")
			}
			if tt.capture > 0 {
				h.mod(h.capture("refund-test-1", "c1", tt.capture))
			}
			status, body := h.refund("refund-test-1", "r1", tt.refund)
			requireCode(t, status, body, 400, tt.wantCode)
			snap, _ := h.srv.Payment("refund-test-1")
			assert.Zero(t, snap.Refunded)
		})
	}
}

func TestModificationsNeedIdempotencyKey(t *testing.T) {
	h := newHarness(t, Options{})
	h.mustCreate("needs-key-1", 10000)
	h.forceApprove("needs-key-1")
	for _, op := range []string{"capture", "refund", "cancel"} {
		t.Run(op, func(t *testing.T) {
			status, body := h.call(http.MethodPost, "/epayment/v1/payments/needs-key-1/"+op, amountBody(100), nil)
			requireFields(t, status, body, "Idempotency-Key")
			status, body = h.call(http.MethodPost, "/epayment/v1/payments/needs-key-1/"+op, amountBody(100), key(strings.Repeat("x", 51)))
			requireFields(t, status, body, "Idempotency-Key")
		})
	}
	snap, _ := h.srv.Payment("needs-key-1")
	assert.Zero(t, snap.Captured)
	assert.Zero(t, snap.Cancelled)
}

func TestForceApprove(t *testing.T) {
	h := newHarness(t, Options{})
	created := h.mustCreate("force-approve-1", 10000)
	path := "/epayment/v1/test/payments/force-approve-1/approve"

	status, body := h.call(http.MethodPost, path, map[string]any{}, nil)
	requireFields(t, status, body, "body")
	status, body = h.call(http.MethodPost, path, map[string]any{"token": "wrong"}, nil)
	requireCode(t, status, body, 400, "10010")
	status, body = h.call(http.MethodPost, path, map[string]any{"customer": map[string]any{"phoneNumber": "123"}}, nil)
	requireCode(t, status, body, 400, "4070")

	status, body = h.call(http.MethodPost, path, map[string]any{"token": landingToken(t, created.RedirectURL)}, nil)
	require.Equal(t, http.StatusOK, status, string(body))
	assert.Equal(t, "AUTHORIZED", h.get("force-approve-1").State)

	status, body = h.call(http.MethodPost, path, map[string]any{"token": landingToken(t, created.RedirectURL)}, nil)
	requireCode(t, status, body, 400, "6230")

	// The path without /test/ from the current guide works too.
	h.mustCreate("force-approve-2", 10000)
	status, body = h.call(http.MethodPost, "/epayment/v1/payments/force-approve-2/approve",
		map[string]any{"customer": map[string]any{"phoneNumber": "4798765432"}}, nil)
	require.Equal(t, http.StatusOK, status, string(body))
	snap, _ := h.srv.Payment("force-approve-2")
	assert.Equal(t, "4798765432", snap.ApprovedBy)
}
