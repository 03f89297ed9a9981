package metrics

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/reconcile"
	"vippskco/klarna"
	"vippskco/vipps"
)

// gathered returns name's series as "label=value,..." → value.
func gathered(t *testing.T, m *Metrics, name string) map[string]float64 {
	t.Helper()
	families, err := m.Registry().Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			key := ""
			for _, l := range s.GetLabel() {
				key += l.GetName() + "=" + l.GetValue() + ","
			}
			out[key] = value(s)
		}
	}
	return out
}

func value(s *dto.Metric) float64 {
	switch {
	case s.Counter != nil:
		return s.GetCounter().GetValue()
	case s.Gauge != nil:
		return s.GetGauge().GetValue()
	case s.Histogram != nil:
		return float64(s.GetHistogram().GetSampleCount())
	}
	return 0
}

func TestMetricsNilRecordsNothing(t *testing.T) {
	var m *Metrics
	m.PaymentStored("u")
	m.PaymentTransition("u", bridge.StateCreated, bridge.StateAuthorized, bridge.SourceWebhook, time.Now(), time.Now())
	m.PollerCatchup("u", bridge.StateAuthorized)
	m.WebhookReceived("u")
	m.WebhookRejected("u", bridge.RejectStale)
	m.WebhookIgnored("u", bridge.IgnoreUnknownReference)
	m.OutboxDelivered()
	m.OutboxDeliveryFailed(500)
	m.ProviderExchange("vipps", "get", 500, time.Second, &vipps.Error{StatusCode: 500, ErrorCode: "3010"})
	m.Reconciled(nil)
	m.OutboxBacklog(nil)
	require.Nil(t, m.Registry())
}

func TestMetricsRecordTransitionsAndErrors(t *testing.T) {
	m := New()
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	m.PaymentStored("webshop")
	m.PaymentTransition("webshop", bridge.StatePending, bridge.StateCreated, bridge.SourceRedirect, created, created)
	m.PaymentTransition("webshop", bridge.StateCreated, bridge.StateAuthorized, bridge.SourcePoller, created, created.Add(40*time.Second))
	m.PaymentTransition("webshop", bridge.StateAuthorized, bridge.StateAuthorized, bridge.SourceWebhook, created, created.Add(time.Minute))
	require.Equal(t, map[string]float64{
		"state=AUTHORIZED,unit=webshop,": 1, "state=CREATED,unit=webshop,": 0, "state=PENDING,unit=webshop,": 0,
	}, gathered(t, m, "vippskco_payments"))
	require.Equal(t, map[string]float64{"unit=webshop,": 1}, gathered(t, m, "vippskco_authorization_seconds"))
	require.Len(t, gathered(t, m, "vippskco_payment_transitions_total"), 2, "a non-move is not a transition")

	// The code comes from the problem body as the clients parsed it.
	m.ProviderExchange("vipps", "capture", 400, 80*time.Millisecond,
		fmt.Errorf("capture: %w", &vipps.Error{StatusCode: 400, ErrorCode: "61"}))
	m.ProviderExchange("kustom", "read", 404, 10*time.Millisecond, &klarna.Error{StatusCode: 404, ErrorCode: "NOT_FOUND"})
	m.ProviderExchange("vipps", "get", 0, 20*time.Second, fmt.Errorf("timeout"))
	m.ProviderExchange("vipps", "get", 200, 50*time.Millisecond, nil)
	m.ProviderExchange("vipps", "get", 502, 50*time.Millisecond, &vipps.Error{StatusCode: 502, ErrorCode: `<html>"oops"`})
	require.Equal(t, map[string]float64{
		"code=61,operation=capture,provider=vipps,status=400,":      1,
		"code=NOT_FOUND,operation=read,provider=kustom,status=404,": 1,
		"code=,operation=get,provider=vipps,status=0,":              1,
		"code=other,operation=get,provider=vipps,status=502,":       1,
	}, gathered(t, m, "vippskco_provider_errors_total"))
	require.Equal(t, 3.0, gathered(t, m, "vippskco_provider_request_seconds")["operation=get,provider=vipps,"])
}

func TestMetricsReconciliationIsTheLatestRun(t *testing.T) {
	m := New()
	m.Reconciled([]reconcile.Exception{{Reason: reconcile.ReasonFeeMismatch}, {Reason: reconcile.ReasonFeeMismatch}, {Reason: "new_reason"}})
	got := gathered(t, m, "vippskco_reconciliation_exceptions")
	require.Equal(t, 2.0, got["reason=fee_mismatch,"])
	require.Equal(t, 1.0, got["reason=new_reason,"])
	require.Contains(t, got, "reason=paid_twice,")
	m.Reconciled(nil)
	got = gathered(t, m, "vippskco_reconciliation_exceptions")
	require.Zero(t, got["reason=fee_mismatch,"])
	require.NotContains(t, got, "reason=new_reason,", "a reason the latest run did not find is zero or gone")
}

func TestMetricsOutboxBacklogAtScrape(t *testing.T) {
	m := New()
	require.Empty(t, gathered(t, m, "vippskco_outbox_backlog"), "nothing before the outbox runs")
	m.OutboxBacklog(func(context.Context) (int, error) { return 7, nil })
	require.Equal(t, map[string]float64{"": 7}, gathered(t, m, "vippskco_outbox_backlog"))

	// A store that fails hides the backlog, not the other metrics.
	m.OutboxBacklog(func(context.Context) (int, error) { return 0, errors.New("store closed") })
	m.OutboxDelivered()
	families, err := m.Registry().Gather()
	require.ErrorContains(t, err, "store closed", "the failing count is reported to the scraper")
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
	}
	require.True(t, names["vippskco_outbox_deliveries_total"])
	require.False(t, names["vippskco_outbox_backlog"])
}
