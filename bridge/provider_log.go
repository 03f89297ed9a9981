package bridge

import (
	"context"
	"net/http"
	"sort"
	"strings"

	"vippskco/klarna"
	"vippskco/vipps"
)

type logKeyCtx struct{}

// withLogKey tells the provider observers which log a call belongs to, for
// calls whose URL does not say (the KCO order read happens before the Vipps
// reference exists).
func withLogKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, logKeyCtx{}, key)
}

func logKeyFrom(ctx context.Context) string {
	k, _ := ctx.Value(logKeyCtx{}).(string)
	return k
}

// kustomLogKey is the log key of calls about a KCO order; a payment's log
// shows them beside its own Vipps calls.
func kustomLogKey(kcoOrderID string) string { return "kco:" + kcoOrderID }

// ExchangeRecorder stores every provider request and response. Its methods
// are the clients' Observer hooks. A failure to store is logged, never
// returned: the log must not break a payment.
type ExchangeRecorder struct {
	Store  Store
	Logger interface {
		Error(msg string, args ...any)
	}
	// Metrics gets each exchange's duration and, for a failure, its
	// status and error code; nil records nothing.
	Metrics Metrics
}

// Vipps records one Vipps exchange.
func (r *ExchangeRecorder) Vipps(ctx context.Context, ex vipps.Exchange) {
	ref := ex.Reference
	if ref == "" {
		ref = logKeyFrom(ctx)
	}
	r.save(ctx, &ProviderExchange{
		Reference: ref, Provider: "vipps", Operation: ex.Op, Method: ex.Method, URL: ex.URL,
		RequestHeaders: headerText(ex.RequestHeaders), RequestBody: string(ex.RequestBody),
		StatusCode: ex.StatusCode, ResponseHeaders: headerText(ex.ResponseHeaders), ResponseBody: string(ex.ResponseBody),
		Error: errText(ex.Err), Attempt: ex.Attempt, StartedAt: ex.Started.UTC(), Duration: ex.Duration,
	})
	r.metrics().ProviderExchange("vipps", ex.Op, ex.StatusCode, ex.Duration, ex.Err)
}

// Kustom records one Kustom exchange under its order's log key.
func (r *ExchangeRecorder) Kustom(ctx context.Context, ex klarna.Exchange) {
	ref := logKeyFrom(ctx)
	if ref == "" && ex.OrderID != "" {
		ref = kustomLogKey(ex.OrderID)
	}
	r.save(ctx, &ProviderExchange{
		Reference: ref, Provider: "kustom", Operation: ex.Op, Method: ex.Method, URL: ex.URL,
		RequestHeaders: headerText(ex.RequestHeaders), RequestBody: string(ex.RequestBody),
		StatusCode: ex.StatusCode, ResponseHeaders: headerText(ex.ResponseHeaders), ResponseBody: string(ex.ResponseBody),
		Error: errText(ex.Err), Attempt: ex.Attempt, StartedAt: ex.Started.UTC(), Duration: ex.Duration,
	})
	r.metrics().ProviderExchange("kustom", ex.Op, ex.StatusCode, ex.Duration, ex.Err)
}

func (r *ExchangeRecorder) metrics() Metrics {
	if r.Metrics == nil {
		return noMetrics{}
	}
	return r.Metrics
}

func (r *ExchangeRecorder) save(ctx context.Context, ex *ProviderExchange) {
	// The request's context may be cancelled (a timeout is exactly when the
	// log matters most), so the write does not inherit it.
	if err := r.Store.AppendExchange(context.WithoutCancel(ctx), ex); err != nil && r.Logger != nil {
		r.Logger.Error("storing provider exchange", "provider", ex.Provider, "op", ex.Operation, "err", err)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func headerText(h http.Header) string {
	if len(h) == 0 {
		return ""
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, v := range h[k] {
			b.WriteString(k)
			b.WriteString(": ")
			b.WriteString(v)
			b.WriteString("\n")
		}
	}
	return b.String()
}

// PaymentLog returns every provider exchange about a payment, its own Vipps
// calls and the reads of its KCO order, in time order.
func (s *Service) PaymentLog(ctx context.Context, reference string) ([]ProviderExchange, error) {
	p, err := s.Store.Payment(ctx, reference)
	if err != nil {
		return nil, err
	}
	own, err := s.Store.Exchanges(ctx, p.Reference)
	if err != nil {
		return nil, err
	}
	order, err := s.Store.Exchanges(ctx, kustomLogKey(p.KCOOrderID))
	if err != nil {
		return nil, err
	}
	all := append(own, order...)
	sort.SliceStable(all, func(i, j int) bool { return all[i].StartedAt.Before(all[j].StartedAt) })
	return all, nil
}
