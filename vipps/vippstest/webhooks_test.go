package vippstest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// receiver is a merchant endpoint that records the webhooks it gets.
type receiver struct {
	url     string
	mu      sync.Mutex
	got     []receivedHook
	respond func(n int) int // the status for the n-th request, from 0
}

type receivedHook struct {
	RequestURI string
	Host       string
	Header     http.Header
	Body       []byte
}

type wireWebhook struct {
	MSN            string     `json:"msn"`
	Reference      string     `json:"reference"`
	PSPReference   string     `json:"pspReference"`
	Name           string     `json:"name"`
	Amount         wireAmount `json:"amount"`
	Timestamp      string     `json:"timestamp"`
	IdempotencyKey *string    `json:"idempotencyKey"`
	Success        bool       `json:"success"`
}

func newReceiver(t *testing.T, respond func(n int) int) *receiver {
	t.Helper()
	rec := &receiver{respond: respond}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		n := len(rec.got)
		rec.got = append(rec.got, receivedHook{RequestURI: r.RequestURI, Host: r.Host, Header: r.Header.Clone(), Body: body})
		rec.mu.Unlock()
		status := http.StatusOK
		if rec.respond != nil {
			status = rec.respond(n)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(ts.Close)
	rec.url = ts.URL
	return rec
}

func (r *receiver) all() []receivedHook {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedHook(nil), r.got...)
}

func (r *receiver) events() []wireWebhook {
	var out []wireWebhook
	for _, g := range r.all() {
		var e wireWebhook
		if json.Unmarshal(g.Body, &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

func (h *harness) registerWebhook(target string, events ...string) (id, secret string) {
	h.t.Helper()
	status, raw := h.call(http.MethodPost, "/webhooks/v1/webhooks", map[string]any{"url": target, "events": events}, nil)
	require.Equal(h.t, http.StatusCreated, status, string(raw))
	var out struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	require.NoError(h.t, json.Unmarshal(raw, &out))
	return out.ID, out.Secret
}

func (h *harness) waitWebhooks() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(h.t, h.srv.WaitWebhooks(ctx))
}

// verifySignature recomputes the signature with crypto/hmac from what the
// receiver saw, without the fake's SignWebhook.
func verifySignature(t *testing.T, secret string, got receivedHook) {
	t.Helper()
	sum := sha256.Sum256(got.Body)
	contentHash := base64.StdEncoding.EncodeToString(sum[:])
	require.Equal(t, contentHash, got.Header.Get("x-ms-content-sha256"))
	msg := "POST\n" + got.RequestURI + "\n" + got.Header.Get("x-ms-date") + ";" + got.Host + ";" + contentHash
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(msg))
	want := "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=" + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	require.True(t, hmac.Equal([]byte(want), []byte(got.Header.Get("Authorization"))),
		"got %q, want %q", got.Header.Get("Authorization"), want)
}

func TestWebhookRegistrationAPI(t *testing.T) {
	h := newHarness(t, Options{})
	id, secret := h.registerWebhook("https://shop.example/hooks/vipps", "epayments.payment.authorized.v1", "epayments.payment.captured.v1")
	_, err := uuid.Parse(id)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, len(secret), 64)

	tests := []struct {
		name   string
		body   any
		fields []string
	}{
		{"http URL", map[string]any{"url": "http://shop.example/hook", "events": []string{"epayments.payment.created.v1"}}, []string{"url"}},
		{"http localhost without the option", map[string]any{"url": "http://localhost:9/hook", "events": []string{"epayments.payment.created.v1"}}, []string{"url"}},
		{"relative URL", map[string]any{"url": "/hook", "events": []string{"epayments.payment.created.v1"}}, []string{"url"}},
		{"unknown event", map[string]any{"url": "https://shop.example/h", "events": []string{"epayments.payment.paid.v1"}}, []string{"events[0]"}},
		{"no events", map[string]any{"url": "https://shop.example/h", "events": []string{}}, []string{"events"}},
		{"missing fields", map[string]any{}, []string{"url", "events"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, raw := h.call(http.MethodPost, "/webhooks/v1/webhooks", tt.body, nil)
			requireFields(t, status, raw, tt.fields...)
		})
	}

	status, raw := h.call(http.MethodGet, "/webhooks/v1/webhooks", nil, nil)
	require.Equal(t, http.StatusOK, status)
	assert.JSONEq(t, `{"webhooks":[{"id":"`+id+`","url":"https://shop.example/hooks/vipps",
		"events":["epayments.payment.authorized.v1","epayments.payment.captured.v1"]}]}`, string(raw))

	// Another unit neither sees nor deletes it.
	other := &harness{t: t, srv: h.srv, clock: h.clock, unit: otherUnit}
	other.token = other.fetchToken(otherUnit)
	status, raw = other.call(http.MethodGet, "/webhooks/v1/webhooks", nil, nil)
	require.Equal(t, http.StatusOK, status)
	assert.JSONEq(t, `{"webhooks":[]}`, string(raw))
	status, raw = other.call(http.MethodDelete, "/webhooks/v1/webhooks/"+id, nil, nil)
	require.Equal(t, http.StatusNotFound, status, string(raw))
	decodeProblem(t, raw)

	status, raw = h.call(http.MethodDelete, "/webhooks/v1/webhooks/not-a-uuid", nil, nil)
	requireFields(t, status, raw, "id")
	status, _ = h.call(http.MethodDelete, "/webhooks/v1/webhooks/"+id, nil, nil)
	assert.Equal(t, http.StatusNoContent, status)
	status, _ = h.call(http.MethodDelete, "/webhooks/v1/webhooks/"+id, nil, nil)
	assert.Equal(t, http.StatusNotFound, status)
	assert.Equal(t, 4, h.srv.Calls(OpWebhookDelete), "three deletes by this unit, one by the other, rejected ones included")
}

func TestWebhookLimitPerEvent(t *testing.T) {
	h := newHarness(t, Options{})
	for i := range maxWebhooksPerEvent {
		h.registerWebhook("https://shop.example/hook/"+itoa(i), "epayments.payment.captured.v1")
	}
	status, raw := h.call(http.MethodPost, "/webhooks/v1/webhooks", map[string]any{
		"url": "https://shop.example/hook/x", "events": []string{"epayments.payment.captured.v1"},
	}, nil)
	require.Equal(t, http.StatusBadRequest, status, string(raw))
	decodeProblem(t, raw)
	h.registerWebhook("https://shop.example/hook/y", "epayments.payment.created.v1")
}

func TestWebhookDeliveredAndSigned(t *testing.T) {
	h := newHarness(t, localOpts())
	rec := newReceiver(t, nil)
	_, secret := h.registerWebhook(rec.url+"/webhooks/vipps/webshop?unit=1", knownWebhookEvents...)
	h.mustCreate("webhook-signed-1", 10000)
	h.forceApprove("webhook-signed-1")
	h.mod(h.capture("webhook-signed-1", "cap-1", 2500))
	h.waitWebhooks()

	got := rec.all()
	require.Len(t, got, 3)
	for _, g := range got {
		verifySignature(t, secret, g)
		assert.Equal(t, "/webhooks/vipps/webshop?unit=1", g.RequestURI)
		assert.Equal(t, strings.TrimPrefix(rec.url, "http://"), g.Host, "host keeps the non-default port")
		assert.Equal(t, "Mon, 02 Mar 2026 10:00:00 GMT", g.Header.Get("x-ms-date"), "the injected clock")
		assert.Equal(t, "application/json", g.Header.Get("Content-Type"))
	}
	evs := rec.events()
	assert.Equal(t, []string{"CREATED", "AUTHORIZED", "CAPTURED"}, []string{evs[0].Name, evs[1].Name, evs[2].Name})
	assert.Equal(t, testUnit.MSN, evs[2].MSN)
	assert.Equal(t, "webhook-signed-1", evs[2].Reference)
	assert.Equal(t, wireAmount{"NOK", 2500}, evs[2].Amount)
	assert.Equal(t, "cap-1", *evs[2].IdempotencyKey)
	assert.Nil(t, evs[1].IdempotencyKey)
	assert.True(t, evs[2].Success)
	assert.Regexp(t, numericPSP, evs[2].PSPReference, "the event's own pspReference")
	assert.Contains(t, string(got[1].Body), `"idempotencyKey":null`)

	// The fake's own signer agrees with the independent recomputation.
	pq, host, err := WebhookTarget(rec.url + "/webhooks/vipps/webshop?unit=1")
	require.NoError(t, err)
	hash, authz := SignWebhook(secret, pq, host, got[0].Header.Get("x-ms-date"), got[0].Body)
	assert.Equal(t, got[0].Header.Get("x-ms-content-sha256"), hash)
	assert.Equal(t, got[0].Header.Get("Authorization"), authz)

	ds := h.srv.Deliveries()
	require.Len(t, ds, 3)
	for _, d := range ds {
		assert.True(t, d.Succeeded())
		assert.Equal(t, 1, d.Attempt)
	}
	assert.Equal(t, "epayments.payment.captured.v1", ds[2].EventType)
}

func TestWebhookRetriesInOrder(t *testing.T) {
	h := newHarness(t, localOpts())
	// The first two attempts fail; later ones succeed.
	rec := newReceiver(t, func(n int) int {
		if n < 2 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	h.registerWebhook(rec.url+"/hook", "epayments.payment.created.v1", "epayments.payment.aborted.v1")
	h.mustCreate("webhook-retry-1", 10000)
	require.NoError(t, h.srv.Reject("webhook-retry-1"))
	h.waitWebhooks()

	evs := rec.events()
	require.Len(t, evs, 4)
	assert.Equal(t, []string{"CREATED", "CREATED", "CREATED", "ABORTED"},
		[]string{evs[0].Name, evs[1].Name, evs[2].Name, evs[3].Name}, "the failing event holds back the next")

	ds := h.srv.Deliveries()
	require.Len(t, ds, 4)
	assert.Equal(t, []int{1, 2, 3, 1}, []int{ds[0].Attempt, ds[1].Attempt, ds[2].Attempt, ds[3].Attempt})
	assert.Equal(t, []int{500, 500, 204, 204}, []int{ds[0].Status, ds[1].Status, ds[2].Status, ds[3].Status})
}

func TestWebhookGivesUpAfterMaxAttempts(t *testing.T) {
	h := newHarness(t, Options{AllowInsecureLocalReturnURL: true, WebhookMaxAttempts: 3})
	rec := newReceiver(t, func(int) int { return http.StatusFound })
	h.registerWebhook(rec.url+"/hook", "epayments.payment.created.v1")
	h.mustCreate("webhook-giveup-1", 10000)
	h.waitWebhooks()
	assert.Len(t, rec.all(), 3, "a redirect is a failure and is not followed")
	for _, d := range h.srv.Deliveries() {
		assert.False(t, d.Succeeded())
	}
}

func TestWebhookOnlyForItsUnitAndEvents(t *testing.T) {
	h := newHarness(t, localOpts())
	rec := newReceiver(t, nil)
	h.registerWebhook(rec.url+"/captured", "epayments.payment.captured.v1")
	other := &harness{t: t, srv: h.srv, clock: h.clock, unit: otherUnit}
	other.token = other.fetchToken(otherUnit)
	otherRec := newReceiver(t, nil)
	other.registerWebhook(otherRec.url+"/all", knownWebhookEvents...)

	h.mustCreate("webhook-filter-1", 10000)
	h.forceApprove("webhook-filter-1")
	h.mod(h.capture("webhook-filter-1", "c1", 100))
	h.waitWebhooks()
	evs := rec.events()
	require.Len(t, evs, 1)
	assert.Equal(t, "CAPTURED", evs[0].Name)
	assert.Empty(t, otherRec.all(), "another MSN's registration gets nothing")
}
