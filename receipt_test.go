package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/klarna"
	"vippskco/vipps"
)

// createExchanges are the Vipps create calls of a payment, oldest first.
func createExchanges(t *testing.T, e *testEnv, ref string) []bridge.ProviderExchange {
	t.Helper()
	exs, err := e.m.Store.Exchanges(context.Background(), ref)
	require.NoError(t, err)
	var out []bridge.ProviderExchange
	for _, ex := range exs {
		if ex.Provider == "vipps" && ex.Method == http.MethodPost && strings.HasSuffix(ex.URL, "/epayment/v1/payments") {
			out = append(out, ex)
		}
	}
	return out
}

// A KCO order with a discount and a gift card line (negative totals) is
// paid with Vipps: the reductions become the lines' discounts, which the
// strict fake accepts, and the payment is authorized.
func TestDiscountedOrderIsPaidWithVipps(t *testing.T) {
	e := startMain(t, nil)
	o := e.order(func(o *klarna.Order) {
		o.OrderLines = append(o.OrderLines,
			klarna.OrderLine{Type: klarna.LineTypeDiscount, Reference: "SOMMER", Name: "Sommerrabatt", Quantity: 1, UnitPrice: -5000, TaxRate: 2500, TotalAmount: -5000, TotalTaxAmount: -1000},
			klarna.OrderLine{Type: klarna.LineTypeGiftCard, Reference: "gavekort", Name: "Gavekort", Quantity: 1, UnitPrice: -2000, TotalAmount: -2000},
		)
		o.OrderAmount -= 7000
		o.OrderTaxAmount -= 1000
	})
	resp, p := e.checkout(o.OrderID)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.NotNil(t, p)
	require.Equal(t, bridge.StateCreated, p.State, p.FailureReason)

	var req vipps.CreatePaymentRequest
	require.NoError(t, json.Unmarshal(p.CreateRequest, &req))
	require.NotNil(t, req.Receipt)
	var sum int64
	for _, l := range req.Receipt.OrderLines {
		require.GreaterOrEqual(t, l.TotalAmount, int64(0))
		sum += l.TotalAmount
	}
	require.Equal(t, o.OrderAmount, sum)
	require.NotContains(t, string(p.CreateRequest), "taxPercentage")
	require.Len(t, createExchanges(t, e, p.Reference), 1, "accepted at once")

	require.NoError(t, e.m.Sandbox.Vipps.Approve(p.Reference))
	e.settle()
	got := e.payment(p.Reference)
	require.Equal(t, bridge.StateAuthorized, got.State)
	require.Equal(t, o.OrderAmount, got.Authorized)
}

// When Vipps refuses the receipt anyway, the same payment (the same
// reference) is created without it, under a new idempotency key stored
// with the new body, and the history says why.
func TestRefusedReceiptThePaymentIsCreatedWithout(t *testing.T) {
	e := startMain(t, nil)
	o := e.order(func(o *klarna.Order) {
		// Order Management allows at most 10 characters of quantity.
		o.OrderLines = append(o.OrderLines, klarna.OrderLine{Type: "physical", Reference: "klistremerke", Name: "Klistremerke (gratis)", Quantity: 12345678901, UnitPrice: 0, TaxRate: 2500})
	})
	resp, p := e.checkout(o.OrderID)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.NotNil(t, p)
	require.Equal(t, bridge.StateCreated, p.State, p.FailureReason)
	require.Equal(t, 1, p.Attempt, "the same attempt, not a new one")

	creates := createExchanges(t, e, p.Reference)
	require.Len(t, creates, 2)
	require.Equal(t, http.StatusBadRequest, creates[0].StatusCode)
	require.Contains(t, creates[0].RequestBody, `"receipt"`)
	require.Equal(t, http.StatusCreated, creates[1].StatusCode)
	require.NotContains(t, creates[1].RequestBody, `"receipt"`)
	require.NotEqual(t, creates[0].RequestHeaders, creates[1].RequestHeaders, "a new idempotency key for the new body")

	var req vipps.CreatePaymentRequest
	require.NoError(t, json.Unmarshal(p.CreateRequest, &req))
	require.Nil(t, req.Receipt, "the stored body is the one sent")
	require.Equal(t, p.Reference, req.Reference)
	hist, err := e.m.Store.History(context.Background(), p.Reference)
	require.NoError(t, err)
	found := false
	for _, h := range hist {
		if strings.Contains(h.Detail, "Vipps refused the receipt") && strings.Contains(h.Detail, "quantity") {
			found = true
		}
	}
	require.True(t, found, "the history says why: %+v", hist)

	require.NoError(t, e.m.Sandbox.Vipps.Approve(p.Reference))
	e.settle()
	require.Equal(t, bridge.StateAuthorized, e.payment(p.Reference).State)
}
