package web

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"vippskco/bridge"
	"vippskco/bridge/finance"
	"vippskco/bridge/i18n"
	"vippskco/bridge/metrics"

	"github.com/gin-gonic/gin"
)

// HTTP is the service's HTTP surface (DESIGN.md section 3).
type HTTP struct {
	Service *bridge.Service
	Finance *finance.Service
	// Metrics are served at /metrics, unless MetricsElsewhere, to holders
	// of MetricsToken, or to anyone when MetricsOpen; otherwise (and when
	// nil) /metrics is 404.
	Metrics *metrics.Metrics
	// MetricsElsewhere leaves /metrics to the operations listener
	// (OpsHandler) and off the public one.
	MetricsElsewhere bool
	// MetricsToken, when set, is the bearer token /metrics asks for.
	MetricsToken string
	// MetricsOpen serves /metrics without a token (sandbox on loopback).
	MetricsOpen   bool
	Pages         *Pages
	MerchantToken string
	FinanceToken  string
	// FinanceLang is the finance page's language, that of the first sales
	// unit's country; ?lang=en (or another) switches a view. "" is English.
	FinanceLang i18n.Lang
	// Ready reports whether the store is reachable and migrated.
	Ready func(ctx context.Context) error
	// ShopperLimit rate-limits the shopper endpoints per client; nil: none.
	ShopperLimit *RateLimiter
	// TrustedProxies are the addresses whose X-Forwarded-For is believed
	// when telling clients apart; none by default.
	TrustedProxies []string
	// ServerTiming adds a Server-Timing header (provider and total time)
	// to every response; see server_timing.go.
	ServerTiming bool
	Logger       *slog.Logger
	// RequestTimeout bounds reading a request (its body too) and writing
	// its answer: a client that sends or reads slowly is cut off then.
	// Zero is DefaultRequestTimeout.
	RequestTimeout time.Duration
	// AuthenticatedTimeout replaces it once a request's token is checked:
	// merchant operations wait on the providers, and finance uploads and
	// syncs are long. Zero is DefaultAuthenticatedTimeout.
	AuthenticatedTimeout time.Duration
}

// DefaultRequestTimeout is the deadline of every request until it proves
// who sent it; DefaultAuthenticatedTimeout the one of a request that has
// (a settlement file of hundreds of MiB takes minutes).
const (
	DefaultRequestTimeout       = 20 * time.Second
	DefaultAuthenticatedTimeout = 15 * time.Minute
)

// Handler builds the router.
func (h *HTTP) Handler() http.Handler {
	r := h.router()
	if h.ServerTiming {
		// Around the router, not in it: gin writes a status set without a
		// body past its middleware, straight to this writer.
		return serverTiming(r)
	}
	return r
}

// Routes are the routes Handler serves, for checking them against the
// OpenAPI document.
func (h *HTTP) Routes() gin.RoutesInfo {
	return h.router().Routes()
}

func (h *HTTP) router() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	if err := r.SetTrustedProxies(h.TrustedProxies); err != nil {
		h.logger().Error("trusted proxies", "err", err)
	}
	r.Use(h.deadline, h.requestID, h.accessLog, gin.CustomRecovery(h.recovered), securityHeaders)
	r.HandleMethodNotAllowed = true

	r.GET("/checkout/:unit/vipps", h.limit, h.redirect)
	r.GET("/return/:token", h.limit, h.returnPage)
	r.GET("/status/:token", h.limit, h.api(h.status))
	r.GET("/assets/:file", h.api(h.asset))
	r.HEAD("/assets/:file", h.api(h.asset))
	r.GET("/favicon.ico", h.api(h.asset))
	r.HEAD("/favicon.ico", h.api(h.asset))

	// The API's description is public: it holds no secret, and a client
	// generator reads it before it has a token.
	r.GET("/api/v1/openapi.yaml", openAPIYAML)
	r.GET("/api/v1/openapi.json", openAPIJSON)
	api := r.Group("/api/v1", h.bearer(func() string { return h.MerchantToken }))
	api.GET("/epm/:unit", h.api(h.epm))
	api.GET("/payments", h.api(h.listPayments))
	api.GET("/payments/:reference", h.api(h.getPayment))
	api.GET("/payments/:reference/log", h.api(h.paymentLog))
	api.POST("/payments/:reference/capture", h.api(h.operation(bridge.OpCapture)))
	api.POST("/payments/:reference/cancel", h.api(h.operation(bridge.OpCancel)))
	api.POST("/payments/:reference/refund", h.api(h.operation(bridge.OpRefund)))
	api.GET("/notifications", h.api(h.listNotifications))
	api.GET("/notifications/:id", h.api(h.getNotification))
	api.POST("/notifications/:id/redeliver", h.api(h.redeliverNotification))

	r.POST("/webhooks/vipps/:unit", h.api(h.vippsWebhook))
	r.POST("/callbacks/vipps-ecom/:unit/v2/payments/:orderId", h.api(h.ecomCallback))

	fin := r.Group("", h.financeAuth)
	fin.POST("/api/v1/settlements/sync", h.api(h.syncSettlements))
	fin.POST("/api/v1/settlements/:provider", h.api(h.uploadSettlement))
	fin.GET("/api/v1/reconciliation", h.api(h.reconciliation))
	fin.GET("/finance", h.financePage)

	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", h.readyz)
	switch {
	case h.MetricsElsewhere:
	case h.MetricsToken != "":
		r.GET("/metrics", h.bearer(func() string { return h.MetricsToken }), gin.WrapH(metrics.Handler(h.Metrics)))
	case h.MetricsOpen:
		r.GET("/metrics", gin.WrapH(metrics.Handler(h.Metrics)))
	}
	r.NoRoute(func(c *gin.Context) {
		writeJSONError(c, bridge.Errorf(bridge.ECodeNotFound, "no_route", "no route for %s %s", bridge.Quote(c.Request.Method), bridge.Quote(c.Request.URL.Path)))
	})
	r.NoMethod(func(c *gin.Context) {
		c.JSON(http.StatusMethodNotAllowed, gin.H{"error": gin.H{"code": "method_not_allowed", "message": "method not allowed"}})
	})
	return r
}

func (h *HTTP) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

// deadline gives the request the short deadline for reading its body and
// writing its answer; a check of its token extends it (extendDeadline).
// When the deadline passes, the connection's reads and writes fail and the
// request's context ends, so a client that trickles a body or never reads
// the answer holds a connection for RequestTimeout at most.
func (h *HTTP) deadline(c *gin.Context) {
	setDeadline(c, cmp.Or(h.RequestTimeout, DefaultRequestTimeout))
	c.Next()
}

// extendDeadline gives an authenticated request the long deadline.
func (h *HTTP) extendDeadline(c *gin.Context) {
	setDeadline(c, cmp.Or(h.AuthenticatedTimeout, DefaultAuthenticatedTimeout))
}

func setDeadline(c *gin.Context, d time.Duration) {
	at := time.Now().Add(d)
	rc := http.NewResponseController(c.Writer)
	// A writer that cannot take deadlines (a test's recorder) has none;
	// the real server's can.
	_ = rc.SetReadDeadline(at)
	_ = rc.SetWriteDeadline(at)
}

// requestID gives every request an id, in the response header and the logs.
func (h *HTTP) requestID(c *gin.Context) {
	id := c.GetHeader("X-Request-Id")
	if id == "" || len(id) > 64 || strings.ContainsAny(id, " \t\r\n") {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id = hex.EncodeToString(b)
	}
	c.Header("X-Request-Id", id)
	c.Set("request_id", id)
	c.Request = c.Request.WithContext(bridge.WithRequestID(c.Request.Context(), id))
	c.Next()
}

func (h *HTTP) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	d, route, status := time.Since(start), c.FullPath(), c.Writer.Status()
	level := slog.LevelInfo
	if pollRoutes[route] && status < http.StatusBadRequest && d < slowPoll {
		level = slog.LevelDebug
	}
	h.logger().Log(c.Request.Context(), level, "http request", "method", c.Request.Method,
		"route", route, "status", status, "duration_ms", d.Milliseconds())
}

// pollRoutes are the routes pages and probes ask many times a minute each:
// a waiting shopper's page reads its status every second or two. Their
// answers are logged at Debug unless they were refused or failed (4xx: a
// guessed token, the rate limit; 5xx) or took slowPoll or more, so the log at Info says what happened rather than
// every poll (in the load test, 64 pages polling were 9 % of the
// service's CPU in log lines alone).
var pollRoutes = map[string]bool{"/status/:token": true, "/healthz": true, "/readyz": true}

const slowPoll = time.Second

func (h *HTTP) recovered(c *gin.Context, err any) {
	h.logger().ErrorContext(c.Request.Context(), "panic in handler", "panic", err)
	writeJSONError(c, bridge.Errorf(bridge.ECodeInternal, "", "internal error"))
}

// bearer checks the Authorization header against a token in constant time.
func (h *HTTP) bearer(token func() string) gin.HandlerFunc {
	return func(c *gin.Context) {
		want := token()
		got, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
		if !ok || want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			c.Header("WWW-Authenticate", `Bearer realm="vippskco"`)
			writeJSONError(c, bridge.Errorf(bridge.ECodeUnauthorized, "", "a valid bearer token is required"))
			c.Abort()
			return
		}
		h.extendDeadline(c)
		c.Next()
	}
}

func (h *HTTP) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if h.Ready != nil {
		if err := h.Ready(ctx); err != nil {
			// The detail (a DSN's host, a driver's message) is for the
			// operator's log, not for whoever asks.
			h.logger().WarnContext(c.Request.Context(), "not ready", "err", err)
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "not ready"})
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}
