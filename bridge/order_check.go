package bridge

import (
	"regexp"
	"slices"
	"strings"

	"vippskco/klarna"
)

// kcoOrderIDPattern accepts KCO order ids (UUIDs in practice). The Vipps
// reference is prefix-<id>-<attempt> and must fit ^[a-zA-Z0-9-]{8,50}$, so the
// id may only hold those characters and at most 36 of them.
var kcoOrderIDPattern = regexp.MustCompile(`^[a-zA-Z0-9-]{8,36}$`)

// Vipps ePayment amount limits in minor units (notes/vipps.md §3.1).
const maxVippsAmount = 65_000_000

var minVippsAmount = map[string]int64{"NOK": 100, "DKK": 1, "EUR": 1}

// ValidKCOOrderID reports whether id can be a KCO order id we accept.
func ValidKCOOrderID(id string) bool { return kcoOrderIDPattern.MatchString(id) }

// CheckOrder decides whether a KCO order may be paid with Vipps through unit.
// It trusts nothing but the order as read from Kustom: the status must still
// be checkout_incomplete, the currency and country must be the unit's, the
// amount comes only from order_amount and must equal the sum of the lines,
// and it must be within what Vipps accepts.
func CheckOrder(u *Unit, o *klarna.Order) error {
	switch strings.ToLower(o.Status) {
	case klarna.StatusCheckoutIncomplete:
	case klarna.StatusCheckoutComplete:
		return Errorf(ECodeConflict, "order_completed", "KCO order %s is already completed with Klarna", o.OrderID)
	default:
		return Errorf(ECodeConflict, "order_not_incomplete", "KCO order %s has status %s; only checkout_incomplete orders can be paid", o.OrderID, Quote(o.Status))
	}
	if !strings.EqualFold(o.PurchaseCurrency, u.Currency) {
		return Errorf(ECodeInvalid, "currency_not_served", "the order is in %s but sales unit %s takes %s", Quote(o.PurchaseCurrency), u.ID, u.Currency)
	}
	if !slices.Contains(u.Countries, strings.ToUpper(o.PurchaseCountry)) {
		return Errorf(ECodeInvalid, "country_not_served", "purchase country %s is not served by sales unit %s", Quote(o.PurchaseCountry), u.ID)
	}
	if len(o.OrderLines) == 0 {
		return Errorf(ECodeInvalid, "lines_mismatch", "the order has no lines")
	}
	var sum int64
	for _, l := range o.OrderLines {
		sum += l.TotalAmount
	}
	if sum != o.OrderAmount {
		return Errorf(ECodeInvalid, "lines_mismatch", "the order lines add up to %d but order_amount is %d", sum, o.OrderAmount)
	}
	if min := minVippsAmount[u.Currency]; o.OrderAmount < min {
		return Errorf(ECodeInvalid, "amount_below_minimum", "the amount %d is below the Vipps MobilePay minimum of %d %s minor units", o.OrderAmount, min, u.Currency)
	}
	if o.OrderAmount > maxVippsAmount {
		return Errorf(ECodeInvalid, "amount_above_maximum", "the amount %d is above the Vipps MobilePay maximum of %d minor units", o.OrderAmount, maxVippsAmount)
	}
	return nil
}
