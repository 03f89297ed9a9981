package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/finance"
)

func (e *testEnv) finance(method, path string, body io.Reader) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.m.PublicURL()+path, body)
	require.NoError(e.t, err)
	req.Header.Set("Authorization", "Bearer "+e.m.Config.APITokens.Finance)
	resp, err := e.http.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp.StatusCode, b
}

// The sandbox turns the payments made in it into settlement data: the fake
// Vipps books captures, fees and payouts per Oslo day and serves them
// through the Report API, the fake Kustom settles orders paid with Klarna.
// A sync and a reconciliation then account for every krone.
func TestSandboxReconciliation(t *testing.T) {
	e := startMain(t, nil)
	day := osloDay(e.clock.Now())
	var refs []string
	for i := range 3 {
		p := e.paid()
		e.settle()
		status, body := e.call("POST", "/api/v1/payments/"+p.Reference+"/capture", "cap-"+p.Reference, `{"amount":{"value":44700,"currency":"NOK"}}`)
		require.Equal(t, http.StatusOK, status, body)
		if i == 0 {
			status, body = e.call("POST", "/api/v1/payments/"+p.Reference+"/refund", "ref-"+p.Reference, `{"amount":{"value":10000,"currency":"NOK"}}`)
			require.Equal(t, http.StatusOK, status, body)
		}
		refs = append(refs, p.Reference)
	}
	e.settle()
	// Two days on, Vipps has closed the day and scheduled the payout.
	e.clock.Advance(50 * time.Hour)
	from := osloDay(e.clock.Now().AddDate(0, 0, -3))
	to := osloDay(e.clock.Now())
	status, body := e.finance("POST", "/api/v1/settlements/sync?from="+from+"&to="+to, nil)
	require.Equal(t, http.StatusOK, status, string(body))
	var syncs struct{ Syncs []finance.SyncResult }
	require.NoError(t, json.Unmarshal(body, &syncs))
	require.NotEmpty(t, syncs.Syncs)
	for _, s := range syncs.Syncs {
		require.Empty(t, s.Error, s.Source)
	}
	// Syncing again imports nothing new.
	status, body = e.finance("POST", "/api/v1/settlements/sync?from="+from+"&to="+to, nil)
	require.Equal(t, http.StatusOK, status, string(body))
	require.NoError(t, json.Unmarshal(body, &syncs))
	for _, s := range syncs.Syncs {
		require.Zero(t, s.Result.NewLines, s.Source)
	}

	status, body = e.finance("GET", "/api/v1/reconciliation?from="+day+"&to="+day, nil)
	require.Equal(t, http.StatusOK, status, string(body))
	var rec finance.Reconciliation
	require.NoError(t, json.Unmarshal(body, &rec))
	require.Empty(t, rec.Exceptions, string(body))
	require.Empty(t, rec.Pending)
	require.NotEmpty(t, rec.Payouts)
	var net int64
	for _, p := range rec.Payouts {
		require.Equal(t, p.Paid, p.Net, "payout %s balances to the øre", p.ID)
		net += p.Net
	}
	// 3 × 447.00 captured, 100.00 refunded, 1.75 % fee on each capture.
	fee := (44700*175 + 5000) / 10000
	require.Equal(t, int64(3*44700-10000-3*fee), net)

	status, body = e.finance("GET", "/api/v1/reconciliation?format=csv&from="+day+"&to="+day, nil)
	require.Equal(t, http.StatusOK, status)
	require.True(t, strings.HasPrefix(string(body), "section,reason,provider,date,payout_id"), string(body))
	require.Contains(t, string(body), "\npayout,,vipps,")

	status, body = e.finance("GET", "/finance?from="+day+"&to="+day, nil)
	require.Equal(t, http.StatusOK, status, string(body))
	require.Contains(t, string(body), `id="no-exceptions"`)
	require.Contains(t, string(body), "<svg")
}

func TestFinanceImportAndExceptions(t *testing.T) {
	e := startMain(t, nil)
	sample, err := os.ReadFile("vipps/settlement/testdata/xml/Example-Net.xml")
	require.NoError(t, err, "the sample is kept in the module")
	status, body := e.finance("POST", "/api/v1/settlements/vipps?name=Example-Net.xml", strings.NewReader(string(sample)))
	require.Equal(t, http.StatusOK, status, string(body))
	var imp struct{ Result bridge.ImportResult }
	require.NoError(t, json.Unmarshal(body, &imp))
	require.Positive(t, imp.Result.NewLines)
	status, body = e.finance("POST", "/api/v1/settlements/vipps?name=again.xml", strings.NewReader(string(sample)))
	require.Equal(t, http.StatusOK, status, string(body))
	require.NoError(t, json.Unmarshal(body, &imp))
	require.True(t, imp.Result.AlreadyImported, "the same file twice changes nothing")

	status, body = e.finance("POST", "/api/v1/settlements/vipps?name=bad.xml", strings.NewReader("<SettlementReport>"))
	require.Equal(t, http.StatusBadRequest, status, string(body))
	require.Contains(t, string(body), "malformed_file")

	// The sample's orders are not ours: every line is settled but unknown,
	// and every payout still balances.
	lines, err := e.m.Store.SettlementLines(context.Background(), "2000-01-01", "2100-01-01")
	require.NoError(t, err)
	from, to := lines[0].LedgerDate, lines[len(lines)-1].LedgerDate
	for _, l := range lines {
		from, to = min(from, l.LedgerDate), max(to, l.LedgerDate)
	}
	status, body = e.finance("GET", "/api/v1/reconciliation?from="+from+"&to="+to, nil)
	require.Equal(t, http.StatusOK, status, string(body))
	var rec finance.Reconciliation
	require.NoError(t, json.Unmarshal(body, &rec))
	require.NotEmpty(t, rec.Exceptions)
	for _, x := range rec.Exceptions {
		require.Equal(t, "settled_unknown", string(x.Reason), x.Detail())
	}

	for _, path := range []string{"/api/v1/reconciliation", "/finance", "/api/v1/settlements/sync"} {
		req, _ := http.NewRequest("GET", e.m.PublicURL()+path, nil)
		if strings.HasSuffix(path, "sync") {
			req.Method = "POST"
		}
		req.Header.Set("Authorization", "Bearer "+e.m.Config.APITokens.Merchant)
		resp, err := e.http.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the merchant token is not the finance token: %s", path)
	}
	status, _ = e.finance("GET", "/api/v1/reconciliation?from=2026-13-01&to=2026-01-01", nil)
	require.Equal(t, http.StatusBadRequest, status)
}

func TestSettlementCommands(t *testing.T) {
	sample := "vipps/settlement/testdata/xml/Example-Gross.xml"
	_, err := os.Stat(sample)
	require.NoError(t, err, "the sample is kept in the module")
	cfgFile := testConfigFile(t)
	env := func(string) string { return "" }

	var out, progress strings.Builder
	require.NoError(t, run(context.Background(), []string{"-config", cfgFile, "settlements", "import", "-provider", "vipps", sample}, env, &out, &progress))
	require.Contains(t, progress.String(), "100%", "a progress bar is drawn")
	require.Contains(t, out.String(), `"new_lines": 48`)
	out.Reset()
	require.NoError(t, run(context.Background(), []string{"-config", cfgFile, "settlements", "import", "-provider", "vipps", sample}, env, &out, io.Discard))
	require.Contains(t, out.String(), `"already_imported": true`)

	out.Reset()
	require.NoError(t, run(context.Background(), []string{"-config", cfgFile, "reconcile", "-from", "2018-01-01", "-to", "2018-12-31"}, env, &out, io.Discard))
	require.True(t, strings.HasPrefix(out.String(), "section,reason"), out.String())
	require.Contains(t, out.String(), "exception,settled_unknown")

	err = run(context.Background(), []string{"-config", cfgFile, "settlements", "import", "-provider", "vipps", "config.yaml"}, env, io.Discard, io.Discard)
	require.Error(t, err, "a file that is not a settlement report is refused")
}

// The CSV report states no settled amount: its payout is its stated net.
// (The sample's stated net leaves out its refund, so that one payout does
// not add up, and the reconciliation says so.)
func TestVippsCSVPayoutIsItsNet(t *testing.T) {
	e := startMain(t, nil)
	sample, err := os.ReadFile("vipps/settlement/testdata/csv/settlement-report.csv")
	require.NoError(t, err, "the sample is kept in the module")
	status, body := e.finance("POST", "/api/v1/settlements/vipps?name=settlement-report.csv", strings.NewReader(string(sample)))
	require.Equal(t, http.StatusOK, status, string(body))
	payouts, err := e.m.Store.SettlementPayouts(context.Background(), "2000-01-01", "2100-01-01")
	require.NoError(t, err)
	require.Len(t, payouts, 1)
	require.Equal(t, int64(1645062), payouts[0].Amount, "the stated net 16450,62")
}
