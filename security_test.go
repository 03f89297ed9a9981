package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"vippskco/bridge/config"

	"github.com/stretchr/testify/require"
)

// Every merchant and finance endpoint refuses a missing or wrong token, the
// other side's token, and a shopper's token.
func TestEndpointsRefuseWrongTokens(t *testing.T) {
	e := startMain(t, nil)
	p := e.paid()
	e.settle()
	ref := "/api/v1/payments/" + p.Reference
	merchant := []struct{ method, path string }{
		{"GET", "/api/v1/epm/webshop"}, {"GET", "/api/v1/payments?kco_order_id=" + p.KCOOrderID}, {"GET", ref},
		{"GET", ref + "/log"}, {"POST", ref + "/capture"}, {"POST", ref + "/cancel"}, {"POST", ref + "/refund"},
		{"GET", "/api/v1/notifications"}, {"GET", "/api/v1/notifications/x"}, {"POST", "/api/v1/notifications/x/redeliver"},
	}
	finance := []struct{ method, path string }{
		{"POST", "/api/v1/settlements/vipps"}, {"POST", "/api/v1/settlements/kustom"}, {"POST", "/api/v1/settlements/sync"},
		{"GET", "/api/v1/reconciliation"}, {"GET", "/finance"},
	}
	tokens := map[string]string{
		"missing": "", "wrong": "Bearer nope", "shopper token": "Bearer " + p.ReturnToken,
		"finance token": "Bearer " + e.m.Config.APITokens.Finance,
	}
	try := func(method, path, auth string) int {
		req, err := http.NewRequest(method, e.m.PublicURL()+path, strings.NewReader(`{"amount":{"value":100}}`))
		require.NoError(t, err)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		req.Header.Set("Idempotency-Key", "sec-test")
		resp, err := e.http.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, ep := range merchant {
		for name, auth := range tokens {
			require.Equal(t, http.StatusUnauthorized, try(ep.method, ep.path, auth), "%s %s with %s", ep.method, ep.path, name)
		}
	}
	tokens["merchant token"] = "Bearer " + e.m.Config.APITokens.Merchant
	delete(tokens, "finance token")
	for _, ep := range finance {
		for name, auth := range tokens {
			require.Equal(t, http.StatusUnauthorized, try(ep.method, ep.path, auth), "%s %s with %s", ep.method, ep.path, name)
		}
	}
	// Nothing the refused requests carried changed the payment.
	got := e.payment(p.Reference)
	require.Zero(t, got.Captured)
	require.Zero(t, got.Cancelled)
}

// A shopper token opens its own payment and nothing else.
func TestShopperTokenIsScopedToOnePayment(t *testing.T) {
	e := startMain(t, nil)
	a, b := e.paid(), e.paid()
	require.Equal(t, a.Reference, e.status(a.ReturnToken).Reference)
	require.Equal(t, b.Reference, e.status(b.ReturnToken).Reference)
	for _, tok := range []string{a.ReturnToken[:len(a.ReturnToken)-1] + "x", "short", strings.Repeat("A", 43)} {
		resp, body := e.get(e.m.PublicURL() + "/status/" + tok)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, body)
		require.NotContains(t, body, a.Reference)
	}
}

func TestOversizedBodiesAreRefused(t *testing.T) {
	e := startMain(t, nil)
	p := e.paid()
	e.settle()
	big := bytes.Repeat([]byte("a"), 2<<20)
	status, _ := e.call("POST", "/api/v1/payments/"+p.Reference+"/capture", "big", `{"amount":{"value":100,"currency":"NOK","x":"`+string(big)+`"}}`)
	require.Equal(t, http.StatusBadRequest, status)
	req, _ := http.NewRequest("POST", e.m.Service.WebhookURL("webshop"), bytes.NewReader(big[:100<<10]))
	resp, err := e.http.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Zero(t, e.payment(p.Reference).Captured)
	raw, err := e.m.Store.RawEvents(context.Background(), p.Reference)
	require.NoError(t, err)
	for _, r := range raw {
		require.Less(t, len(r.Body), 64<<10)
	}
}

func TestShopperRateLimit(t *testing.T) {
	e := startMain(t, func(c *config.Config) { c.Server.ShopperRateLimit = config.RateLimit{PerSecond: 1, Burst: 5} })
	limited := 0
	for range 10 {
		resp, _ := e.get(e.m.PublicURL() + "/status/" + strings.Repeat("x", 43))
		if resp.StatusCode == http.StatusTooManyRequests {
			limited++
			require.NotEmpty(t, resp.Header.Get("Retry-After"))
		}
	}
	require.GreaterOrEqual(t, limited, 4)
	resp, _ := e.get(e.m.PublicURL() + "/healthz")
	require.Equal(t, http.StatusOK, resp.StatusCode, "the limit is for the shopper pages only")
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'")
}
