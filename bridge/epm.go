package bridge

import (
	"net/url"
	"strings"

	"vippskco/bridge/i18n"
	"vippskco/klarna"
)

// EPMEntry builds the external_payment_methods entry a merchant adds to its
// KCO orders. Without an order id the redirect_url carries Kustom's
// {checkout.order.id} placeholder; with one it names the order and, when
// signing is on, carries its signature. The fee is always 0: surcharges for
// consumer payments are banned (PSD2).
func (s *Service) EPMEntry(unitID, kcoOrderID, locale string) (klarna.PaymentProvider, error) {
	u, err := s.Unit(unitID)
	if err != nil {
		return klarna.PaymentProvider{}, err
	}
	redirect := s.PublicURL + "/checkout/" + url.PathEscape(u.ID) + "/vipps?kco_order_id={checkout.order.id}"
	if kcoOrderID != "" {
		if !ValidKCOOrderID(kcoOrderID) {
			return klarna.PaymentProvider{}, Errorf(ECodeInvalid, "malformed_order_id", "kco_order_id %s is not a KCO order id", Quote(kcoOrderID))
		}
		redirect = s.RetryURL(u, kcoOrderID)
	}
	image := u.EPMImageURL
	if image == "" {
		image = s.PublicURL + "/assets/" + u.Brand().Logo
	}
	fee := int64(0)
	countries := make([]string, len(u.Countries))
	for i, c := range u.Countries {
		countries[i] = strings.ToLower(c)
	}
	return klarna.PaymentProvider{
		Name:        u.EPMName,
		RedirectURL: redirect,
		ImageURL:    image,
		Fee:         &fee,
		Description: epmDescription(u.Brand().Name, i18n.LangFromLocale(locale)),
		Countries:   countries,
	}, nil
}

// epmDescription is the line KCO shows under the payment method, in the
// order's language.
func epmDescription(brand string, lang i18n.Lang) string {
	switch lang {
	case i18n.LangNB:
		return "Husk: " + brand + " er alltid gebyrfritt når du betaler til bedrifter."
	case i18n.LangDA:
		return "Husk: Det er altid gebyrfrit at betale en virksomhed med " + brand + "."
	case i18n.LangFI:
		return "Muista: " + brand + "-maksu yritykselle on aina maksuton."
	}
	return "Remember: " + brand + " is always free of charge when you pay a business."
}
