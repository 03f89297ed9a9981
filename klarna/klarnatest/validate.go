package klarnatest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"

	"vippskco/klarna"
)

// Limits from the spec.
const (
	maxOrderLines  = 1000
	maxLineAmount  = 100_000_000 // unit_price and total_amount
	maxTaxRate     = 10_000
	maxURLLength   = 2000
	maxNameLength  = 255
	maxDescription = 500
)

var (
	countryPattern  = regexp.MustCompile(`^[A-Za-z]{2}$`)
	currencyPattern = regexp.MustCompile(`^[A-Za-z]{3}$`)
	localePattern   = regexp.MustCompile(`^[A-Za-z]{2}(?:-[A-Za-z]{2})*$`)
	lineTypes       = []string{
		klarna.LineTypePhysical, klarna.LineTypeDiscount, klarna.LineTypeShippingFee, klarna.LineTypeSalesTax,
		klarna.LineTypeDigital, klarna.LineTypeGiftCard, klarna.LineTypeStoreCredit, klarna.LineTypeSurcharge,
	}
)

// validateOrder checks an order the way Kustom does, as far as the spec
// says, and returns one "Bad value: <field>" message per problem (the form of
// the spec's example), with the reason in parentheses. fields is the
// request's JSON object, used to tell a missing field from a zero one.
//
// On top of the spec the fake requires at least one order line and that
// order_amount and order_tax_amount are the sums of the lines.
func validateOrder(fields map[string]json.RawMessage, o *klarna.Order) []string {
	var v validation
	for _, k := range []string{"purchase_country", "purchase_currency", "locale", "order_amount", "order_tax_amount", "order_lines", "merchant_urls"} {
		if !present(fields[k]) {
			v.bad(k, "required")
		}
	}
	if present(fields["purchase_country"]) && !countryPattern.MatchString(o.PurchaseCountry) {
		v.bad("purchase_country", "ISO 3166 alpha-2")
	}
	if present(fields["purchase_currency"]) && !currencyPattern.MatchString(o.PurchaseCurrency) {
		v.bad("purchase_currency", "ISO 4217")
	}
	if present(fields["locale"]) && !localePattern.MatchString(o.Locale) {
		v.bad("locale", "RFC 1766, e.g. nb-NO")
	}
	if o.OrderAmount < 0 {
		v.bad("order_amount", "must not be negative")
	}
	if o.OrderTaxAmount < 0 {
		v.bad("order_tax_amount", "must not be negative")
	}
	v.lines(fields["order_lines"], o)
	if present(fields["merchant_urls"]) && o.MerchantURLs != nil {
		v.merchantURLs(o.MerchantURLs)
	}
	v.providers("external_payment_methods", o.ExternalPaymentMethods, false)
	v.providers("external_checkouts", o.ExternalCheckouts, true)
	v.maxLen("merchant_reference1", o.MerchantReference1, 255)
	v.maxLen("merchant_reference2", o.MerchantReference2, 255)
	v.maxLen("merchant_data", o.MerchantData, 6000)
	return v.msgs
}

type validation struct{ msgs []string }

func (v *validation) bad(field, reason string) {
	v.msgs = append(v.msgs, fmt.Sprintf("Bad value: %s (%s)", field, reason))
}

func (v *validation) maxLen(field, s string, n int) {
	if len(s) > n {
		v.bad(field, fmt.Sprintf("at most %d characters", n))
	}
}

func present(raw json.RawMessage) bool {
	return len(raw) > 0 && string(raw) != "null"
}

func (v *validation) lines(raw json.RawMessage, o *klarna.Order) {
	if !present(raw) {
		return
	}
	var lineFields []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &lineFields); err != nil {
		v.bad("order_lines", "must be an array of objects")
		return
	}
	if len(o.OrderLines) < 1 || len(o.OrderLines) > maxOrderLines {
		v.bad("order_lines", fmt.Sprintf("between 1 and %d lines", maxOrderLines))
		return
	}
	before := len(v.msgs)
	var amount, tax int64
	for i, l := range o.OrderLines {
		f := func(name string) string { return fmt.Sprintf("order_lines[%d].%s", i, name) }
		for _, k := range []string{"name", "quantity", "unit_price", "total_amount", "tax_rate", "total_tax_amount"} {
			if !present(lineFields[i][k]) {
				v.bad(f(k), "required")
			}
		}
		if l.Name == "" || len(l.Name) > maxNameLength {
			v.bad(f("name"), "1 to 255 characters")
		}
		if l.Type != "" && !slices.Contains(lineTypes, l.Type) {
			v.bad(f("type"), "unknown type")
		}
		if l.QuantityUnit != "" && len(l.QuantityUnit) > 8 {
			v.bad(f("quantity_unit"), "1 to 8 characters")
		}
		v.maxLen(f("reference"), l.Reference, 255)
		v.maxLen(f("merchant_data"), l.MerchantData, 1024)
		v.maxLen(f("product_url"), l.ProductURL, 1024)
		v.maxLen(f("image_url"), l.ImageURL, 1024)
		if l.Quantity < 0 {
			v.bad(f("quantity"), "must not be negative")
		}
		// The spec bounds these from above only; the fake also bounds them
		// from below (discount lines are negative) so that no sum overflows.
		if !within(l.UnitPrice, maxLineAmount) {
			v.bad(f("unit_price"), "between -100000000 and 100000000")
		}
		if !within(l.TotalAmount, maxLineAmount) {
			v.bad(f("total_amount"), "between -100000000 and 100000000")
		}
		if !within(l.TotalTaxAmount, maxLineAmount) {
			v.bad(f("total_tax_amount"), "between -100000000 and 100000000")
		}
		if l.TaxRate < 0 || l.TaxRate > maxTaxRate {
			v.bad(f("tax_rate"), "0 to 10000")
		}
		if l.TotalDiscountAmount < 0 {
			v.bad(f("total_discount_amount"), "must not be negative")
		} else if l.TotalDiscountAmount > math.MaxInt64/2 {
			v.bad(f("total_discount_amount"), "too large")
		}
		if len(v.msgs) > before {
			continue
		}
		if l.UnitPrice != 0 && l.Quantity > math.MaxInt64/2/abs(l.UnitPrice) {
			v.bad(f("quantity"), "quantity × unit_price is too large")
			continue
		}
		if want := l.Quantity*l.UnitPrice - l.TotalDiscountAmount; l.TotalAmount != want {
			v.bad(f("total_amount"), fmt.Sprintf("must be quantity × unit_price − total_discount_amount = %d", want))
		}
		// The spec allows a difference of 1 for rounding.
		if want := l.TotalAmount - l.TotalAmount*10000/(10000+l.TaxRate); abs(l.TotalTaxAmount-want) > 1 {
			v.bad(f("total_tax_amount"), fmt.Sprintf("must be within 1 of %d for tax_rate %d", want, l.TaxRate))
		}
		amount += l.TotalAmount
		tax += l.TotalTaxAmount
	}
	if len(v.msgs) > before {
		return
	}
	if o.OrderAmount != amount {
		v.bad("order_amount", fmt.Sprintf("must equal the sum of order_lines total_amount: %d", amount))
	}
	if o.OrderTaxAmount != tax {
		v.bad("order_tax_amount", fmt.Sprintf("must equal the sum of order_lines total_tax_amount: %d", tax))
	}
}

func (v *validation) merchantURLs(m *klarna.MerchantURLs) {
	required := []struct{ name, value string }{
		{"terms", m.Terms}, {"checkout", m.Checkout}, {"confirmation", m.Confirmation}, {"push", m.Push},
	}
	for _, u := range required {
		field := "merchant_urls." + u.name
		switch {
		case u.value == "":
			v.bad(field, "required")
		case len(u.value) > maxURLLength:
			v.bad(field, "at most 2000 characters")
		case !absoluteURL(u.value):
			v.bad(field, "must be an absolute http(s) URL")
		}
	}
	optional := []struct{ name, value string }{
		{"notification", m.Notification}, {"cancellation_terms", m.CancellationTerms},
	}
	for _, u := range optional {
		if u.value != "" && (len(u.value) > maxURLLength || !absoluteURL(u.value)) {
			v.bad("merchant_urls."+u.name, "must be an absolute http(s) URL of at most 2000 characters")
		}
	}
	callbacks := []struct{ name, value string }{
		{"validation", m.Validation}, {"shipping_option_update", m.ShippingOptionUpdate},
		{"address_update", m.AddressUpdate}, {"country_change", m.CountryChange},
	}
	for _, u := range callbacks {
		if u.value != "" && (len(u.value) > maxURLLength || !secureURL(u.value)) {
			v.bad("merchant_urls."+u.name, "must be https (or http on localhost), at most 2000 characters")
		}
	}
}

// providers checks external_payment_methods or external_checkouts entries.
func (v *validation) providers(field string, ps []klarna.PaymentProvider, imageRequired bool) {
	for i, p := range ps {
		f := func(name string) string { return fmt.Sprintf("%s[%d].%s", field, i, name) }
		if p.Name == "" || len(p.Name) > maxNameLength {
			v.bad(f("name"), "1 to 255 characters")
		}
		switch {
		case p.RedirectURL == "":
			v.bad(f("redirect_url"), "required")
		case len(p.RedirectURL) < 7 || len(p.RedirectURL) > maxURLLength:
			v.bad(f("redirect_url"), "7 to 2000 characters")
		case !secureURL(p.RedirectURL):
			v.bad(f("redirect_url"), "must be https (or http on localhost)")
		}
		switch {
		case p.ImageURL == "" && imageRequired:
			v.bad(f("image_url"), "required")
		case p.ImageURL == "":
		case len(p.ImageURL) > maxURLLength:
			v.bad(f("image_url"), "at most 2000 characters")
		case !secureURL(p.ImageURL):
			v.bad(f("image_url"), "must be https (or http on localhost)")
		}
		if p.Fee != nil && *p.Fee < 0 {
			v.bad(f("fee"), "must not be negative")
		}
		v.maxLen(f("description"), p.Description, maxDescription)
		if p.Label != "" && p.Label != "continue" && p.Label != "complete" {
			v.bad(f("label"), "continue or complete")
		}
		for j, c := range p.Countries {
			if !countryPattern.MatchString(c) {
				v.bad(fmt.Sprintf("%s[%d].countries[%d]", field, i, j), "ISO 3166 alpha-2")
			}
		}
	}
}

func absoluteURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// secureURL is where the spec says "must be https". The fake also accepts
// plain http to localhost, 127.0.0.1 and ::1, because the sandbox runs the
// bridge on http://localhost; the real API would refuse those.
func secureURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		h := u.Hostname()
		return h == "localhost" || h == "127.0.0.1" || h == "::1"
	}
	return false
}

func within(n, limit int64) bool { return n >= -limit && n <= limit }

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
