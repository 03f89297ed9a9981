package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
)

// "Avslutt dagen og avstem" moves the sandbox's one clock a day on, for the
// fake Vipps that signs webhooks and for the service that checks them: a
// payment made after closing the day completes by its webhook, not by the
// poller, and the demo shop's receiver accepts our notification about it.
func TestSandboxCloseTheDayKeepsWebhooksFresh(t *testing.T) {
	e := startMain(t, nil)
	before := e.m.Now()

	resp, err := e.http.PostForm(e.m.PublicURL()+"/shop/next-day", url.Values{})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.True(t, strings.HasPrefix(resp.Header.Get("Location"), "/finance?"), resp.Header.Get("Location"))
	moved := e.m.Now().Sub(before)
	require.GreaterOrEqual(t, moved, 24*time.Hour, "the service's clock moved with the fakes'")
	require.Less(t, moved, 25*time.Hour)
	require.Equal(t, e.m.Now().Truncate(time.Minute), e.m.Sandbox.Now().Truncate(time.Minute), "one clock")

	p := e.paid()
	e.settle()
	require.Equal(t, bridge.StateAuthorized, e.payment(p.Reference).State)
	got := e.scrape()
	require.Equal(t, 1.0, sample(got, "vippskco_payment_transitions_total",
		map[string]string{"from": "CREATED", "to": "AUTHORIZED", "source": "webhook"}), "authorized by the webhook")
	require.Zero(t, sample(got, "vippskco_webhooks_rejected_total", nil), "no webhook refused as stale")
	require.Zero(t, sample(got, "vippskco_poller_catchups_total", nil), "nothing left for the poller")
	require.Eventually(t, func() bool {
		for _, n := range e.m.ShopHooks.Received(p.Reference) {
			if n.Type == "payment.authorized" {
				return true
			}
		}
		return false
	}, 10*time.Second, 50*time.Millisecond, "the demo shop accepted our notification, signed on the same clock")
}

// A checkout link to an order the fake Kustom no longer has (the sandbox
// was restarted, bridge.db kept) leads to the demo shop's own page, in the
// shop's language, with a way back to the shop.
func TestSandboxOldCheckoutLinkSaysTheOrderIsGone(t *testing.T) {
	e := startMain(t, nil)
	resp, body := e.get(e.m.PublicURL() + "/shop/checkout/3fa85f64-5717-4562-b3fc-2c963f66afa6")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Contains(t, body, "Bestillingen finnes ikke lenger")
	require.Contains(t, body, `href="/shop/"`)
	require.NotContains(t, body, "Order not found")
	require.NotContains(t, body, "<iframe")

	// Our own redirect for such an order answers in the unit's language
	// (Norwegian for the Norwegian web shop), whatever the browser asks.
	req, err := http.NewRequest(http.MethodGet, e.redirectURL("3fa85f64-5717-4562-b3fc-2c963f66afa6"), nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Accept-Language", "en-US,en;q=0.8")
	resp, err = e.http.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	page := readAll(t, resp)
	require.Contains(t, page, `<html lang="nb">`)
	require.Contains(t, page, "Vi fant ikke bestillingen")
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	var b strings.Builder
	_, err := io.Copy(&b, resp.Body)
	require.NoError(t, err)
	return b.String()
}
