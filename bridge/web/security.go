package web

import (
	"cmp"
	"container/list"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"vippskco/bridge"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"
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
//
// Each key has a golang.org/x/time/rate limiter. The keys are kept in the
// order they were last used, and at most MaxKeys of them: a key idle long
// enough for its bucket to be full again is forgotten (a fresh bucket is
// the same), and beyond MaxKeys the least recently used one is, so that
// many addresses cannot grow the memory without limit.
type RateLimiter struct {
	// Rate is tokens per second, Burst the bucket size.
	Rate  rate.Limit
	Burst int
	// MaxKeys bounds the clients remembered; zero is DefaultMaxRateKeys.
	MaxKeys int

	mu   sync.Mutex
	keys map[string]*list.Element // of *rateKey
	lru  list.List                // front: most recently used
}

// DefaultMaxRateKeys is how many clients a RateLimiter remembers unless
// told otherwise: some 10 MB at most.
const DefaultMaxRateKeys = 100_000

type rateKey struct {
	key  string
	lim  *rate.Limiter
	used time.Time
}

// NewRateLimiter limits each client to perSecond requests a second, with
// bursts of burst.
func NewRateLimiter(perSecond float64, burst int) *RateLimiter {
	return &RateLimiter{Rate: rate.Limit(perSecond), Burst: burst}
}

// Allow takes a token for key at now, or says how long until one is free.
func (l *RateLimiter) Allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keys == nil {
		l.keys = map[string]*list.Element{}
	}
	l.forgetIdle(now)
	var k *rateKey
	if e, ok := l.keys[key]; ok {
		k = e.Value.(*rateKey)
		l.lru.MoveToFront(e)
	} else {
		for len(l.keys) >= cmp.Or(l.MaxKeys, DefaultMaxRateKeys) {
			l.forget(l.lru.Back())
		}
		k = &rateKey{key: key, lim: rate.NewLimiter(l.Rate, l.Burst)}
		l.keys[key] = l.lru.PushFront(k)
	}
	k.used = now
	r := k.lim.ReserveN(now, 1)
	if !r.OK() {
		// A burst below 1 never allows anything.
		return false, time.Duration(math.MaxInt64)
	}
	if wait := r.DelayFrom(now); wait > 0 {
		r.CancelAt(now)
		return false, wait
	}
	return true, 0
}

// forgetIdle forgets the least recently used keys whose buckets have
// filled up again since their last use.
func (l *RateLimiter) forgetIdle(now time.Time) {
	if l.Rate <= 0 {
		return
	}
	refill := time.Duration(float64(l.Burst) / float64(l.Rate) * float64(time.Second))
	for e := l.lru.Back(); e != nil && now.Sub(e.Value.(*rateKey).used) > refill; e = l.lru.Back() {
		l.forget(e)
	}
}

func (l *RateLimiter) forget(e *list.Element) {
	delete(l.keys, e.Value.(*rateKey).key)
	l.lru.Remove(e)
}

// Len is how many clients the limiter remembers.
func (l *RateLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
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
