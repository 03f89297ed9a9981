package vipps

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// failFirst answers the first n API requests with fail, then as okAPI.
func failFirst(n int32, fail http.HandlerFunc) http.HandlerFunc {
	var seen atomic.Int32
	return func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1) <= n {
			fail(w, r)
			return
		}
		okAPI(w, r)
	}
}

func TestRetryAfter500SendsSameKeyAndBody(t *testing.T) {
	ts := newTestServer(t, failFirst(1, func(w http.ResponseWriter, r *http.Request) {
		jsonReply(w, http.StatusInternalServerError, `{"type":"https://httpstatuses.io/500","title":"Internal Server Error","status":500,"traceId":"00-1-2-01"}`)
	}))
	s := &sleeper{}
	c := newTestClient(t, testConfig(ts.URL(), s))
	_, err := c.Capture(context.Background(), "acme-order-1234-1", "capture-key-1", nok499)
	require.NoError(t, err)

	reqs := ts.apiRequests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "capture-key-1", reqs[0].Header.Get("Idempotency-Key"))
	assert.Equal(t, "capture-key-1", reqs[1].Header.Get("Idempotency-Key"))
	assert.Equal(t, reqs[0].Body, reqs[1].Body, "the retry must send identical bytes")
	require.Len(t, s.recorded(), 1)
	assert.GreaterOrEqual(t, s.recorded()[0], retryBaseDelay/2)
	assert.LessOrEqual(t, s.recorded()[0], retryBaseDelay)
}

func TestRetryAfter429HonoursRetryAfter(t *testing.T) {
	clk := newClock()
	tests := []struct {
		name       string
		retryAfter string
		wantWait   time.Duration
	}{
		{"seconds", "2", 2 * time.Second},
		{"HTTP date", clk.Now().Add(3 * time.Second).Format(http.TimeFormat), 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, failFirst(1, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", tt.retryAfter)
				jsonReply(w, http.StatusTooManyRequests, `{"statusCode":429,"message":"Rate limit is exceeded. Try again in 2 seconds."}`)
			}))
			s := &sleeper{}
			cfg := testConfig(ts.URL(), s)
			cfg.Now = clk.Now
			c := newTestClient(t, cfg)
			_, err := c.CreatePayment(context.Background(), "create-key-1", testCreateRequest())
			require.NoError(t, err)

			reqs := ts.apiRequests()
			require.Len(t, reqs, 2)
			assert.Equal(t, "create-key-1", reqs[0].Header.Get("Idempotency-Key"))
			assert.Equal(t, "create-key-1", reqs[1].Header.Get("Idempotency-Key"))
			assert.Equal(t, reqs[0].Body, reqs[1].Body)
			assert.Equal(t, []time.Duration{tt.wantWait}, s.recorded())
		})
	}
}

func TestRetryAfter423(t *testing.T) {
	ts := newTestServer(t, failFirst(2, func(w http.ResponseWriter, r *http.Request) {
		jsonReply(w, http.StatusLocked, `{"title":"Locked","status":423,"extraDetails":[{"name":"ErrorCode","reason":"6160"}]}`)
	}))
	c := newTestClient(t, testConfig(ts.URL(), &sleeper{}))
	_, err := c.Refund(context.Background(), "acme-order-1234-1", "refund-key-1", nok499)
	require.NoError(t, err)
	assert.Len(t, ts.apiRequests(), 3)
}

func TestNoRetryOnOther4xx(t *testing.T) {
	for _, status := range []int{400, 403, 404, 409, 422} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
				jsonReply(w, status, `{"title":"no","status":0}`)
			})
			s := &sleeper{}
			c := newTestClient(t, testConfig(ts.URL(), s))
			_, err := c.Capture(context.Background(), "acme-order-1234-1", "capture-key-1", nok499)
			var e *Error
			require.True(t, errors.As(err, &e))
			assert.Equal(t, status, e.StatusCode)
			assert.Len(t, ts.apiRequests(), 1)
			assert.Empty(t, s.recorded())
			assert.NotErrorIs(t, err, ErrOutcomeUnknown, "Vipps answered")
		})
	}
}

func TestRetriesExhausted(t *testing.T) {
	ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		jsonReply(w, http.StatusServiceUnavailable, `{"statusCode":503,"message":"Service unavailable"}`)
	})
	s := &sleeper{}
	cfg := testConfig(ts.URL(), s)
	cfg.MaxRetries = 2
	c := newTestClient(t, cfg)
	_, err := c.Capture(context.Background(), "acme-order-1234-1", "capture-key-1", nok499)
	var e *Error
	require.True(t, errors.As(err, &e))
	assert.Equal(t, http.StatusServiceUnavailable, e.StatusCode)
	assert.NotErrorIs(t, err, ErrOutcomeUnknown, "every attempt was answered")
	assert.Len(t, ts.apiRequests(), 3)
	assert.Len(t, s.recorded(), 2)
}

// TestDialErrorRetried: nothing listens, so no request was sent; even a
// change is retried and ends in a plain error, not an unknown outcome.
func TestDialErrorRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()

	var exchanges []Exchange
	s := &sleeper{}
	cfg := testConfig("http://"+addr, s)
	cfg.Observer = func(_ context.Context, ex Exchange) { exchanges = append(exchanges, ex) }
	c := newTestClient(t, cfg)
	_, err = c.Capture(context.Background(), "acme-order-1234-1", "capture-key-1", nok499)
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrOutcomeUnknown)
	var op *net.OpError
	assert.True(t, errors.As(err, &op), "the cause is kept: %v", err)
	assert.Len(t, exchanges, 1+DefaultMaxRetries)
	for i, ex := range exchanges {
		assert.Equal(t, "token", ex.Op)
		assert.Equal(t, i+1, ex.Attempt)
		assert.Error(t, ex.Err)
	}
	assert.Len(t, s.recorded(), DefaultMaxRetries)
}

func TestShouldRetry(t *testing.T) {
	now := newClock().Now()
	change := &request{method: "POST", idempotencyKey: "k", resendable: true, change: true}
	unkeyed := &request{method: "POST", change: true}
	read := &request{method: "GET", resendable: true}
	answered := func(status int, header http.Header) *attempt {
		return &attempt{res: &response{status: status, header: header}}
	}
	netErr := &attempt{err: errors.New("dial tcp: connection refused")}
	timeout := &attempt{err: errors.New("Client.Timeout exceeded"), unanswered: true}
	tests := []struct {
		name    string
		r       *request
		a       *attempt
		retries int
		want    bool
		reason  string
	}{
		{"not sent", unkeyed, netErr, 0, true, "before the request was sent"},
		{"timeout, keyed change", change, timeout, 0, true, "same Idempotency-Key"},
		{"timeout, read", read, timeout, 0, true, "safe to repeat"},
		{"timeout, unkeyed change", unkeyed, timeout, 0, false, "could do it twice"},
		{"500", change, answered(500, nil), 0, true, "server error (500)"},
		{"500 unkeyed", unkeyed, answered(500, nil), 0, false, "could do it twice"},
		{"503 unkeyed", unkeyed, answered(503, nil), 0, true, "gateway error (503)"},
		{"429", change, answered(429, nil), 0, true, "rate limited (429)"},
		{"429 with Retry-After", change, answered(429, http.Header{"Retry-After": {"5"}}), 0, true, "Retry-After 5s"},
		{"429 with long Retry-After", change, answered(429, http.Header{"Retry-After": {"120"}}), 0, false, "longer than"},
		{"423", change, answered(423, nil), 0, true, "locked (423)"},
		{"400", change, answered(400, nil), 0, false, "status 400 is final"},
		{"401", change, answered(401, nil), 0, false, "status 401 is final"},
		{"409", change, answered(409, nil), 0, false, "status 409 is final"},
		{"exhausted", change, answered(500, nil), 3, false, "gave up after 3 retries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := shouldRetry(tt.r, tt.a, tt.retries, 3, now)
			assert.Equal(t, tt.want, got)
			assert.Contains(t, reason, tt.reason)
		})
	}
}

func TestBackoff(t *testing.T) {
	for n := 1; n <= 40; n++ {
		want := min(retryBaseDelay<<min(n-1, 16), retryMaxDelay)
		for range 50 {
			d := backoff(n)
			require.GreaterOrEqual(t, d, want/2, "retry %d", n)
			require.LessOrEqual(t, d, want, "retry %d", n)
		}
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := newClock().Now()
	tests := []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"7", 7 * time.Second, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			got, ok := retryAfter(http.Header{"Retry-After": {tt.value}}, now)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestRetryReasonInError: the final error of a network failure says why it
// was not retried.
func TestRetryReasonInError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	cfg := testConfig("http://"+addr, &sleeper{})
	cfg.MaxRetries = 1
	c := newTestClient(t, cfg)
	_, err = c.GetPayment(context.Background(), "acme-order-1234-1")
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "gave up after 1 retries"), err.Error())
}
