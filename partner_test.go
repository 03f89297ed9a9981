package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/config"
)

// onPartnerKeys puts the shipped unit and two more stores on the keys of
// partner "acme": webshop on MSN 123456, and kiosk and cafe sharing MSN
// 223344 with their own reference prefixes.
func onPartnerKeys(c *config.Config) {
	c.VippsPartners = []config.VippsPartner{{ID: "acme", ClientIDEnv: "ACME_CLIENT_ID", ClientSecretEnv: "ACME_CLIENT_SECRET", SubscriptionKeyEnv: "ACME_SUBSCRIPTION_KEY"}}
	u := &c.Units[0]
	u.Vipps.ClientIDEnv, u.Vipps.ClientSecretEnv, u.Vipps.SubscriptionKeyEnv = "", "", ""
	u.Vipps.Partner = "acme"
	withUnit("kiosk", "ki", func(u *config.Unit) { u.MSN = "223344" })(c)
	withUnit("cafe", "ca", func(u *config.Unit) { u.MSN = "223344" })(c)
}

// paidAt takes a fresh order through unit's redirect and the shopper's approval.
func (e *testEnv) paidAt(unit string) *bridge.Payment {
	e.t.Helper()
	o := e.order(nil)
	entry, err := e.m.Service.EPMEntry(unit, o.OrderID, "nb-NO")
	require.NoError(e.t, err)
	resp, _ := e.get(entry.RedirectURL)
	require.Equal(e.t, http.StatusSeeOther, resp.StatusCode)
	ps, err := e.m.Store.PaymentsByOrder(context.Background(), o.OrderID)
	require.NoError(e.t, err)
	require.Len(e.t, ps, 1)
	require.NoError(e.t, e.m.Sandbox.Vipps.Approve(ps[0].Reference))
	return ps[0]
}

func TestPartnerKeysCarryEachUnitsMSN(t *testing.T) {
	e := startMain(t, onPartnerKeys)
	partnerKey := e.m.Config.VippsPartners[0].SubscriptionKey
	msnOf := map[string]string{"webshop": "123456", "kiosk": "223344", "cafe": "223344"}
	prefixOf := map[string]string{"webshop": "ws-", "kiosk": "ki-", "cafe": "ca-"}
	refs := map[string]string{}
	for unit := range msnOf {
		p := e.paidAt(unit)
		require.True(t, strings.HasPrefix(p.Reference, prefixOf[unit]), p.Reference)
		refs[unit] = p.Reference
	}
	e.settle()
	for unit, ref := range refs {
		require.Equal(t, bridge.StateAuthorized, e.payment(ref).State, unit)
		status, body := e.call("POST", "/api/v1/payments/"+ref+"/capture", "cap-"+unit, `{"amount":{"value":44700,"currency":"NOK"}}`)
		require.Equal(t, http.StatusOK, status, body)
		snap, ok := e.m.Sandbox.Vipps.PaymentOf(msnOf[unit], ref)
		require.True(t, ok, "%s's payment is at its own MSN", unit)
		require.Equal(t, int64(44700), snap.Captured)
		// Each unit's webhook is registered for its MSN, with the partner's keys.
		_, err := e.m.Store.WebhookRegistration(context.Background(), unit)
		require.NoError(t, err, unit)
	}
	e.settle()

	// Every call used the partner's keys and named the MSN of the unit it
	// was for; the fake accepted each one.
	reqs := e.m.Sandbox.Vipps.Requests()
	require.NotEmpty(t, reqs)
	apiCalls := 0
	for _, r := range reqs {
		if r.Op == "landing" || r.Op == "landing-approve" {
			continue
		}
		assert.Equal(t, partnerKey, r.Header.Get("Ocp-Apim-Subscription-Key"), "%s %s", r.Method, r.Path)
		msn := r.Header.Get("Merchant-Serial-Number")
		assert.Contains(t, []string{"123456", "223344"}, msn, "%s %s", r.Method, r.Path)
		assert.Less(t, r.Status, 400, "%s %s", r.Method, r.Path)
		for unit, ref := range refs {
			if strings.Contains(r.Path, ref) || strings.Contains(string(r.Body), `"`+ref+`"`) {
				assert.Equal(t, msnOf[unit], msn, "%s %s is %s's", r.Method, r.Path, unit)
				apiCalls++
			}
		}
	}
	require.GreaterOrEqual(t, apiCalls, 6, "create and capture of each of the three payments at least")

	// Settlement sync: the Report API does not take partner keys, and the
	// sync says so per unit instead of pulling nothing in silence.
	res, err := e.m.Finance.SyncSettlements(context.Background(), "", "")
	require.NoError(t, err)
	off := map[string]string{}
	for _, r := range res {
		if r.Provider == "vipps" {
			off[r.Source] = r.Error
		}
	}
	for unit := range msnOf {
		assert.Contains(t, off["report-api:"+unit], "partner keys", unit)
	}
}

// With accounting-partner keys, units on partner keys have their
// settlements synced from the Report API like any other unit; the keys
// are used for nothing else.
func TestPartnerUnitsSyncSettlementsWithAccountingKeys(t *testing.T) {
	e := startMain(t, func(c *config.Config) {
		onPartnerKeys(c)
		c.VippsAccounting = []config.VippsAccounting{{ID: "books", ClientIDEnv: "BOOKS_CLIENT_ID", ClientSecretEnv: "BOOKS_CLIENT_SECRET"}}
		for i := range c.Units {
			c.Units[i].Vipps.Accounting = "books"
		}
	})
	for _, unit := range []string{"webshop", "kiosk"} {
		p := e.paidAt(unit)
		e.settle()
		status, body := e.call("POST", "/api/v1/payments/"+p.Reference+"/capture", "cap-"+unit, `{"amount":{"value":44700,"currency":"NOK"}}`)
		require.Equal(t, http.StatusOK, status, body)
	}
	e.settle()
	e.clock.Advance(50 * time.Hour)
	res, err := e.m.Finance.SyncSettlements(context.Background(), osloDay(e.clock.Now().AddDate(0, 0, -3)), osloDay(e.clock.Now()))
	require.NoError(t, err)
	ledgers := 0
	for _, r := range res {
		require.Empty(t, r.Error, r.Source)
		if r.Provider == "vipps" {
			ledgers++
			assert.Positive(t, r.Result.NewLines, r.Source)
		}
	}
	require.Equal(t, 2, ledgers, "one ledger per MSN, read once")
	accountingID := e.m.Config.VippsAccounting[0].ClientID
	tokens := 0
	for _, r := range e.m.Sandbox.Vipps.Requests() {
		switch r.Op {
		case "miami-token":
			tokens++
			assert.Equal(t, accountingID, r.Header.Get("client_id"))
		case "ledgers", "report-date", "report-feed":
			assert.Empty(t, r.Header.Get("Ocp-Apim-Subscription-Key"), "the Report API is read with the accounting keys")
			assert.Less(t, r.Status, 400)
		}
	}
	assert.Positive(t, tokens)
}
