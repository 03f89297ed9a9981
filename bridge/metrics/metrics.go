// Package metrics keeps the service's Prometheus metrics. It implements
// the bridge.Metrics the domain reports to, and serves them at /metrics.
package metrics

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"vippskco/bridge"
	"vippskco/bridge/reconcile"
	"vippskco/klarna"
	"vippskco/vipps"
)

// Metrics are the service's Prometheus metrics, on a registry of their own
// (not the process-wide default), so that several services in one process
// (the tests start many) never collide. Every method is safe on a nil
// *Metrics, which records nothing.
//
// Labels take only bounded values: configured unit ids, our payment states
// and sources, the webhook rejection reasons, provider operation names,
// HTTP statuses and provider error codes.
type Metrics struct {
	reg *prometheus.Registry

	transitions      *prometheus.CounterVec
	payments         *prometheus.GaugeVec
	authorization    *prometheus.HistogramVec
	webhooksReceived *prometheus.CounterVec
	webhooksRejected *prometheus.CounterVec
	webhooksIgnored  *prometheus.CounterVec
	pollerCatchups   *prometheus.CounterVec
	outboxDeliveries prometheus.Counter
	outboxFailures   *prometheus.CounterVec
	providerSeconds  *prometheus.HistogramVec
	providerErrors   *prometheus.CounterVec
	reconExceptions  *prometheus.GaugeVec

	backlogDesc *prometheus.Desc
	backlogMu   sync.Mutex
	backlog     func(context.Context) (int, error)
}

// backlogTimeout bounds the store read of one scrape.
const backlogTimeout = 5 * time.Second

// New returns the metrics, with the Go runtime and process
// collectors, registered on a new registry.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vippskco_payment_transitions_total",
			Help: "Payment state changes committed by this process, by sales unit, from and to state, and the channel that caused them (redirect, return, status, webhook, poller, merchant, direct-capture, guard).",
		}, []string{"unit", "from", "to", "source"}),
		payments: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vippskco_payments",
			Help: "Payments by sales unit and state, as seen by this process: +1 for each attempt it stores (PENDING) and, for each state change it commits, -1 on the old state and +1 on the new. It starts at zero, so it counts only what happened since start-up (a state can go negative when a payment stored before, or by another replica, moves on); sum it over replicas for the fleet's net change since they started.",
		}, []string{"unit", "state"}),
		authorization: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vippskco_authorization_seconds",
			Help:    "Time from storing a payment attempt to its AUTHORIZED state, by sales unit.",
			Buckets: []float64{1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600},
		}, []string{"unit"}),
		webhooksReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vippskco_webhooks_received_total",
			Help: "Vipps ePayment webhooks received for a configured sales unit, accepted or not.",
		}, []string{"unit"}),
		webhooksRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vippskco_webhooks_rejected_total",
			Help: "Vipps webhooks refused, by sales unit and reason (missing_header, body_hash, signature, stale, malformed, no_webhook_secret).",
		}, []string{"unit", "reason"}),
		webhooksIgnored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vippskco_webhooks_ignored_total",
			Help: "Verified Vipps webhooks acknowledged without effect, by sales unit and reason (duplicate, unknown_reference, unknown_own_reference, other_unit).",
		}, []string{"unit", "reason"}),
		pollerCatchups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vippskco_poller_catchups_total",
			Help: "Payment states the poller found before any webhook reported them (the webhooks were missed or late), by sales unit and new state.",
		}, []string{"unit", "to"}),
		outboxDeliveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vippskco_outbox_deliveries_total",
			Help: "Notifications delivered to the merchant's webhook (answered 2xx).",
		}),
		outboxFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vippskco_outbox_delivery_failures_total",
			Help: "Failed attempts to deliver a notification to the merchant's webhook, by HTTP status (0: no answer: connection error or timeout).",
		}, []string{"status"}),
		providerSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vippskco_provider_request_seconds",
			Help:    "Duration of each HTTP attempt to a provider (vipps or kustom), by operation; retries are attempts of their own.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30},
		}, []string{"provider", "operation"}),
		providerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vippskco_provider_errors_total",
			Help: "Provider attempts that failed, by provider, operation, HTTP status (0: no answer) and error code (the Vipps ErrorCode or the Kustom error_code of the answer, or empty).",
		}, []string{"provider", "operation", "status", "code"}),
		reconExceptions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vippskco_reconciliation_exceptions",
			Help: "Exceptions found by the latest reconciliation this process ran (whatever period it covered), by reason.",
		}, []string{"reason"}),
		backlogDesc: prometheus.NewDesc("vippskco_outbox_backlog",
			"Notifications not yet delivered nor given up, counted in the store at scrape time (shared by all replicas of one database), at most "+strconv.Itoa(bridge.OutboxBacklogCap)+".",
			nil, nil),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.transitions, m.payments, m.authorization, m.webhooksReceived, m.webhooksRejected, m.webhooksIgnored, m.pollerCatchups,
		m.outboxDeliveries, m.outboxFailures, m.providerSeconds, m.providerErrors, m.reconExceptions,
		backlogCollector{m},
	)
	return m
}

// Registry is the registry the metrics are on, for tests and for adding
// collectors of one's own.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// PaymentStored counts a new attempt, stored PENDING.
func (m *Metrics) PaymentStored(unit string) {
	if m == nil {
		return
	}
	m.payments.WithLabelValues(unit, string(bridge.StatePending)).Inc()
}

// PaymentTransition counts one committed state change of a payment of unit
// created at createdAt; at is when it was committed. A change to AUTHORIZED
// also records the time from create to authorization.
func (m *Metrics) PaymentTransition(unit string, from, to bridge.PaymentState, source string, createdAt, at time.Time) {
	if m == nil || from == to {
		return
	}
	m.transitions.WithLabelValues(unit, string(from), string(to), source).Inc()
	m.payments.WithLabelValues(unit, string(from)).Dec()
	m.payments.WithLabelValues(unit, string(to)).Inc()
	if to == bridge.StateAuthorized && !createdAt.IsZero() {
		m.authorization.WithLabelValues(unit).Observe(max(at.Sub(createdAt), 0).Seconds())
	}
}

// PollerCatchup counts a state the poller found before any webhook said it.
func (m *Metrics) PollerCatchup(unit string, to bridge.PaymentState) {
	if m == nil {
		return
	}
	m.pollerCatchups.WithLabelValues(unit, string(to)).Inc()
}

// WebhookReceived counts a webhook delivery for a configured unit.
func (m *Metrics) WebhookReceived(unit string) {
	if m == nil {
		return
	}
	m.webhooksReceived.WithLabelValues(unit).Inc()
}

// WebhookRejected counts a webhook refused for reason.
func (m *Metrics) WebhookRejected(unit, reason string) {
	if m == nil {
		return
	}
	if reason == "" {
		reason = "other"
	}
	m.webhooksRejected.WithLabelValues(unit, reason).Inc()
}

// WebhookIgnored counts a verified webhook acknowledged without effect.
func (m *Metrics) WebhookIgnored(unit, reason string) {
	if m == nil {
		return
	}
	m.webhooksIgnored.WithLabelValues(unit, reason).Inc()
}

// OutboxDelivered counts a notification the merchant accepted.
func (m *Metrics) OutboxDelivered() {
	if m == nil {
		return
	}
	m.outboxDeliveries.Inc()
}

// OutboxDeliveryFailed counts a failed delivery attempt; status is the
// merchant's HTTP status, 0 when no answer came.
func (m *Metrics) OutboxDeliveryFailed(status int) {
	if m == nil {
		return
	}
	m.outboxFailures.WithLabelValues(strconv.Itoa(status)).Inc()
}

// ProviderExchange records one HTTP attempt to a provider: its duration,
// and, when it failed (no answer, or a status of 400 or more), its status
// and error code.
func (m *Metrics) ProviderExchange(provider, operation string, status int, d time.Duration, err error) {
	if m == nil {
		return
	}
	if operation == "" {
		operation = "unknown"
	}
	m.providerSeconds.WithLabelValues(provider, operation).Observe(max(d, 0).Seconds())
	if status == 0 || status >= 400 {
		m.providerErrors.WithLabelValues(provider, operation, strconv.Itoa(status), boundedCode(providerErrorCode(err))).Inc()
	}
}

// Reconciled sets the exception gauge from one reconciliation: every known
// reason is present, zero when it has no exception.
func (m *Metrics) Reconciled(exceptions []reconcile.Exception) {
	if m == nil {
		return
	}
	counts := map[reconcile.Reason]int{}
	for _, r := range []reconcile.Reason{
		reconcile.ReasonPaidTwice, reconcile.ReasonPayoutMismatch, reconcile.ReasonCapturedNotSettled,
		reconcile.ReasonRefundNotSettled, reconcile.ReasonAmountMismatch, reconcile.ReasonSettledUnknown,
		reconcile.ReasonDuplicateLine, reconcile.ReasonFeeMismatch,
	} {
		counts[r] = 0
	}
	for _, x := range exceptions {
		counts[x.Reason]++
	}
	m.reconExceptions.Reset()
	for r, n := range counts {
		m.reconExceptions.WithLabelValues(string(r)).Set(float64(n))
	}
}

// OutboxBacklog makes each scrape count the backlog with count.
func (m *Metrics) OutboxBacklog(count func(context.Context) (int, error)) {
	if m == nil {
		return
	}
	m.backlogMu.Lock()
	m.backlog = count
	m.backlogMu.Unlock()
}

// backlogCollector counts the outbox backlog when scraped; before the
// outbox runs it reports nothing.
type backlogCollector struct{ m *Metrics }

func (c backlogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.m.backlogDesc }

func (c backlogCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.backlogMu.Lock()
	count := c.m.backlog
	c.m.backlogMu.Unlock()
	if count == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), backlogTimeout)
	defer cancel()
	n, err := count(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.m.backlogDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.m.backlogDesc, prometheus.GaugeValue, float64(n))
}

// providerErrorCode is the error code the provider gave in its answer: the
// clients parse it from the problem body (Vipps: the ErrorCode entry of
// extraDetails, or the eCom errorCode; Kustom: error_code) into the error
// they report.
func providerErrorCode(err error) string {
	if code := vipps.ErrorCodeOf(err); code != "" {
		return code
	}
	var kerr *klarna.Error
	if errors.As(err, &kerr) {
		return kerr.ErrorCode
	}
	return ""
}

// boundedCode keeps an error code fit for a label: short, and only letters,
// digits and _ . -; anything else is "other".
func boundedCode(code string) string {
	if len(code) > 40 {
		return "other"
	}
	for _, r := range code {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return "other"
		}
	}
	return code
}
