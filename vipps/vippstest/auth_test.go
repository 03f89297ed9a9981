package vippstest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func tokenRequest(t *testing.T, srv *Server, hdr map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL()+"/accesstoken/get", nil)
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return send(t, req)
}

func TestTokenValuesAreAllStrings(t *testing.T) {
	h := newHarness(t, Options{})
	status, body := tokenRequest(t, h.srv, map[string]string{
		"client_id": testUnit.ClientID, "client_secret": testUnit.ClientSecret,
		"Ocp-Apim-Subscription-Key": testUnit.SubscriptionKey, "Merchant-Serial-Number": testUnit.MSN,
	})
	require.Equal(t, http.StatusOK, status, string(body))

	var raw map[string]any
	require.NoError(t, json.Unmarshal(body, &raw))
	for _, k := range []string{"token_type", "expires_in", "ext_expires_in", "expires_on", "not_before", "resource", "access_token"} {
		require.Contains(t, raw, k)
		assert.IsType(t, "", raw[k], "%s must be a JSON string", k)
	}
	assert.Equal(t, "Bearer", raw["token_type"])
	assert.Equal(t, "3600", raw["expires_in"])
	assert.Equal(t, "3600", raw["ext_expires_in"])
	assert.Equal(t, strconv.FormatInt(t0.Unix(), 10), raw["not_before"])
	assert.Equal(t, strconv.FormatInt(t0.Add(time.Hour).Unix(), 10), raw["expires_on"])
	assert.Equal(t, "00000002-0000-0000-c000-000000000000", raw["resource"])
	tok := raw["access_token"].(string)
	assert.Len(t, strings.Split(tok, "."), 3, "JWT-shaped")
	assert.Greater(t, len(tok), 400)
	assert.Equal(t, 2, h.srv.Calls(OpToken), "the harness token and this one")
}

func TestTokenRejectsBadKeys(t *testing.T) {
	h := newHarness(t, Options{})
	good := map[string]string{
		"client_id": testUnit.ClientID, "client_secret": testUnit.ClientSecret,
		"Ocp-Apim-Subscription-Key": testUnit.SubscriptionKey,
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range good {
			m[a] = b
		}
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name       string
		hdr        map[string]string
		wantStatus int
		wantInMsg  string
	}{
		{"missing subscription key", with("Ocp-Apim-Subscription-Key", ""), 401, "missing subscription key"},
		{"unknown subscription key", with("Ocp-Apim-Subscription-Key", "nope"), 401, "invalid subscription key"},
		{"wrong secret", with("client_secret", "wrong"), 401, "client_secret"},
		{"client id of another unit", with("client_id", otherUnit.ClientID), 401, "client_id"},
		{"missing client_id", with("client_id", ""), 400, "client_id"},
		{"MSN of another unit", with("Merchant-Serial-Number", otherUnit.MSN), 401, otherUnit.MSN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := tokenRequest(t, h.srv, tt.hdr)
			msg := apimMessage(t, status, body, tt.wantStatus)
			assert.Contains(t, msg, tt.wantInMsg)
		})
	}
}

func TestTokenExpiresAfterOneHour(t *testing.T) {
	h := newHarness(t, Options{})
	get := func() (int, []byte) { return h.call(http.MethodGet, "/webhooks/v1/webhooks", nil, nil) }

	status, body := get()
	require.Equal(t, http.StatusOK, status, string(body))
	h.clock.Advance(59*time.Minute + 59*time.Second)
	status, _ = get()
	require.Equal(t, http.StatusOK, status)

	h.clock.Advance(time.Second)
	status, body = get()
	assert.Contains(t, apimMessage(t, status, body, 401), "expired")

	h.token = h.fetchToken(testUnit)
	status, _ = get()
	require.Equal(t, http.StatusOK, status)

	h.srv.ExpireTokens()
	status, body = get()
	apimMessage(t, status, body, 401)
}

func TestRequiredHeaders(t *testing.T) {
	h := newHarness(t, Options{})
	h.mustCreate("headers-ref-1", 1000)
	otherToken := h.fetchToken(otherUnit)

	tests := []struct {
		name       string
		method     string
		body       any
		override   map[string]string
		wantStatus int
		check      func(t *testing.T, status int, body []byte)
	}{
		{name: "no Authorization", method: "GET", override: map[string]string{"Authorization": ""}, wantStatus: 401},
		{name: "lower-case bearer", method: "GET", override: map[string]string{"Authorization": "bearer " + h.token}, wantStatus: 401},
		{name: "token without Bearer", method: "GET", override: map[string]string{"Authorization": h.token}, wantStatus: 401},
		{name: "unknown token", method: "GET", override: map[string]string{"Authorization": "Bearer abc"}, wantStatus: 401},
		{name: "token of another unit", method: "GET", override: map[string]string{"Authorization": "Bearer " + otherToken}, wantStatus: 401},
		{name: "no subscription key", method: "GET", override: map[string]string{"Ocp-Apim-Subscription-Key": ""}, wantStatus: 401},
		{name: "MSN missing", method: "GET", override: map[string]string{"Merchant-Serial-Number": ""}, wantStatus: 400,
			check: func(t *testing.T, status int, body []byte) {
				requireFields(t, status, body, "Merchant-Serial-Number")
			}},
		{name: "MSN malformed", method: "GET", override: map[string]string{"Merchant-Serial-Number": "12ab"}, wantStatus: 400},
		{name: "MSN of another unit", method: "GET", override: map[string]string{"Merchant-Serial-Number": otherUnit.MSN}, wantStatus: 403,
			check: func(t *testing.T, status int, body []byte) { decodeProblem(t, body) }},
		{name: "Vipps-System-Name too long", method: "GET", override: map[string]string{"Vipps-System-Name": strings.Repeat("x", 31)}, wantStatus: 400,
			check: func(t *testing.T, status int, body []byte) {
				requireFields(t, status, body, "Vipps-System-Name")
			}},
		{name: "body without Content-Type", method: "POST", body: amountBody(100),
			override: map[string]string{"Content-Type": "", "Idempotency-Key": "k1"}, wantStatus: 415},
		{name: "body as text/plain", method: "POST", body: amountBody(100),
			override: map[string]string{"Content-Type": "text/plain", "Idempotency-Key": "k2"}, wantStatus: 415},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/epayment/v1/payments/headers-ref-1"
			if tt.method == "POST" {
				path += "/capture"
			}
			status, body := h.call(tt.method, path, tt.body, tt.override)
			require.Equal(t, tt.wantStatus, status, string(body))
			if tt.check != nil {
				tt.check(t, status, body)
			}
		})
	}
	assert.Equal(t, 0, h.srv.fakeState(func(s *Server) int {
		p := s.payments[paymentKey{testUnit.MSN, "headers-ref-1"}]
		return int(p.captured)
	}), "no rejected request acted")
}

func TestUnknownPathIsAPIM404(t *testing.T) {
	h := newHarness(t, Options{})
	status, body := h.call(http.MethodGet, "/epayment/v2/payments", nil, nil)
	assert.Equal(t, "Resource not found", apimMessage(t, status, body, 404))
	status, body = h.call(http.MethodPut, "/epayment/v1/payments/abcdefgh", nil, nil)
	apimMessage(t, status, body, 404)
	assert.Equal(t, 2, h.srv.Calls(OpUnknown))
}

func TestRecordsSystemHeaders(t *testing.T) {
	h := newHarness(t, Options{})
	h.srv.ResetRecordings()
	status, _ := h.call(http.MethodGet, "/webhooks/v1/webhooks", nil, map[string]string{
		"Vipps-System-Plugin-Name": "kco-bridge", "Vipps-System-Plugin-Version": "0.1.0",
	})
	require.Equal(t, http.StatusOK, status)
	reqs := h.srv.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, OpWebhookList, reqs[0].Op)
	assert.Equal(t, http.StatusOK, reqs[0].Status)
	assert.Equal(t, map[string]string{
		"Vipps-System-Name": "vippstest", "Vipps-System-Version": "1.0.0",
		"Vipps-System-Plugin-Name": "kco-bridge", "Vipps-System-Plugin-Version": "0.1.0",
	}, reqs[0].SystemHeaders())
}

// fakeState reads internal state under the lock, for assertions that the
// API cannot make.
func (s *Server) fakeState(read func(*Server) int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return read(s)
}
