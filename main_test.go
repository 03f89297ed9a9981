package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/config"
	"vippskco/bridge/web"
	"vippskco/klarna"
	"vippskco/vipps/vippstest"
)

type testEnv struct {
	t     testing.TB
	m     *Main
	clock *vippstest.Clock
	http  *http.Client
}

// startMain starts the whole service in sandbox mode on port 0 with a
// temporary database. edit may change the shipped configuration (see
// testConfig). before, when given, adjusts Main before it runs.
func startMain(t testing.TB, edit func(*config.Config), before ...func(*Main)) *testEnv {
	t.Helper()
	cfg := testConfig(t, edit)
	clk := vippstest.NewClock(time.Now().UTC())
	m := NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	m.Now = clk.Now
	for _, f := range before {
		f(m)
	}
	require.NoError(t, m.Run(context.Background()))
	t.Cleanup(func() { require.NoError(t, m.Close()) })
	return &testEnv{t: t, m: m, clock: clk, http: &http.Client{
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// order creates a KCO order in the fake Kustom, as the merchant would.
func (e *testEnv) order(edit func(*klarna.Order)) klarna.Order {
	e.t.Helper()
	o := cart(1, "DEMO-42")
	if edit != nil {
		edit(&o)
	}
	created, err := e.m.Sandbox.Kustom.CreateOrder(o)
	require.NoError(e.t, err)
	return created
}

// redirectURL is the EPM redirect_url for an order, signed when signing is on.
func (e *testEnv) redirectURL(orderID string) string {
	entry, err := e.m.Service.EPMEntry("webshop", orderID, "nb-NO")
	require.NoError(e.t, err)
	return entry.RedirectURL
}

func (e *testEnv) get(rawURL string) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	require.NoError(e.t, err)
	req.Header.Set("Accept", "text/html")
	resp, err := e.http.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp, string(b)
}

// checkout follows the redirect_url and returns the payment it started.
func (e *testEnv) checkout(orderID string) (*http.Response, *bridge.Payment) {
	e.t.Helper()
	resp, _ := e.get(e.redirectURL(orderID))
	if resp.StatusCode != http.StatusSeeOther {
		return resp, nil
	}
	ps, err := e.m.Store.PaymentsByOrder(context.Background(), orderID)
	require.NoError(e.t, err)
	require.NotEmpty(e.t, ps)
	return resp, ps[len(ps)-1]
}

// status reads the status JSON as the waiting page does, once what Vipps
// has sent (webhooks) and what they started (the read of the payment) has
// run: a status read itself never calls Vipps.
func (e *testEnv) status(token string) web.StatusJSON {
	e.t.Helper()
	e.settle()
	resp, body := e.get(e.m.PublicURL() + "/status/" + token)
	require.Equal(e.t, http.StatusOK, resp.StatusCode, body)
	var s web.StatusJSON
	require.NoError(e.t, json.Unmarshal([]byte(body), &s))
	return s
}

func TestShopperPathAuthorized(t *testing.T) {
	e := startMain(t, nil)
	o := e.order(nil)
	resp, p := e.checkout(o.OrderID)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	loc := resp.Header.Get("Location")
	require.True(t, strings.HasPrefix(loc, e.m.Sandbox.VippsURL()+"/landing?token="), loc)
	require.Equal(t, "ws-"+o.OrderID+"-1", p.Reference)
	require.Equal(t, bridge.StateCreated, p.State)
	require.Equal(t, int64(44700), p.Amount.Value)

	// What reached Vipps: the amount from order_amount, the phone as MSISDN,
	// the receipt lines, and a return URL carrying the token.
	var sent struct {
		Amount             struct{ Value int64 }
		Customer           struct{ PhoneNumber string }
		Receipt            struct{ OrderLines []json.RawMessage }
		ReturnURL          string
		PaymentDescription string
	}
	require.NoError(t, json.Unmarshal(p.CreateRequest, &sent))
	require.Equal(t, int64(44700), sent.Amount.Value)
	require.Equal(t, "4791234567", sent.Customer.PhoneNumber)
	require.Len(t, sent.Receipt.OrderLines, 2)
	require.Equal(t, e.m.PublicURL()+"/return/"+p.ReturnToken, sent.ReturnURL)
	require.Contains(t, sent.PaymentDescription, "DEMO-42")

	// The shopper approves on the fake landing page and comes back.
	approveOnLandingPage(t, e, loc)
	require.Equal(t, "AUTHORIZED", e.status(p.ReturnToken).State)
	resp, _ = e.get(e.m.PublicURL() + "/return/" + p.ReturnToken)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, e.m.PublicURL()+"/shop/thanks?order="+o.OrderID, resp.Header.Get("Location"))

	// The merchant sees it in the API, with history and the provider log.
	got := e.api("GET", "/api/v1/payments/"+p.Reference)
	require.Equal(t, "AUTHORIZED", got["state"])
	log := e.api("GET", "/api/v1/payments/"+p.Reference+"/log")
	ops := []string{}
	for _, x := range log["exchanges"].([]any) {
		ops = append(ops, x.(map[string]any)["operation"].(string))
	}
	require.Contains(t, ops, "create")
	require.Contains(t, ops, "read")

	// A reload of the redirect after authorization never goes to Vipps again.
	creates := e.m.Sandbox.Vipps.Calls("create")
	resp, _ = e.get(e.redirectURL(o.OrderID))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, e.m.PublicURL()+"/return/"+p.ReturnToken, resp.Header.Get("Location"))
	require.Equal(t, creates, e.m.Sandbox.Vipps.Calls("create"))
}

// approveOnLandingPage does what a person does on the fake Vipps page: press
// Approve, and follow the redirect back to our return URL.
func approveOnLandingPage(t *testing.T, e *testEnv, landing string) {
	t.Helper()
	u, err := url.Parse(landing)
	require.NoError(t, err)
	form := url.Values{"token": {u.Query().Get("token")}, "phoneNumber": {"4791234567"}}
	resp, err := e.http.PostForm(e.m.Sandbox.VippsURL()+"/landing/approve", form)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.True(t, strings.HasPrefix(resp.Header.Get("Location"), e.m.PublicURL()+"/return/"), resp.Header.Get("Location"))
}

func (e *testEnv) api(method, path string) map[string]any {
	e.t.Helper()
	req, err := http.NewRequest(method, e.m.PublicURL()+path, nil)
	require.NoError(e.t, err)
	req.Header.Set("Authorization", "Bearer "+e.m.Config.APITokens.Merchant)
	resp, err := e.http.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(e.t, json.NewDecoder(resp.Body).Decode(&out))
	require.Equal(e.t, http.StatusOK, resp.StatusCode, out)
	return out
}

func TestShopperPathRejectedThenRetry(t *testing.T) {
	e := startMain(t, nil)
	o := e.order(nil)
	_, p := e.checkout(o.OrderID)
	require.NoError(t, e.m.Sandbox.Vipps.Reject(p.Reference))

	s := e.status(p.ReturnToken)
	require.Equal(t, "ABORTED", s.State)
	require.True(t, s.Final)
	resp, body := e.get(e.m.PublicURL() + "/return/" + p.ReturnToken)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "Du avbrøt betalingen")
	require.Contains(t, body, `id="retry"`)
	require.Contains(t, body, "/shop/checkout/"+o.OrderID)

	// Retrying after the abort makes attempt 2.
	resp, p2 := e.checkout(o.OrderID)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "ws-"+o.OrderID+"-2", p2.Reference)
	require.NotEqual(t, p.ReturnToken, p2.ReturnToken)
}

func TestShopperPathReloadReusesAttempt(t *testing.T) {
	e := startMain(t, nil)
	o := e.order(nil)
	resp1, p1 := e.checkout(o.OrderID)
	resp2, p2 := e.checkout(o.OrderID)
	require.Equal(t, p1.Reference, p2.Reference)
	require.Equal(t, resp1.Header.Get("Location"), resp2.Header.Get("Location"))
	require.Equal(t, 1, e.m.Sandbox.Vipps.Calls("create"))
}

func TestShopperPathExpired(t *testing.T) {
	e := startMain(t, nil)
	o := e.order(nil)
	_, p := e.checkout(o.OrderID)
	e.clock.Advance(11 * time.Minute)
	// The poller reads the payment (a status read never calls Vipps) and
	// finds it expired.
	require.Eventually(t, func() bool { return e.status(p.ReturnToken).State == "EXPIRED" }, 5*time.Second, 20*time.Millisecond)
	_, body := e.get(e.m.PublicURL() + "/return/" + p.ReturnToken)
	require.Contains(t, body, "ikke godkjent i tide")
	_, p2 := e.checkout(o.OrderID)
	require.Equal(t, 2, p2.Attempt)
}

func TestShopperPathFramedRedirectBreaksOut(t *testing.T) {
	e := startMain(t, nil)
	o := e.order(nil)
	req, err := http.NewRequest(http.MethodGet, e.redirectURL(o.OrderID), nil)
	require.NoError(t, err)
	req.Header.Set("Sec-Fetch-Dest", "iframe")
	resp, err := e.http.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(b), `target="_top"`)
	require.Contains(t, string(b), "window.top.location")
	require.Empty(t, resp.Header.Get("X-Frame-Options"))
}

// Every refusal gets a clear page with its reason, and the cases that must
// not reach Vipps do not.
func TestShopperPathRefusals(t *testing.T) {
	e := startMain(t, nil)
	cases := []struct {
		name   string
		url    func() string
		status int
		reason string
		text   string
	}{
		{"order not checkout_incomplete", func() string {
			o := e.order(nil)
			require.NoError(t, e.m.Sandbox.Kustom.Complete(o.OrderID))
			return e.redirectURL(o.OrderID)
		}, http.StatusConflict, "order_completed", "allerede betalt med Klarna"},
		{"wrong currency", func() string {
			return e.redirectURL(e.order(func(o *klarna.Order) { o.PurchaseCurrency = "SEK" }).OrderID)
		}, http.StatusBadRequest, "currency_not_served", "valutaen"},
		{"wrong country", func() string {
			return e.redirectURL(e.order(func(o *klarna.Order) { o.PurchaseCountry = "SE" }).OrderID)
		}, http.StatusBadRequest, "country_not_served", "landet"},
		{"amount under the minimum", func() string {
			return e.redirectURL(e.order(func(o *klarna.Order) {
				o.OrderLines = o.OrderLines[:1]
				o.OrderLines[0].UnitPrice, o.OrderLines[0].TotalAmount, o.OrderLines[0].TotalTaxAmount = 99, 99, 20
				o.OrderAmount, o.OrderTaxAmount = 99, 20
			}).OrderID)
		}, http.StatusBadRequest, "amount_below_minimum", "lavere enn"},
		{"lines do not add up", func() string {
			o := e.order(nil)
			require.NoError(t, e.m.Sandbox.Kustom.MutateOrder(o.OrderID, func(o *klarna.Order) { o.OrderAmount += 100 }))
			return e.redirectURL(o.OrderID)
		}, http.StatusBadRequest, "lines_mismatch", "varelinjene"},
		{"unknown order", func() string {
			return e.redirectURL("3fa85f64-5717-4562-b3fc-2c963f66afa6")
		}, http.StatusNotFound, "order_not_found", "fant ikke bestillingen"},
		{"malformed order id", func() string {
			return e.m.PublicURL() + "/checkout/webshop/vipps?kco_order_id=" + url.QueryEscape("../../etc/passwd")
		}, http.StatusBadRequest, "malformed_order_id", "gyldig bestilling"},
		{"bad signature", func() string {
			u := e.redirectURL(e.order(nil).OrderID)
			return u[:len(u)-3] + "abc"
		}, http.StatusForbidden, "signature_invalid", "ugyldig eller utløpt"},
		{"missing signature", func() string {
			u := e.redirectURL(e.order(nil).OrderID)
			return u[:strings.Index(u, "&sig=")]
		}, http.StatusForbidden, "signature_missing", "ugyldig eller utløpt"},
		{"signature for another order", func() string {
			a, b := e.order(nil), e.order(nil)
			ua, ub := e.redirectURL(a.OrderID), e.redirectURL(b.OrderID)
			return ua[:strings.Index(ua, "&sig=")] + ub[strings.Index(ub, "&sig="):]
		}, http.StatusForbidden, "signature_invalid", "ugyldig eller utløpt"},
		{"unknown unit", func() string {
			return e.m.PublicURL() + "/checkout/nope/vipps?kco_order_id=3fa85f64-5717-4562-b3fc-2c963f66afa6"
		}, http.StatusNotFound, "unknown_unit", "ikke i bruk"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target := tc.url()
			creates := e.m.Sandbox.Vipps.Calls("create")
			req, err := http.NewRequest(http.MethodGet, target, nil)
			require.NoError(t, err)
			req.Header.Set("Accept-Language", "nb-NO")
			resp, err := e.http.Do(req)
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, tc.status, resp.StatusCode, string(b))
			require.Contains(t, string(b), `data-reason="`+tc.reason+`"`)
			require.Contains(t, string(b), tc.text)
			require.Equal(t, creates, e.m.Sandbox.Vipps.Calls("create"), "must not reach Vipps")
		})
	}
}

func TestShopperPathUnsignedWhenSigningIsOff(t *testing.T) {
	e := startMain(t, func(c *config.Config) { c.RedirectSigning.SecretEnv = "" })
	o := e.order(nil)
	entry, err := e.m.Service.EPMEntry("webshop", "", "nb-NO")
	require.NoError(t, err)
	require.Contains(t, entry.RedirectURL, "{checkout.order.id}")
	resp, _ := e.get(klarna.ExpandRedirectURL(entry.RedirectURL, o.OrderID))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
}

func TestHealthAndReadiness(t *testing.T) {
	e := startMain(t, nil)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, body := e.get(e.m.PublicURL() + path)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
	}
	require.NoError(t, e.m.Store.Close())
	resp, body := e.get(e.m.PublicURL() + "/readyz")
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, body)
}

// The shopper went back and changed the cart (or the address) after
// opening Vipps: the old attempt is ended at Vipps before a new one is made.
func TestShopperPathCartChangedReplacesTheAttempt(t *testing.T) {
	e := startMain(t, nil)
	o := e.order(nil)
	_, p1 := e.checkout(o.OrderID)
	require.NoError(t, e.m.Sandbox.Kustom.MutateOrder(o.OrderID, func(o *klarna.Order) {
		o.BillingAddress.StreetAddress = "Nygata 2"
	}))
	resp, p2 := e.checkout(o.OrderID)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, 2, p2.Attempt)
	snap, _ := e.m.Sandbox.Vipps.Payment(p1.Reference)
	require.Equal(t, "TERMINATED", string(snap.State))
	got, err := e.m.Store.Payment(context.Background(), p1.Reference)
	require.NoError(t, err)
	require.Equal(t, bridge.StateTerminated, got.State)
	require.Contains(t, string(p2.Order), "Nygata 2", "the new attempt carries the order as it is now")
}
