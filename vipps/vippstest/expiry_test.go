package vippstest

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExpiryAfterTenMinutes(t *testing.T) {
	h := newHarness(t, localOpts())
	rec := newReceiver(t, nil)
	h.registerWebhook(rec.url+"/hooks", "epayments.payment.expired.v1")
	created := h.mustCreate("expire-test-1", 1000)

	h.clock.Advance(10*time.Minute - time.Second)
	assert.Equal(t, "CREATED", h.get("expire-test-1").State)

	h.clock.Advance(time.Second)
	h.srv.Tick()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, h.srv.WaitWebhooks(ctx))
	got := rec.events()
	require.Len(t, got, 1)
	assert.Equal(t, "EXPIRED", got[0].Name)

	assert.Equal(t, "EXPIRED", h.get("expire-test-1").State)
	evs := h.events("expire-test-1")
	require.Len(t, evs, 2)
	assert.Equal(t, "EXPIRED", evs[1].Name)
	assert.Equal(t, "2026-03-02T10:10:00.000Z", evs[1].Timestamp, "dated when it expired")

	assert.Error(t, h.srv.Approve("expire-test-1"))
	status, _, page := getPage(t, created.RedirectURL)
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, page, `data-state="EXPIRED"`)
	status, _, _ = postForm(t, h.srv.URL()+"/landing/approve", url.Values{"token": {landingToken(t, created.RedirectURL)}})
	assert.Equal(t, http.StatusConflict, status)
}

func TestExpiryIsLazyWithoutTick(t *testing.T) {
	h := newHarness(t, Options{})
	h.mustCreate("expire-lazy-1", 1000)
	h.clock.Advance(11 * time.Minute)
	status, raw := h.capture("expire-lazy-1", "k1", 1000)
	requireCode(t, status, raw, 400, "6200")
	assert.Equal(t, StateExpired, mustSnap(t, h.srv, "expire-lazy-1").State)
}

func TestBackgroundSweepExpires(t *testing.T) {
	h := newHarness(t, Options{SweepInterval: 5 * time.Millisecond})
	h.mustCreate("expire-sweep-1", 1000)
	h.clock.Advance(11 * time.Minute)
	require.Eventually(t, func() bool {
		return h.srv.fakeState(func(s *Server) int {
			if s.payments[paymentKey{testUnit.MSN, "expire-sweep-1"}].state == StateExpired {
				return 1
			}
			return 0
		}) == 1
	}, 2*time.Second, 5*time.Millisecond)
}

func TestMagicAmountsRefuseApproval(t *testing.T) {
	for amount, reason := range magicRefusals {
		t.Run(itoa(int(amount)), func(t *testing.T) {
			h := newHarness(t, Options{})
			h.mustCreate("magic-amount-1", amount)
			err := h.srv.Approve("magic-amount-1")
			var refused *RefusedError
			require.True(t, errors.As(err, &refused), "%v", err)
			assert.Equal(t, reason, refused.Reason)
			p := h.get("magic-amount-1")
			assert.Equal(t, "ABORTED", p.State)
			assert.Zero(t, p.Aggregate.AuthorizedAmount.Value)
		})
	}
}

func TestMagicAmount151OnLandingPage(t *testing.T) {
	h := newHarness(t, Options{})
	created := h.mustCreate("magic-151-1", 151)
	status, _, body := postForm(t, h.srv.URL()+"/landing/approve", url.Values{
		"token": {landingToken(t, created.RedirectURL)}, "phoneNumber": {"4791234567"},
	})
	require.Equal(t, http.StatusOK, status, "a refusal shows a page instead of redirecting")
	page := string(body)
	assert.Contains(t, page, "Insufficient funds")
	assert.Contains(t, page, `data-state="ABORTED"`)
	assert.Contains(t, page, `href="https://shop.example/return?order=magic-151-1&amp;step=2"`)

	evs := h.events("magic-151-1")
	require.Len(t, evs, 3)
	assert.Equal(t, "AUTHORIZED", evs[1].Name)
	assert.False(t, evs[1].Success, "the refused authorization")
	assert.Equal(t, "ABORTED", evs[2].Name)
	assert.True(t, evs[2].Success)
	assert.Equal(t, "Insufficient funds", mustSnap(t, h.srv, "magic-151-1").RefusalReason)

	// Force approve does not honour magic amounts.
	h.mustCreate("magic-151-2", 151)
	h.forceApprove("magic-151-2")
	assert.Equal(t, "AUTHORIZED", h.get("magic-151-2").State)
}
