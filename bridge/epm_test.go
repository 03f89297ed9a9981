package bridge_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/klarna"
)

// epmKustom is Kustom as MerchantEPM reads it: orders by id, or one error
// for every read.
type epmKustom struct {
	orders map[string]*klarna.Order
	err    error
	reads  int
}

func (k *epmKustom) GetOrder(_ context.Context, id string) (*klarna.Order, error) {
	k.reads++
	if k.err != nil {
		return nil, k.err
	}
	o, ok := k.orders[id]
	if !ok {
		return nil, &klarna.Error{StatusCode: 404, Method: "GET", Path: "/checkout/v3/orders/" + id}
	}
	c := *o
	return &c, nil
}

const epmOrderID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"

// epmService has a Norwegian Vipps unit, a Danish and a Finnish MobilePay
// unit and a Swedish one, signing when signed is true.
func epmService(signed bool, k *epmKustom) *bridge.Service {
	s := &bridge.Service{Kustom: k, PublicURL: "https://pay.example", Now: func() time.Time { return time.Unix(1_800_000_000, 0) },
		Units: map[string]*bridge.Unit{
			"webshop": {ID: "webshop", Currency: "NOK", Countries: []string{"NO"}, EPMName: "Vipps"},
			"dk":      {ID: "dk", Currency: "DKK", Countries: []string{"DK"}, EPMName: "MobilePay"},
			"fi":      {ID: "fi", Currency: "EUR", Countries: []string{"FI"}, EPMName: "MobilePay"},
			"se":      {ID: "se", Currency: "SEK", Countries: []string{"SE"}, EPMName: "Vipps"},
		}}
	if signed {
		s.Signer = &bridge.RedirectSigner{Secret: []byte("epm-test-signing-secret"), TTL: time.Hour}
	}
	return s
}

// payableOrder is a checkout_incomplete NOK order the webshop unit takes.
func payableOrder(locale string) *klarna.Order {
	return &klarna.Order{OrderID: epmOrderID, Status: klarna.StatusCheckoutIncomplete, PurchaseCountry: "NO", PurchaseCurrency: "NOK",
		Locale: locale, OrderAmount: 10000, OrderLines: []klarna.OrderLine{{Name: "Mug", Quantity: 1, UnitPrice: 10000, TotalAmount: 10000}}}
}

func warningCodes(t *testing.T, out *bridge.MerchantEPM) []string {
	t.Helper()
	codes := []string{}
	for _, w := range out.Warnings {
		require.NotEmpty(t, w.Message, w.Code)
		codes = append(codes, w.Code)
	}
	return codes
}

func TestMerchantEPMSignedForAnOrder(t *testing.T) {
	k := &epmKustom{orders: map[string]*klarna.Order{epmOrderID: payableOrder("nb-NO")}}
	s := epmService(true, k)
	out, err := s.MerchantEPM(context.Background(), "webshop", bridge.MerchantEPMRequest{OrderID: epmOrderID})
	require.NoError(t, err)
	require.True(t, out.Signed)
	require.Equal(t, epmOrderID, *out.KCOOrderID)
	require.Empty(t, warningCodes(t, out))
	require.Equal(t, 1, k.reads, "the order is read from Kustom")
	require.Len(t, out.ExternalPaymentMethods, 1)
	e := out.ExternalPaymentMethods[0]
	require.Equal(t, "Vipps", e.Name)
	require.Equal(t, int64(0), *e.Fee)
	require.Equal(t, []string{"no"}, e.Countries)
	require.Equal(t, "Husk: Vipps er alltid gebyrfritt når du betaler til bedrifter.", e.Description)
	u, err := url.Parse(e.RedirectURL)
	require.NoError(t, err)
	require.Equal(t, "/checkout/webshop/vipps", u.Path)
	require.Equal(t, epmOrderID, u.Query().Get("kco_order_id"))
	require.NoError(t, s.Signer.Verify("webshop", epmOrderID, u.Query().Get("sig"), s.Now()), "the signature is the redirect's")
}

func TestMerchantEPMNoOrderID(t *testing.T) {
	t.Run("signing on: refused with the create-then-update flow", func(t *testing.T) {
		_, err := epmService(true, &epmKustom{}).MerchantEPM(context.Background(), "webshop", bridge.MerchantEPMRequest{})
		require.Equal(t, bridge.ECodeInvalid, bridge.ErrorCode(err))
		require.Equal(t, "kco_order_id_required", bridge.ErrorReason(err))
		require.Contains(t, bridge.ErrorMessage(err), "Create the KCO order first")
		require.Contains(t, bridge.ErrorMessage(err), "kco_order_id=ORDER_ID")
		require.Contains(t, bridge.ErrorMessage(err), "-order ORDER_ID")
	})
	t.Run("signing off: the placeholder, warned about", func(t *testing.T) {
		k := &epmKustom{}
		out, err := epmService(false, k).MerchantEPM(context.Background(), "webshop", bridge.MerchantEPMRequest{})
		require.NoError(t, err)
		require.False(t, out.Signed)
		require.Nil(t, out.KCOOrderID)
		require.Equal(t, []string{bridge.WarnUnsignedPlaceholder}, warningCodes(t, out))
		require.Equal(t, "https://pay.example/checkout/webshop/vipps?kco_order_id={checkout.order.id}", out.ExternalPaymentMethods[0].RedirectURL)
		require.Zero(t, k.reads)
	})
	t.Run("signing off with an order: unsigned, no warning", func(t *testing.T) {
		k := &epmKustom{orders: map[string]*klarna.Order{epmOrderID: payableOrder("nb-NO")}}
		out, err := epmService(false, k).MerchantEPM(context.Background(), "webshop", bridge.MerchantEPMRequest{OrderID: epmOrderID})
		require.NoError(t, err)
		require.False(t, out.Signed)
		require.Empty(t, warningCodes(t, out))
		require.Equal(t, "https://pay.example/checkout/webshop/vipps?kco_order_id="+epmOrderID, out.ExternalPaymentMethods[0].RedirectURL)
	})
}

func TestMerchantEPMWarnings(t *testing.T) {
	t.Run("order_locale_unread", func(t *testing.T) {
		s := epmService(true, &epmKustom{err: errors.New("connection refused")})
		out, err := s.MerchantEPM(context.Background(), "webshop", bridge.MerchantEPMRequest{OrderID: epmOrderID})
		require.NoError(t, err, "Kustom out of reach still gives the entry")
		require.Equal(t, []string{bridge.WarnOrderLocaleUnread}, warningCodes(t, out))
		require.Contains(t, out.Warnings[0].Message, "connection refused")
		require.True(t, out.Signed)
		require.Equal(t, "nb", out.DescriptionLanguage)
		require.Equal(t, bridge.LangSourceUnit, out.DescriptionLanguageSource)
	})
	notPayable := map[string]func(*klarna.Order){
		"order_completed":      func(o *klarna.Order) { o.Status = klarna.StatusCheckoutComplete },
		"order_not_incomplete": func(o *klarna.Order) { o.Status = "expired" },
		"currency_not_served":  func(o *klarna.Order) { o.PurchaseCurrency = "SEK" },
		"lines_mismatch":       func(o *klarna.Order) { o.OrderAmount = 1 },
	}
	for reason, edit := range notPayable {
		t.Run("order_not_payable/"+reason, func(t *testing.T) {
			o := payableOrder("nb-NO")
			edit(o)
			s := epmService(true, &epmKustom{orders: map[string]*klarna.Order{epmOrderID: o}})
			out, err := s.MerchantEPM(context.Background(), "webshop", bridge.MerchantEPMRequest{OrderID: epmOrderID})
			require.NoError(t, err)
			require.Equal(t, []string{bridge.WarnOrderNotPayable}, warningCodes(t, out))
			require.Contains(t, out.Warnings[0].Message, reason)
			require.True(t, out.Signed, "the entry is still given: the order may be fixed before the shopper picks Vipps")
		})
	}
}

func TestMerchantEPMErrors(t *testing.T) {
	k := &epmKustom{orders: map[string]*klarna.Order{epmOrderID: payableOrder("nb-NO")}}
	cases := []struct {
		name, unit, code, reason string
		req                      bridge.MerchantEPMRequest
	}{
		{"unknown unit", "nope", bridge.ECodeNotFound, "unknown_unit", bridge.MerchantEPMRequest{OrderID: epmOrderID}},
		{"invalid locale", "webshop", bridge.ECodeInvalid, "invalid_locale", bridge.MerchantEPMRequest{OrderID: epmOrderID, Locale: "nb NO<script>"}},
		{"malformed order id", "webshop", bridge.ECodeInvalid, "malformed_order_id", bridge.MerchantEPMRequest{OrderID: "../../x"}},
		{"order not found", "webshop", bridge.ECodeNotFound, "order_not_found", bridge.MerchantEPMRequest{OrderID: "00000000-0000-0000-0000-000000000000"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := epmService(true, k).MerchantEPM(context.Background(), tc.unit, tc.req)
			require.Nil(t, out)
			require.Equal(t, tc.code, bridge.ErrorCode(err), "%v", err)
			require.Equal(t, tc.reason, bridge.ErrorReason(err))
		})
	}
}

func TestMerchantEPMDescriptionLanguage(t *testing.T) {
	orders := map[string]*klarna.Order{epmOrderID: payableOrder("da-DK")}
	noLocale := "11111111-2222-3333-4444-555555555555"
	orders[noLocale] = payableOrder("")
	cases := []struct {
		name, unit, orderID, locale, lang, source, description string
	}{
		{"explicit locale beats the order's", "webshop", epmOrderID, "fi-FI", "fi", bridge.LangSourceLocale, "Muista: Vipps-maksu yritykselle on aina maksuton."},
		{"the order's locale beats the unit's country", "webshop", epmOrderID, "", "da", bridge.LangSourceOrder, "Husk: Det er altid gebyrfrit at betale en virksomhed med Vipps."},
		{"an order without a locale: the unit's country", "webshop", noLocale, "", "nb", bridge.LangSourceUnit, "Husk: Vipps er alltid gebyrfritt når du betaler til bedrifter."},
		{"Danish MobilePay unit", "dk", noLocale, "", "da", bridge.LangSourceUnit, "Husk: Det er altid gebyrfrit at betale en virksomhed med MobilePay."},
		{"Finnish MobilePay unit", "fi", noLocale, "", "fi", bridge.LangSourceUnit, "Muista: MobilePay-maksu yritykselle on aina maksuton."},
		{"a country we have no text for: English", "se", noLocale, "", "en", bridge.LangSourceDefault, "Remember: Vipps is always free of charge when you pay a business."},
		{"a locale we have no text for: English, as asked", "webshop", noLocale, "sv-SE", "en", bridge.LangSourceLocale, "Remember: Vipps is always free of charge when you pay a business."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := epmService(true, &epmKustom{orders: orders}).MerchantEPM(context.Background(), tc.unit, bridge.MerchantEPMRequest{OrderID: tc.orderID, Locale: tc.locale})
			require.NoError(t, err)
			require.Equal(t, tc.lang, out.DescriptionLanguage)
			require.Equal(t, tc.source, out.DescriptionLanguageSource)
			require.Equal(t, tc.description, out.ExternalPaymentMethods[0].Description)
		})
	}
	t.Run("MobilePay units keep their name and logo", func(t *testing.T) {
		out, err := epmService(true, &epmKustom{orders: orders}).MerchantEPM(context.Background(), "dk", bridge.MerchantEPMRequest{OrderID: noLocale})
		require.NoError(t, err)
		require.Equal(t, "MobilePay", out.ExternalPaymentMethods[0].Name)
		require.Equal(t, "https://pay.example/assets/"+bridge.MobilePayBrand.Logo, out.ExternalPaymentMethods[0].ImageURL)
	})
}
