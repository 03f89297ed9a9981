package web

import (
	"net/http"
	"net/http/pprof"

	"vippskco/bridge/metrics"
)

// OpsHandler is what the operations listener (server.ops_addr) serves:
// the Prometheus metrics at /metrics and Go's profiler at /debug/pprof/.
// Neither asks for credentials, so the listener belongs on an address only
// the operations network reaches (loopback by default).
func OpsHandler(m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(m))
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}
