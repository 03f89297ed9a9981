package bridge

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"vippskco/klarna"
)

func testOrder() *klarna.Order {
	return &klarna.Order{
		OrderID: "3fa85f64-5717-4562-b3fc-2c963f66afa6", Status: "checkout_incomplete",
		PurchaseCountry: "NO", PurchaseCurrency: "NOK", Locale: "nb-NO",
		OrderAmount: 25000, OrderTaxAmount: 5000,
		OrderLines: []klarna.OrderLine{
			{Type: "physical", Reference: "a", Name: "A", Quantity: 2, UnitPrice: 10000, TaxRate: 2500, TotalAmount: 20000, TotalTaxAmount: 4000},
			{Type: "shipping_fee", Reference: "ship", Name: "Frakt", Quantity: 1, UnitPrice: 5000, TaxRate: 2500, TotalAmount: 5000, TotalTaxAmount: 1000},
		},
	}
}

func testUnit() *Unit {
	return &Unit{ID: "webshop", Name: "Demo", MSN: "123456", Currency: "NOK", Countries: []string{"NO"}, ReferencePrefix: "ws", EPMName: "Vipps"}
}

func TestCheckOrder(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(*klarna.Order)
		reason string
	}{
		{"valid", func(*klarna.Order) {}, ""},
		{"upper-case status is the spec's example", func(o *klarna.Order) { o.Status = "CHECKOUT_INCOMPLETE" }, ""},
		{"completed with Klarna", func(o *klarna.Order) { o.Status = "checkout_complete" }, "order_completed"},
		{"other status", func(o *klarna.Order) { o.Status = "aborted" }, "order_not_incomplete"},
		{"currency", func(o *klarna.Order) { o.PurchaseCurrency = "SEK" }, "currency_not_served"},
		{"country", func(o *klarna.Order) { o.PurchaseCountry = "DK" }, "country_not_served"},
		{"lower-case country is fine", func(o *klarna.Order) { o.PurchaseCountry = "no" }, ""},
		{"lines above total", func(o *klarna.Order) { o.OrderAmount = 24999 }, "lines_mismatch"},
		{"no lines", func(o *klarna.Order) { o.OrderLines = nil }, "lines_mismatch"},
		{"below minimum", func(o *klarna.Order) {
			o.OrderLines = o.OrderLines[:1]
			o.OrderLines[0].TotalAmount, o.OrderAmount = 99, 99
		}, "amount_below_minimum"},
		{"exactly the minimum", func(o *klarna.Order) {
			o.OrderLines = o.OrderLines[:1]
			o.OrderLines[0].TotalAmount, o.OrderAmount = 100, 100
		}, ""},
		{"above maximum", func(o *klarna.Order) {
			o.OrderLines = o.OrderLines[:1]
			o.OrderLines[0].TotalAmount, o.OrderAmount = 65_000_001, 65_000_001
		}, "amount_above_maximum"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := testOrder()
			tc.edit(o)
			err := CheckOrder(testUnit(), o)
			if tc.reason == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Equal(t, tc.reason, ErrorReason(err))
		})
	}
}

func TestPaymentRequestFromOrder(t *testing.T) {
	o := testOrder()
	o.MerchantReference1 = "10042"
	o.BillingAddress = &klarna.Address{Phone: "+47 912 34 567", Country: "NO"}
	ref := Reference("ws", o.OrderID, 3)
	require.Equal(t, "ws-3fa85f64-5717-4562-b3fc-2c963f66afa6-3", ref)
	req := paymentRequest(testUnit(), o, ref, "https://pay.example/return/tok")
	require.Equal(t, int64(25000), req.Amount.Value)
	require.Equal(t, "NOK", string(req.Amount.Currency))
	require.Equal(t, "WEB_REDIRECT", req.UserFlow)
	require.Equal(t, "WALLET", req.PaymentMethod.Type)
	require.Equal(t, "4791234567", req.Customer.PhoneNumber)
	require.Equal(t, "Demo, ordre 10042", req.PaymentDescription, "in the order's language (nb-NO)")
	require.Len(t, req.Receipt.OrderLines, 2)
	l := req.Receipt.OrderLines[0]
	require.Equal(t, int64(20000), l.TotalAmount)
	require.Equal(t, int64(16000), l.TotalAmountExcludingTax)
	require.Equal(t, int64(4000), l.TotalTaxAmount)
	require.Equal(t, int64(2500), *l.TaxRate)
	line, err := json.Marshal(l)
	require.NoError(t, err)
	require.NotContains(t, string(line), "taxPercentage", "deprecated in Order Management: taxRate only")
	require.Contains(t, string(line), `"taxRate":2500`)
	require.Equal(t, "2", l.UnitInfo.Quantity)
	require.True(t, *req.Receipt.OrderLines[1].IsShipping)
	require.Equal(t, o.OrderID, req.Metadata["kcoOrderId"])

	o.BillingAddress.Phone = "not a phone"
	require.Nil(t, paymentRequest(testUnit(), o, ref, "https://x/").Customer, "an unusable phone is left out, not sent wrong")
}

func TestCanMoveOnlyForward(t *testing.T) {
	require.True(t, canMove(StatePending, StateCreated))
	require.True(t, canMove(StatePending, StateAuthorized))
	require.True(t, canMove(StateCreated, StateAuthorized))
	require.True(t, canMove(StateCreated, StateExpired))
	require.False(t, canMove(StateCreated, StatePending))
	require.False(t, canMove(StateAuthorized, StateAborted))
	require.False(t, canMove(StateExpired, StateAuthorized))
	require.False(t, canMove(StateCreated, StateCreated))
}

// TestReceiptSpreadsOrderReductions: Order Management has no negative
// lines, so KCO's discount and gift card lines become the other lines'
// discounts, and the lines still add up to the payment amount.
func TestReceiptSpreadsOrderReductions(t *testing.T) {
	o := testOrder()
	o.OrderLines = append(o.OrderLines,
		klarna.OrderLine{Type: klarna.LineTypeDiscount, Reference: "SUMMER", Name: "Sommerrabatt", Quantity: 1, UnitPrice: -2501, TaxRate: 2500, TotalAmount: -2501, TotalTaxAmount: -500},
		klarna.OrderLine{Type: klarna.LineTypeGiftCard, Reference: "gift", Name: "Gavekort", Quantity: 1, UnitPrice: -1000, TotalAmount: -1000},
	)
	o.OrderAmount, o.OrderTaxAmount = 25000-2501-1000, 4500
	require.NoError(t, CheckOrder(testUnit(), o))
	r := receipt(testUnit(), o)
	require.NotNil(t, r)
	require.Len(t, r.OrderLines, 2, "the reductions are not lines of their own")
	var sum, discounts, tax int64
	for _, l := range r.OrderLines {
		require.GreaterOrEqual(t, l.TotalAmount, int64(0), l.Name)
		require.GreaterOrEqual(t, l.TotalTaxAmount, int64(0), l.Name)
		require.GreaterOrEqual(t, l.TotalAmountExcludingTax, int64(0), l.Name)
		require.Equal(t, l.TotalAmount, l.TotalAmountExcludingTax+l.TotalTaxAmount, l.Name)
		require.NotNil(t, l.Discount, l.Name)
		require.GreaterOrEqual(t, *l.Discount, int64(0), l.Name)
		sum += l.TotalAmount
		discounts += *l.Discount
		tax += l.TotalTaxAmount
	}
	require.Equal(t, o.OrderAmount, sum, "the bottom line is the payment amount")
	require.Equal(t, int64(3501), discounts)
	require.Equal(t, o.OrderTaxAmount, tax, "the discount's tax comes off the lines")
	// In proportion: 20000 of 25000 and 5000 of 25000.
	require.Equal(t, int64(20000-2801), r.OrderLines[0].TotalAmount)
	require.Equal(t, int64(5000-700), r.OrderLines[1].TotalAmount)

	// A line's own discount is kept and added to.
	o.OrderLines[0].TotalDiscountAmount = 300
	r = receipt(testUnit(), o)
	require.Equal(t, int64(300+2801), *r.OrderLines[0].Discount)

	// Lines that do not add up to the order get no receipt, rather than a
	// wrong one Vipps would refuse.
	o.OrderAmount++
	require.Nil(t, receipt(testUnit(), o))
}

func TestSpread(t *testing.T) {
	for _, tc := range []struct {
		amount  int64
		weights []int64
		want    []int64
	}{
		{3501, []int64{20000, 5000}, []int64{2801, 700}},
		{1, []int64{1, 1, 1}, []int64{1, 0, 0}},
		{2, []int64{0, 1, 1}, []int64{0, 1, 1}},
		{10, []int64{3, 3, 4}, []int64{3, 3, 4}},
		{0, []int64{5, 5}, []int64{0, 0}},
		{5, []int64{0, 0}, []int64{0, 0}},
		{1 << 40, []int64{1 << 50, 1 << 50}, []int64{1 << 39, 1 << 39}},
	} {
		require.Equal(t, tc.want, spread(tc.amount, tc.weights), "%d over %v", tc.amount, tc.weights)
	}
}
