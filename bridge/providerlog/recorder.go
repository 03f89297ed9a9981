// Package providerlog keeps every request the Vipps and Kustom clients make
// and every answer they get, in the store, as the clients' Observer hooks:
// a provider's error body is never thrown away, and a payment's log shows
// its calls in full.
package providerlog

import (
	"context"
	"net/http"
	"sort"
	"strings"

	"vippskco/bridge"
	"vippskco/klarna"
	"vippskco/vipps"
)

// Recorder stores every provider request and response. Its methods
// are the clients' Observer hooks. Personal data in the bodies (names,
// e-mail, phone numbers, street addresses and postal codes) is masked
// before anything is stored (MaskPersonal). A failure to store is logged, never
// returned: the log must not break a payment.
type Recorder struct {
	Store  bridge.ProviderLog
	Logger interface {
		Error(msg string, args ...any)
	}
	// Metrics gets each exchange's duration and, for a failure, its
	// status and error code; nil records nothing.
	Metrics bridge.Metrics
}

// Vipps records one Vipps exchange.
func (r *Recorder) Vipps(ctx context.Context, ex vipps.Exchange) {
	ref := ex.Reference
	if ref == "" {
		ref = bridge.LogKey(ctx)
	}
	r.save(ctx, &bridge.ProviderExchange{
		Reference: ref, Provider: "vipps", Operation: ex.Op, Method: ex.Method, URL: ex.URL,
		RequestHeaders: headerText(ex.RequestHeaders), RequestBody: MaskPersonal(string(ex.RequestBody)),
		StatusCode: ex.StatusCode, ResponseHeaders: headerText(ex.ResponseHeaders), ResponseBody: MaskPersonal(string(ex.ResponseBody)),
		Error: errText(ex.Err), Attempt: ex.Attempt, StartedAt: ex.Started.UTC(), Duration: ex.Duration,
	})
	if r.Metrics != nil {
		r.Metrics.ProviderExchange("vipps", ex.Op, ex.StatusCode, ex.Duration, ex.Err)
	}
}

// Kustom records one Kustom exchange under its order's log key.
func (r *Recorder) Kustom(ctx context.Context, ex klarna.Exchange) {
	ref := bridge.LogKey(ctx)
	if ref == "" && ex.OrderID != "" {
		ref = bridge.KustomLogKey(ex.OrderID)
	}
	r.save(ctx, &bridge.ProviderExchange{
		Reference: ref, Provider: "kustom", Operation: ex.Op, Method: ex.Method, URL: ex.URL,
		RequestHeaders: headerText(ex.RequestHeaders), RequestBody: MaskPersonal(string(ex.RequestBody)),
		StatusCode: ex.StatusCode, ResponseHeaders: headerText(ex.ResponseHeaders), ResponseBody: MaskPersonal(string(ex.ResponseBody)),
		Error: errText(ex.Err), Attempt: ex.Attempt, StartedAt: ex.Started.UTC(), Duration: ex.Duration,
	})
	if r.Metrics != nil {
		r.Metrics.ProviderExchange("kustom", ex.Op, ex.StatusCode, ex.Duration, ex.Err)
	}
}

func (r *Recorder) save(ctx context.Context, ex *bridge.ProviderExchange) {
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
