package bridge

import (
	"fmt"
	"strconv"
	"unicode/utf8"

	"vippskco/bridge/i18n"
	"vippskco/klarna"
	"vippskco/vipps"
)

// Reference builds the Vipps reference of an attempt: the unit's prefix, the
// KCO order id and the attempt number, so every Vipps payment is traceable to
// its order and each attempt is unique per MSN.
func Reference(prefix, kcoOrderID string, attempt int) string {
	return fmt.Sprintf("%s-%s-%d", prefix, kcoOrderID, attempt)
}

// paymentRequest turns a checked KCO order into the ePayment create request.
func paymentRequest(u *Unit, o *klarna.Order, reference, returnURL string) vipps.CreatePaymentRequest {
	req := vipps.CreatePaymentRequest{
		Amount:             vipps.Amount{Currency: vipps.Currency(u.Currency), Value: o.OrderAmount},
		PaymentMethod:      vipps.PaymentMethod{Type: "WALLET"},
		Reference:          reference,
		UserFlow:           vipps.UserFlowWebRedirect,
		ReturnURL:          returnURL,
		PaymentDescription: paymentDescription(u, o),
		Receipt:            receipt(u, o),
		Metadata:           map[string]string{"kcoOrderId": o.OrderID, "unit": u.ID},
	}
	if o.BillingAddress != nil {
		country := o.BillingAddress.Country
		if country == "" {
			country = o.PurchaseCountry
		}
		if msisdn, ok := vipps.NormalizeMSISDN(o.BillingAddress.Phone, country); ok {
			req.Customer = &vipps.Customer{PhoneNumber: msisdn}
		}
	}
	return req
}

// paymentDescription is shown in the app, the portal and the settlement
// files, so it names the shop and the order the shopper and finance know,
// in the order's language.
func paymentDescription(u *Unit, o *klarna.Order) string {
	orderNo := o.MerchantReference1
	if orderNo == "" {
		orderNo = o.OrderID
	}
	word := "order"
	if i18n.LangFromLocale(o.Locale) == i18n.LangNB {
		word = "ordre"
	}
	d := fmt.Sprintf("%s, %s %s", u.Name, word, orderNo)
	return truncateRunes(d, 100)
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

// receipt maps the KCO order lines to Order Management receipt lines.
func receipt(u *Unit, o *klarna.Order) *vipps.Receipt {
	lines := make([]vipps.OrderLine, 0, len(o.OrderLines))
	for i, l := range o.OrderLines {
		id := l.Reference
		if id == "" {
			id = "line-" + strconv.Itoa(i+1)
		}
		rate := l.TaxRate
		line := vipps.OrderLine{
			Name:                    truncateRunes(l.Name, 100),
			ID:                      truncateRunes(id, 100),
			TotalAmount:             l.TotalAmount,
			TotalAmountExcludingTax: l.TotalAmount - l.TotalTaxAmount,
			TotalTaxAmount:          l.TotalTaxAmount,
			TaxRate:                 &rate,
			TaxPercentage:           l.TaxRate / 100,
			ProductURL:              l.ProductURL,
		}
		if l.Quantity > 0 && l.UnitPrice >= 0 {
			line.UnitInfo = &vipps.UnitInfo{UnitPrice: l.UnitPrice, Quantity: strconv.FormatInt(l.Quantity, 10), QuantityUnit: "PCS"}
		}
		if l.TotalDiscountAmount > 0 {
			d := l.TotalDiscountAmount
			line.Discount = &d
		}
		if l.Type == klarna.LineTypeShippingFee {
			t := true
			line.IsShipping = &t
		}
		lines = append(lines, line)
	}
	return &vipps.Receipt{
		OrderLines: lines,
		BottomLine: vipps.BottomLine{Currency: vipps.Currency(u.Currency), ReceiptNumber: truncateRunes(o.MerchantReference1, 50)},
	}
}
