package web

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"vippskco/bridge"
)

// MetricsHandler serves the metrics in the Prometheus exposition formats. A
// nil *Metrics serves 404.
func MetricsHandler(m *bridge.Metrics) http.Handler {
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

// metricsHandler serves GET /metrics. It has no authentication: it is for
// the operations network, and the load balancer must not route it from the
// internet. The labels carry no payment reference, token or personal data.
func (h *HTTP) metricsHandler() gin.HandlerFunc {
	var m *bridge.Metrics
	if h.Service != nil {
		m = h.Service.Metrics
	}
	return gin.WrapH(MetricsHandler(m))
}

// slogPromLogger logs the errors promhttp meets while gathering.
type slogPromLogger struct{}

func (slogPromLogger) Println(v ...any) { slog.Error("serving metrics", "err", fmt.Sprint(v...)) }
