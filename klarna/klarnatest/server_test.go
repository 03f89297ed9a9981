package klarnatest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"vippskco/klarna"
)

// validOrder is a Norwegian order that passes validation, as a JSON object
// so that tests can remove or break single fields.
func validOrder() map[string]any {
	return map[string]any{
		"purchase_country":  "NO",
		"purchase_currency": "NOK",
		"locale":            "nb-NO",
		"order_amount":      154800,
		"order_tax_amount":  30960,
		"order_lines": []any{
			map[string]any{"type": "physical", "name": "Ullgenser", "quantity": 1, "unit_price": 149900,
				"tax_rate": 2500, "total_amount": 149900, "total_tax_amount": 29980},
			map[string]any{"type": "shipping_fee", "name": "Frakt", "quantity": 1, "unit_price": 4900,
				"tax_rate": 2500, "total_amount": 4900, "total_tax_amount": 980},
		},
		"merchant_urls": map[string]any{
			"terms":        "https://shop.example/terms",
			"checkout":     "https://shop.example/checkout",
			"confirmation": "https://shop.example/thanks?order={checkout.order.id}",
			"push":         "https://shop.example/push/{checkout.order.id}",
		},
		"external_payment_methods": []any{map[string]any{
			"name":         "Vipps",
			"redirect_url": "http://localhost:8080/checkout/webshop/vipps?kco_order_id={checkout.order.id}",
			"image_url":    "http://127.0.0.1:8080/static/vipps.svg",
			"fee":          0,
			"description":  "Husk: Vipps er alltid gebyrfritt når du betaler til bedrifter.",
		}},
	}
}

func line(o map[string]any, i int) map[string]any {
	return o["order_lines"].([]any)[i].(map[string]any)
}

func epm(o map[string]any) map[string]any {
	return o["external_payment_methods"].([]any)[0].(map[string]any)
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) apiError(t *testing.T) apiError {
	t.Helper()
	var e apiError
	if err := json.Unmarshal(a.body, &e); err != nil {
		t.Fatalf("error body %s: %v", a.body, err)
	}
	return e
}

func call(t *testing.T, s *Server, method, path string, body any, auth string) answer {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL()+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

const auth = "Basic " + DefaultAPIKey

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestCreateValidation(t *testing.T) {
	tests := []struct {
		name   string
		change func(o map[string]any)
		field  string // the message must start with "Bad value: <field>"
	}{
		{"no purchase_country", func(o map[string]any) { delete(o, "purchase_country") }, "purchase_country"},
		{"bad purchase_currency", func(o map[string]any) { o["purchase_currency"] = "NOKK" }, "purchase_currency"},
		{"no locale", func(o map[string]any) { delete(o, "locale") }, "locale"},
		{"bad locale", func(o map[string]any) { o["locale"] = "norsk" }, "locale"},
		{"no order_amount", func(o map[string]any) { delete(o, "order_amount") }, "order_amount"},
		{"null order_tax_amount", func(o map[string]any) { o["order_tax_amount"] = nil }, "order_tax_amount"},
		{"order_amount as string", func(o map[string]any) { o["order_amount"] = "1499.00" }, "order_amount"},
		{"no order lines", func(o map[string]any) { o["order_lines"] = []any{} }, "order_lines"},
		{"too many order lines", func(o map[string]any) {
			lines := make([]any, 1001)
			for i := range lines {
				lines[i] = map[string]any{"name": "x", "quantity": 1, "unit_price": 100, "tax_rate": 0, "total_amount": 100, "total_tax_amount": 0}
			}
			o["order_lines"], o["order_amount"], o["order_tax_amount"] = lines, 100100, 0
		}, "order_lines"},
		{"line without name", func(o map[string]any) { delete(line(o, 0), "name") }, "order_lines[0].name"},
		{"line without quantity", func(o map[string]any) { delete(line(o, 1), "quantity") }, "order_lines[1].quantity"},
		{"line without tax_rate", func(o map[string]any) { delete(line(o, 0), "tax_rate") }, "order_lines[0].tax_rate"},
		{"line without total_tax_amount", func(o map[string]any) { delete(line(o, 0), "total_tax_amount") }, "order_lines[0].total_tax_amount"},
		{"line total wrong", func(o map[string]any) { line(o, 0)["total_amount"] = 149800 }, "order_lines[0].total_amount"},
		{"line tax wrong", func(o map[string]any) { line(o, 0)["total_tax_amount"] = 20000 }, "order_lines[0].total_tax_amount"},
		{"tax rate over 100 %", func(o map[string]any) { line(o, 0)["tax_rate"] = 10001 }, "order_lines[0].tax_rate"},
		{"unknown line type", func(o map[string]any) { line(o, 0)["type"] = "service" }, "order_lines[0].type"},
		{"order_amount not the sum", func(o map[string]any) { o["order_amount"] = 149900 }, "order_amount"},
		{"order_tax_amount not the sum", func(o map[string]any) { o["order_tax_amount"] = 29980 }, "order_tax_amount"},
		{"no merchant_urls", func(o map[string]any) { delete(o, "merchant_urls") }, "merchant_urls"},
		{"no push URL", func(o map[string]any) { delete(o["merchant_urls"].(map[string]any), "push") }, "merchant_urls.push"},
		{"validation callback over http", func(o map[string]any) {
			o["merchant_urls"].(map[string]any)["validation"] = "http://shop.example/validate"
		}, "merchant_urls.validation"},
		{"EPM without name", func(o map[string]any) { delete(epm(o), "name") }, "external_payment_methods[0].name"},
		{"EPM without redirect_url", func(o map[string]any) { delete(epm(o), "redirect_url") }, "external_payment_methods[0].redirect_url"},
		{"EPM redirect over http to a real host", func(o map[string]any) {
			epm(o)["redirect_url"] = "http://bridge.example/checkout/webshop/vipps"
		}, "external_payment_methods[0].redirect_url"},
		{"EPM image over http to a real host", func(o map[string]any) {
			epm(o)["image_url"] = "http://cdn.example/vipps.svg"
		}, "external_payment_methods[0].image_url"},
		{"EPM negative fee", func(o map[string]any) { epm(o)["fee"] = -100 }, "external_payment_methods[0].fee"},
		{"EPM bad label", func(o map[string]any) { epm(o)["label"] = "pay" }, "external_payment_methods[0].label"},
		{"external checkout without image", func(o map[string]any) {
			o["external_checkouts"] = []any{map[string]any{"name": "X", "redirect_url": "https://x.example/go"}}
		}, "external_checkouts[0].image_url"},
		{"merchant_reference1 too long", func(o map[string]any) { o["merchant_reference1"] = strings.Repeat("r", 256) }, "merchant_reference1"},
	}
	s := NewServer(Options{})
	t.Cleanup(s.Close)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := validOrder()
			tt.change(o)
			a := call(t, s, http.MethodPost, "/checkout/v3/orders", o, auth)
			if a.status != http.StatusBadRequest {
				t.Fatalf("status %d, body %s", a.status, a.body)
			}
			e := a.apiError(t)
			if e.ErrorCode != klarna.CodeBadValue || !uuidPattern.MatchString(e.CorrelationID) {
				t.Errorf("error: %+v", e)
			}
			if a.header.Get("Klarna-Correlation-Id") != e.CorrelationID || a.header.Get("Content-Type") != "application/json" {
				t.Errorf("headers: %v", a.header)
			}
			found := false
			for _, m := range e.ErrorMessages {
				found = found || strings.HasPrefix(m, "Bad value: "+tt.field+" ")
			}
			if !found {
				t.Errorf("messages %q do not name %s", e.ErrorMessages, tt.field)
			}
		})
	}
	if got := s.Calls("create"); got != len(tests) {
		t.Errorf("Calls(create) = %d, want %d", got, len(tests))
	}
}

func TestCreateAcceptsValidOrders(t *testing.T) {
	tests := []struct {
		name   string
		change func(o map[string]any)
	}{
		{"as is", func(map[string]any) {}},
		{"https EPM", func(o map[string]any) {
			epm(o)["redirect_url"] = "https://bridge.example/checkout/webshop/vipps?kco_order_id={checkout.order.id}"
			epm(o)["image_url"] = "https://bridge.example/vipps.svg"
		}},
		{"EPM without image, fee or description", func(o map[string]any) {
			delete(epm(o), "image_url")
			delete(epm(o), "fee")
			delete(epm(o), "description")
		}},
		{"discount line with negative tax", func(o map[string]any) {
			o["order_lines"] = append(o["order_lines"].([]any), map[string]any{"type": "discount", "name": "Rabatt",
				"quantity": 1, "unit_price": -10000, "tax_rate": 2500, "total_amount": -10000, "total_tax_amount": -2000})
			o["order_amount"], o["order_tax_amount"] = 144800, 28960
		}},
		{"line with discount and rounding", func(o map[string]any) {
			o["order_lines"] = []any{map[string]any{"name": "Sokker", "quantity": 3, "unit_price": 9990,
				"total_discount_amount": 2997, "tax_rate": 1500, "total_amount": 26973, "total_tax_amount": 3518}}
			o["order_amount"], o["order_tax_amount"] = 26973, 3518
		}},
		{"read-only fields are ignored", func(o map[string]any) {
			o["order_id"], o["status"], o["html_snippet"] = "mine", "checkout_complete", "<script>"
		}},
		{"unknown fields are ignored", func(o map[string]any) { o["shipping_options"] = []any{}; o["something_new"] = true }},
	}
	s := NewServer(Options{})
	t.Cleanup(s.Close)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := validOrder()
			tt.change(o)
			a := call(t, s, http.MethodPost, "/checkout/v3/orders", o, auth)
			if a.status != http.StatusCreated {
				t.Fatalf("status %d, body %s", a.status, a.body)
			}
			var got klarna.Order
			if err := json.Unmarshal(a.body, &got); err != nil {
				t.Fatal(err)
			}
			if !uuidPattern.MatchString(got.OrderID) || got.Status != klarna.StatusCheckoutIncomplete ||
				!strings.Contains(got.HTMLSnippet, s.CheckoutPageURL(got.OrderID)) || got.Name == "" {
				t.Errorf("created: %+v", got)
			}
			if a.header.Get("Location") != s.URL()+"/checkout/v3/orders/"+got.OrderID {
				t.Errorf("Location = %q", a.header.Get("Location"))
			}
			if stored, ok := s.Order(got.OrderID); !ok || stored.OrderAmount != got.OrderAmount {
				t.Errorf("stored: %v %+v", ok, stored)
			}
		})
	}
}

func TestAPIErrors(t *testing.T) {
	clk := &testClock{t: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}
	s := NewServer(Options{Now: clk.Now})
	t.Cleanup(s.Close)
	created := call(t, s, http.MethodPost, "/checkout/v3/orders", validOrder(), auth)
	var o klarna.Order
	if err := json.Unmarshal(created.body, &o); err != nil {
		t.Fatal(err)
	}
	completed, err := s.CreateOrder(mustOrder(t, validOrder()))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(completed.OrderID); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, method, path string
		body               any
		auth               string
		contentType        string
		status             int
		code               string
	}{
		{"read without credentials", "GET", "/checkout/v3/orders/" + o.OrderID, nil, "", "", 401, codeUnauthorized},
		{"read with a bearer token", "GET", "/checkout/v3/orders/" + o.OrderID, nil, "Bearer " + DefaultAPIKey, "", 401, codeUnauthorized},
		{"update with a wrong key", "POST", "/checkout/v3/orders/" + o.OrderID, validOrder(), "Basic kco_test_api_nope", "", 401, codeUnauthorized},
		{"abort without credentials", "POST", "/checkout/v3/orders/" + o.OrderID + "/abort", nil, "", "", 401, codeUnauthorized},
		{"read unknown", "GET", "/checkout/v3/orders/nope", nil, auth, "", 404, codeNotFound},
		{"update unknown", "POST", "/checkout/v3/orders/nope", validOrder(), auth, "", 404, codeNotFound},
		{"abort unknown", "POST", "/checkout/v3/orders/nope/abort", nil, auth, "", 404, codeNotFound},
		{"update completed", "POST", "/checkout/v3/orders/" + completed.OrderID, validOrder(), auth, "", 403, klarna.CodeReadOnlyOrder},
		{"abort completed", "POST", "/checkout/v3/orders/" + completed.OrderID + "/abort", nil, auth, "", 403, klarna.CodeReadOnlyOrder},
		{"create as form", "POST", "/checkout/v3/orders", validOrder(), auth, "application/x-www-form-urlencoded", 415, codeUnsupportedMedia},
		{"create with an array", "POST", "/checkout/v3/orders", []any{}, auth, "", 400, klarna.CodeBadValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r io.Reader
			if tt.body != nil {
				b, _ := json.Marshal(tt.body)
				r = bytes.NewReader(b)
			}
			req, _ := http.NewRequest(tt.method, s.URL()+tt.path, r)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			ct := tt.contentType
			if ct == "" {
				ct = "application/json; charset=utf-8"
			}
			req.Header.Set("Content-Type", ct)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.status, b)
			}
			a := answer{resp.StatusCode, resp.Header, b}
			e := a.apiError(t)
			if e.ErrorCode != tt.code || len(e.ErrorMessages) == 0 || !uuidPattern.MatchString(e.CorrelationID) {
				t.Errorf("error body %s", b)
			}
			// Exactly the documented keys.
			var keys map[string]json.RawMessage
			_ = json.Unmarshal(b, &keys)
			if len(keys) != 3 {
				t.Errorf("error body keys: %s", b)
			}
		})
	}
}

func TestCallsCountEveryRequest(t *testing.T) {
	s := NewServer(Options{})
	t.Cleanup(s.Close)
	o, err := s.CreateOrder(mustOrder(t, validOrder()))
	if err != nil {
		t.Fatal(err)
	}
	call(t, s, "GET", "/checkout/v3/orders/"+o.OrderID, nil, auth)
	call(t, s, "GET", "/checkout/v3/orders/"+o.OrderID, nil, "")
	call(t, s, "GET", "/checkout/v3/orders/unknown", nil, auth)
	call(t, s, "POST", "/checkout/v3/orders/"+o.OrderID, map[string]any{"merchant_reference1": "r-2"}, auth)
	call(t, s, "POST", "/checkout/v3/orders/"+o.OrderID+"/abort", nil, auth)
	call(t, s, "POST", "/checkout/v3/orders/"+o.OrderID+"/abort", nil, auth)
	want := map[string]int{"create": 0, "read": 3, "update": 1, "abort": 2, "capture": 0}
	for op, n := range want {
		if got := s.Calls(op); got != n {
			t.Errorf("Calls(%q) = %d, want %d", op, got, n)
		}
	}
}

// An update carries only what changes; the rest stays.
func TestPartialUpdate(t *testing.T) {
	clk := &testClock{t: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}
	s := NewServer(Options{Now: clk.Now})
	t.Cleanup(s.Close)
	o, err := s.CreateOrder(mustOrder(t, validOrder()))
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	a := call(t, s, "POST", "/checkout/v3/orders/"+o.OrderID, map[string]any{"merchant_reference1": "ws-7", "status": "checkout_complete"}, auth)
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	got, _ := s.Order(o.OrderID)
	if got.MerchantReference1 != "ws-7" || got.OrderAmount != 154800 || len(got.ExternalPaymentMethods) != 1 ||
		got.Status != klarna.StatusCheckoutIncomplete || !got.LastModifiedAt.Equal(clk.Now()) || !got.StartedAt.Equal(*o.StartedAt) {
		t.Errorf("after partial update: %+v", got)
	}
	// Changing the lines alone breaks the sums.
	a = call(t, s, "POST", "/checkout/v3/orders/"+o.OrderID, map[string]any{"order_lines": validOrder()["order_lines"].([]any)[:1]}, auth)
	if a.status != http.StatusBadRequest || !strings.Contains(string(a.body), "Bad value: order_amount") {
		t.Errorf("status %d: %s", a.status, a.body)
	}
}

func TestHelpers(t *testing.T) {
	clk := &testClock{t: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}
	s := NewServer(Options{Now: clk.Now})
	t.Cleanup(s.Close)
	if _, err := s.CreateOrder(klarna.Order{}); err == nil || !strings.Contains(err.Error(), "BAD_VALUE") {
		t.Errorf("CreateOrder of an empty order: %v", err)
	}
	o, err := s.CreateOrder(mustOrder(t, validOrder()))
	if err != nil {
		t.Fatal(err)
	}
	// The returned order is a copy.
	o.OrderLines[0].Name = "changed"
	if stored, _ := s.Order(o.OrderID); stored.OrderLines[0].Name != "Ullgenser" {
		t.Error("Order shares memory with the caller")
	}
	if err := s.SetStatus(o.OrderID, klarna.StatusCheckoutComplete); err != nil {
		t.Fatal(err)
	}
	if stored, _ := s.Order(o.OrderID); stored.CompletedAt == nil {
		t.Error("SetStatus complete without completed_at")
	}
	if err := s.Complete(o.OrderID); err == nil {
		t.Error("Complete of a completed order")
	}
	if err := s.SetStatus("missing", "x"); err == nil {
		t.Error("SetStatus of an unknown order")
	}
	clk.Advance(49 * time.Hour)
	if err := s.Touch(o.OrderID); err == nil {
		t.Error("Touch of an expired order")
	}
	if _, ok := s.Order(o.OrderID); !ok {
		t.Error("Order hides expired orders")
	}
}

func TestConcurrentUse(t *testing.T) {
	s := NewServer(Options{})
	t.Cleanup(s.Close)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			a := call(t, s, "POST", "/checkout/v3/orders", validOrder(), auth)
			var o klarna.Order
			if err := json.Unmarshal(a.body, &o); err != nil {
				t.Error(err)
				return
			}
			call(t, s, "POST", "/checkout/v3/orders/"+o.OrderID, map[string]any{"merchant_reference1": fmt.Sprint(i)}, auth)
			call(t, s, "GET", "/checkout/v3/orders/"+o.OrderID, nil, auth)
			_ = s.Touch(o.OrderID)
			_, _ = s.Order(o.OrderID)
			if i%2 == 0 {
				_ = s.Complete(o.OrderID)
			}
		})
	}
	wg.Wait()
	if s.Calls("create") != 8 || s.Calls("update") != 8 || s.Calls("read") != 8 {
		t.Errorf("calls: %d %d %d", s.Calls("create"), s.Calls("update"), s.Calls("read"))
	}
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func mustOrder(t *testing.T, fields map[string]any) klarna.Order {
	t.Helper()
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	var o klarna.Order
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	return o
}

// Whatever a client sends, the fake answers and never panics.
func FuzzCreate(f *testing.F) {
	valid, _ := json.Marshal(validOrder())
	f.Add(valid)
	f.Add([]byte(`{"order_lines":[{"quantity":9223372036854775807,"unit_price":-9223372036854775808}]}`))
	f.Add([]byte(`{"order_lines":{},"merchant_urls":[]}`))
	f.Add([]byte(`null`))
	s := NewHandler(Options{}, "http://127.0.0.1:1")
	f.Fuzz(func(t *testing.T, body []byte) {
		o, msgs := s.create(body)
		if msgs == nil && (o.OrderID == "" || o.LinesTotal() != o.OrderAmount) {
			t.Fatalf("accepted an inconsistent order: %+v", o)
		}
	})
}
