package vipps

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vippskco/vipps/vippstest"
)

// Accounting-partner keys get their token at /miami/v1/token and read the
// Report API with no subscription key; the sales unit's keys still work
// beside them.
func TestAccountingKeysReadTheReportAPI(t *testing.T) {
	f := newReportFake(t)
	f.pay(f.c, "acct-pay-1", 10000)
	f.srv.AddAccountingPartner(vippstest.AccountingPartner{ClientID: "acct-id", ClientSecret: "acct-secret", MSNs: []string{testMSN}})
	acct := f.client(Credentials{ClientID: "acct-id", ClientSecret: "acct-secret", MSN: testMSN, Accounting: true})

	ledgers, err := acct.ListLedgers(context.Background(), testMSN)
	require.NoError(t, err)
	require.Len(t, ledgers, 1)
	page, err := acct.Feed(context.Background(), ledgers[0].LedgerID, TopicFunds, "")
	require.NoError(t, err)
	require.NotEmpty(t, page.Items, "the capture booked on the unit's ledger")

	f.mu.Lock()
	defer f.mu.Unlock()
	var token, report int
	for _, ex := range f.exchanges {
		if ex.Op == "token" && strings.HasSuffix(ex.URL, "/miami/v1/token") {
			token++
		}
		if ex.Op == "ledgers" || ex.Op == "report-feed" {
			report++
			assert.Empty(t, ex.RequestHeaders.Get("Ocp-Apim-Subscription-Key"), "accounting keys have no subscription key")
		}
	}
	assert.Equal(t, 1, token)
	assert.Equal(t, 2, report)

	_, err = New(Config{BaseURL: f.srv.URL(), System: testSystem, Credentials: Credentials{ClientID: "x", ClientSecret: "y", MSN: testMSN}})
	require.ErrorContains(t, err, "SubscriptionKey is required", "only accounting keys go without one")
}
