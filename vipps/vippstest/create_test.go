package vippstest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// validReceipt is a receipt for createBody's amount of 1000.
func validReceipt() map[string]any {
	return map[string]any{
		"orderLines": []any{map[string]any{
			"name": "Kaffe", "id": "sku-1", "totalAmount": 1000, "totalAmountExcludingTax": 800,
			"totalTaxAmount": 200, "taxRate": 2500,
			"unitInfo": map[string]any{"unitPrice": 500, "quantity": "2", "quantityUnit": "PCS"},
		}},
		"bottomLine": map[string]any{"currency": "NOK", "receiptNumber": "42"},
	}
}

func TestCreateRejects(t *testing.T) {
	tests := []struct {
		name       string
		mutate     func(b map[string]any)
		wantStatus int
		wantCode   string   // domain error
		wantFields []string // validation error
	}{
		{"currency of another market", func(b map[string]any) { b["amount"] = map[string]any{"currency": "DKK", "value": 1000} }, 400, "5040", nil},
		{"NOK below 100 øre", func(b map[string]any) { b["amount"] = map[string]any{"currency": "NOK", "value": 99} }, 400, "6010", nil},
		{"zero amount", func(b map[string]any) { b["amount"] = map[string]any{"currency": "NOK", "value": 0} }, 400, "6010", nil},
		{"amount above maximum", func(b map[string]any) { b["amount"] = map[string]any{"currency": "NOK", "value": 65000001} }, 400, "", []string{"amount.value"}},
		{"decimal amount", func(b map[string]any) { b["amount"] = map[string]any{"currency": "NOK", "value": 100.5} }, 400, "", []string{"amount.value"}},
		{"amount as string", func(b map[string]any) { b["amount"] = map[string]any{"currency": "NOK", "value": "1000"} }, 400, "", []string{"amount.value"}},
		{"unknown currency", func(b map[string]any) { b["amount"] = map[string]any{"currency": "SEK", "value": 1000} }, 400, "", []string{"amount.currency"}},
		{"missing amount", func(b map[string]any) { delete(b, "amount") }, 400, "", []string{"amount"}},
		{"short reference", func(b map[string]any) { b["reference"] = "abc-123" }, 400, "", []string{"reference"}},
		{"reference with underscore", func(b map[string]any) { b["reference"] = "order_12345" }, 400, "", []string{"reference"}},
		{"reference of 65 characters", func(b map[string]any) { b["reference"] = strings.Repeat("a", 65) }, 400, "", []string{"reference"}},
		{"missing reference", func(b map[string]any) { delete(b, "reference") }, 400, "", []string{"reference"}},
		{"CARD is not available in test", func(b map[string]any) { b["paymentMethod"] = map[string]any{"type": "CARD"} }, 422, "5070", nil},
		{"unknown payment method", func(b map[string]any) { b["paymentMethod"] = map[string]any{"type": "CARD_PASSTHROUGH"} }, 400, "", []string{"paymentMethod.type"}},
		{"missing payment method", func(b map[string]any) { delete(b, "paymentMethod") }, 400, "", []string{"paymentMethod"}},
		{"unknown userFlow", func(b map[string]any) { b["userFlow"] = "WEB" }, 400, "", []string{"userFlow"}},
		{"WEB_REDIRECT without returnUrl", func(b map[string]any) { delete(b, "returnUrl") }, 400, "4140", nil},
		{"http returnUrl", func(b map[string]any) { b["returnUrl"] = "http://shop.example/return" }, 400, "4090", nil},
		{"javascript returnUrl", func(b map[string]any) { b["returnUrl"] = "javascript:alert(1)" }, 400, "4090", nil},
		{"relative returnUrl", func(b map[string]any) { b["returnUrl"] = "/return" }, 400, "4090", nil},
		{"http receiptUrl", func(b map[string]any) { b["receiptUrl"] = "http://shop.example/receipt" }, 400, "4090", nil},
		{"phone with plus", func(b map[string]any) { b["customer"] = map[string]any{"phoneNumber": "+4791234567"} }, 400, "4070", nil},
		{"phone without country code", func(b map[string]any) { b["customer"] = map[string]any{"phoneNumber": "91234567"} }, 400, "4070", nil},
		{"phone as number", func(b map[string]any) { b["customer"] = map[string]any{"phoneNumber": 4791234567} }, 400, "", []string{"customer.phoneNumber"}},
		{"two customer identities", func(b map[string]any) {
			b["customer"] = map[string]any{"phoneNumber": "4791234567", "customerToken": "tok"}
		}, 400, "", []string{"customer"}},
		{"description too short", func(b map[string]any) { b["paymentDescription"] = "ab" }, 400, "", []string{"paymentDescription"}},
		{"description too long", func(b map[string]any) { b["paymentDescription"] = strings.Repeat("x", 101) }, 400, "", []string{"paymentDescription"}},
		{"receipt without order lines", func(b map[string]any) {
			b["receipt"] = map[string]any{"bottomLine": map[string]any{"currency": "NOK"}}
		}, 400, "", []string{"receipt.orderLines"}},
		{"order line without name and tax", func(b map[string]any) {
			r := validReceipt()
			line := r["orderLines"].([]any)[0].(map[string]any)
			delete(line, "name")
			delete(line, "taxRate")
			b["receipt"] = r
		}, 400, "", []string{"receipt.orderLines[0].name", "receipt.orderLines[0].taxRate"}},
		{"order line with decimal total", func(b map[string]any) {
			r := validReceipt()
			r["orderLines"].([]any)[0].(map[string]any)["totalAmount"] = 100.25
			b["receipt"] = r
		}, 400, "", []string{"receipt.orderLines[0].totalAmount"}},
		{"taxRate out of range", func(b map[string]any) {
			r := validReceipt()
			r["orderLines"].([]any)[0].(map[string]any)["taxRate"] = 10001
			b["receipt"] = r
		}, 400, "", []string{"receipt.orderLines[0].taxRate"}},
		{"bad quantity", func(b map[string]any) {
			r := validReceipt()
			r["orderLines"].([]any)[0].(map[string]any)["unitInfo"] = map[string]any{"unitPrice": 1, "quantity": "2,5"}
			b["receipt"] = r
		}, 400, "", []string{"receipt.orderLines[0].unitInfo.quantity"}},
		{"negative discount line", func(b map[string]any) {
			r := validReceipt()
			r["orderLines"].([]any)[0].(map[string]any)["totalAmount"] = 1200
			r["orderLines"] = append(r["orderLines"].([]any), map[string]any{
				"name": "Rabatt", "id": "discount", "totalAmount": -200, "totalAmountExcludingTax": -160,
				"totalTaxAmount": -40, "taxRate": 2500,
			})
			b["receipt"] = r
		}, 400, "", []string{"receipt.orderLines[1].totalAmount", "receipt.orderLines[1].totalAmountExcludingTax", "receipt.orderLines[1].totalTaxAmount"}},
		{"lines summing to more than the amount", func(b map[string]any) {
			r := validReceipt()
			r["orderLines"].([]any)[0].(map[string]any)["totalAmount"] = 1001
			b["receipt"] = r
		}, 400, "", []string{"receipt.orderLines"}},
		{"lines summing to less than the amount", func(b map[string]any) {
			r := validReceipt()
			r["orderLines"].([]any)[0].(map[string]any)["isReturn"] = true
			b["receipt"] = r
		}, 400, "", []string{"receipt.orderLines"}},
		{"bottom line without currency", func(b map[string]any) {
			r := validReceipt()
			r["bottomLine"] = map[string]any{}
			b["receipt"] = r
		}, 400, "", []string{"receipt.bottomLine.currency"}},
		{"receipt in another currency", func(b map[string]any) {
			r := validReceipt()
			r["bottomLine"] = map[string]any{"currency": "EUR"}
			b["receipt"] = r
		}, 400, "", []string{"receipt.bottomLine.currency"}},
		{"six metadata pairs", func(b map[string]any) {
			b["metadata"] = map[string]any{"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6"}
		}, 400, "4100", nil},
		{"metadata key too long", func(b map[string]any) { b["metadata"] = map[string]any{strings.Repeat("k", 101): "v"} }, 400, "4120", nil},
		{"metadata value too long", func(b map[string]any) { b["metadata"] = map[string]any{"k": strings.Repeat("v", 501)} }, 400, "4130", nil},
		{"metadata value not a string", func(b map[string]any) { b["metadata"] = map[string]any{"k": 1} }, 400, "", []string{"metadata.k"}},
		{"PUSH_MESSAGE without customer", func(b map[string]any) { b["userFlow"] = "PUSH_MESSAGE"; delete(b, "customer") }, 400, "4140", nil},
		{"PUSH_MESSAGE not allowed for the unit", func(b map[string]any) { b["userFlow"] = "PUSH_MESSAGE" }, 403, "5080", nil},
		{"expiresAt with WEB_REDIRECT", func(b map[string]any) { b["expiresAt"] = "2026-03-03T10:00:00Z" }, 400, "", []string{"expiresAt"}},
		{"qrFormat without QR", func(b map[string]any) { b["qrFormat"] = map[string]any{"format": "IMAGE/PNG"} }, 400, "", []string{"qrFormat"}},
		{"unknown customerInteraction", func(b map[string]any) { b["customerInteraction"] = "PRESENT" }, 400, "", []string{"customerInteraction"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			body := createBody("reject-test-1", 1000)
			tt.mutate(body)
			status, raw := h.create(body, "k1")
			if tt.wantCode != "" {
				p := requireCode(t, status, raw, tt.wantStatus, tt.wantCode)
				assert.Equal(t, "/v1/payments", p.Instance)
			} else {
				requireFields(t, status, raw, tt.wantFields...)
			}
			assert.Empty(t, h.srv.References(), "nothing was created")
		})
	}
}

func TestCreateRejectsMalformedBodies(t *testing.T) {
	h := newHarness(t, Options{})
	for i, body := range []string{"", "not json", "[]", "null", `{"amount":`} {
		status, raw := h.create(body, "malformed-"+itoa(i))
		require.Equal(t, http.StatusBadRequest, status, "%q: %s", body, raw)
		decodeProblem(t, raw)
	}
}

func TestCreateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		mutate func(b map[string]any)
	}{
		{"minimum NOK amount", Options{}, func(b map[string]any) { b["amount"] = map[string]any{"currency": "NOK", "value": 100} }},
		{"unknown optional fields", Options{}, func(b map[string]any) {
			b["shipping"] = map[string]any{"whatever": true}
			b["minimumUserAge"] = 18
		}},
		{"64-character reference", Options{}, func(b map[string]any) { b["reference"] = strings.Repeat("a", 64) }},
		{"custom-scheme returnUrl", Options{}, func(b map[string]any) { b["returnUrl"] = "kcoapp://vipps/return?x=1" }},
		{"local http returnUrl with the option", localOpts(), func(b map[string]any) { b["returnUrl"] = "http://127.0.0.1:8080/return/abc" }},
		{"localhost returnUrl with the option", localOpts(), func(b map[string]any) { b["returnUrl"] = "http://localhost/return" }},
		{"full receipt and metadata", Options{}, func(b map[string]any) {
			b["receipt"] = validReceipt()
			b["metadata"] = map[string]any{"a": "1", "b": "2", "c": "3", "d": "4", "e": "5"}
		}},
		{"taxPercentage instead of taxRate", Options{}, func(b map[string]any) {
			r := validReceipt()
			line := r["orderLines"].([]any)[0].(map[string]any)
			delete(line, "taxRate")
			line["taxPercentage"] = 25
			b["receipt"] = r
		}},
		{"discount, return and tip summing to the amount", Options{}, func(b map[string]any) {
			r := validReceipt()
			line := r["orderLines"].([]any)[0].(map[string]any)
			line["totalAmount"], line["totalAmountExcludingTax"], line["totalTaxAmount"], line["discount"] = 1100, 880, 220, 100
			r["orderLines"] = append(r["orderLines"].([]any), map[string]any{
				"name": "Returned", "id": "sku-2", "totalAmount": 200, "totalAmountExcludingTax": 160,
				"totalTaxAmount": 40, "taxRate": 2500, "isReturn": true,
			})
			r["bottomLine"].(map[string]any)["tipAmount"] = 100
			b["receipt"] = r
		}},
		{"NATIVE_REDIRECT", Options{}, func(b map[string]any) { b["userFlow"] = "NATIVE_REDIRECT" }},
		{"without customer", Options{}, func(b map[string]any) { delete(b, "customer") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.opts)
			body := createBody("accept-test-1", 1000)
			tt.mutate(body)
			status, raw := h.create(body, "k1")
			require.Equal(t, http.StatusCreated, status, string(raw))
		})
	}
}

func TestCreateLocalReturnURLNeedsOption(t *testing.T) {
	h := newHarness(t, Options{})
	body := createBody("local-return-1", 1000)
	body["returnUrl"] = "http://localhost:8080/return"
	status, raw := h.create(body, "k1")
	requireCode(t, status, raw, 400, "4090")
}

func TestCreateReferenceExists(t *testing.T) {
	h := newHarness(t, Options{})
	h.mustCreate("dup-reference-1", 1000)
	status, raw := h.create(createBody("dup-reference-1", 1000), "another-key")
	requireCode(t, status, raw, http.StatusConflict, "4150")

	// References are unique per MSN only.
	h.unit, h.token = otherUnit, h.fetchToken(otherUnit)
	status, raw = h.create(createBody("dup-reference-1", 1000), "k1")
	require.Equal(t, http.StatusCreated, status, string(raw))
	_, ambiguous := h.srv.Payment("dup-reference-1")
	assert.False(t, ambiguous)
	snap, ok := h.srv.PaymentOf(otherUnit.MSN, "dup-reference-1")
	require.True(t, ok)
	assert.Equal(t, otherUnit.MSN, snap.MSN)
}

func TestCreateIdempotencyKeyRequired(t *testing.T) {
	h := newHarness(t, Options{})
	status, raw := h.call(http.MethodPost, "/epayment/v1/payments", createBody("no-key-ref-1", 1000), nil)
	requireFields(t, status, raw, "Idempotency-Key")
	status, raw = h.create(createBody("no-key-ref-1", 1000), strings.Repeat("k", 51))
	requireFields(t, status, raw, "Idempotency-Key")
	status, raw = h.create(createBody("no-key-ref-1", 1000), strings.Repeat("k", 50))
	require.Equal(t, http.StatusCreated, status, string(raw))
}

func TestUnitCurrency(t *testing.T) {
	h := newHarness(t, Options{})
	dk := SalesUnit{MSN: "222222", ClientID: "dk", ClientSecret: "dk-secret", SubscriptionKey: "dk-sub", Currency: "DKK"}
	h.srv.AddSalesUnit(dk)
	h.unit, h.token = dk, h.fetchToken(dk)
	body := createBody("dkk-payment-1", 1)
	body["amount"] = map[string]any{"currency": "DKK", "value": 1}
	status, raw := h.create(body, "k1")
	require.Equal(t, http.StatusCreated, status, string(raw), "DKK minimum is 1 øre")
	body["amount"] = map[string]any{"currency": "NOK", "value": 1000}
	body["reference"] = "dkk-payment-2"
	status, raw = h.create(body, "k2")
	requireCode(t, status, raw, 400, "5040")
}

func TestGetUnknownReference(t *testing.T) {
	h := newHarness(t, Options{})
	h.mustCreate("known-ref-123", 1000)
	status, raw := h.call(http.MethodGet, "/epayment/v1/payments/unknown-ref-1", nil, nil)
	p := requireCode(t, status, raw, 404, "5090")
	assert.Equal(t, "/v1/payments/unknown-ref-1", p.Instance)

	status, raw = h.call(http.MethodGet, "/epayment/v1/payments/bad_ref", nil, nil)
	requireFields(t, status, raw, "reference")

	// Another unit's payment is unknown to this one.
	h.unit, h.token = otherUnit, h.fetchToken(otherUnit)
	status, raw = h.call(http.MethodGet, "/epayment/v1/payments/known-ref-123", nil, nil)
	requireCode(t, status, raw, 404, "5090")
	status, raw = h.call(http.MethodGet, "/epayment/v1/payments/known-ref-123/events", nil, nil)
	requireCode(t, status, raw, 404, "5090")
}

func TestPushMessageFlow(t *testing.T) {
	h := newHarness(t, Options{})
	push := SalesUnit{MSN: "333333", ClientID: "push", ClientSecret: "push-secret", SubscriptionKey: "push-sub", PushMessageAllowed: true}
	h.srv.AddSalesUnit(push)
	h.unit, h.token = push, h.fetchToken(push)
	body := createBody("push-payment-1", 1000)
	body["userFlow"] = "PUSH_MESSAGE"
	delete(body, "returnUrl")
	status, raw := h.create(body, "k1")
	require.Equal(t, http.StatusCreated, status, string(raw))
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out))
	assert.NotContains(t, out, "redirectUrl", "PUSH_MESSAGE has no redirectUrl")
	require.NoError(t, h.srv.Approve("push-payment-1"))
}
