package vipps

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"valid", func(*Config) {}, ""},
		{"missing client id", func(c *Config) { c.Credentials.ClientID = "" }, "Credentials.ClientID is required"},
		{"missing client secret", func(c *Config) { c.Credentials.ClientSecret = "" }, "Credentials.ClientSecret is required"},
		{"missing subscription key", func(c *Config) { c.Credentials.SubscriptionKey = "" }, "Credentials.SubscriptionKey is required"},
		{"missing MSN", func(c *Config) { c.Credentials.MSN = "" }, "Credentials.MSN is required"},
		{"MSN not digits", func(c *Config) { c.Credentials.MSN = "12a456" }, "4 to 6 digits"},
		{"MSN too long", func(c *Config) { c.Credentials.MSN = "1234567" }, "4 to 6 digits"},
		{"secret with newline", func(c *Config) { c.Credentials.ClientSecret = "a\nb" }, "printable ASCII"},
		{"system name missing", func(c *Config) { c.System.Name = "" }, "System.Name is required"},
		{"plugin version missing", func(c *Config) { c.System.PluginVersion = "" }, "System.PluginVersion is required"},
		{"system name 31 chars", func(c *Config) { c.System.Name = strings.Repeat("a", 31) }, "longer than 30"},
		{"system name 30 chars", func(c *Config) { c.System.Name = strings.Repeat("a", 30) }, ""},
		{"plugin name non-ASCII", func(c *Config) { c.System.PluginName = "blåbær" }, "printable ASCII"},
		{"base URL bad scheme", func(c *Config) { c.BaseURL = "ftp://apitest.vipps.no" }, "scheme"},
		{"base URL without host", func(c *Config) { c.BaseURL = "https://" }, "no host"},
		{"base URL with query", func(c *Config) { c.BaseURL = "https://apitest.vipps.no/?x=1" }, "query"},
		{"base URL with prefix", func(c *Config) { c.BaseURL = "http://127.0.0.1:8080/sandbox/vipps/" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig("", &sleeper{})
			tt.edit(&cfg)
			_, err := New(cfg)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestNewDefaults(t *testing.T) {
	cfg := testConfig("", nil)
	cfg.Sleep = nil
	c, err := New(cfg)
	require.NoError(t, err)
	assert.Equal(t, "https://apitest.vipps.no", c.baseURL)
	assert.Equal(t, DefaultMaxRetries, c.maxRetries)
	assert.Equal(t, 15*time.Second, c.httpClient.Timeout)
	assert.NotNil(t, c.now)
	assert.NotNil(t, c.sleep)
	assert.Equal(t, testMSN, c.MSN())

	cfg.MaxRetries = -1
	c, err = New(cfg)
	require.NoError(t, err)
	assert.Equal(t, 0, c.maxRetries, "a negative MaxRetries disables retries")
}

func TestDefaultSleepStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	err := sleepContext(ctx, time.Hour)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), time.Second)
	assert.NoError(t, sleepContext(context.Background(), time.Millisecond))
}

// TestBaseURLWithPathPrefix checks that a base URL with a path (a local
// fake mounted under a prefix) keeps its prefix for every call, with or
// without a trailing slash.
func TestBaseURLWithPathPrefix(t *testing.T) {
	for _, suffix := range []string{"", "/"} {
		t.Run("suffix "+suffix, func(t *testing.T) {
			ts := newPrefixedTestServer(t, "/sandbox/vipps", okAPI)
			c := newTestClient(t, testConfig(ts.URL()+suffix, &sleeper{}))
			_, err := c.GetPayment(context.Background(), "acme-order-1234-1")
			require.NoError(t, err)
			require.Len(t, ts.tokenRequests(), 1)
			assert.Equal(t, "/sandbox/vipps/accesstoken/get", ts.tokenRequests()[0].Path)
			require.Len(t, ts.apiRequests(), 1)
			assert.Equal(t, "/sandbox/vipps/epayment/v1/payments/acme-order-1234-1", ts.apiRequests()[0].Path)
		})
	}
}

func TestReferenceIsPathEscaped(t *testing.T) {
	ts := newTestServer(t, okAPI)
	c := newTestClient(t, testConfig(ts.URL(), &sleeper{}))
	_, err := c.GetPayment(context.Background(), "a/b?c#d e")
	require.NoError(t, err)
	assert.Equal(t, "/epayment/v1/payments/a%2Fb%3Fc%23d%20e", ts.apiRequests()[0].Path)
}

// TestRequiredHeaders checks the headers every call sends, the
// Idempotency-Key on every change (and only there), the method, path and
// body of each call.
func TestRequiredHeaders(t *testing.T) {
	ctx := context.Background()
	ref := "acme-order-1234-1"
	tests := []struct {
		name     string
		call     func(c *Client) error
		method   string
		path     string
		idemKey  string
		wantBody string // "" means no body; "*" means any JSON body
	}{
		{"create", func(c *Client) error { _, err := c.CreatePayment(ctx, "create-key-1", testCreateRequest()); return err },
			"POST", "/epayment/v1/payments", "create-key-1", "*"},
		{"get", func(c *Client) error { _, err := c.GetPayment(ctx, ref); return err },
			"GET", "/epayment/v1/payments/" + ref, "", ""},
		{"events", func(c *Client) error { _, err := c.GetEvents(ctx, ref); return err },
			"GET", "/epayment/v1/payments/" + ref + "/events", "", ""},
		{"capture", func(c *Client) error { _, err := c.Capture(ctx, ref, "capture-key-1", nok499); return err },
			"POST", "/epayment/v1/payments/" + ref + "/capture", "capture-key-1", `{"modificationAmount":{"currency":"NOK","value":49900}}`},
		{"refund", func(c *Client) error { _, err := c.Refund(ctx, ref, "refund-key-1", nok499); return err },
			"POST", "/epayment/v1/payments/" + ref + "/refund", "refund-key-1", `{"modificationAmount":{"currency":"NOK","value":49900}}`},
		{"cancel", func(c *Client) error { _, err := c.Cancel(ctx, ref, "cancel-key-1", false); return err },
			"POST", "/epayment/v1/payments/" + ref + "/cancel", "cancel-key-1", ""},
		{"cancel transaction only", func(c *Client) error { _, err := c.Cancel(ctx, ref, "cancel-key-2", true); return err },
			"POST", "/epayment/v1/payments/" + ref + "/cancel", "cancel-key-2", `{"cancelTransactionOnly":true}`},
		{"force approve", func(c *Client) error { return c.ForceApprove(ctx, ref, "4791234567") },
			"POST", "/epayment/v1/test/payments/" + ref + "/approve", "", `{"customer":{"phoneNumber":"4791234567"}}`},
		{"webhook register", func(c *Client) error {
			_, err := c.RegisterWebhook(ctx, "https://shop.example/webhooks/vipps/webshop", EPaymentWebhookEvents)
			return err
		}, "POST", "/webhooks/v1/webhooks", "", "*"},
		{"webhook list", func(c *Client) error { _, err := c.ListWebhooks(ctx); return err },
			"GET", "/webhooks/v1/webhooks", "", ""},
		{"webhook delete", func(c *Client) error { return c.DeleteWebhook(ctx, "7a5f0b8e-3c1d-4e2f-8a9b-0c1d2e3f4a5b") },
			"DELETE", "/webhooks/v1/webhooks/7a5f0b8e-3c1d-4e2f-8a9b-0c1d2e3f4a5b", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, okAPI)
			c := newTestClient(t, testConfig(ts.URL(), &sleeper{}))
			require.NoError(t, tt.call(c))

			tokens := ts.tokenRequests()
			require.Len(t, tokens, 1)
			th := tokens[0].Header
			assert.Equal(t, "POST", tokens[0].Method)
			assert.Equal(t, testClientID, th.Get("client_id"))
			assert.Equal(t, testClientSecret, th.Get("client_secret"))
			assert.Empty(t, tokens[0].Body, "the token request has an empty body")
			assertCommonHeaders(t, th)

			reqs := ts.apiRequests()
			require.Len(t, reqs, 1)
			got := reqs[0]
			assert.Equal(t, tt.method, got.Method)
			assert.Equal(t, tt.path, got.Path)
			assertCommonHeaders(t, got.Header)
			assert.Equal(t, "Bearer token-1", got.Header.Get("Authorization"))
			assert.Equal(t, "application/json", got.Header.Get("Content-Type"))
			assert.Equal(t, "application/json", got.Header.Get("Accept"))
			assert.Equal(t, tt.idemKey, got.Header.Get("Idempotency-Key"))
			_, hasKey := got.Header["Idempotency-Key"]
			assert.Equal(t, tt.idemKey != "", hasKey)
			switch tt.wantBody {
			case "":
				assert.Empty(t, got.Body)
			case "*":
				assert.NotEmpty(t, got.Body)
			default:
				assert.JSONEq(t, tt.wantBody, string(got.Body))
			}
		})
	}
}

func assertCommonHeaders(t *testing.T, h http.Header) {
	t.Helper()
	assert.Equal(t, testSubscriptionKey, h.Get("Ocp-Apim-Subscription-Key"))
	assert.Equal(t, testMSN, h.Get("Merchant-Serial-Number"))
	assert.Equal(t, testSystem.Name, h.Get("Vipps-System-Name"))
	assert.Equal(t, testSystem.Version, h.Get("Vipps-System-Version"))
	assert.Equal(t, testSystem.PluginName, h.Get("Vipps-System-Plugin-Name"))
	assert.Equal(t, testSystem.PluginVersion, h.Get("Vipps-System-Plugin-Version"))
}

func TestResponsesDecoded(t *testing.T) {
	ts := newTestServer(t, okAPI)
	c := newTestClient(t, testConfig(ts.URL(), &sleeper{}))
	ctx := context.Background()

	created, err := c.CreatePayment(ctx, "create-key-1", testCreateRequest())
	require.NoError(t, err)
	assert.Equal(t, &CreatePaymentResponse{Reference: "acme-order-1234-1", RedirectURL: "https://landing.vipps.no?token=abc123"}, created)

	p, err := c.GetPayment(ctx, "acme-order-1234-1")
	require.NoError(t, err)
	assert.Equal(t, StateAuthorized, p.State)
	assert.Equal(t, int64(49900), p.Aggregate.AuthorizedAmount.Value)

	events, err := c.GetEvents(ctx, "acme-order-1234-1")
	require.NoError(t, err)
	require.Len(t, events, 2)
	assert.Equal(t, EventAuthorized, events[1].Name)
	assert.Equal(t, "2018200034", events[1].PSPReference)
	require.NotNil(t, events[0].IdempotencyKey)
	assert.Nil(t, events[1].IdempotencyKey)

	m, err := c.Capture(ctx, "acme-order-1234-1", "capture-key-1", nok499)
	require.NoError(t, err)
	assert.Equal(t, int64(49900), m.Aggregate.CapturedAmount.Value)

	reg, err := c.RegisterWebhook(ctx, "https://shop.example/hook", EPaymentWebhookEvents)
	require.NoError(t, err)
	assert.Equal(t, "webhook-secret-FROTZ", reg.Secret, "the caller gets the secret; only the observer does not")

	hooks, err := c.ListWebhooks(ctx)
	require.NoError(t, err)
	require.Len(t, hooks, 1)
	assert.Equal(t, []string{"epayments.payment.authorized.v1"}, hooks[0].Events)
}

// TestInvalidInputNotSent checks that arguments Vipps would refuse are
// rejected before any request, with ErrInvalidInput.
func TestInvalidInputNotSent(t *testing.T) {
	ctx := context.Background()
	ref := "acme-order-1234-1"
	long := strings.Repeat("k", 51)
	tests := []struct {
		name string
		call func(c *Client) error
		want string
	}{
		{"create without key", func(c *Client) error { _, err := c.CreatePayment(ctx, "", testCreateRequest()); return err }, "Idempotency-Key is required"},
		{"create with 51-char key", func(c *Client) error { _, err := c.CreatePayment(ctx, long, testCreateRequest()); return err }, "the limit is 50"},
		{"capture without key", func(c *Client) error { _, err := c.Capture(ctx, ref, "", nok499); return err }, "Idempotency-Key is required"},
		{"capture with 51-char key", func(c *Client) error { _, err := c.Capture(ctx, ref, long, nok499); return err }, "the limit is 50"},
		{"capture with non-ASCII key", func(c *Client) error { _, err := c.Capture(ctx, ref, "nøkkel", nok499); return err }, "printable ASCII"},
		{"refund without key", func(c *Client) error { _, err := c.Refund(ctx, ref, "", nok499); return err }, "Idempotency-Key is required"},
		{"cancel without key", func(c *Client) error { _, err := c.Cancel(ctx, ref, "", false); return err }, "Idempotency-Key is required"},
		{"capture zero", func(c *Client) error { _, err := c.Capture(ctx, ref, "k", Amount{Currency: NOK}); return err }, "must be positive"},
		{"refund without currency", func(c *Client) error { _, err := c.Refund(ctx, ref, "k", Amount{Value: 100}); return err }, "no currency"},
		{"get without reference", func(c *Client) error { _, err := c.GetPayment(ctx, ""); return err }, "reference is required"},
		{"create with short reference", func(c *Client) error {
			req := testCreateRequest()
			req.Reference = "short"
			_, err := c.CreatePayment(ctx, "k", req)
			return err
		}, "must match"},
		{"webhook without events", func(c *Client) error { _, err := c.RegisterWebhook(ctx, "https://x.example", nil); return err }, "at least one event"},
		{"delete without id", func(c *Client) error { return c.DeleteWebhook(ctx, "") }, "webhook id is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, okAPI)
			c := newTestClient(t, testConfig(ts.URL(), &sleeper{}))
			err := tt.call(c)
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrInvalidInput), "%v", err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Empty(t, ts.tokenRequests(), "nothing may be sent")
			assert.Empty(t, ts.apiRequests(), "nothing may be sent")
		})
	}
}

func TestIdempotencyKeyOf50CharsIsSent(t *testing.T) {
	ts := newTestServer(t, okAPI)
	c := newTestClient(t, testConfig(ts.URL(), &sleeper{}))
	key := strings.Repeat("k", 50)
	_, err := c.Capture(context.Background(), "acme-order-1234-1", key, nok499)
	require.NoError(t, err)
	assert.Equal(t, key, ts.apiRequests()[0].Header.Get("Idempotency-Key"))
}
