package bridge

import (
	"context"
	"time"
)

// Metrics is what the domain reports for monitoring. bridge/metrics
// implements it for Prometheus; a Service without one reports nothing.
type Metrics interface {
	// PaymentStored counts a new attempt, stored PENDING.
	PaymentStored(unit string)
	// PaymentTransition counts one committed state change of a payment
	// created at createdAt; at is when it was committed.
	PaymentTransition(unit string, from, to PaymentState, source string, createdAt, at time.Time)
	// PollerCatchup counts a state the poller found before any webhook.
	PollerCatchup(unit string, to PaymentState)
	// WebhookReceived and WebhookRejected count Vipps webhook deliveries
	// for a configured unit, and the ones refused, by reason.
	WebhookReceived(unit string)
	WebhookRejected(unit, reason string)
	// WebhookIgnored counts a verified delivery acknowledged without
	// effect: a duplicate, an unknown reference, or a payment of another
	// sales unit (the log shows only a sample of the unknown references).
	WebhookIgnored(unit, reason string)
	// OutboxDelivered counts a notification the merchant accepted;
	// OutboxDeliveryFailed a failed attempt (status 0: no answer).
	OutboxDelivered()
	OutboxDeliveryFailed(status int)
	// OutboxBacklog gives the function that counts undelivered
	// notifications when the metrics are read.
	OutboxBacklog(count func(context.Context) (int, error))
	// ProviderExchange records one HTTP attempt to a provider; err is the
	// client's error, whose provider error code becomes a label.
	ProviderExchange(provider, operation string, status int, d time.Duration, err error)
}

// noMetrics reports nothing.
type noMetrics struct{}

func (noMetrics) PaymentStored(string) {}
func (noMetrics) PaymentTransition(string, PaymentState, PaymentState, string, time.Time, time.Time) {
}
func (noMetrics) PollerCatchup(string, PaymentState)                         {}
func (noMetrics) WebhookReceived(string)                                     {}
func (noMetrics) WebhookRejected(string, string)                             {}
func (noMetrics) WebhookIgnored(string, string)                              {}
func (noMetrics) OutboxDelivered()                                           {}
func (noMetrics) OutboxDeliveryFailed(int)                                   {}
func (noMetrics) OutboxBacklog(func(context.Context) (int, error))           {}
func (noMetrics) ProviderExchange(string, string, int, time.Duration, error) {}

// metrics is where the service reports: its Metrics, or nowhere.
func (s *Service) metrics() Metrics {
	if s.Metrics == nil {
		return noMetrics{}
	}
	return s.Metrics
}
