package vipps

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"vippskco/vipps/vippstest"
)

// Test credentials. They are distinctive strings so that a test can search
// for them in everything the observer got.
const (
	testClientID        = "3f1a9c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
	testClientSecret    = "client-secret-XYZZY"
	testSubscriptionKey = "subscription-key-PLUGH"
	testMSN             = "123456"
)

var testSystem = SystemInfo{Name: "acme-shop", Version: "5.4.0", PluginName: "vippskco", PluginVersion: "0.1.0"}

// recorded is a request as the test server received it.
type recorded struct {
	Method  string
	Path    string // escaped path
	Header  http.Header
	Body    []byte
	Started time.Time
}

// testServer is a minimal Vipps stand-in: it issues tokens on
// /accesstoken/get (under an optional prefix) and hands every other request
// to api. It records everything it receives.
type testServer struct {
	*httptest.Server
	prefix string

	mu        sync.Mutex
	requests  []recorded
	tokens    int           // tokens issued
	expiresIn string        // the expires_in the token endpoint returns
	tokenWait time.Duration // how long the token endpoint takes
	tokenFail http.HandlerFunc
	api       http.HandlerFunc
}

func newTestServer(t *testing.T, api http.HandlerFunc) *testServer {
	return newPrefixedTestServer(t, "", api)
}

func newPrefixedTestServer(t *testing.T, prefix string, api http.HandlerFunc) *testServer {
	t.Helper()
	ts := &testServer{prefix: prefix, expiresIn: "3599", api: api}
	ts.Server = httptest.NewServer(http.HandlerFunc(ts.serve))
	t.Cleanup(ts.Close)
	return ts
}

// URL is the base URL a client should use.
func (ts *testServer) URL() string { return ts.Server.URL + ts.prefix }

func (ts *testServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ts.mu.Lock()
	ts.requests = append(ts.requests, recorded{Method: r.Method, Path: r.URL.EscapedPath(), Header: r.Header.Clone(), Body: body, Started: time.Now()})
	ts.mu.Unlock()
	r.Body = io.NopCloser(strings.NewReader(string(body)))

	if r.URL.Path == ts.prefix+"/accesstoken/get" {
		if ts.tokenFail != nil {
			ts.tokenFail(w, r)
			return
		}
		time.Sleep(ts.tokenWait)
		ts.mu.Lock()
		ts.tokens++
		n, expiresIn := ts.tokens, ts.expiresIn
		ts.mu.Unlock()
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":%q,"ext_expires_in":"0","expires_on":"1700000000","not_before":"1699996400","resource":"00000002-0000-0000-c000-000000000000","access_token":"token-%d"}`, expiresIn, n)
		return
	}
	if ts.api == nil {
		http.NotFound(w, r)
		return
	}
	ts.api(w, r)
}

// apiRequests returns the recorded requests other than token fetches.
func (ts *testServer) apiRequests() []recorded {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var out []recorded
	for _, r := range ts.requests {
		if !strings.HasSuffix(r.Path, "/accesstoken/get") {
			out = append(out, r)
		}
	}
	return out
}

func (ts *testServer) tokenRequests() []recorded {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var out []recorded
	for _, r := range ts.requests {
		if strings.HasSuffix(r.Path, "/accesstoken/get") {
			out = append(out, r)
		}
	}
	return out
}

func (ts *testServer) tokensIssued() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.tokens
}

// sleeper records the waits the client asks for, without waiting.
type sleeper struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeper) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeper) recorded() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// newClock is the test clock, settable.
func newClock() *vippstest.Clock {
	return vippstest.NewClock(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
}

// testConfig is a valid Config against baseURL that never sleeps for real.
func testConfig(baseURL string, s *sleeper) Config {
	return Config{
		BaseURL: baseURL,
		Credentials: Credentials{
			ClientID:        testClientID,
			ClientSecret:    testClientSecret,
			SubscriptionKey: testSubscriptionKey,
			MSN:             testMSN,
		},
		System: testSystem,
		Sleep:  s.sleep,
	}
}

func newTestClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// jsonReply writes a JSON answer.
func jsonReply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// Canned answers.
const (
	createdBody      = `{"reference":"acme-order-1234-1","redirectUrl":"https://landing.vipps.no?token=abc123"}`
	modificationBody = `{"amount":{"currency":"NOK","value":49900},"state":"AUTHORIZED","aggregate":{"authorizedAmount":{"currency":"NOK","value":49900},"cancelledAmount":{"currency":"NOK","value":0},"capturedAmount":{"currency":"NOK","value":49900},"refundedAmount":{"currency":"NOK","value":0}},"pspReference":"b6b8e2d0-6a1f-4b8e-9f0e-6e2b1c7d9a11","reference":"acme-order-1234-1"}`
	paymentBody      = `{"aggregate":{"authorizedAmount":{"currency":"NOK","value":49900},"cancelledAmount":{"currency":"NOK","value":0},"capturedAmount":{"currency":"NOK","value":0},"refundedAmount":{"currency":"NOK","value":0}},"amount":{"currency":"NOK","value":49900},"state":"AUTHORIZED","paymentMethod":{"type":"WALLET"},"profile":{},"pspReference":"b6b8e2d0-6a1f-4b8e-9f0e-6e2b1c7d9a11","reference":"acme-order-1234-1"}`
	eventsBody       = `[{"reference":"acme-order-1234-1","pspReference":"b6b8e2d0-6a1f-4b8e-9f0e-6e2b1c7d9a11","name":"CREATED","amount":{"currency":"NOK","value":49900},"timestamp":"2026-03-02T10:00:00Z","idempotencyKey":"create-key-1","success":true},{"reference":"acme-order-1234-1","pspReference":"2018200034","name":"AUTHORIZED","amount":{"currency":"NOK","value":49900},"timestamp":"2026-03-02T10:00:30Z","idempotencyKey":null,"success":true}]`
)

// okAPI answers every ePayment and Webhooks call with a plausible success.
func okAPI(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/epayment/v1/payments") && r.Method == http.MethodPost:
		jsonReply(w, http.StatusCreated, createdBody)
	case strings.HasSuffix(p, "/events"):
		jsonReply(w, http.StatusOK, eventsBody)
	case strings.HasSuffix(p, "/capture"), strings.HasSuffix(p, "/cancel"), strings.HasSuffix(p, "/refund"):
		jsonReply(w, http.StatusOK, modificationBody)
	case strings.HasSuffix(p, "/approve"):
		w.WriteHeader(http.StatusOK)
	case strings.Contains(p, "/epayment/v1/payments/"):
		jsonReply(w, http.StatusOK, paymentBody)
	case strings.HasSuffix(p, "/webhooks/v1/webhooks") && r.Method == http.MethodPost:
		jsonReply(w, http.StatusCreated, `{"id":"7a5f0b8e-3c1d-4e2f-8a9b-0c1d2e3f4a5b","secret":"webhook-secret-FROTZ"}`)
	case strings.HasSuffix(p, "/webhooks/v1/webhooks"):
		jsonReply(w, http.StatusOK, `{"webhooks":[{"id":"7a5f0b8e-3c1d-4e2f-8a9b-0c1d2e3f4a5b","url":"https://shop.example/webhooks/vipps/webshop","events":["epayments.payment.authorized.v1"]}]}`)
	case strings.Contains(p, "/webhooks/v1/webhooks/") && r.Method == http.MethodDelete:
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

// testCreateRequest is a valid create with a receipt.
func testCreateRequest() CreatePaymentRequest {
	taxRate := int64(2500)
	shipping := true
	return CreatePaymentRequest{
		Amount:             Amount{Currency: NOK, Value: 49900},
		PaymentMethod:      PaymentMethod{Type: "WALLET"},
		Customer:           &Customer{PhoneNumber: "4791234567"},
		Reference:          "acme-order-1234-1",
		UserFlow:           UserFlowWebRedirect,
		ReturnURL:          "https://shop.example/return/9f8e7d6c5b4a",
		PaymentDescription: "Order 1234 at Acme",
		Receipt: &Receipt{
			OrderLines: []OrderLine{
				{
					Name: "Socks", ID: "sku-1", TotalAmount: 40000, TotalAmountExcludingTax: 32000, TotalTaxAmount: 8000,
					TaxRate:  &taxRate,
					UnitInfo: &UnitInfo{UnitPrice: 20000, Quantity: "2", QuantityUnit: "PCS"},
				},
				{
					Name: "Shipping", ID: "shipping", TotalAmount: 9900, TotalAmountExcludingTax: 7920, TotalTaxAmount: 1980,
					TaxRate: &taxRate, IsShipping: &shipping,
				},
			},
			BottomLine: BottomLine{Currency: NOK, ReceiptNumber: "1234"},
		},
		Metadata: map[string]string{"kco_order_id": "f3b8a1c2-0d4e-4f6a-8b9c-1d2e3f4a5b6c"},
	}
}

var nok499 = Amount{Currency: NOK, Value: 49900}
