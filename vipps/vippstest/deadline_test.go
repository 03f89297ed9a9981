package vippstest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCaptureDeadlineByMarket(t *testing.T) {
	day := 24 * time.Hour
	assert.Equal(t, 180*day, (&SalesUnit{Currency: "NOK"}).captureDeadline(), "Norway: 180 days")
	assert.Equal(t, 14*day, (&SalesUnit{Currency: "DKK"}).captureDeadline(), "MobilePay Denmark: 14 days")
	assert.Equal(t, 14*day, (&SalesUnit{Currency: "EUR"}).captureDeadline(), "MobilePay Finland: 14 days")
	assert.Equal(t, 90*day, (&SalesUnit{Currency: "DKK", CaptureDeadline: 90 * day}).captureDeadline(), "late capture approved")
}

// A reservation answers captureGuaranteedUntil once authorized; past it,
// Vipps has cancelled the rest, capture gives 6100 and cancel 6030, and
// the CANCELLED event is dated at the deadline.
func TestCaptureAfterDeadlineRefused(t *testing.T) {
	h := newHarness(t, localOpts())
	h.mustCreate("deadline-test-1", 10000)
	assert.Empty(t, h.get("deadline-test-1").CaptureGuaranteedUntil, "not before authorization")
	h.forceApprove("deadline-test-1")
	deadline := t0.Add(180 * 24 * time.Hour)
	assert.Equal(t, deadline.Format(timestampFormat), h.get("deadline-test-1").CaptureGuaranteedUntil)
	assert.Equal(t, deadline, mustSnap(t, h.srv, "deadline-test-1").CaptureGuaranteedUntil)

	status, raw := h.capture("deadline-test-1", "cap-1", 4000)
	require.Equal(t, 200, status, string(raw))

	h.clock.Advance(180*24*time.Hour - time.Second)
	h.token = h.fetchToken(testUnit)
	assert.Equal(t, int64(0), h.get("deadline-test-1").Aggregate.CancelledAmount.Value, "still open a second before")
	h.clock.Advance(time.Second)
	status, raw = h.capture("deadline-test-1", "cap-2", 1000)
	requireCode(t, status, raw, 400, "6100")
	status, raw = h.cancel("deadline-test-1", "cancel-1", nil)
	requireCode(t, status, raw, 400, "6030")

	p := h.get("deadline-test-1")
	assert.Equal(t, "AUTHORIZED", p.State)
	assert.Equal(t, int64(4000), p.Aggregate.CapturedAmount.Value)
	assert.Equal(t, int64(6000), p.Aggregate.CancelledAmount.Value, "the rest lapsed")
	evs := h.events("deadline-test-1")
	last := evs[len(evs)-1]
	assert.Equal(t, "CANCELLED", last.Name)
	assert.Equal(t, int64(6000), last.Amount.Value)
	assert.Equal(t, deadline.Format(timestampFormat), last.Timestamp)
	// Refunding what was captured is still possible.
	status, raw = h.refund("deadline-test-1", "refund-1", 4000)
	require.Equal(t, 200, status, string(raw))
}
