package web

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"vippskco/bridge"

	"github.com/gin-gonic/gin"
)

// maxRequestBody bounds every request body but settlement uploads (which
// have their own, larger bound) and webhooks (which have a smaller one).
const maxRequestBody = 1 << 20

// securityHeaders sets the headers every response carries. Pages set their
// own Content-Security-Policy with a per-response nonce; everything else
// (JSON, errors) gets one that allows nothing.
func securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if !strings.HasPrefix(c.Request.URL.Path, "/api/v1/settlements/") {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxRequestBody)
	}
	c.Next()
}

// RateLimiter is a per-client token bucket for the shopper endpoints, so
// that one client cannot hammer the redirect (which calls Kustom and Vipps)
// or the status poll. It is generous: shoppers behind one carrier NAT share
// an address, and the waiting page polls every 2 seconds.
type RateLimiter struct {
	// Rate is tokens per second, Burst the bucket size.
	Rate  float64
	Burst float64

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// Allow takes a token for key at now, or says how long until one is free.
func (l *RateLimiter) Allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	if now.Sub(l.swept) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.at) > time.Duration(l.Burst/l.Rate*float64(time.Second)) {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.Burst, at: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(l.Burst, b.tokens+now.Sub(b.at).Seconds()*l.Rate)
	b.at = now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) / l.Rate * float64(time.Second))
	}
	b.tokens--
	return true, 0
}

// limit applies the shopper rate limit by client address.
func (h *HTTP) limit(c *gin.Context) {
	if h.ShopperLimit == nil {
		c.Next()
		return
	}
	ok, wait := h.ShopperLimit.Allow(c.ClientIP(), time.Now())
	if !ok {
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		writeJSONError(c, bridge.Errorf(bridge.ECodeRateLimited, "rate_limited", "too many requests from this address; try again shortly"))
		c.Abort()
		return
	}
	c.Next()
}
