package klarnatest

import (
	"html"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"vippskco/klarna"
)

func TestFormatAmount(t *testing.T) {
	tests := []struct {
		minor    int64
		currency string
		want     string
	}{
		{149900, "NOK", "kr 1 499,00"},
		{4900, "nok", "kr 49,00"},
		{5, "NOK", "kr 0,05"},
		{0, "DKK", "kr 0,00"},
		{123456789, "SEK", "kr 1 234 567,89"},
		{-10000, "NOK", "kr -100,00"},
		{100000, "EUR", "€ 1 000,00"},
		{149999, "USD", "$1,499.99"},
		{1000000000, "GBP", "£10,000,000.00"},
		{12345, "CHF", "CHF 123,45"},
		{math.MinInt64, "NOK", "kr -92 233 720 368 547 758,08"},
	}
	for _, tt := range tests {
		if got := formatAmount(tt.minor, tt.currency); got != tt.want {
			t.Errorf("formatAmount(%d, %s) = %q, want %q", tt.minor, tt.currency, got, tt.want)
		}
	}
}

// noRedirect keeps 303s visible to the test.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func getPage(t *testing.T, s *Server, id string) (int, string) {
	t.Helper()
	resp, err := http.Get(s.CheckoutPageURL(id))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	return resp.StatusCode, string(b)
}

func postForm(t *testing.T, target string, form url.Values) *http.Response {
	t.Helper()
	resp, err := noRedirect.PostForm(target, form)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestCheckoutPageNorwegian(t *testing.T) {
	s := NewServer(Options{})
	t.Cleanup(s.Close)
	o, err := s.CreateOrder(mustOrder(t, validOrder()))
	if err != nil {
		t.Fatal(err)
	}
	status, html := getPage(t, s, o.OrderID)
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	wantLink := `<a id="epm-vipps" class="choice" href="http://localhost:8080/checkout/webshop/vipps?kco_order_id=` +
		o.OrderID + `" target="_top">`
	for _, want := range []string{
		`<html lang="nb">`,
		`<meta name="viewport" content="width=device-width, initial-scale=1">`,
		wantLink,
		`<img src="http://127.0.0.1:8080/static/vipps.svg" alt="">`,
		"Husk: Vipps er alltid gebyrfritt når du betaler til bedrifter.",
		`id="pay-klarna"`,
		`action="` + s.CheckoutPageURL(o.OrderID) + `/klarna"`,
		`action="` + s.CheckoutPageURL(o.OrderID) + `/address"`,
		"Velg betalingsmåte", "Betal med Klarna", "Din bestilling", "Mobilnummer",
		"Ullgenser", "kr 1 499,00", "kr 49,00", `<td class="amount" id="order-total">kr 1 548,00</td>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(html, "{checkout.order.id}") || strings.Contains(html, "<script") {
		t.Error("placeholder left or script present")
	}
}

func TestCheckoutPageEnglishAndEscaping(t *testing.T) {
	s := NewServer(Options{})
	t.Cleanup(s.Close)
	fields := validOrder()
	fields["locale"] = "en-GB"
	line(fields, 0)["name"] = `<script>alert("x")</script>`
	epm(fields)["name"] = "Vipps MobilePay"
	epm(fields)["description"] = `<b>bold</b>`
	epm(fields)["fee"] = 1000
	fields["external_payment_methods"] = append(fields["external_payment_methods"].([]any), map[string]any{
		"name": "Swish", "redirect_url": "https://swish.example/go?o={checkout.order.id}", "countries": []string{"se"},
	})
	o, err := s.CreateOrder(mustOrder(t, fields))
	if err != nil {
		t.Fatal(err)
	}
	_, html := getPage(t, s, o.OrderID)
	for _, want := range []string{
		`<html lang="en">`, "Choose a payment method", "Pay with Klarna",
		`id="epm-vipps-mobilepay"`, "+ kr 10,00",
		"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "&lt;b&gt;bold&lt;/b&gt;",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(html, `<script>alert`) || strings.Contains(html, "<b>bold") {
		t.Error("unescaped input")
	}
	if strings.Contains(html, "epm-swish") {
		t.Error("an EPM limited to SE shows for a Norwegian shopper")
	}
}

func TestCheckoutPageAddress(t *testing.T) {
	clk := &testClock{t: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}
	s := NewServer(Options{Now: clk.Now})
	t.Cleanup(s.Close)
	o, err := s.CreateOrder(mustOrder(t, validOrder()))
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(47 * time.Hour)
	resp := postForm(t, s.CheckoutPageURL(o.OrderID)+"/address", url.Values{
		"given_name": {"Kari"}, "family_name": {"Nordmann"}, "phone": {"+47 912 34 567"},
		"street_address": {"Storgata 1"}, "postal_code": {"0155"}, "city": {"Oslo"},
	})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != s.CheckoutPageURL(o.OrderID) {
		t.Fatalf("status %d location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	got, _ := s.Order(o.OrderID)
	a := got.BillingAddress
	if a == nil || a.Phone != "+47 912 34 567" || a.GivenName != "Kari" || a.City != "Oslo" || a.Country != "NO" {
		t.Fatalf("billing address: %+v", a)
	}
	// Entering the address was client interaction: 47 h later the order lives.
	clk.Advance(47 * time.Hour)
	if _, err := s.liveOrder(o.OrderID); err != nil {
		t.Fatalf("order expired despite the interaction: %v", err)
	}
	_, page := getPage(t, s, o.OrderID)
	// html/template writes "+" as "&#43;"; compare what a browser shows.
	html := html.UnescapeString(page)
	if !strings.Contains(html, `<address id="billing-address">Kari Nordmann<br>Storgata 1<br>0155 Oslo<br>NO<br>+47 912 34 567<br></address>`) ||
		!strings.Contains(html, `value="+47 912 34 567"`) {
		t.Errorf("address not shown:\n%s", html)
	}

	bad := postForm(t, s.CheckoutPageURL(o.OrderID)+"/address", url.Values{"phone": {"call me"}})
	if bad.StatusCode != http.StatusBadRequest {
		t.Errorf("bad phone: status %d", bad.StatusCode)
	}
	if got, _ := s.Order(o.OrderID); got.BillingAddress.Phone != "+47 912 34 567" {
		t.Error("a rejected address changed the order")
	}
}

func TestCheckoutPagePayWithKlarna(t *testing.T) {
	s := NewServer(Options{})
	t.Cleanup(s.Close)
	o, err := s.CreateOrder(mustOrder(t, validOrder()))
	if err != nil {
		t.Fatal(err)
	}
	resp := postForm(t, s.CheckoutPageURL(o.OrderID)+"/klarna", nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got, _ := s.Order(o.OrderID)
	if got.Status != klarna.StatusCheckoutComplete || got.CompletedAt == nil {
		t.Fatalf("after paying: %+v", got)
	}
	_, html := getPage(t, s, o.OrderID)
	confirmation := `href="https://shop.example/thanks?order=` + o.OrderID + `" target="_top"`
	if !strings.Contains(html, "Betalt med Klarna") || !strings.Contains(html, confirmation) || strings.Contains(html, "epm-vipps") {
		t.Errorf("paid page:\n%s", html)
	}
	// Paying again changes nothing.
	if again := postForm(t, s.CheckoutPageURL(o.OrderID)+"/klarna", nil); again.StatusCode != http.StatusSeeOther {
		t.Errorf("second payment: status %d", again.StatusCode)
	}
	if s.Calls("update") != 0 || s.Calls("read") != 0 {
		t.Error("page actions counted as API calls")
	}
}

func TestCheckoutPageClosedAndMissing(t *testing.T) {
	clk := &testClock{t: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}
	s := NewServer(Options{Now: clk.Now})
	t.Cleanup(s.Close)
	o, err := s.CreateOrder(mustOrder(t, validOrder()))
	if err != nil {
		t.Fatal(err)
	}
	if a := call(t, s, "POST", "/checkout/v3/orders/"+o.OrderID+"/abort", nil, auth); a.status != http.StatusOK {
		t.Fatalf("abort: %d %s", a.status, a.body)
	}
	status, html := getPage(t, s, o.OrderID)
	if status != http.StatusOK || !strings.Contains(html, "Kassen er lukket") || strings.Contains(html, "pay-klarna") {
		t.Errorf("aborted page: %d\n%s", status, html)
	}
	if resp := postForm(t, s.CheckoutPageURL(o.OrderID)+"/klarna", nil); resp.StatusCode != http.StatusConflict {
		t.Errorf("paying an aborted order: status %d", resp.StatusCode)
	}
	if got, _ := s.Order(o.OrderID); got.Status != klarna.StatusCheckoutIncomplete {
		t.Errorf("aborted order paid: %s", got.Status)
	}

	if status, _ := getPage(t, s, "unknown"); status != http.StatusNotFound {
		t.Errorf("unknown order: status %d", status)
	}
	clk.Advance(49 * time.Hour)
	if status, html := getPage(t, s, o.OrderID); status != http.StatusNotFound || !strings.Contains(html, "Order not found") {
		t.Errorf("expired order: status %d", status)
	}
}

func TestChoiceID(t *testing.T) {
	tests := []struct{ name, want string }{
		{"Vipps", "epm-vipps"},
		{"Vipps MobilePay", "epm-vipps-mobilepay"},
		{"  MobilePay!! ", "epm-mobilepay"},
		{"Bank-ID (NO)", "epm-bank-id-no"},
		{"Ærlig", "epm-rlig"},
		{"!!!", "epm-3"},
	}
	for _, tt := range tests {
		if got := choiceID("epm", tt.name, 3); got != tt.want {
			t.Errorf("choiceID(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// liveOrder reads an order the way the API does, expiry included.
func (s *Server) liveOrder(id string) (klarna.Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, err := s.liveLocked(id)
	if err != nil {
		return klarna.Order{}, err
	}
	return cloneOrder(rec.order), nil
}

// The lines say "stk" in Norwegian and "pcs" in English, whatever unit
// the order carries, and the address form is folded away so the payment
// choice comes right after the cart.
func TestCheckoutPageQuantityUnitAndFoldedAddress(t *testing.T) {
	s := NewServer(Options{})
	t.Cleanup(s.Close)
	for locale, want := range map[string]string{"nb-NO": "1 stk × Ullgenser", "en-GB": "1 pcs × Ullgenser",
		"da-DK": "1 stk. × Ullgenser", "fi-FI": "1 kpl × Ullgenser"} {
		fields := validOrder()
		fields["locale"] = locale
		line(fields, 0)["quantity_unit"] = "pcs"
		o, err := s.CreateOrder(mustOrder(t, fields))
		if err != nil {
			t.Fatal(err)
		}
		_, html := getPage(t, s, o.OrderID)
		if !strings.Contains(html, want) {
			t.Errorf("%s: page lacks %q", locale, want)
		}
		if !strings.Contains(html, `<details id="address-form">`) {
			t.Errorf("%s: the address form is not folded", locale)
		}
		if locale == "nb-NO" && strings.Contains(html, " pcs ") {
			t.Errorf("%s: English unit on a Norwegian page", locale)
		}
	}
}
