package bridge

import (
	"fmt"
	"math/big"
	"sort"
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
	switch i18n.LangFromLocale(o.Locale) {
	case i18n.LangNB, i18n.LangDA:
		word = "ordre"
	case i18n.LangFI:
		word = "tilaus"
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
//
// Order Management has no negative lines: a line's totalAmount is what is
// paid for it after its discount, and the bottom line is the sum of the
// lines. KCO's order-level reductions (discount, gift_card and
// store_credit lines, any line with a negative total) are therefore spread
// over the other lines, in proportion to their totals, as each line's
// non-negative discount; the reduction's own tax comes off those lines'
// tax in the same proportion. The lines then add up to the order amount,
// which is the payment amount. An order whose lines cannot be mapped so
// (they do not add up to the order amount, or the reductions exceed the
// rest) gets no receipt: the payment does not need one.
func receipt(u *Unit, o *klarna.Order) *vipps.Receipt {
	lines := make([]vipps.OrderLine, 0, len(o.OrderLines))
	var reduction, reductionTax, sum int64
	for i, l := range o.OrderLines {
		if l.TotalAmount < 0 {
			reduction -= l.TotalAmount
			if l.TotalTaxAmount < 0 {
				reductionTax -= l.TotalTaxAmount
			}
			continue
		}
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
		if line.TotalTaxAmount < 0 || line.TotalTaxAmount > line.TotalAmount || l.TaxRate < 0 || l.TaxRate > 10000 {
			return nil
		}
		sum += l.TotalAmount
		lines = append(lines, line)
	}
	if len(lines) == 0 || reduction > sum || sum-reduction != o.OrderAmount {
		return nil
	}
	if reduction > 0 {
		totals := make([]int64, len(lines))
		for i, l := range lines {
			totals[i] = l.TotalAmount
		}
		shares := spread(reduction, totals)
		taxShares := spread(reductionTax, shares)
		for i := range lines {
			l := &lines[i]
			d := shares[i]
			if l.Discount != nil {
				d += *l.Discount
			}
			l.Discount = &d
			l.TotalAmount -= shares[i]
			l.TotalTaxAmount = min(max(l.TotalTaxAmount-taxShares[i], 0), l.TotalAmount)
			l.TotalAmountExcludingTax = l.TotalAmount - l.TotalTaxAmount
		}
	}
	return &vipps.Receipt{
		OrderLines: lines,
		BottomLine: vipps.BottomLine{Currency: vipps.Currency(u.Currency), ReceiptNumber: truncateRunes(o.MerchantReference1, 50)},
	}
}

// spread divides amount over the weights in proportion, by largest
// remainder, so the parts add up to amount exactly; a part never exceeds
// its weight when amount does not exceed the weights' sum. All zero
// weights give all zero parts.
func spread(amount int64, weights []int64) []int64 {
	parts := make([]int64, len(weights))
	var total big.Int
	for _, w := range weights {
		total.Add(&total, big.NewInt(w))
	}
	if amount <= 0 || total.Sign() <= 0 {
		return parts
	}
	rems := make([]*big.Int, len(weights))
	left := amount
	for i, w := range weights {
		var q, r big.Int
		q.QuoRem(new(big.Int).Mul(big.NewInt(amount), big.NewInt(w)), &total, &r)
		parts[i] = q.Int64()
		rems[i] = &r
		left -= parts[i]
	}
	order := make([]int, len(weights))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return rems[order[a]].Cmp(rems[order[b]]) > 0 })
	for _, i := range order {
		if left == 0 {
			break
		}
		if weights[i] > 0 {
			parts[i]++
			left--
		}
	}
	return parts
}
