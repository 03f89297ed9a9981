package vippstest

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestModifyRateLimit(t *testing.T) {
	h := newHarness(t, Options{})
	h.mustCreate("rate-capture-1", 10000)
	h.forceApprove("rate-capture-1")

	for i := range 5 {
		h.mod(h.capture("rate-capture-1", "k"+itoa(i), 100))
		h.clock.Advance(time.Second)
	}
	status, raw := h.capture("rate-capture-1", "k5", 100)
	assert.Contains(t, apimMessage(t, status, raw, http.StatusTooManyRequests), "Rate limit is exceeded")
	assert.Equal(t, 5, h.srv.Calls(OpCapture)-1, "the refused call reached the fake and is counted")
	assert.Equal(t, int64(500), mustSnap(t, h.srv, "rate-capture-1").Captured)

	// Another reference has its own counter.
	h.mustCreate("rate-capture-2", 10000)
	h.forceApprove("rate-capture-2")
	h.mod(h.capture("rate-capture-2", "k0", 100))

	// The first capture leaves the one-minute window 55 s from now.
	req, err := http.NewRequest(http.MethodPost, h.srv.URL()+"/epayment/v1/payments/rate-capture-1/capture", nil)
	require.NoError(t, err)
	req.Header = h.headers(key("k6"))
	resp, err := noRedirect.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "55", resp.Header.Get("Retry-After"))

	h.clock.Advance(55 * time.Second)
	h.mod(h.capture("rate-capture-1", "k7", 100))
}

func TestCreateRateLimitCountsTheBodyReference(t *testing.T) {
	h := newHarness(t, Options{})
	// A request body without "reference" counts against the empty one:
	// five misspelled creates exhaust it at once.
	for i := range 5 {
		body := createBody("x", 1000)
		delete(body, "reference")
		body["Reference"] = "misspelled-" + itoa(i)
		status, raw := h.create(body, "k"+itoa(i))
		requireFields(t, status, raw, "reference")
	}
	body := createBody("x", 1000)
	delete(body, "reference")
	status, raw := h.create(body, "k9")
	apimMessage(t, status, raw, http.StatusTooManyRequests)
	h.mustCreate("well-spelled-1", 1000)
}

func TestQueryRateLimit(t *testing.T) {
	h := newHarness(t, Options{})
	h.mustCreate("rate-get-1", 1000)
	for range 120 {
		h.get("rate-get-1")
	}
	status, raw := h.call(http.MethodGet, "/epayment/v1/payments/rate-get-1", nil, nil)
	apimMessage(t, status, raw, http.StatusTooManyRequests)
	h.events("rate-get-1") // events has its own counter
	h.clock.Advance(time.Minute)
	h.get("rate-get-1")
}

func TestRateLimitOptions(t *testing.T) {
	h := newHarness(t, Options{RateLimits: RateLimits{Modify: -1, Query: 2}})
	h.mustCreate("rate-opt-1", 10000)
	h.forceApprove("rate-opt-1")
	for i := range 20 {
		h.mod(h.capture("rate-opt-1", "k"+itoa(i), 100))
	}
	h.get("rate-opt-1")
	h.get("rate-opt-1")
	status, raw := h.call(http.MethodGet, "/epayment/v1/payments/rate-opt-1", nil, nil)
	apimMessage(t, status, raw, http.StatusTooManyRequests)
	h.srv.ResetRateLimits()
	h.get("rate-opt-1")
}

func mustSnap(t *testing.T, srv *Server, ref string) PaymentSnapshot {
	t.Helper()
	snap, ok := srv.Payment(ref)
	require.True(t, ok, ref)
	return snap
}
