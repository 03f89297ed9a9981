package vipps

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync/atomic"
	"time"
)

// maxResponseBody bounds how much of a response is read; Vipps answers are a
// few kilobytes.
const maxResponseBody = 4 << 20

// request is one logical API call. do sends it as one or more HTTP attempts.
type request struct {
	op             string // Exchange.Op
	method         string
	path           string // escaped path appended to the base URL, starting with "/"
	reference      string
	idempotencyKey string
	body           []byte      // nil: no body; the same bytes go out on every attempt
	header         http.Header // extra headers, written with the key as given
	auth           bool        // send the bearer token (false only for the token endpoint)
	// resendable says that sending the request twice is harmless: reads,
	// deletes, the token fetch, and changes that carry an Idempotency-Key
	// (Vipps deduplicates on it). Only such requests are repeated after an
	// attempt that may have reached Vipps.
	resendable bool
	// change says the request changes state at Vipps, so an attempt that may
	// have arrived but got no answer leaves the outcome unknown.
	change bool
}

// response is a complete HTTP answer: the body has been read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

// attempt is the result of sending a request once.
type attempt struct {
	n   int
	res *response // nil when err is set
	err error     // a transport error, or a failure reading the body
	// unanswered says the request may have reached Vipps but no complete
	// answer came back (timeout after writing, reset while reading).
	unanswered bool
}

// do sends r until it succeeds or a retry is not allowed, and returns the
// 2xx response. A 401 on an authenticated call drops the cached token and
// sends the call once more with a new one; that repeat does not count as a
// retry.
func (c *Client) do(ctx context.Context, r *request) (*response, error) {
	retries := 0
	refetched := false
	maybeSent := false // some attempt may have reached Vipps without an answer
	for n := 1; ; n++ {
		var token string
		if r.auth {
			tok, err := c.accessToken(ctx)
			if err != nil {
				return nil, c.failure(r, maybeSent, fmt.Errorf("vipps: %s: access token: %w", r.op, err))
			}
			token = tok
		}
		a := c.send(ctx, r, n, token)
		if a.err == nil && a.res.status >= 200 && a.res.status < 300 {
			return a.res, nil
		}
		if a.err == nil && a.res.status == http.StatusUnauthorized && r.auth && !refetched {
			refetched = true
			c.tokens.invalidate(token)
			continue
		}
		maybeSent = maybeSent || a.unanswered

		retry, reason := shouldRetry(r, a, retries, c.maxRetries, c.now())
		if ctx.Err() != nil {
			retry, reason = false, "context done: "+ctx.Err().Error()
		}
		if !retry {
			return nil, c.failure(r, maybeSent, c.attemptError(r, a, reason))
		}
		retries++
		if err := c.sleep(ctx, retryDelay(retries, a.res, c.now())); err != nil {
			cause := fmt.Errorf("%w (waiting to retry after: %w)", err, c.attemptError(r, a, reason))
			return nil, c.failure(r, maybeSent, cause)
		}
	}
}

// failure turns the final error of a call into what the caller gets: for a
// change that may have reached Vipps without an answer, an
// *OutcomeUnknownError, because the caller must read the payment back
// instead of assuming that nothing happened.
func (c *Client) failure(r *request, maybeSent bool, err error) error {
	if r.change && maybeSent {
		return &OutcomeUnknownError{Op: r.op, Reference: r.reference, IdempotencyKey: r.idempotencyKey, Err: err}
	}
	return err
}

// attemptError is the error for a failed attempt: the transport error with
// the request named, or an *Error for an answer that is not 2xx.
func (c *Client) attemptError(r *request, a *attempt, reason string) error {
	if a.err != nil {
		return fmt.Errorf("vipps: %s %s: %w (%s)", r.method, r.path, a.err, reason)
	}
	return newError(r.method, r.path, a.res)
}

// send makes one HTTP attempt and reports it to the observer.
func (c *Client) send(ctx context.Context, r *request, n int, token string) *attempt {
	a := &attempt{n: n}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	target := c.baseURL + r.path
	req, err := http.NewRequestWithContext(ctx, r.method, target, body)
	if err != nil {
		a.err = err
		return a
	}
	c.setHeaders(req, r, token)

	var tr sendTrace
	req = req.WithContext(httptrace.WithClientTrace(ctx, tr.clientTrace()))
	started := c.now()
	status := 0
	var resHeader http.Header
	resp, err := c.httpClient.Do(req)
	if err == nil {
		status, resHeader = resp.StatusCode, resp.Header
		b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
		resp.Body.Close()
		if rerr != nil {
			// The status line arrived, so Vipps got the request; the answer
			// is incomplete.
			a.err = fmt.Errorf("reading the %d response: %w", resp.StatusCode, rerr)
			a.unanswered = true
		} else {
			a.res = &response{status: resp.StatusCode, header: resp.Header, body: b}
		}
	} else {
		a.err = err
		a.unanswered = !tr.surelyNotSent(err)
	}
	c.observe(ctx, r, req, a, status, resHeader, started)
	return a
}

func (c *Client) setHeaders(req *http.Request, r *request, token string) {
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json")
	if c.creds.SubscriptionKey != "" {
		h.Set("Ocp-Apim-Subscription-Key", c.creds.SubscriptionKey)
	}
	h.Set("Merchant-Serial-Number", c.creds.MSN)
	h.Set("Vipps-System-Name", c.system.Name)
	h.Set("Vipps-System-Version", c.system.Version)
	h.Set("Vipps-System-Plugin-Name", c.system.PluginName)
	h.Set("Vipps-System-Plugin-Version", c.system.PluginVersion)
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	if r.idempotencyKey != "" {
		h.Set("Idempotency-Key", r.idempotencyKey)
	}
	for k, v := range r.header {
		h[k] = append([]string(nil), v...)
	}
}

// sendTrace records how far net/http got with a request, to tell an error
// that happened before anything was written (safe to repeat for any request)
// from one after the request may have reached Vipps.
type sendTrace struct {
	getConn      atomic.Bool
	wroteHeaders atomic.Bool
}

func (t *sendTrace) clientTrace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GetConn:      func(string) { t.getConn.Store(true) },
		WroteHeaders: func() { t.wroteHeaders.Store(true) },
	}
}

// surelyNotSent reports whether the request certainly did not reach the
// server: a dial or DNS error, or (when the transport reports trace events;
// a custom RoundTripper may not) the headers were never written. Anything
// else counts as possibly sent.
func (t *sendTrace) surelyNotSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return true
	}
	return t.getConn.Load() && !t.wroteHeaders.Load()
}

// apiPath joins API path segments, escaping each dynamic one.
func apiPath(static string, dynamic ...string) string {
	p := static
	for _, d := range dynamic {
		p += "/" + url.PathEscape(d)
	}
	return p
}

// decodeJSON decodes a 2xx body. For a change, an undecodable success is
// reported as an unknown outcome: Vipps did it, but the caller cannot see
// the result and must read the payment back.
func (c *Client) decodeJSON(r *request, res *response, out any) error {
	if err := json.Unmarshal(res.body, out); err != nil {
		err = fmt.Errorf("vipps: %s %s: decoding the %d response: %w", r.method, r.path, res.status, err)
		if r.change {
			return &OutcomeUnknownError{Op: r.op, Reference: r.reference, IdempotencyKey: r.idempotencyKey, Err: err}
		}
		return err
	}
	return nil
}

// sleepContext waits for d or until ctx is done.
func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
