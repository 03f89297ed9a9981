package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/klarna"
)

// The provider log, as GET /api/v1/payments/:reference/log serves it,
// keeps what matching and support need and none of the shopper's personal
// data.
func TestProviderLogMasksPersonalData(t *testing.T) {
	e := startMain(t, nil)
	o := e.order(func(o *klarna.Order) {
		o.BillingAddress = &klarna.Address{GivenName: "Kari", FamilyName: "Nordmann", Email: "kari.nordmann@example.no",
			StreetAddress: "Storgata 1", PostalCode: "0155", City: "Oslo", Phone: "+47 912 34 567", Country: "NO"}
		o.ShippingAddress = &klarna.Address{GivenName: "Kari", FamilyName: "Nordmann", StreetAddress: "Lillegata 2",
			PostalCode: "0160", City: "Oslo", Phone: "+47 912 34 567", Country: "NO"}
	})
	_, p := e.checkout(o.OrderID)
	require.NotNil(t, p)
	require.NoError(t, e.m.Sandbox.Vipps.Approve(p.Reference))
	e.settle()

	req, err := http.NewRequest("GET", e.m.PublicURL()+"/api/v1/payments/"+p.Reference+"/log", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+e.m.Config.APITokens.Merchant)
	resp, err := e.http.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	var log struct {
		Exchanges []struct {
			Provider     string `json:"provider"`
			Operation    string `json:"operation"`
			RequestBody  string `json:"request_body"`
			ResponseBody string `json:"response_body"`
		} `json:"exchanges"`
	}
	require.NoError(t, json.Unmarshal(raw, &log))
	providers := map[string]bool{}
	for _, x := range log.Exchanges {
		providers[x.Provider] = true
	}
	require.True(t, providers["vipps"] && providers["kustom"], "both providers' calls are in the log: %s", raw)
	text := string(raw)
	for _, personal := range []string{"Kari", "Nordmann", "kari.nordmann", "Storgata", "Lillegata", "0155", "0160", "Oslo", "912 34 567", "4791234567"} {
		require.NotContains(t, text, personal)
	}
	for _, kept := range []string{p.Reference, o.OrderID, "44700", `\"country\":\"NO\"`, "AUTHORIZED"} {
		require.Contains(t, text, kept)
	}
}

// The provider log is kept provider_log.retention_days (90 by default),
// then purged.
func TestProviderLogRetentionPurge(t *testing.T) {
	// No background loops: their own purge would race this test's.
	e := startMain(t, nil, func(m *Main) { m.NoLoops = true })
	require.Equal(t, 90*24*time.Hour, e.m.Service.ProviderLogRetention)
	ctx := context.Background()
	now := e.clock.Now()
	old := &bridge.ProviderExchange{Reference: "ws-old-1", Provider: "vipps", Operation: "read", Method: "GET",
		URL: "https://apitest.vipps.no/epayment/v1/payments/ws-old-1", StatusCode: 200, Attempt: 1, StartedAt: now.Add(-91 * 24 * time.Hour)}
	recent := &bridge.ProviderExchange{Reference: "ws-old-1", Provider: "vipps", Operation: "read", Method: "GET",
		URL: "https://apitest.vipps.no/epayment/v1/payments/ws-old-1", StatusCode: 200, Attempt: 1, StartedAt: now.Add(-89 * 24 * time.Hour)}
	require.NoError(t, e.m.Store.AppendExchange(ctx, old))
	require.NoError(t, e.m.Store.AppendExchange(ctx, recent))

	n, err := e.m.Service.PurgeProviderLog(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	left, err := e.m.Store.Exchanges(ctx, "ws-old-1")
	require.NoError(t, err)
	require.Len(t, left, 1)
	require.Equal(t, recent.ID, left[0].ID)

	e.clock.Advance(2 * 24 * time.Hour)
	n, err = e.m.Service.PurgeProviderLog(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n, "a day past its 90 days, it goes too")
}
