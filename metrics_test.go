package main

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/config"
	"vippskco/vipps"
	"vippskco/vipps/vippstest"
)

// scrape reads /metrics as Prometheus does, without a token.
func (e *testEnv) scrape() map[string]*dto.MetricFamily {
	e.t.Helper()
	resp, err := e.http.Get(e.m.PublicURL() + "/metrics")
	require.NoError(e.t, err)
	defer resp.Body.Close()
	require.Equal(e.t, http.StatusOK, resp.StatusCode)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(e.t, err)
	return families
}

// sample is the value of one series: a counter's or gauge's value, a
// histogram's count. want holds the labels the series must have; the
// values of every matching series are added up.
func sample(families map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := families[name]
	if f == nil {
		return 0
	}
	total := 0.0
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		ok := true
		for k, v := range want {
			if labels[k] != v {
				ok = false
			}
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			total += m.GetCounter().GetValue()
		case m.Gauge != nil:
			total += m.GetGauge().GetValue()
		case m.Histogram != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return total
}

// A payment run end to end in the sandbox (webhooks, a capture, a forged
// webhook, a dropped one the poller makes up for, a refused order, a
// reconciliation and a merchant endpoint that goes down) shows in /metrics
// with every family the issue asks for.
func TestMetricsAfterEndToEnd(t *testing.T) {
	var merchantDown atomic.Bool
	var merchantHits atomic.Int64
	merchant := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		merchantHits.Add(1)
		if merchantDown.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(merchant.Close)
	e := startMain(t, func(c *config.Config) { c.MerchantWebhook.URL = merchant.URL + "/hooks" })
	day := osloDay(e.clock.Now())

	// Paid, told by the webhook, and captured through the API.
	p := e.paid()
	e.settle()
	require.Equal(t, bridge.StateAuthorized, e.payment(p.Reference).State)
	status, body := e.call("POST", "/api/v1/payments/"+p.Reference+"/capture", "cap-1", `{"amount":{"value":20000,"currency":"NOK"}}`)
	require.Equal(t, http.StatusOK, status, body)
	e.settle()

	// A forged webhook is refused.
	ev := vipps.WebhookEvent{MSN: "123456", Reference: p.Reference, PSPReference: "2018200034", Name: vipps.EventAuthorized,
		Amount: vipps.Amount{Currency: "NOK", Value: 44700}, Timestamp: e.clock.Now(), Success: true}
	require.Equal(t, http.StatusUnauthorized, e.signedWebhook(ev, func(h http.Header, _ *[]byte) {
		h.Set("Authorization", "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	}))

	// An order Kustom does not know: a provider error.
	resp, _ := e.get(e.redirectURL("3fa85f64-5717-4562-b3fc-2c963f66afa6"))
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	// Webhooks lost: the poller finds the authorization.
	e.m.Sandbox.Vipps.SetFaults(vippstest.Faults{DropWebhookRate: 1})
	p2 := e.paid()
	e.settle()
	require.Equal(t, bridge.StateCreated, e.payment(p2.Reference).State)
	e.clock.Advance(6 * time.Second)
	require.Eventually(t, func() bool { return e.payment(p2.Reference).State == bridge.StateAuthorized }, 10*time.Second, 50*time.Millisecond)
	e.m.Sandbox.Vipps.SetFaults(vippstest.Faults{})
	e.settle()
	require.Eventually(t, func() bool { return sample(e.scrape(), "vippskco_outbox_deliveries_total", nil) >= 3 }, 10*time.Second, 50*time.Millisecond,
		"payment.authorized twice and payment.captured reach the merchant")

	// Four days on, the capture has no settlement line: an exception.
	e.clock.Advance(96 * time.Hour)
	status, raw := e.finance("GET", "/api/v1/reconciliation?from="+day+"&to="+day, nil)
	require.Equal(t, http.StatusOK, status, string(raw))
	require.Contains(t, string(raw), "captured_not_settled")

	// The merchant's endpoint goes down: the next notification waits.
	merchantDown.Store(true)
	p3 := e.paid()
	e.settle()
	require.Equal(t, bridge.StateAuthorized, e.payment(p3.Reference).State)
	require.Eventually(t, func() bool {
		return sample(e.scrape(), "vippskco_outbox_delivery_failures_total", map[string]string{"status": "503"}) > 0
	}, 10*time.Second, 50*time.Millisecond)

	got := e.scrape()
	for _, c := range []struct {
		name   string
		labels map[string]string
	}{
		{"vippskco_payments", map[string]string{"unit": "webshop", "state": "AUTHORIZED"}},
		{"vippskco_payment_transitions_total", map[string]string{"unit": "webshop", "from": "PENDING", "to": "CREATED", "source": "redirect"}},
		{"vippskco_payment_transitions_total", map[string]string{"unit": "webshop", "from": "CREATED", "to": "AUTHORIZED", "source": "webhook"}},
		{"vippskco_payment_transitions_total", map[string]string{"unit": "webshop", "from": "CREATED", "to": "AUTHORIZED", "source": "poller"}},
		{"vippskco_authorization_seconds", map[string]string{"unit": "webshop"}},
		{"vippskco_webhooks_received_total", map[string]string{"unit": "webshop"}},
		{"vippskco_webhooks_rejected_total", map[string]string{"unit": "webshop", "reason": bridge.RejectSignature}},
		{"vippskco_poller_catchups_total", map[string]string{"unit": "webshop", "to": "AUTHORIZED"}},
		{"vippskco_outbox_backlog", nil},
		{"vippskco_outbox_deliveries_total", nil},
		{"vippskco_outbox_delivery_failures_total", map[string]string{"status": "503"}},
		{"vippskco_provider_request_seconds", map[string]string{"provider": "vipps", "operation": "create"}},
		{"vippskco_provider_request_seconds", map[string]string{"provider": "vipps", "operation": "capture"}},
		{"vippskco_provider_request_seconds", map[string]string{"provider": "kustom", "operation": "read"}},
		{"vippskco_provider_errors_total", map[string]string{"provider": "kustom", "operation": "read", "status": "404"}},
		{"vippskco_reconciliation_exceptions", map[string]string{"reason": "captured_not_settled"}},
	} {
		require.Positive(t, sample(got, c.name, c.labels), "%s%v", c.name, c.labels)
	}
	require.Equal(t, 3.0, sample(got, "vippskco_payments", map[string]string{"state": "AUTHORIZED"}))
	require.Zero(t, sample(got, "vippskco_payments", map[string]string{"state": "CREATED"}))
	require.Equal(t, 1.0, sample(got, "vippskco_poller_catchups_total", nil))
	require.Equal(t, 1.0, sample(got, "vippskco_webhooks_rejected_total", nil))
	require.Zero(t, sample(got, "vippskco_reconciliation_exceptions", map[string]string{"reason": "paid_twice"}),
		"every reason is present, at zero when it has no exception")
	require.Contains(t, got, "go_goroutines")
	require.Positive(t, merchantHits.Load())
}

// With server.ops_addr set, /metrics and the profiler are served there and
// /metrics is gone from the address shoppers reach.
func TestOpsListenerServesMetricsAndProfiler(t *testing.T) {
	e := startMain(t, func(c *config.Config) { c.Server.OpsAddr = "127.0.0.1:0" })
	ops := "http://" + e.m.OpsAddr()
	for path, want := range map[string]string{"/metrics": "vippskco_", "/debug/pprof/": "goroutine"} {
		resp, body := e.get(ops + path)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.Contains(t, body, want, path)
	}
	resp, _ := e.get(e.m.PublicURL() + "/metrics")
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "no /metrics on the public listener")
	resp, _ = e.get(e.m.PublicURL() + "/debug/pprof/")
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "no profiler on the public listener")

	// Without it, /metrics stays where it was and no second listener opens.
	plain := startMain(t, nil)
	require.Empty(t, plain.m.OpsAddr())
	require.NotEmpty(t, plain.scrape())
}
