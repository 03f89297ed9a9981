package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/config"
	"vippskco/klarna"
)

// readmeOrder is the KCO order of the README's "create, then update"
// example, as the merchant creates it.
const readmeOrder = `{
  "purchase_country": "NO", "purchase_currency": "NOK", "locale": "nb-NO",
  "order_amount": 44700, "order_tax_amount": 8940,
  "order_lines": [
    {"type": "physical", "reference": "termokopp", "name": "Termokopp", "quantity": 1, "unit_price": 39800,
     "tax_rate": 2500, "total_amount": 39800, "total_tax_amount": 7960},
    {"type": "shipping_fee", "reference": "frakt", "name": "Frakt", "quantity": 1, "unit_price": 4900,
     "tax_rate": 2500, "total_amount": 4900, "total_tax_amount": 980}
  ],
  "merchant_urls": {"terms": "https://shop.example/terms", "checkout": "https://shop.example/checkout",
    "confirmation": "https://shop.example/thanks?order={checkout.order.id}", "push": "https://shop.example/push"}
}`

// jsonCall makes one JSON request and decodes the answer.
func (e *testEnv) jsonCall(method, rawURL, auth string, body io.Reader) (int, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequest(method, rawURL, body)
	require.NoError(e.t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := e.http.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(e.t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

// kustom calls the sandbox's fake Kustom as a merchant would.
func (e *testEnv) kustom(method, path string, body io.Reader) (int, map[string]any) {
	return e.jsonCall(method, e.m.Sandbox.KustomURL()+path, "Basic "+e.m.Config.Kustom.APIKey, body)
}

// merchantEPM is GET /api/v1/epm/{unit} with query.
func (e *testEnv) merchantEPM(unit string, query url.Values) (int, map[string]any) {
	return e.jsonCall("GET", e.m.PublicURL()+"/api/v1/epm/"+unit+"?"+query.Encode(), "Bearer "+e.m.Config.APITokens.Merchant, nil)
}

// epmCLI runs `epm ARGS` with a configuration that reaches the test's
// server, as a merchant's shell would next to the running service.
func (e *testEnv) epmCLI(args ...string) (map[string]any, string, error) {
	e.t.Helper()
	path := testConfigFile(e.t, func(c *config.Config) {
		c.Server.PublicURL = e.m.PublicURL()
		c.RedirectSigning = e.m.Config.RedirectSigning
	})
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"-config", path, "epm"}, args...), noEnv, &stdout, &stderr)
	if err != nil {
		require.Empty(e.t, stdout.String(), "nothing on stdout after a refusal")
		return nil, stderr.String(), err
	}
	var out map[string]any
	require.NoError(e.t, json.Unmarshal(stdout.Bytes(), &out), stdout.String())
	return out, stderr.String(), nil
}

// withoutSig returns the answer with each redirect_url's sig taken off,
// and the sigs.
func withoutSig(t *testing.T, out map[string]any) (map[string]any, []string) {
	t.Helper()
	b, err := json.Marshal(out)
	require.NoError(t, err)
	var c map[string]any
	require.NoError(t, json.Unmarshal(b, &c))
	var sigs []string
	for _, e := range c["external_payment_methods"].([]any) {
		entry := e.(map[string]any)
		u, err := url.Parse(entry["redirect_url"].(string))
		require.NoError(t, err)
		q := u.Query()
		sigs = append(sigs, q.Get("sig"))
		q.Del("sig")
		u.RawQuery = q.Encode()
		entry["redirect_url"] = u.String()
	}
	return c, sigs
}

// The README's set-up with signing on, as a merchant does it: create the
// KCO order, ask for our entry with its id, update the order with it; the
// shopper who picks Vipps follows the signed redirect_url to Vipps. The
// command line gives the same entry, and asking without an order id is
// refused by both, with the flow explained.
func TestEPMReadmeFlowSigned(t *testing.T) {
	e := startMain(t, nil)
	require.True(t, e.m.Service.Signer.Enabled(), "the sandbox signs redirects")

	// 1. Create the KCO order.
	status, created := e.kustom("POST", "/checkout/v3/orders", strings.NewReader(readmeOrder))
	require.Equal(t, http.StatusCreated, status, created)
	orderID := created["order_id"].(string)
	require.Equal(t, "checkout_incomplete", created["status"])

	// 2. Our EPM entry for it.
	status, got := e.merchantEPM("webshop", url.Values{"kco_order_id": {orderID}})
	require.Equal(t, http.StatusOK, status, got)
	require.Equal(t, orderID, got["kco_order_id"])
	require.Equal(t, true, got["signed"])
	require.Equal(t, "nb", got["description_language"])
	require.Equal(t, "order", got["description_language_source"])
	require.Equal(t, []any{}, got["warnings"])
	entries := got["external_payment_methods"].([]any)
	require.Len(t, entries, 1)
	entry := entries[0].(map[string]any)
	require.Equal(t, "Vipps", entry["name"])
	require.Equal(t, float64(0), entry["fee"])
	require.Equal(t, "Husk: Vipps er alltid gebyrfritt når du betaler til bedrifter.", entry["description"])
	redirect := entry["redirect_url"].(string)
	require.True(t, strings.HasPrefix(redirect, e.m.PublicURL()+"/checkout/webshop/vipps?kco_order_id="+orderID+"&sig="), redirect)

	// 3. Update the order with it.
	update, err := json.Marshal(map[string]any{"external_payment_methods": got["external_payment_methods"]})
	require.NoError(t, err)
	status, updated := e.kustom("POST", "/checkout/v3/orders/"+orderID, bytes.NewReader(update))
	require.Equal(t, http.StatusOK, status, updated)
	status, read := e.kustom("GET", "/checkout/v3/orders/"+orderID, nil)
	require.Equal(t, http.StatusOK, status, read)
	kept := read["external_payment_methods"].([]any)
	require.Len(t, kept, 1)
	require.Equal(t, redirect, kept[0].(map[string]any)["redirect_url"], "Kustom keeps the entry as given")

	// The command line gives the same JSON; only the signature's expiry
	// (now + ttl, on its own clock) may differ, and its signature is good.
	cli, stderr, err := e.epmCLI("webshop", "-order", orderID)
	require.NoError(t, err, stderr)
	require.Empty(t, stderr, "no warnings")
	apiNoSig, _ := withoutSig(t, got)
	cliNoSig, sigs := withoutSig(t, cli)
	require.Equal(t, apiNoSig, cliNoSig)
	require.NoError(t, e.m.Service.Signer.Verify("webshop", orderID, sigs[0], time.Now()))

	// The shopper picks Vipps: KCO sends them to the redirect_url, and we
	// send them on to the Vipps landing page.
	resp, body := e.get(redirect)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	loc := resp.Header.Get("Location")
	require.True(t, strings.HasPrefix(loc, e.m.Sandbox.VippsURL()+"/landing?token="), loc)
	ps, err := e.m.Store.PaymentsByOrder(context.Background(), orderID)
	require.NoError(t, err)
	require.Len(t, ps, 1)
	require.Equal(t, int64(44700), ps[0].Amount.Value)

	// Without an order id: refused by the API and the command, with the
	// create-then-update flow in the message.
	status, refused := e.merchantEPM("webshop", nil)
	require.Equal(t, http.StatusBadRequest, status, refused)
	apiErr := refused["error"].(map[string]any)
	require.Equal(t, "invalid", apiErr["code"])
	require.Equal(t, "kco_order_id_required", apiErr["reason"])
	require.Equal(t, bridge.KCOOrderIDRequiredMessage, apiErr["message"])
	_, _, err = e.epmCLI("webshop")
	require.Error(t, err)
	require.Equal(t, "kco_order_id_required", bridge.ErrorReason(err))
	require.Contains(t, err.Error(), bridge.KCOOrderIDRequiredMessage)

	// The placeholder URL a merchant might still have from before is
	// refused at the redirect.
	placeholder := e.m.PublicURL() + "/checkout/webshop/vipps?kco_order_id=" + e.order(nil).OrderID
	resp, body = e.get(placeholder)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, body, `data-reason="signature_missing"`)

	// And the endpoint is the merchant's only.
	status, _ = e.jsonCall("GET", e.m.PublicURL()+"/api/v1/epm/webshop?kco_order_id="+orderID, "", nil)
	require.Equal(t, http.StatusUnauthorized, status)
}

// With signing off the unsigned placeholder still works, and both the API
// and the command say what it is.
func TestEPMUnsignedPlaceholderWarned(t *testing.T) {
	e := startMain(t, func(c *config.Config) { c.RedirectSigning.SecretEnv = "" })
	require.False(t, e.m.Service.Signer.Enabled())
	status, got := e.merchantEPM("webshop", nil)
	require.Equal(t, http.StatusOK, status, got)
	require.Nil(t, got["kco_order_id"])
	require.Equal(t, false, got["signed"])
	require.Equal(t, "nb", got["description_language"])
	require.Equal(t, "unit", got["description_language_source"])
	warnings := got["warnings"].([]any)
	require.Len(t, warnings, 1)
	require.Equal(t, "unsigned_placeholder", warnings[0].(map[string]any)["code"])
	redirect := got["external_payment_methods"].([]any)[0].(map[string]any)["redirect_url"].(string)
	require.Equal(t, e.m.PublicURL()+"/checkout/webshop/vipps?kco_order_id={checkout.order.id}", redirect)

	cli, stderr, err := e.epmCLI("webshop")
	require.NoError(t, err)
	require.Equal(t, got, cli, "the command prints what the API answers")
	require.Contains(t, stderr, "warning: unsigned_placeholder: ")

	// Kustom fills in the order id, and the shopper goes to Vipps.
	o := e.order(nil)
	resp, body := e.get(strings.ReplaceAll(redirect, "{checkout.order.id}", o.OrderID))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	require.True(t, strings.HasPrefix(resp.Header.Get("Location"), e.m.Sandbox.VippsURL()+"/landing?token="))
}

// The API's errors and warnings through the real server.
func TestEPMEndpointErrorsAndWarnings(t *testing.T) {
	e := startMain(t, nil)
	o := e.order(nil)
	cases := []struct {
		name, unit string
		query      url.Values
		status     int
		reason     string
	}{
		{"unknown unit", "nope", url.Values{"kco_order_id": {o.OrderID}}, http.StatusNotFound, "unknown_unit"},
		{"invalid locale", "webshop", url.Values{"kco_order_id": {o.OrderID}, "locale": {"norsk!"}}, http.StatusBadRequest, "invalid_locale"},
		{"malformed order id", "webshop", url.Values{"kco_order_id": {"not an order"}}, http.StatusBadRequest, "malformed_order_id"},
		{"order not found", "webshop", url.Values{"kco_order_id": {"00000000-0000-0000-0000-000000000000"}}, http.StatusNotFound, "order_not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, got := e.merchantEPM(tc.unit, tc.query)
			require.Equal(t, tc.status, status, got)
			require.Equal(t, tc.reason, got["error"].(map[string]any)["reason"])
		})
	}
	t.Run("locale beats the order's", func(t *testing.T) {
		status, got := e.merchantEPM("webshop", url.Values{"kco_order_id": {o.OrderID}, "locale": {"en-GB"}})
		require.Equal(t, http.StatusOK, status, got)
		require.Equal(t, "en", got["description_language"])
		require.Equal(t, "locale", got["description_language_source"])
	})
	t.Run("order_not_payable", func(t *testing.T) {
		sek := e.order(func(o *klarna.Order) { o.PurchaseCurrency = "SEK" })
		status, got := e.merchantEPM("webshop", url.Values{"kco_order_id": {sek.OrderID}})
		require.Equal(t, http.StatusOK, status, got)
		w := got["warnings"].([]any)
		require.Len(t, w, 1)
		require.Equal(t, "order_not_payable", w[0].(map[string]any)["code"])
		require.Contains(t, w[0].(map[string]any)["message"], "currency_not_served")
	})
}
