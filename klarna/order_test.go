package klarna

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLinesTotal(t *testing.T) {
	o := Order{OrderLines: []OrderLine{{TotalAmount: 149900}, {TotalAmount: 4900}, {TotalAmount: -10000}}}
	if got := o.LinesTotal(); got != 144800 {
		t.Errorf("LinesTotal = %d, want 144800", got)
	}
	if got := (&Order{}).LinesTotal(); got != 0 {
		t.Errorf("empty LinesTotal = %d", got)
	}
}

func TestExpandRedirectURL(t *testing.T) {
	tests := []struct{ tmpl, id, want string }{
		{
			"https://shop.example/checkout/webshop/vipps?kco_order_id={checkout.order.id}",
			"f3392f8b-6116-4073-ab96-e330819e2c07",
			"https://shop.example/checkout/webshop/vipps?kco_order_id=f3392f8b-6116-4073-ab96-e330819e2c07",
		},
		{"https://x.example/o/{checkout.order.id}/pay?again={checkout.order.id}", "a1", "https://x.example/o/a1/pay?again=a1"},
		{"https://x.example/?id={checkout.order.id}", "a b&c=d/e?", "https://x.example/?id=a%20b%26c%3Dd%2Fe%3F"},
		{"https://x.example/no-placeholder", "a1", "https://x.example/no-placeholder"},
		{"https://x.example/?id={checkout.order.url}", "a1", "https://x.example/?id={checkout.order.url}"},
	}
	for _, tt := range tests {
		if got := ExpandRedirectURL(tt.tmpl, tt.id); got != tt.want {
			t.Errorf("ExpandRedirectURL(%q, %q) = %q, want %q", tt.tmpl, tt.id, got, tt.want)
		}
	}
}

// The .NET SDK's order fixture: the Order type must read a full order as
// Kustom sends it.
func TestDecodeSDKSample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "kco-order.sdk-test.json"))
	if err != nil {
		t.Fatal(err)
	}
	var o Order
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatalf("decoding the sample: %v", err)
	}
	if o.OrderID != "f3392f8b-6116-4073-ab96-e330819e2c07" || o.PurchaseCurrency != "USD" || o.Locale != "en-US" {
		t.Errorf("header fields: %+v", o)
	}
	if o.OrderAmount != 50000 || o.OrderTaxAmount != 5000 || o.LinesTotal() != o.OrderAmount {
		t.Errorf("amounts: order %d tax %d lines %d", o.OrderAmount, o.OrderTaxAmount, o.LinesTotal())
	}
	if len(o.OrderLines) != 1 || o.OrderLines[0].Reference != "19-402-USA" || o.OrderLines[0].TaxRate != 1000 {
		t.Errorf("order lines: %+v", o.OrderLines)
	}
	if o.BillingAddress == nil || o.BillingAddress.Phone != "333444555" || o.BillingAddress.StreetName != "Lombard St" {
		t.Errorf("billing address: %+v", o.BillingAddress)
	}
	if len(o.ExternalPaymentMethods) != 1 {
		t.Fatalf("external_payment_methods: %+v", o.ExternalPaymentMethods)
	}
	epm := o.ExternalPaymentMethods[0]
	if epm.Name != "PayhereUs" || epm.RedirectURL != "https://www.example.com/us/start" || epm.Fee == nil || *epm.Fee != 0 ||
		len(epm.Countries) != 2 {
		t.Errorf("EPM entry: %+v", epm)
	}
	if o.MerchantURLs == nil || o.MerchantURLs.Push != "https://www.example.com/api/push" || o.MerchantURLs.CountryChange == "" {
		t.Errorf("merchant_urls: %+v", o.MerchantURLs)
	}
	want := time.Date(2018, 10, 5, 12, 27, 1, 888e6, time.UTC)
	if o.StartedAt == nil || !o.StartedAt.Equal(want) {
		t.Errorf("started_at = %v", o.StartedAt)
	}
	if o.SelectedShippingOption == nil || o.SelectedShippingOption.ID != "express_priority" || o.Options == nil ||
		o.Options.ColorButton != "#FF9900" {
		t.Errorf("shipping/options: %+v %+v", o.SelectedShippingOption, o.Options)
	}
	// The sample shows the spec's upper-case status; the live API sends
	// lower case. Either way it is kept as sent.
	if o.Status != "CHECKOUT_INCOMPLETE" {
		t.Errorf("status = %q", o.Status)
	}
}
