package vipps

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Backoff between retries: exponential from retryBaseDelay, capped at
// retryMaxDelay, with jitter so that many clients do not retry in step.
const (
	retryBaseDelay = 250 * time.Millisecond
	retryMaxDelay  = 5 * time.Second
	// maxRetryAfter is the longest Retry-After the client waits for inside
	// one call. A longer wait is the caller's to schedule, so the 429 is
	// returned instead.
	maxRetryAfter = time.Minute
)

// shouldRetry decides whether the failed attempt a of r is sent again, and
// says why, in the manner of stripe-go. retries is how many retries were
// already made.
//
// Retried: network errors before the request was written; network errors
// after it may have been written, but only for requests that are safe to
// repeat (reads, deletes, the token, changes with an Idempotency-Key, which
// Vipps deduplicates); 5xx; 429 (after Retry-After); 423 Locked. Never any
// other 4xx: Vipps keeps answering a rejected Idempotency-Key with the same
// 4xx.
func shouldRetry(r *request, a *attempt, retries, maxRetries int, now time.Time) (bool, string) {
	retry, reason := retryable(r, a, now)
	if retry && retries >= maxRetries {
		return false, fmt.Sprintf("%s; gave up after %d retries", reason, retries)
	}
	return retry, reason
}

func retryable(r *request, a *attempt, now time.Time) (bool, string) {
	if a.err != nil {
		switch {
		case !a.unanswered:
			return true, "network error before the request was sent"
		case r.resendable && r.idempotencyKey != "":
			return true, "no answer after the request was sent; resending with the same Idempotency-Key"
		case r.resendable:
			return true, "no answer after the request was sent; the request is safe to repeat"
		default:
			return false, "no answer after the request was sent, and repeating it could do it twice"
		}
	}
	status := a.res.status
	switch {
	case status == http.StatusTooManyRequests:
		d, ok := retryAfter(a.res.header, now)
		if !ok {
			return true, "rate limited (429)"
		}
		if d > maxRetryAfter {
			return false, fmt.Sprintf("rate limited (429) with Retry-After %s, longer than the %s this client waits", d, maxRetryAfter)
		}
		return true, fmt.Sprintf("rate limited (429), Retry-After %s", d)
	case status == http.StatusLocked:
		return true, "locked (423): Vipps is still processing the payment"
	case status >= 500 && r.resendable:
		return true, fmt.Sprintf("server error (%d)", status)
	case status == http.StatusBadGateway || status == http.StatusServiceUnavailable:
		return true, fmt.Sprintf("gateway error (%d): the request did not reach the service", status)
	case status >= 500:
		return false, fmt.Sprintf("server error (%d), and repeating the request could do it twice", status)
	}
	return false, fmt.Sprintf("status %d is final", status)
}

// retryDelay is how long to wait before retry number n (1-based): the
// server's Retry-After when it sent one, else jittered exponential backoff.
func retryDelay(n int, res *response, now time.Time) time.Duration {
	if res != nil {
		if d, ok := retryAfter(res.header, now); ok {
			return d
		}
	}
	return backoff(n)
}

// backoff is retryBaseDelay·2^(n-1), capped at retryMaxDelay, drawn
// uniformly from its upper half.
func backoff(n int) time.Duration {
	d := retryMaxDelay
	if n >= 1 && n <= 16 {
		d = min(retryBaseDelay<<(n-1), retryMaxDelay)
	}
	return d/2 + rand.N(d/2+1)
}

// retryAfter parses a Retry-After header: delay seconds or an HTTP date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
