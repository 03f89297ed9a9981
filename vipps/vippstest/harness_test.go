package vippstest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The tests talk to the fake with plain net/http, as an independent client
// would, and decode answers into their own types.

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// testUnit's name has HTML metacharacters so that the landing page's
// escaping is exercised.
var testUnit = SalesUnit{
	MSN: "123456", ClientID: "client-1", ClientSecret: "secret-1", SubscriptionKey: "sub-1",
	Currency: "NOK", Name: `Kaffe & Co <Oslo>`,
}

var otherUnit = SalesUnit{
	MSN: "654321", ClientID: "client-2", ClientSecret: "secret-2", SubscriptionKey: "sub-2",
	Currency: "NOK", Name: "Other shop",
}

type harness struct {
	t     *testing.T
	srv   *Server
	clock *Clock
	unit  SalesUnit
	token string
}

// newHarness starts a fake with testUnit and otherUnit, a clock at t0,
// local http URLs allowed and fast webhook retries.
func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	clock := NewClock(t0)
	opts.Now = clock.Now
	if opts.Seed == 0 {
		opts.Seed = 42
	}
	if opts.WebhookBackoff == 0 {
		opts.WebhookBackoff = time.Millisecond
	}
	srv := NewServer(opts)
	t.Cleanup(srv.Close)
	srv.AddSalesUnit(testUnit)
	srv.AddSalesUnit(otherUnit)
	h := &harness{t: t, srv: srv, clock: clock, unit: testUnit}
	h.token = h.fetchToken(testUnit)
	return h
}

func localOpts() Options { return Options{AllowInsecureLocalReturnURL: true} }

func (h *harness) fetchToken(u SalesUnit) string {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL()+"/accesstoken/get", nil)
	require.NoError(h.t, err)
	req.Header.Set("client_id", u.ClientID)
	req.Header.Set("client_secret", u.ClientSecret)
	req.Header.Set("Ocp-Apim-Subscription-Key", u.SubscriptionKey)
	status, body := send(h.t, req)
	require.Equal(h.t, http.StatusOK, status, string(body))
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(h.t, json.Unmarshal(body, &tok))
	return tok.AccessToken
}

// headers are the defaults for an API call by testUnit; an entry in
// override replaces one, and an empty value removes it.
func (h *harness) headers(override map[string]string) http.Header {
	hdr := http.Header{}
	hdr.Set("Authorization", "Bearer "+h.token)
	hdr.Set("Ocp-Apim-Subscription-Key", h.unit.SubscriptionKey)
	hdr.Set("Merchant-Serial-Number", h.unit.MSN)
	hdr.Set("Vipps-System-Name", "vippstest")
	hdr.Set("Vipps-System-Version", "1.0.0")
	for k, v := range override {
		if v == "" {
			hdr.Del(k)
		} else {
			hdr.Set(k, v)
		}
	}
	return hdr
}

// call sends an API request. body may be nil, a string (sent as is) or
// anything else (sent as JSON).
func (h *harness) call(method, path string, body any, override map[string]string) (int, []byte) {
	h.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(h.t, err)
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, h.srv.URL()+path, r)
	require.NoError(h.t, err)
	req.Header = h.headers(nil)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range override {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	return send(h.t, req)
}

func send(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := noRedirect.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, body
}

var noRedirect = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func key(k string) map[string]string { return map[string]string{"Idempotency-Key": k} }

func createBody(ref string, value int64) map[string]any {
	return map[string]any{
		"amount":             map[string]any{"currency": "NOK", "value": value},
		"paymentMethod":      map[string]any{"type": "WALLET"},
		"reference":          ref,
		"userFlow":           "WEB_REDIRECT",
		"returnUrl":          "https://shop.example/return?order=" + ref + "&step=2",
		"customer":           map[string]any{"phoneNumber": "4791234567"},
		"paymentDescription": "Kaffe og kopp",
	}
}

func (h *harness) create(body any, idempotencyKey string) (int, []byte) {
	h.t.Helper()
	return h.call(http.MethodPost, "/epayment/v1/payments", body, key(idempotencyKey))
}

func (h *harness) mustCreate(ref string, value int64) createResult {
	h.t.Helper()
	status, body := h.create(createBody(ref, value), "create-"+ref)
	require.Equal(h.t, http.StatusCreated, status, string(body))
	var out createResult
	require.NoError(h.t, json.Unmarshal(body, &out))
	return out
}

func (h *harness) forceApprove(ref string) {
	h.t.Helper()
	status, body := h.call(http.MethodPost, "/epayment/v1/test/payments/"+ref+"/approve",
		map[string]any{"customer": map[string]any{"phoneNumber": "4791234567"}}, nil)
	require.Equal(h.t, http.StatusOK, status, string(body))
}

func amountBody(value int64) map[string]any {
	return map[string]any{"modificationAmount": map[string]any{"currency": "NOK", "value": value}}
}

func (h *harness) capture(ref, idempotencyKey string, value int64) (int, []byte) {
	h.t.Helper()
	return h.call(http.MethodPost, "/epayment/v1/payments/"+ref+"/capture", amountBody(value), key(idempotencyKey))
}

func (h *harness) refund(ref, idempotencyKey string, value int64) (int, []byte) {
	h.t.Helper()
	return h.call(http.MethodPost, "/epayment/v1/payments/"+ref+"/refund", amountBody(value), key(idempotencyKey))
}

func (h *harness) cancel(ref, idempotencyKey string, body any) (int, []byte) {
	h.t.Helper()
	return h.call(http.MethodPost, "/epayment/v1/payments/"+ref+"/cancel", body, key(idempotencyKey))
}

func (h *harness) get(ref string) wirePayment {
	h.t.Helper()
	status, body := h.call(http.MethodGet, "/epayment/v1/payments/"+ref, nil, nil)
	require.Equal(h.t, http.StatusOK, status, string(body))
	var p wirePayment
	require.NoError(h.t, json.Unmarshal(body, &p))
	return p
}

func (h *harness) events(ref string) []wireEvent {
	h.t.Helper()
	status, body := h.call(http.MethodGet, "/epayment/v1/payments/"+ref+"/events", nil, nil)
	require.Equal(h.t, http.StatusOK, status, string(body))
	var evs []wireEvent
	require.NoError(h.t, json.Unmarshal(body, &evs))
	return evs
}

// Test-side wire types.

type createResult struct {
	Reference   string `json:"reference"`
	RedirectURL string `json:"redirectUrl"`
}

type wireAmount struct {
	Currency string `json:"currency"`
	Value    int64  `json:"value"`
}

type wireAggregate struct {
	AuthorizedAmount wireAmount `json:"authorizedAmount"`
	CancelledAmount  wireAmount `json:"cancelledAmount"`
	CapturedAmount   wireAmount `json:"capturedAmount"`
	RefundedAmount   wireAmount `json:"refundedAmount"`
}

type wirePayment struct {
	Aggregate     wireAggregate `json:"aggregate"`
	Amount        wireAmount    `json:"amount"`
	State         string        `json:"state"`
	PaymentMethod struct {
		Type string `json:"type"`
	} `json:"paymentMethod"`
	PSPReference string            `json:"pspReference"`
	RedirectURL  string            `json:"redirectUrl"`
	Reference    string            `json:"reference"`
	Metadata     map[string]string `json:"metadata"`
	// CaptureGuaranteedUntil is "" before authorization.
	CaptureGuaranteedUntil string `json:"captureGuaranteedUntil"`
}

type wireModification struct {
	Amount       wireAmount    `json:"amount"`
	State        string        `json:"state"`
	Aggregate    wireAggregate `json:"aggregate"`
	PSPReference string        `json:"pspReference"`
	Reference    string        `json:"reference"`
}

type wireEvent struct {
	Reference      string     `json:"reference"`
	PSPReference   string     `json:"pspReference"`
	Name           string     `json:"name"`
	Amount         wireAmount `json:"amount"`
	Timestamp      string     `json:"timestamp"`
	IdempotencyKey *string    `json:"idempotencyKey"`
	Success        bool       `json:"success"`
}

type wireProblem struct {
	Type         string `json:"type"`
	Title        string `json:"title"`
	Detail       string `json:"detail"`
	Instance     string `json:"instance"`
	Status       int    `json:"status"`
	TraceID      string `json:"traceId"`
	ExtraDetails []struct {
		Name   string `json:"name"`
		Reason string `json:"reason"`
	} `json:"extraDetails"`
}

func decodeProblem(t *testing.T, body []byte) wireProblem {
	t.Helper()
	var p wireProblem
	require.NoError(t, json.Unmarshal(body, &p), string(body))
	require.NotEmpty(t, p.TraceID, "problem without traceId: %s", body)
	require.NotEmpty(t, p.Title, "problem without title: %s", body)
	return p
}

func (p wireProblem) code() string {
	for _, d := range p.ExtraDetails {
		if d.Name == "ErrorCode" {
			return d.Reason
		}
	}
	return ""
}

func (p wireProblem) fields() []string {
	var out []string
	for _, d := range p.ExtraDetails {
		if d.Name != "ErrorCode" {
			out = append(out, d.Name)
		}
	}
	return out
}

// requireCode asserts a domain error: the status, the problem body with
// its traceId, and the ErrorCode.
func requireCode(t *testing.T, status int, body []byte, wantStatus int, wantCode string) wireProblem {
	t.Helper()
	require.Equal(t, wantStatus, status, string(body))
	p := decodeProblem(t, body)
	require.Equal(t, wantStatus, p.Status)
	require.Equal(t, wantCode, p.code(), string(body))
	return p
}

// requireFields asserts a validation error naming the fields and carrying
// no ErrorCode.
func requireFields(t *testing.T, status int, body []byte, wantFields ...string) {
	t.Helper()
	require.Equal(t, http.StatusBadRequest, status, string(body))
	p := decodeProblem(t, body)
	require.Empty(t, p.code(), string(body))
	for _, f := range wantFields {
		require.Contains(t, p.fields(), f, string(body))
	}
}

// apimMessage decodes {"statusCode":…,"message":…}.
func apimMessage(t *testing.T, status int, body []byte, wantStatus int) string {
	t.Helper()
	require.Equal(t, wantStatus, status, string(body))
	var e struct {
		StatusCode int    `json:"statusCode"`
		Message    string `json:"message"`
	}
	require.NoError(t, json.Unmarshal(body, &e), string(body))
	require.Equal(t, wantStatus, e.StatusCode)
	return e.Message
}

// postForm posts a landing-page form the way a browser does.
func postForm(t *testing.T, target string, form url.Values) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := noRedirect.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, body
}

func getPage(t *testing.T, target string) (int, http.Header, string) {
	t.Helper()
	resp, err := noRedirect.Get(target)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(body)
}

func landingToken(t *testing.T, redirectURL string) string {
	t.Helper()
	u, err := url.Parse(redirectURL)
	require.NoError(t, err)
	tok := u.Query().Get("token")
	require.NotEmpty(t, tok)
	return tok
}

func itoa(n int) string { return strconv.Itoa(n) }
