package web

// Server-Timing (server.server_timing in config.yaml): each response says
// how much of its time went to provider round trips, so that a load test
// (or a browser's developer tools) can tell the time our own code adds
// apart from the time Kustom and Vipps take.
//
//	Server-Timing: provider;dur=12.3, app;dur=15.1
//
// provider is the time spent in provider HTTP round trips made on behalf of
// the request, app the whole time until the status line was written; both
// in milliseconds. It is off by default: it tells callers how long the
// providers took.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// ProviderClock adds up the time of the provider round trips made for one
// request. Safe for concurrent use.
type ProviderClock struct{ ns atomic.Int64 }

// Add adds d.
func (p *ProviderClock) Add(d time.Duration) { p.ns.Add(int64(d)) }

// Total is the time added so far.
func (p *ProviderClock) Total() time.Duration { return time.Duration(p.ns.Load()) }

type providerClockKey struct{}

// WithProviderClock returns ctx carrying a new clock.
func WithProviderClock(ctx context.Context) (context.Context, *ProviderClock) {
	p := &ProviderClock{}
	return context.WithValue(ctx, providerClockKey{}, p), p
}

// ProviderClockFrom is the clock ctx carries, or nil.
func ProviderClockFrom(ctx context.Context) *ProviderClock {
	p, _ := ctx.Value(providerClockKey{}).(*ProviderClock)
	return p
}

// TimingTransport times each round trip (until the response headers, plus
// the time spent reading the body) into the ProviderClock of the request's
// context, if it carries one.
type TimingTransport struct {
	// Next sends the request; http.DefaultTransport when nil.
	Next http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t TimingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	next := t.Next
	if next == nil {
		next = http.DefaultTransport
	}
	clock := ProviderClockFrom(r.Context())
	if clock == nil {
		return next.RoundTrip(r)
	}
	start := time.Now()
	resp, err := next.RoundTrip(r)
	clock.Add(time.Since(start))
	if err == nil && resp.Body != nil {
		resp.Body = &timedBody{ReadCloser: resp.Body, clock: clock}
	}
	return resp, err
}

// TimedClient is c (a new client with timeout when nil) sending through a
// TimingTransport.
func TimedClient(c *http.Client, timeout time.Duration) *http.Client {
	if c == nil {
		c = &http.Client{Timeout: timeout}
	}
	timed := *c
	timed.Transport = TimingTransport{Next: c.Transport}
	return &timed
}

// timedBody adds the time spent waiting in Read to the clock.
type timedBody struct {
	io.ReadCloser
	clock *ProviderClock
}

func (b *timedBody) Read(p []byte) (int, error) {
	start := time.Now()
	n, err := b.ReadCloser.Read(p)
	b.clock.Add(time.Since(start))
	return n, err
}

// serverTiming puts a ProviderClock in every request's context and writes
// the Server-Timing header just before the status line.
func serverTiming(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, clock := WithProviderClock(r.Context())
		tw := &timingWriter{ResponseWriter: w, clock: clock, start: time.Now()}
		next.ServeHTTP(tw, r.WithContext(ctx))
	})
}

// timingWriter adds the Server-Timing header when the status is written.
type timingWriter struct {
	http.ResponseWriter
	clock   *ProviderClock
	start   time.Time
	written bool
}

func (w *timingWriter) WriteHeader(code int) {
	if !w.written {
		w.written = true
		w.Header().Set("Server-Timing", fmt.Sprintf("provider;dur=%.3f, app;dur=%.3f",
			float64(w.clock.Total())/1e6, float64(time.Since(w.start))/1e6))
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *timingWriter) Write(b []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets streamed responses through (gin's writer asserts it).
func (w *timingWriter) Flush() {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap serves http.ResponseController.
func (w *timingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
