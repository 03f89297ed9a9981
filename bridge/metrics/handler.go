package metrics

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves the metrics in the Prometheus exposition formats. It has
// no authentication: it is for the operations network, and the load
// balancer must not route it from the internet; the labels carry no payment
// reference, token or personal data. A nil *Metrics serves 404.
func Handler(m *Metrics) http.Handler {
	if m == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "metrics are not enabled", http.StatusNotFound)
		})
	}
	return promhttp.HandlerFor(m.Registry(), promhttp.HandlerOpts{
		// A failing backlog count must not hide every other metric.
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slogPromLogger{},
	})
}

// slogPromLogger logs the errors promhttp meets while gathering.
type slogPromLogger struct{}

func (slogPromLogger) Println(v ...any) { slog.Error("serving metrics", "err", fmt.Sprint(v...)) }
