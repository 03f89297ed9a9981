package vippstest

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCreateIdempotentReplay(t *testing.T) {
	h := newHarness(t, Options{})
	body := createBody("idem-create-1", 1000)
	status1, raw1 := h.create(body, "create-key")
	require.Equal(t, http.StatusCreated, status1, string(raw1))

	// The same body, written differently, is the same request.
	status2, raw2 := h.create(`{"userFlow":"WEB_REDIRECT","reference":"idem-create-1",
		"amount":{"value":1000,"currency":"NOK"},"paymentMethod":{"type":"WALLET"},
		"returnUrl":"https://shop.example/return?order=idem-create-1&step=2",
		"customer":{"phoneNumber":"4791234567"},"paymentDescription":"Kaffe og kopp"}`, "create-key")
	assert.Equal(t, status1, status2)
	assert.Equal(t, string(raw1), string(raw2), "the stored original answer")
	assert.Len(t, h.srv.References(), 1)
	assert.Len(t, h.events("idem-create-1"), 1, "one CREATED event")
	assert.Equal(t, 2, h.srv.Calls(OpCreate))

	body["amount"] = map[string]any{"currency": "NOK", "value": 2000}
	status, raw := h.create(body, "create-key")
	requireCode(t, status, raw, http.StatusConflict, "4150")
}

func TestCaptureIdempotency(t *testing.T) {
	h := newHarness(t, Options{})
	h.mustCreate("idem-capture-1", 10000)
	h.forceApprove("idem-capture-1")

	status1, raw1 := h.capture("idem-capture-1", "cap-key", 4000)
	require.Equal(t, http.StatusOK, status1, string(raw1))
	status2, raw2 := h.capture("idem-capture-1", "cap-key", 4000)
	assert.Equal(t, status1, status2)
	assert.Equal(t, string(raw1), string(raw2))
	snap, _ := h.srv.Payment("idem-capture-1")
	assert.Equal(t, int64(4000), snap.Captured, "no second capture")

	status, raw := h.capture("idem-capture-1", "cap-key", 5000)
	requireCode(t, status, raw, http.StatusConflict, "4010")
}

func TestRefundAndCancelIdempotencyConflicts(t *testing.T) {
	h := newHarness(t, Options{})
	h.mustCreate("idem-refund-1", 10000)
	h.forceApprove("idem-refund-1")
	h.mod(h.capture("idem-refund-1", "c1", 5000))

	h.mod(h.refund("idem-refund-1", "refund-key", 1000))
	h.mod(h.refund("idem-refund-1", "refund-key", 1000))
	status, raw := h.refund("idem-refund-1", "refund-key", 2000)
	requireCode(t, status, raw, http.StatusConflict, "4150")
	snap, _ := h.srv.Payment("idem-refund-1")
	assert.Equal(t, int64(1000), snap.Refunded)

	h.mod(h.cancel("idem-refund-1", "cancel-key", nil))
	h.mod(h.cancel("idem-refund-1", "cancel-key", map[string]any{}))
	status, raw = h.cancel("idem-refund-1", "cancel-key", map[string]any{"cancelTransactionOnly": true})
	requireCode(t, status, raw, http.StatusConflict, "4020")
}

func TestClientErrorSticksToItsKey(t *testing.T) {
	h := newHarness(t, Options{})
	h.mustCreate("idem-sticky-1", 10000)
	status, raw := h.capture("idem-sticky-1", "early-key", 1000)
	first := requireCode(t, status, raw, 400, "6080")

	h.forceApprove("idem-sticky-1")
	status, raw = h.capture("idem-sticky-1", "early-key", 1000)
	again := requireCode(t, status, raw, 400, "6080")
	assert.Equal(t, first.TraceID, again.TraceID, "the stored answer, not a new one")

	h.mod(h.capture("idem-sticky-1", "new-key", 1000))
}

func TestServerErrorIsNotStored(t *testing.T) {
	h := newHarness(t, Options{})
	h.srv.SetFaults(Faults{ServerErrorRate: 1, Ops: []string{OpCreate}})
	status, raw := h.create(createBody("idem-500-1", 1000), "k1")
	requireCode(t, status, raw, 500, "3010")
	assert.Empty(t, h.srv.References(), "a 500 before acting does nothing")

	h.srv.SetFaults(Faults{})
	status, raw = h.create(createBody("idem-500-1", 1000), "k1")
	require.Equal(t, http.StatusCreated, status, string(raw), "the retry with the same key acts")
	assert.Equal(t, 1, h.srv.FaultCounts().ServerErrors)
}
