package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/config"
	"vippskco/klarna"
)

// mobilePayUnit adds a MobilePay sales unit of its own (MSN and keys) in
// currency for country, with no epm_name, so the unit takes MobilePay's
// from its currency, and no confirmation URL, so a paid shopper sees our
// confirmation page.
func mobilePayUnit(id, prefix, msn, currency, country string) func(*config.Config) {
	return withUnit(id, prefix, func(u *config.Unit) {
		env := "VIPPS_" + strings.ToUpper(id) + "_"
		u.MSN, u.Currency, u.Countries, u.EPMName, u.ConfirmationURL = msn, currency, []string{country}, "", ""
		u.Vipps.ClientIDEnv, u.Vipps.ClientSecretEnv, u.Vipps.SubscriptionKeyEnv = env+"CLIENT_ID", env+"CLIENT_SECRET", env+"SUBSCRIPTION_KEY"
	})
}

// mobilePayOrder is the demo cart bought from country in currency, in
// locale, by a shopper with a local phone number.
func (e *testEnv) mobilePayOrder(country, currency, locale, phone string) klarna.Order {
	return e.order(func(o *klarna.Order) {
		o.PurchaseCountry, o.PurchaseCurrency, o.Locale = country, currency, locale
		o.BillingAddress.Country, o.BillingAddress.Phone = country, phone
	})
}

// epmEntry is the unit's EPM entry for a KCO order as the merchant API
// gives it, its description in the order's language.
func (e *testEnv) epmEntry(unit, orderID string) map[string]any {
	e.t.Helper()
	got := e.api("GET", "/api/v1/epm/"+unit+"?kco_order_id="+orderID)
	require.Equal(e.t, "order", got["description_language_source"])
	require.Equal(e.t, []any{}, got["warnings"])
	entries := got["external_payment_methods"].([]any)
	require.Len(e.t, entries, 1)
	return entries[0].(map[string]any)
}

// requireMobilePayPage checks a shopper page is MobilePay's, in lang,
// holding every text of want and none of the English or Vipps ones.
func requireMobilePayPage(t *testing.T, page, lang string, want ...string) {
	t.Helper()
	require.Contains(t, page, `<html lang="`+lang+`">`)
	require.Contains(t, page, `src="/assets/mobilepay.svg" alt="MobilePay"`, "the MobilePay logo")
	require.Contains(t, page, "--brand: #5A78FF", "MobilePay blue")
	require.NotContains(t, page, "#FF5B24", "Vipps orange")
	require.NotContains(t, page, ">Vipps<")
	for _, w := range want {
		require.Contains(t, page, w)
	}
	for _, english := range []string{"Waiting for your payment", "Thank you", "Amount", "Order", "Continue", "Pay with"} {
		require.NotContains(t, page, english, "English on a %s page", lang)
	}
}

// mobilePayPath takes a MobilePay order through the EPM redirect (framed,
// as in KCO, then at top level), the waiting page and the approval, and
// returns the payment and the pages the shopper saw.
func mobilePayPath(t *testing.T, e *testEnv, unit, locale string, o klarna.Order) (p *bridge.Payment, breakout, waiting, confirmed string) {
	t.Helper()
	entry, err := e.m.Service.EPMEntry(unit, o.OrderID, locale)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodGet, entry.RedirectURL, nil)
	require.NoError(t, err)
	req.Header.Set("Sec-Fetch-Dest", "iframe")
	req.Header.Set("Accept", "text/html")
	resp, err := e.http.Do(req)
	require.NoError(t, err)
	var b strings.Builder
	_, _ = copyBody(&b, resp)
	require.Equal(t, http.StatusOK, resp.StatusCode, b.String())
	breakout = b.String()

	resp, _ = e.get(entry.RedirectURL)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	ps, err := e.m.Store.PaymentsByOrder(context.Background(), o.OrderID)
	require.NoError(t, err)
	require.Len(t, ps, 1)
	p = ps[0]
	require.Equal(t, unit, p.Unit)

	resp, waiting = e.get(e.m.PublicURL() + "/return/" + p.ReturnToken)
	require.Equal(t, http.StatusOK, resp.StatusCode)

	require.NoError(t, e.m.Sandbox.Vipps.Approve(p.Reference))
	// The waiting page has just read the payment: the webhook's read waits
	// for the poller's gap.
	e.settle()
	e.clock.Advance(5 * time.Second)
	_, err = e.m.Service.PollOnce(context.Background())
	require.NoError(t, err)
	require.Equal(t, "AUTHORIZED", e.status(p.ReturnToken).State)
	resp, confirmed = e.get(e.m.PublicURL() + "/return/" + p.ReturnToken)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return e.payment(p.Reference), breakout, waiting, confirmed
}

func copyBody(b *strings.Builder, resp *http.Response) (int64, error) {
	defer resp.Body.Close()
	buf := make([]byte, 32<<10)
	var n int64
	for {
		k, err := resp.Body.Read(buf)
		b.Write(buf[:k])
		n += int64(k)
		if err != nil {
			return n, nil
		}
	}
}

// createSent is what reached Vipps in a payment's create request.
type createSent struct {
	Amount struct {
		Currency string
		Value    int64
	}
	Customer           struct{ PhoneNumber string }
	PaymentDescription string
}

// A MobilePay payment in Denmark: a DKK unit for DK, an order in da-DK. The
// EPM entry is MobilePay's, with its logo and a Danish description; every
// page the shopper sees is Danish and MobilePay blue; the Danish phone
// number reaches Vipps as an MSISDN with 45; the payment description is
// Danish; and the reservation's 14-day capture deadline is stored and shown
// in the merchant API.
func TestMobilePayDenmarkDanishPages(t *testing.T) {
	e := startMain(t, mobilePayUnit("dk", "dk", "223344", "DKK", "DK"))
	o := e.mobilePayOrder("DK", "DKK", "da-DK", "20 12 34 56")
	entry := e.epmEntry("dk", o.OrderID)
	require.Equal(t, "MobilePay", entry["name"])
	require.Equal(t, e.m.PublicURL()+"/assets/mobilepay.svg", entry["image_url"])
	require.Equal(t, "Husk: Det er altid gebyrfrit at betale en virksomhed med MobilePay.", entry["description"])
	require.Equal(t, []any{"dk"}, entry["countries"])
	resp, logo := e.get(e.m.PublicURL() + "/assets/mobilepay.svg")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, strings.ToLower(logo), `fill="#5a78ff"`, "the official MobilePay mark, in MobilePay blue")

	p, breakout, waiting, confirmed := mobilePayPath(t, e, "dk", "da-DK", o)
	requireMobilePayPage(t, breakout, "da", "Du sendes videre til MobilePay", "Fortsæt til MobilePay")
	requireMobilePayPage(t, waiting, "da", "Venter på din betaling", "Gennemfør betalingen i MobilePay-appen", "Beløb", "447,00\u00a0kr.", "DEMO-42")
	requireMobilePayPage(t, confirmed, "da", "Tak! Betalingen er godkendt", "Vi har modtaget din betaling med MobilePay", "447,00\u00a0kr.")

	var sent createSent
	require.NoError(t, json.Unmarshal(p.CreateRequest, &sent))
	require.Equal(t, "DKK", sent.Amount.Currency)
	require.Equal(t, int64(44700), sent.Amount.Value)
	require.Equal(t, "4520123456", sent.Customer.PhoneNumber)
	require.Equal(t, "Demo Shop, ordre DEMO-42", sent.PaymentDescription)

	snap, ok := e.m.Sandbox.Vipps.PaymentOf("223344", p.Reference)
	require.True(t, ok, "the payment is at the DK unit's MSN")
	require.Equal(t, "223344", snap.MSN)
	deadline := snap.CaptureGuaranteedUntil
	require.Equal(t, 14*24*time.Hour, deadline.Sub(snap.Events[len(snap.Events)-1].Timestamp), "14 days from the authorization")
	// Vipps writes times to the millisecond.
	require.True(t, deadline.Truncate(time.Millisecond).Equal(p.CaptureGuaranteedUntil), "stored %s, Vipps says %s", p.CaptureGuaranteedUntil, deadline)
	got := e.api("GET", "/api/v1/payments/"+p.Reference)
	require.Equal(t, p.CaptureGuaranteedUntil.Format(time.RFC3339Nano), got["capture_guaranteed_until"])
}

// A MobilePay payment in Finland: an EUR unit for FI, an order in fi-FI,
// with a Finnish mobile number written nationally (trunk 0).
func TestMobilePayFinlandEuroFinnishPages(t *testing.T) {
	e := startMain(t, mobilePayUnit("fi", "fi", "334455", "EUR", "FI"))
	o := e.mobilePayOrder("FI", "EUR", "fi-FI", "040 123 4567")
	entry := e.epmEntry("fi", o.OrderID)
	require.Equal(t, "MobilePay", entry["name"])
	require.Equal(t, "Muista: MobilePay-maksu yritykselle on aina maksuton.", entry["description"])

	p, breakout, waiting, confirmed := mobilePayPath(t, e, "fi", "fi-FI", o)
	requireMobilePayPage(t, breakout, "fi", "Siirrytään palveluun MobilePay", "Jatka palveluun MobilePay")
	requireMobilePayPage(t, waiting, "fi", "Odotamme maksuasi", "Viimeistele maksu MobilePay-sovelluksessa", "Summa", "447,00\u00a0€", "Tilaus")
	requireMobilePayPage(t, confirmed, "fi", "Kiitos! Maksu on hyväksytty", "Olemme vastaanottaneet MobilePay-maksusi", "447,00\u00a0€")

	var sent createSent
	require.NoError(t, json.Unmarshal(p.CreateRequest, &sent))
	require.Equal(t, "EUR", sent.Amount.Currency)
	require.Equal(t, "358401234567", sent.Customer.PhoneNumber)
	require.Equal(t, "Demo Shop, tilaus DEMO-42", sent.PaymentDescription)
	require.Equal(t, bridge.StateAuthorized, p.State)
	require.Equal(t, int64(44700), p.Authorized)
	require.False(t, p.CaptureGuaranteedUntil.IsZero(), "captureGuaranteedUntil stored")
}

// A Danish MobilePay reservation, partly captured and then forgotten: 48
// hours before its 14-day capture deadline the merchant gets
// payment.capture_deadline_near (once, however often the watch runs);
// past the deadline, Vipps has cancelled the rest, and the merchant is told
// with payment.cancelled and payment.capture_deadline_passed. The payment
// is kept, with what was captured, and a late capture is refused.
func TestMobilePayDenmarkCaptureDeadlineWarning(t *testing.T) {
	captureDeadlineWarning(t, nil)
}

// The same on PostgreSQL, where replicas share the store.
func TestMobilePayDenmarkCaptureDeadlineWarningPostgres(t *testing.T) {
	captureDeadlineWarning(t, onPostgres(postgresDSN(t)))
}

func captureDeadlineWarning(t *testing.T, store func(*config.Config)) {
	dk := mobilePayUnit("dk", "dk", "223344", "DKK", "DK")
	e := startMain(t, func(c *config.Config) {
		dk(c)
		if store != nil {
			store(c)
		}
	})
	ctx := context.Background()
	o := e.mobilePayOrder("DK", "DKK", "da-DK", "+45 20 12 34 56")
	p := checkoutAt(t, e, "dk", o)
	require.NoError(t, e.m.Sandbox.Vipps.Approve(p.Reference))
	e.settle()
	p = e.payment(p.Reference)
	require.Equal(t, bridge.StateAuthorized, p.State)
	deadline := p.CaptureGuaranteedUntil
	require.False(t, deadline.IsZero())
	ref := "/api/v1/payments/" + p.Reference
	status, body := e.call("POST", ref+"/capture", "c1", `{"amount":{"value":10000,"currency":"DKK"}}`)
	require.Equal(t, http.StatusOK, status, body)
	e.settle()

	check := func() int {
		t.Helper()
		n, err := e.m.Service.CheckCaptureDeadlines(ctx)
		require.NoError(t, err)
		e.settle()
		return n
	}
	require.Zero(t, check(), "14 days left")
	e.clock.Set(deadline.Add(-49 * time.Hour))
	require.Zero(t, check(), "49 hours left: not yet")
	e.clock.Set(deadline.Add(-47 * time.Hour))
	// Several watchers at once (replicas on one database) warn once.
	var sent atomic.Int64
	pool(4, 4, func(int) {
		n, err := e.m.Service.CheckCaptureDeadlines(ctx)
		require.NoError(t, err)
		sent.Add(int64(n))
	})
	e.settle()
	require.Equal(t, int64(1), sent.Load(), "within 48 hours: warned, once")
	require.Zero(t, check(), "warned once")
	require.Equal(t, []string{"payment.authorized", "payment.captured", bridge.NotificationCaptureDeadlineNear}, e.notifications(p.Reference))
	ns, err := e.m.Store.Notifications(ctx, p.Reference, "", 10)
	require.NoError(t, err)
	var near bridge.NotificationPayload
	require.NoError(t, json.Unmarshal(ns[0].Payload, &near))
	require.Equal(t, bridge.NotificationCaptureDeadlineNear, near.Type)
	require.Contains(t, near.Detail, "34700 DKK is still uncaptured")
	require.Contains(t, near.Detail, deadline.Format(time.RFC3339))
	require.NotNil(t, near.Payment.CaptureGuaranteedUntil)
	require.True(t, deadline.Equal(*near.Payment.CaptureGuaranteedUntil))
	require.Equal(t, int64(34700), near.Payment.Aggregate.Capturable)
	// The merchant's endpoint (the demo shop's receiver, which checks our
	// signature) gets it.
	require.Eventually(t, func() bool {
		for _, n := range e.m.ShopHooks.Received(p.Reference) {
			if n.Type == bridge.NotificationCaptureDeadlineNear {
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, "near", e.api("GET", ref)["capture_deadline_notice"])

	// The deadline passes with 347 kr. uncaptured.
	e.clock.Set(deadline.Add(time.Minute))
	require.Equal(t, 1, check())
	require.Zero(t, check(), "told once")
	got := e.payment(p.Reference)
	require.Equal(t, bridge.StateAuthorized, got.State, "kept, not dropped")
	require.Equal(t, int64(10000), got.Captured)
	require.Equal(t, int64(34700), got.Cancelled, "Vipps cancelled the rest at the deadline")
	require.Equal(t, bridge.CaptureDeadlinePassed, got.CaptureDeadlineNotice)
	require.Equal(t, []string{"payment.authorized", "payment.captured", bridge.NotificationCaptureDeadlineNear,
		"payment.cancelled", bridge.NotificationCaptureDeadlinePassed}, e.notifications(p.Reference))
	ns, err = e.m.Store.Notifications(ctx, p.Reference, "", 10)
	require.NoError(t, err)
	var passed bridge.NotificationPayload
	require.NoError(t, json.Unmarshal(ns[0].Payload, &passed))
	require.Contains(t, passed.Detail, "passed with 34700 DKK uncaptured")
	require.Equal(t, int64(34700), passed.Payment.Aggregate.Cancelled)

	status, body = e.call("POST", ref+"/capture", "c2", `{"amount":{"value":100,"currency":"DKK"}}`)
	require.GreaterOrEqual(t, status, 400, body)
	snap, ok := e.m.Sandbox.Vipps.PaymentOf("223344", p.Reference)
	require.True(t, ok)
	require.Equal(t, int64(10000), snap.Captured, "nothing captured after the deadline")
}

// checkoutAt follows unit's EPM redirect for o and returns the payment it
// started.
func checkoutAt(t *testing.T, e *testEnv, unit string, o klarna.Order) *bridge.Payment {
	t.Helper()
	entry, err := e.m.Service.EPMEntry(unit, o.OrderID, o.Locale)
	require.NoError(t, err)
	resp, body := e.get(entry.RedirectURL)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	ps, err := e.m.Store.PaymentsByOrder(context.Background(), o.OrderID)
	require.NoError(t, err)
	require.Len(t, ps, 1)
	return ps[0]
}
