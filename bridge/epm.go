package bridge

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"vippskco/bridge/i18n"
	"vippskco/klarna"
)

// MerchantEPMRequest asks for a unit's EPM entry. OrderID is the KCO order
// the entry is for (create the order first, then update it with the entry);
// Locale, when given, picks the description's language over the order's.
type MerchantEPMRequest struct {
	OrderID string
	Locale  string
}

// EPMWarning is something the merchant should fix or know about an entry
// that was still given.
type EPMWarning struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// The warnings of MerchantEPM.
const (
	WarnUnsignedPlaceholder = "unsigned_placeholder"
	WarnOrderLocaleUnread   = "order_locale_unread"
	WarnOrderNotPayable     = "order_not_payable"
)

// Where the description's language came from.
const (
	LangSourceLocale  = "locale"
	LangSourceOrder   = "order"
	LangSourceUnit    = "unit"
	LangSourceDefault = "default"
)

// MerchantEPM is the answer of GET /api/v1/epm/{unit} and of the epm
// command: the same JSON from both.
type MerchantEPM struct {
	ExternalPaymentMethods    []klarna.PaymentProvider `json:"external_payment_methods"`
	KCOOrderID                *string                  `json:"kco_order_id"`
	Signed                    bool                     `json:"signed"`
	DescriptionLanguage       string                   `json:"description_language"`
	DescriptionLanguageSource string                   `json:"description_language_source"`
	Warnings                  []EPMWarning             `json:"warnings"`
}

// KCOOrderIDRequiredMessage explains why a signed entry needs the order id
// and how to get one.
const KCOOrderIDRequiredMessage = "redirect signing is on, so the EPM entry is signed for one KCO order and needs that order's id. " +
	"Create the KCO order first (POST /checkout/v3/orders, without the entry), ask for the entry with the order_id Kustom returned " +
	"(kco_order_id=ORDER_ID here, -order ORDER_ID on the command line), then add it with an update " +
	"(POST /checkout/v3/orders/ORDER_ID with external_payment_methods). " +
	"An entry without an order id would be unsigned and refused for every shopper (signature_missing)"

// localePattern is an RFC 1766 locale as KCO uses them: nb-NO, da-DK, en.
var localePattern = regexp.MustCompile(`^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$`)

// MerchantEPM builds the external_payment_methods entry a merchant adds to
// a KCO order, with what it needs to know about it. With signing on it
// needs the order id (kco_order_id_required otherwise); with signing off
// and no order id it gives Kustom's {checkout.order.id} placeholder and
// says so. Given an order id it reads the order from Kustom for its
// locale and warns when the redirect would refuse the order as it is now.
// The description's language is req.Locale's, else the order's, else the
// unit's country's, else English.
func (s *Service) MerchantEPM(ctx context.Context, unitID string, req MerchantEPMRequest) (*MerchantEPM, error) {
	u, err := s.Unit(unitID)
	if err != nil {
		return nil, err
	}
	if req.Locale != "" && !localePattern.MatchString(req.Locale) {
		return nil, Errorf(ECodeInvalid, "invalid_locale", "locale %s is not a locale like nb-NO, da-DK, fi-FI or en-GB", Quote(req.Locale))
	}
	out := &MerchantEPM{Warnings: []EPMWarning{}}
	lang, source := i18n.LangEN, LangSourceDefault
	if l, ok := u.Lang(); ok {
		lang, source = l, LangSourceUnit
	}
	if req.OrderID == "" {
		if s.Signer.Enabled() {
			return nil, Errorf(ECodeInvalid, "kco_order_id_required", "%s", KCOOrderIDRequiredMessage)
		}
		out.Warnings = append(out.Warnings, EPMWarning{WarnUnsignedPlaceholder,
			"redirect_url carries Kustom's {checkout.order.id} placeholder and no signature; it works only while redirect signing is off. " +
				"Turn signing on in production and ask for the entry per order with ?kco_order_id="})
	} else {
		if !ValidKCOOrderID(req.OrderID) {
			return nil, Errorf(ECodeInvalid, "malformed_order_id", "kco_order_id %s is not a KCO order id", Quote(req.OrderID))
		}
		id := req.OrderID
		out.KCOOrderID = &id
		order, err := s.Kustom.GetOrder(withLogKey(ctx, KustomLogKey(id)), id)
		switch {
		case klarna.IsNotFound(err):
			return nil, &Error{Code: ECodeNotFound, Reason: "order_not_found", Message: fmt.Sprintf("Kustom has no checkout order %s (unknown or expired); create the order first", id), Err: err}
		case err != nil:
			out.Warnings = append(out.Warnings, EPMWarning{WarnOrderLocaleUnread,
				fmt.Sprintf("could not read KCO order %s from Kustom (%v), so the description's language is the %s one; pass locale= to choose it", id, err, sourceName(source))})
		default:
			if order.OrderID == "" {
				order.OrderID = id
			}
			if order.Locale != "" {
				lang, source = i18n.LangFromLocale(order.Locale), LangSourceOrder
			}
			if err := CheckOrder(u, order); err != nil {
				out.Warnings = append(out.Warnings, EPMWarning{WarnOrderNotPayable,
					"the Vipps MobilePay redirect would refuse this order as it is now: " + ErrorMessage(err) + " (" + ErrorReason(err) + ")"})
			}
		}
	}
	if req.Locale != "" {
		lang, source = i18n.LangFromLocale(req.Locale), LangSourceLocale
	}
	entry, err := s.epmEntry(u, req.OrderID, lang)
	if err != nil {
		return nil, err
	}
	out.ExternalPaymentMethods = []klarna.PaymentProvider{entry}
	out.Signed = req.OrderID != "" && s.Signer.Enabled()
	out.DescriptionLanguage, out.DescriptionLanguageSource = string(lang), source
	return out, nil
}

func sourceName(source string) string {
	if source == LangSourceUnit {
		return "unit's country's"
	}
	return "default (English)"
}

// EPMEntry builds the external_payment_methods entry for unitID with its
// description in locale's language, without reading the order: the entry
// alone, for code that knows the order is there. Merchants get theirs from
// MerchantEPM.
func (s *Service) EPMEntry(unitID, kcoOrderID, locale string) (klarna.PaymentProvider, error) {
	u, err := s.Unit(unitID)
	if err != nil {
		return klarna.PaymentProvider{}, err
	}
	if kcoOrderID != "" && !ValidKCOOrderID(kcoOrderID) {
		return klarna.PaymentProvider{}, Errorf(ECodeInvalid, "malformed_order_id", "kco_order_id %s is not a KCO order id", Quote(kcoOrderID))
	}
	return s.epmEntry(u, kcoOrderID, i18n.LangFromLocale(locale))
}

// epmEntry is the entry itself. Without an order id the redirect_url
// carries Kustom's {checkout.order.id} placeholder; with one it names the
// order and, when signing is on, carries its signature. The fee is always
// 0: surcharges for consumer payments are banned (PSD2).
func (s *Service) epmEntry(u *Unit, kcoOrderID string, lang i18n.Lang) (klarna.PaymentProvider, error) {
	redirect := s.PublicURL + "/checkout/" + url.PathEscape(u.ID) + "/vipps?kco_order_id={checkout.order.id}"
	if kcoOrderID != "" {
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
		Description: epmDescription(u.Brand().Name, lang),
		Countries:   countries,
	}, nil
}

// epmDescription is the line KCO shows under the payment method. The
// Norwegian one is the Vipps FAQ's.
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
