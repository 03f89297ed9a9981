package vipps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type exchangeLog struct {
	mu  sync.Mutex
	all []Exchange
}

func (l *exchangeLog) observe(_ context.Context, ex Exchange) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, ex)
}

func (l *exchangeLog) byOp(op string) []Exchange {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Exchange
	for _, ex := range l.all {
		if ex.Op == op {
			out = append(out, ex)
		}
	}
	return out
}

// TestObserverGetsRedactedSecrets: the observer's log never holds the
// client secret, the subscription key, the access token or a webhook
// secret, while the client itself keeps working with them.
func TestObserverGetsRedactedSecrets(t *testing.T) {
	ts := newTestServer(t, okAPI)
	log := &exchangeLog{}
	cfg := testConfig(ts.URL(), &sleeper{})
	cfg.Observer = log.observe
	c := newTestClient(t, cfg)
	ctx := context.Background()

	_, err := c.CreatePayment(ctx, "create-key-1", testCreateRequest())
	require.NoError(t, err)
	reg, err := c.RegisterWebhook(ctx, "https://shop.example/hook", EPaymentWebhookEvents)
	require.NoError(t, err)
	assert.Equal(t, "webhook-secret-FROTZ", reg.Secret)
	_, err = c.GetPayment(ctx, "acme-order-1234-1")
	require.NoError(t, err)

	secrets := []string{testClientSecret, testSubscriptionKey, "token-1", "webhook-secret-FROTZ"}
	for _, ex := range log.all {
		dump := fmt.Sprintf("%s %v %s %v %s", ex.URL, ex.RequestHeaders, ex.RequestBody, ex.ResponseHeaders, ex.ResponseBody)
		for _, s := range secrets {
			assert.NotContains(t, dump, s, "exchange %s leaks a secret", ex.Op)
		}
	}

	tok := log.byOp("token")
	require.Len(t, tok, 1)
	assert.Equal(t, []string{Redacted}, tok[0].RequestHeaders["client_secret"])
	assert.Equal(t, Redacted, tok[0].RequestHeaders.Get("Ocp-Apim-Subscription-Key"))
	assert.Equal(t, []string{testClientID}, tok[0].RequestHeaders["client_id"], "the client id is not a secret; the key is written as Vipps documents it")
	var tokBody map[string]string
	require.NoError(t, json.Unmarshal(tok[0].ResponseBody, &tokBody))
	assert.Equal(t, Redacted, tokBody["access_token"])
	assert.Equal(t, "3599", tokBody["expires_in"], "the rest of the body is kept")

	create := log.byOp("create")
	require.Len(t, create, 1)
	ex := create[0]
	assert.Equal(t, Redacted, ex.RequestHeaders.Get("Authorization"))
	assert.Equal(t, Redacted, ex.RequestHeaders.Get("Ocp-Apim-Subscription-Key"))
	assert.Equal(t, testMSN, ex.RequestHeaders.Get("Merchant-Serial-Number"))
	assert.Equal(t, "create-key-1", ex.RequestHeaders.Get("Idempotency-Key"))
	assert.Equal(t, "create-key-1", ex.IdempotencyKey)
	assert.Equal(t, "acme-order-1234-1", ex.Reference)
	assert.Equal(t, "POST", ex.Method)
	assert.Equal(t, ts.URL()+"/epayment/v1/payments", ex.URL)
	assert.Equal(t, ts.apiRequests()[0].Body, ex.RequestBody, "the body as sent")
	assert.Equal(t, http.StatusCreated, ex.StatusCode)
	assert.JSONEq(t, createdBody, string(ex.ResponseBody))
	assert.Equal(t, 1, ex.Attempt)
	assert.NoError(t, ex.Err)
	assert.False(t, ex.Started.IsZero())

	hook := log.byOp("webhook-register")
	require.Len(t, hook, 1)
	var hookBody map[string]string
	require.NoError(t, json.Unmarshal(hook[0].ResponseBody, &hookBody))
	assert.Equal(t, Redacted, hookBody["secret"])
	assert.Equal(t, "7a5f0b8e-3c1d-4e2f-8a9b-0c1d2e3f4a5b", hookBody["id"])

	get := log.byOp("get")
	require.Len(t, get, 1)
	assert.Equal(t, "Bearer token-1", ts.apiRequests()[2].Header.Get("Authorization"), "redaction does not touch what is sent")
}

func TestObserverSeesEveryAttempt(t *testing.T) {
	ts := newTestServer(t, failFirst(1, func(w http.ResponseWriter, r *http.Request) {
		jsonReply(w, http.StatusBadGateway, `{"statusCode":502,"message":"Bad gateway"}`)
	}))
	log := &exchangeLog{}
	cfg := testConfig(ts.URL(), &sleeper{})
	cfg.Observer = log.observe
	c := newTestClient(t, cfg)
	_, err := c.Refund(context.Background(), "acme-order-1234-1", "refund-key-1", nok499)
	require.NoError(t, err)

	refunds := log.byOp("refund")
	require.Len(t, refunds, 2)
	assert.Equal(t, 1, refunds[0].Attempt)
	assert.Equal(t, http.StatusBadGateway, refunds[0].StatusCode)
	var e *Error
	require.True(t, errors.As(refunds[0].Err, &e))
	assert.Equal(t, "Bad gateway", e.Title)
	assert.Equal(t, 2, refunds[1].Attempt)
	assert.Equal(t, http.StatusOK, refunds[1].StatusCode)
	assert.NoError(t, refunds[1].Err)
	assert.Equal(t, refunds[0].RequestBody, refunds[1].RequestBody)
}

func TestRedactBody(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		status int
		fields []string
		want   string
	}{
		{"no fields", `{"access_token":"x"}`, 200, nil, `{"access_token":"x"}`},
		{"field replaced", `{"access_token":"x","expires_in":"1"}`, 200, []string{"access_token"}, `{"access_token":"[redacted]","expires_in":"1"}`},
		{"field absent keeps bytes", `{ "statusCode": 401 }`, 401, []string{"access_token"}, `{ "statusCode": 401 }`},
		{"unparseable success withheld", `access_token=x`, 200, []string{"access_token"}, Redacted},
		{"unparseable error kept", `<html>401</html>`, 401, []string{"access_token"}, `<html>401</html>`},
		{"case-insensitive", `{"Secret":"s"}`, 201, []string{"secret"}, `{"Secret":"[redacted]"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(redactBody([]byte(tt.body), tt.status, tt.fields))
			if strings.HasPrefix(tt.want, "{") && strings.Contains(tt.want, Redacted) {
				assert.JSONEq(t, tt.want, got)
			} else {
				assert.Equal(t, tt.want, got)
			}
		})
	}
}
