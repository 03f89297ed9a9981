package vipps

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTokenCachedAcrossCalls(t *testing.T) {
	ts := newTestServer(t, okAPI)
	c := newTestClient(t, testConfig(ts.URL(), &sleeper{}))
	ctx := context.Background()
	for range 3 {
		_, err := c.GetPayment(ctx, "acme-order-1234-1")
		require.NoError(t, err)
	}
	_, err := c.Capture(ctx, "acme-order-1234-1", "capture-key-1", nok499)
	require.NoError(t, err)
	assert.Equal(t, 1, ts.tokensIssued())
	for _, r := range ts.apiRequests() {
		assert.Equal(t, "Bearer token-1", r.Header.Get("Authorization"))
	}
}

// TestTokenRefreshedBeforeExpiry: a token that expires in 3599 s (sent as
// the string "3599", as Vipps does) is replaced a minute before it expires.
func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	ts := newTestServer(t, okAPI)
	clk := newClock()
	cfg := testConfig(ts.URL(), &sleeper{})
	cfg.Now = clk.Now
	c := newTestClient(t, cfg)
	ctx := context.Background()
	get := func() string {
		t.Helper()
		_, err := c.GetPayment(ctx, "acme-order-1234-1")
		require.NoError(t, err)
		reqs := ts.apiRequests()
		return reqs[len(reqs)-1].Header.Get("Authorization")
	}

	assert.Equal(t, "Bearer token-1", get())
	clk.Advance(3538 * time.Second) // 61 s before expiry
	assert.Equal(t, "Bearer token-1", get())
	clk.Advance(time.Second) // 60 s before expiry: due
	assert.Equal(t, "Bearer token-2", get())
	assert.Equal(t, 2, ts.tokensIssued())
}

func TestTokenShortLifetimeRefreshedAtHalf(t *testing.T) {
	ts := newTestServer(t, okAPI)
	ts.expiresIn = "60"
	clk := newClock()
	cfg := testConfig(ts.URL(), &sleeper{})
	cfg.Now = clk.Now
	c := newTestClient(t, cfg)
	ctx := context.Background()
	_, err := c.GetPayment(ctx, "acme-order-1234-1")
	require.NoError(t, err)
	clk.Advance(29 * time.Second)
	_, err = c.GetPayment(ctx, "acme-order-1234-1")
	require.NoError(t, err)
	assert.Equal(t, 1, ts.tokensIssued(), "a 60 s token is reused for its first half")
	clk.Advance(time.Second)
	_, err = c.GetPayment(ctx, "acme-order-1234-1")
	require.NoError(t, err)
	assert.Equal(t, 2, ts.tokensIssued())
}

// TestTokenRefetchedOnceOn401: Vipps may revoke a token early. A 401 drops
// it, and the call is sent once more with a fresh token.
func TestTokenRefetchedOnceOn401(t *testing.T) {
	ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer token-1" {
			jsonReply(w, http.StatusUnauthorized, `{"statusCode":401,"message":"Access denied due to invalid token."}`)
			return
		}
		okAPI(w, r)
	})
	c := newTestClient(t, testConfig(ts.URL(), &sleeper{}))
	_, err := c.Capture(context.Background(), "acme-order-1234-1", "capture-key-1", nok499)
	require.NoError(t, err)
	assert.Equal(t, 2, ts.tokensIssued())
	reqs := ts.apiRequests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "Bearer token-1", reqs[0].Header.Get("Authorization"))
	assert.Equal(t, "Bearer token-2", reqs[1].Header.Get("Authorization"))
	assert.Equal(t, reqs[0].Header.Get("Idempotency-Key"), reqs[1].Header.Get("Idempotency-Key"))
	assert.Equal(t, reqs[0].Body, reqs[1].Body)
}

func TestTokenRefetchOn401OnlyOnce(t *testing.T) {
	ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		jsonReply(w, http.StatusUnauthorized, `{"statusCode":401,"message":"Access denied due to invalid token."}`)
	})
	c := newTestClient(t, testConfig(ts.URL(), &sleeper{}))
	_, err := c.GetPayment(context.Background(), "acme-order-1234-1")
	var e *Error
	require.True(t, errors.As(err, &e), "%v", err)
	assert.Equal(t, http.StatusUnauthorized, e.StatusCode)
	assert.Equal(t, "Access denied due to invalid token.", e.Title)
	assert.Len(t, ts.apiRequests(), 2)
	assert.Equal(t, 2, ts.tokensIssued())
}

// TestTokenSingleFetchUnderConcurrency: many calls at once with no token
// cause one fetch, not one each.
func TestTokenSingleFetchUnderConcurrency(t *testing.T) {
	ts := newTestServer(t, okAPI)
	ts.tokenWait = 50 * time.Millisecond
	c := newTestClient(t, testConfig(ts.URL(), &sleeper{}))
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := c.GetPayment(context.Background(), "acme-order-1234-1")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, 1, ts.tokensIssued())
	assert.Len(t, ts.apiRequests(), 20)
}

func TestTokenWaitAbandonedWithContext(t *testing.T) {
	ts := newTestServer(t, okAPI)
	ts.tokenWait = 300 * time.Millisecond
	c := newTestClient(t, testConfig(ts.URL(), &sleeper{}))
	go c.GetPayment(context.Background(), "acme-order-1234-1") // holds the fetch
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.GetPayment(ctx, "acme-order-1234-1")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 250*time.Millisecond, "a waiter leaves when its context ends")
}

func TestTokenEndpointErrorIsReturned(t *testing.T) {
	ts := newTestServer(t, okAPI)
	ts.tokenFail = func(w http.ResponseWriter, r *http.Request) {
		jsonReply(w, http.StatusUnauthorized, `{"error":"unauthorized_client","error_description":"AADSTS700016: Application not found"}`)
	}
	c := newTestClient(t, testConfig(ts.URL(), &sleeper{}))
	_, err := c.Capture(context.Background(), "acme-order-1234-1", "capture-key-1", nok499)
	var e *Error
	require.True(t, errors.As(err, &e), "%v", err)
	assert.Equal(t, "/accesstoken/get", e.Path)
	assert.Equal(t, http.StatusUnauthorized, e.StatusCode)
	assert.Contains(t, string(e.Body), "AADSTS700016")
	assert.NotErrorIs(t, err, ErrOutcomeUnknown, "the capture was never sent")
	assert.Empty(t, ts.apiRequests())
}

func TestTokenResponseShapes(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr string
		refresh time.Duration // after the fetch
	}{
		{"strings", `{"access_token":"a","expires_in":"3599","expires_on":"1700000000"}`, "", 3539 * time.Second},
		{"numbers", `{"access_token":"a","expires_in":86398}`, "", 86338 * time.Second},
		{"only expires_on", `{"access_token":"a","expires_on":"1772449200"}`, "", time.Unix(1772449200, 0).Sub(newClock().Now()) - time.Minute},
		{"no expiry", `{"access_token":"a"}`, "neither expires_in nor expires_on", 0},
		{"no token", `{"expires_in":"3599"}`, "no access_token", 0},
		{"garbage expires_in", `{"access_token":"a","expires_in":"soon"}`, "decoding", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, okAPI)
			ts.tokenFail = func(w http.ResponseWriter, r *http.Request) { jsonReply(w, http.StatusOK, tt.body) }
			clk := newClock()
			cfg := testConfig(ts.URL(), &sleeper{})
			cfg.Now = clk.Now
			c := newTestClient(t, cfg)
			_, refreshAt, err := c.fetchToken(context.Background())
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.refresh, refreshAt.Sub(clk.Now()))
		})
	}
}

func TestLenientInt(t *testing.T) {
	var v struct {
		A, B, C, D lenientInt
	}
	require.NoError(t, json.Unmarshal([]byte(`{"A":"3599","B":3599,"C":null,"D":""}`), &v))
	assert.Equal(t, lenientInt{3599, true}, v.A)
	assert.Equal(t, lenientInt{3599, true}, v.B)
	assert.False(t, v.C.set)
	assert.False(t, v.D.set)
	assert.Error(t, json.Unmarshal([]byte(`{"A":"1.5"}`), &v))
}
