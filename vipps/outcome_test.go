package vipps

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hang holds API requests until the client gives up on them.
func hang(w http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
}

// hangOn hangs requests whose path ends in suffix and answers the rest.
func hangOn(suffix string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, suffix) {
			hang(w, r)
			return
		}
		okAPI(w, r)
	}
}

func shortTimeoutConfig(baseURL string, s *sleeper) Config {
	cfg := testConfig(baseURL, s)
	cfg.HTTPClient = &http.Client{Timeout: 100 * time.Millisecond}
	cfg.MaxRetries = 2
	return cfg
}

// TestCaptureTimeoutIsOutcomeUnknown: the capture may have been made, so
// the caller gets ErrOutcomeUnknown, after retries with the same key.
func TestCaptureTimeoutIsOutcomeUnknown(t *testing.T) {
	ts := newTestServer(t, hangOn("/capture"))
	c := newTestClient(t, shortTimeoutConfig(ts.URL(), &sleeper{}))
	_, err := c.Capture(context.Background(), "acme-order-1234-1", "capture-key-1", nok499)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrOutcomeUnknown)

	var ou *OutcomeUnknownError
	require.True(t, errors.As(err, &ou))
	assert.Equal(t, "capture", ou.Op)
	assert.Equal(t, "acme-order-1234-1", ou.Reference)
	assert.Equal(t, "capture-key-1", ou.IdempotencyKey)
	var ne net.Error
	assert.True(t, errors.As(err, &ne) && ne.Timeout(), "the timeout is kept as the cause: %v", err)

	reqs := ts.apiRequests()
	require.Len(t, reqs, 3, "retried up to MaxRetries with the same key")
	for _, r := range reqs {
		assert.Equal(t, "capture-key-1", r.Header.Get("Idempotency-Key"))
		assert.Equal(t, reqs[0].Body, r.Body)
	}
}

func TestTimeoutThenSuccess(t *testing.T) {
	var n atomic.Int32
	ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			hang(w, r)
			return
		}
		okAPI(w, r)
	})
	c := newTestClient(t, shortTimeoutConfig(ts.URL(), &sleeper{}))
	res, err := c.Capture(context.Background(), "acme-order-1234-1", "capture-key-1", nok499)
	require.NoError(t, err, "a retry with the same key that gets an answer settles the outcome")
	assert.Equal(t, "acme-order-1234-1", res.Reference)
}

// TestTimeoutThenFinalErrorIsStillUnknown: once an attempt may have
// arrived, a later failure does not prove that nothing happened.
func TestTimeoutThenFinalErrorIsStillUnknown(t *testing.T) {
	var n atomic.Int32
	ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			hang(w, r)
			return
		}
		jsonReply(w, http.StatusConflict, `{"title":"Conflict","status":409,"extraDetails":[{"name":"ErrorCode","reason":"4010"}]}`)
	})
	c := newTestClient(t, shortTimeoutConfig(ts.URL(), &sleeper{}))
	_, err := c.Capture(context.Background(), "acme-order-1234-1", "capture-key-1", nok499)
	assert.ErrorIs(t, err, ErrOutcomeUnknown)
	assert.Equal(t, "4010", ErrorCodeOf(err), "the last answer stays reachable")
}

func TestGetTimeoutIsPlainError(t *testing.T) {
	ts := newTestServer(t, hangOn("acme-order-1234-1"))
	c := newTestClient(t, shortTimeoutConfig(ts.URL(), &sleeper{}))
	_, err := c.GetPayment(context.Background(), "acme-order-1234-1")
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrOutcomeUnknown)
	var ne net.Error
	assert.True(t, errors.As(err, &ne) && ne.Timeout(), "%v", err)
	assert.Len(t, ts.apiRequests(), 3, "a read is retried")
}

// TestContextDeadlineDuringCapture: the caller's deadline ends the call
// at once; the capture may have arrived.
func TestContextDeadlineDuringCapture(t *testing.T) {
	ts := newTestServer(t, hangOn("/capture"))
	s := &sleeper{}
	c := newTestClient(t, testConfig(ts.URL(), s))
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	_, err := c.Capture(ctx, "acme-order-1234-1", "capture-key-1", nok499)
	assert.ErrorIs(t, err, ErrOutcomeUnknown)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Len(t, ts.apiRequests(), 1, "no retry once the context is done")
	assert.Empty(t, s.recorded())
}

func TestCancelledContextBeforeSendIsPlainError(t *testing.T) {
	ts := newTestServer(t, okAPI)
	c := newTestClient(t, testConfig(ts.URL(), &sleeper{}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Capture(ctx, "acme-order-1234-1", "capture-key-1", nok499)
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, ErrOutcomeUnknown)
}

// TestUnkeyedChangeNotRepeated: force approve and webhook registration
// carry no idempotency key, so a timeout is not retried.
func TestUnkeyedChangeNotRepeated(t *testing.T) {
	tests := []struct {
		name string
		call func(c *Client) error
	}{
		{"force approve", func(c *Client) error {
			return c.ForceApprove(context.Background(), "acme-order-1234-1", "4791234567")
		}},
		{"webhook register", func(c *Client) error {
			_, err := c.RegisterWebhook(context.Background(), "https://shop.example/hook", EPaymentWebhookEvents)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, hang)
			c := newTestClient(t, shortTimeoutConfig(ts.URL(), &sleeper{}))
			err := tt.call(c)
			assert.ErrorIs(t, err, ErrOutcomeUnknown)
			assert.Len(t, ts.apiRequests(), 1)
		})
	}
}

// TestResetWhileReadingIsOutcomeUnknown: the answer starts but the
// connection drops before the body is complete.
func TestResetWhileReadingIsOutcomeUnknown(t *testing.T) {
	ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"amount":`)
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	})
	c := newTestClient(t, shortTimeoutConfig(ts.URL(), &sleeper{}))
	_, err := c.Refund(context.Background(), "acme-order-1234-1", "refund-key-1", nok499)
	assert.ErrorIs(t, err, ErrOutcomeUnknown)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Len(t, ts.apiRequests(), 3)
}

func TestUndecodableSuccessIsOutcomeUnknown(t *testing.T) {
	ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		jsonReply(w, http.StatusOK, `<html>gateway</html>`)
	})
	c := newTestClient(t, testConfig(ts.URL(), &sleeper{}))
	_, err := c.Capture(context.Background(), "acme-order-1234-1", "capture-key-1", nok499)
	assert.ErrorIs(t, err, ErrOutcomeUnknown)

	_, err = c.GetPayment(context.Background(), "acme-order-1234-1")
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrOutcomeUnknown)
	assert.Contains(t, err.Error(), "decoding")
}
