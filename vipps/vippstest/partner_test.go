package vippstest

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var thirdUnit = SalesUnit{
	MSN: "777777", ClientID: "client-3", ClientSecret: "secret-3", SubscriptionKey: "sub-3",
	Currency: "NOK", Name: "Not the partner's",
}

var testPartner = Partner{
	ClientID: "partner-id", ClientSecret: "partner-secret", SubscriptionKey: "partner-sub",
	MSNs: []string{testUnit.MSN, otherUnit.MSN},
}

// newPartnerHarness is newHarness with thirdUnit and testPartner (serving
// testUnit and otherUnit), calling with the partner's token.
func newPartnerHarness(t *testing.T) *harness {
	h := newHarness(t, localOpts())
	h.srv.AddSalesUnit(thirdUnit)
	h.srv.AddPartner(testPartner)
	h.token = h.fetchToken(SalesUnit{ClientID: testPartner.ClientID, ClientSecret: testPartner.ClientSecret, SubscriptionKey: testPartner.SubscriptionKey})
	h.unit.SubscriptionKey = testPartner.SubscriptionKey
	return h
}

func TestPartnerKeysServeTheirUnitsByMSN(t *testing.T) {
	h := newPartnerHarness(t)
	// One token, two units: each call acts for the unit its header names.
	h.mustCreate("ref-aaaa1", 1000)
	status, body := h.create(createBody("ref-bbbb1", 2000), "key-b")
	require.Equal(t, http.StatusCreated, status, string(body))
	status, body = h.call(http.MethodPost, "/epayment/v1/payments", createBody("ref-oooo1", 3000),
		map[string]string{"Merchant-Serial-Number": otherUnit.MSN, "Idempotency-Key": "key-o"})
	require.Equal(t, http.StatusCreated, status, string(body))
	status, _ = h.call(http.MethodGet, "/epayment/v1/payments/ref-oooo1", nil, nil)
	assert.Equal(t, http.StatusNotFound, status, "ref-o is otherUnit's payment, not testUnit's")
	status, body = h.call(http.MethodGet, "/epayment/v1/payments/ref-oooo1", nil, map[string]string{"Merchant-Serial-Number": otherUnit.MSN})
	assert.Equal(t, http.StatusOK, status, string(body))
}

func TestPartnerKeysRefuseCallsWithoutTheirMSN(t *testing.T) {
	h := newPartnerHarness(t)
	status, body := h.call(http.MethodGet, "/epayment/v1/payments/ref-aaaa1", nil, map[string]string{"Merchant-Serial-Number": ""})
	requireFields(t, status, body, "Merchant-Serial-Number")

	status, body = h.call(http.MethodGet, "/epayment/v1/payments/ref-aaaa1", nil, map[string]string{"Merchant-Serial-Number": thirdUnit.MSN})
	require.Equal(t, http.StatusForbidden, status, string(body))
	assert.Contains(t, decodeProblem(t, body).Detail, thirdUnit.MSN)

	// A partner token with a unit's own subscription key is no token of that unit.
	status, body = h.call(http.MethodGet, "/epayment/v1/payments/ref-aaaa1", nil, map[string]string{"Ocp-Apim-Subscription-Key": testUnit.SubscriptionKey})
	assert.Contains(t, apimMessage(t, status, body, http.StatusUnauthorized), "Access token is missing or invalid")

	// Webhook registration works per MSN with the partner's token.
	status, body = h.call(http.MethodPost, "/webhooks/v1/webhooks", map[string]any{
		"url": "https://shop.example/hooks", "events": []string{"epayments.payment.authorized.v1"},
	}, map[string]string{"Merchant-Serial-Number": otherUnit.MSN})
	require.Equal(t, http.StatusCreated, status, string(body))

	// The Report API does not take partner keys.
	status, body = h.call(http.MethodGet, "/settlement/v1/ledgers", nil, nil)
	require.Equal(t, http.StatusForbidden, status, string(body))
	assert.Contains(t, decodeProblem(t, body).Detail, "/miami/v1/token")

	// The token endpoint: an MSN, when sent, must be the partner's.
	status, body = tokenRequest(t, h.srv, map[string]string{
		"client_id": testPartner.ClientID, "client_secret": testPartner.ClientSecret,
		"Ocp-Apim-Subscription-Key": testPartner.SubscriptionKey, "Merchant-Serial-Number": thirdUnit.MSN,
	})
	assert.Contains(t, apimMessage(t, status, body, http.StatusUnauthorized), thirdUnit.MSN)
	status, body = tokenRequest(t, h.srv, map[string]string{
		"client_id": testPartner.ClientID, "client_secret": "wrong",
		"Ocp-Apim-Subscription-Key": testPartner.SubscriptionKey,
	})
	assert.Contains(t, apimMessage(t, status, body, http.StatusUnauthorized), "client_secret")
}

// accountingToken gets a token from POST /miami/v1/token.
func accountingToken(t *testing.T, srv *Server, id, secret string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL()+"/miami/v1/token", nil)
	require.NoError(t, err)
	req.Header.Set("client_id", id)
	req.Header.Set("client_secret", secret)
	return send(t, req)
}

func TestAccountingKeysReadOnlyTheGrantedLedgers(t *testing.T) {
	h := newHarness(t, localOpts())
	h.srv.AddAccountingPartner(AccountingPartner{ClientID: "acct-id", ClientSecret: "acct-secret", MSNs: []string{otherUnit.MSN}})
	// Each unit has a ledger once it has been asked for.
	for _, u := range []SalesUnit{testUnit, otherUnit} {
		h.unit, h.token = u, h.fetchToken(u)
		status, body := h.call(http.MethodGet, "/settlement/v1/ledgers", nil, nil)
		require.Equal(t, http.StatusOK, status, string(body))
	}

	status, body := accountingToken(t, h.srv, "acct-id", "wrong")
	assert.Contains(t, apimMessage(t, status, body, http.StatusUnauthorized), "client_secret")
	status, body = accountingToken(t, h.srv, "acct-id", "acct-secret")
	require.Equal(t, http.StatusOK, status, string(body))
	var tok struct {
		TokenType   string `json:"token_type"`
		ExpiresIn   string `json:"expires_in"`
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.Unmarshal(body, &tok))
	assert.Equal(t, "900", tok.ExpiresIn, "15 minutes, as a string")
	acct := map[string]string{"Authorization": "Bearer " + tok.AccessToken, "Ocp-Apim-Subscription-Key": "", "Merchant-Serial-Number": ""}

	status, body = h.call(http.MethodGet, "/settlement/v1/ledgers", nil, acct)
	require.Equal(t, http.StatusOK, status, string(body))
	var ledgers struct {
		Items []struct {
			LedgerID string   `json:"ledgerId"`
			Handles  []string `json:"settlesForRecipientHandles"`
		} `json:"items"`
	}
	require.NoError(t, json.Unmarshal(body, &ledgers))
	require.Len(t, ledgers.Items, 1, "only the granted MSN's ledger")
	assert.Equal(t, []string{"api:" + otherUnit.MSN}, ledgers.Items[0].Handles)

	// No other API takes accounting keys.
	status, body = h.call(http.MethodGet, "/epayment/v1/payments/ref-aaaa1", nil, acct)
	assert.Contains(t, apimMessage(t, status, body, http.StatusUnauthorized), "missing subscription key")
	// The token expires after 15 minutes.
	h.clock.Advance(16 * time.Minute)
	status, body = h.call(http.MethodGet, "/settlement/v1/ledgers", nil, acct)
	assert.Contains(t, apimMessage(t, status, body, http.StatusUnauthorized), "expired")
}
