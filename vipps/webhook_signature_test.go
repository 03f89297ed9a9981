package vipps

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The worked example from the Webhooks API request-authentication page
// (notes/vipps.md §5), reproduced exactly.
const (
	exampleSecret       = "A0+AeKBRG2KRGvnNwJpQlb6IJFk48CKXCIcrLoHncVJKDILsQSxS6NWCccwWm6r6FhGKhiHTBsG2wo/xU6FY/A=="
	examplePath         = "/e2cee29b-012e-4f1d-8ef4-e95fd74a7a63" // of https://webhook.site/e2cee29b-012e-4f1d-8ef4-e95fd74a7a63
	exampleHost         = "webhook.site"
	exampleBody         = `{"some-unique-content":"ee6e441b-cc4a-46f8-895d-a5af79bcc233/hello-world"}`
	exampleDate         = "Thu, 30 Mar 2023 08:38:32 GMT"
	exampleContentHash  = "lNlsp1XA03N34HrQsVzPgJKtC+r7l/RBF4V3JQUWMj4="
	exampleAuthorzation = "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=agAiSyogQbDHpeucoNwYz+yAr5nJ+v+zasdkSbqzv+U="
)

var exampleNow = time.Date(2023, 3, 30, 8, 38, 40, 0, time.UTC)

func exampleHeader() http.Header {
	h := http.Header{}
	h.Set("x-ms-date", exampleDate)
	h.Set("x-ms-content-sha256", exampleContentHash)
	h.Set("Authorization", exampleAuthorzation)
	h.Set("Host", exampleHost)
	return h
}

func TestWebhookWorkedExample(t *testing.T) {
	assert.Equal(t, exampleContentHash, ContentHash([]byte(exampleBody)))
	hash, auth := SignWebhook(exampleSecret, "POST", examplePath, exampleHost, exampleDate, []byte(exampleBody))
	assert.Equal(t, exampleContentHash, hash)
	assert.Equal(t, exampleAuthorzation, auth)
	assert.NoError(t, VerifyWebhook(exampleSecret, "POST", examplePath, exampleHost, exampleHeader(), []byte(exampleBody), exampleNow, time.Minute))
}

func TestVerifyWebhookRejections(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(h http.Header)
		secret string
		path   string
		host   string
		body   string
		now    time.Time
		skew   time.Duration
		want   error
	}{
		{name: "valid"},
		{name: "body tampered", body: `{"some-unique-content":"ee6e441b-cc4a-46f8-895d-a5af79bcc233/hello-world!"}`, want: ErrWebhookBodyHash},
		{name: "wrong content hash header", edit: func(h http.Header) { h.Set("x-ms-content-sha256", ContentHash([]byte("other"))) }, want: ErrWebhookBodyHash},
		{name: "wrong secret", secret: "A0+AeKBRG2KRGvnNwJpQlb6IJFk48CKXCIcrLoHncVJKDILsQSxS6NWCccwWm6r6FhGKhiHTBsG2wo/xU6FY/B==", want: ErrWebhookSignature},
		{name: "signature altered", edit: func(h http.Header) {
			h.Set("Authorization", "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=bgAiSyogQbDHpeucoNwYz+yAr5nJ+v+zasdkSbqzv+U=")
		}, want: ErrWebhookSignature},
		{name: "date altered", edit: func(h http.Header) { h.Set("x-ms-date", "Thu, 30 Mar 2023 08:38:33 GMT") }, want: ErrWebhookSignature},
		{name: "other path", path: "/other", want: ErrWebhookSignature},
		{name: "other host", host: "evil.example", want: ErrWebhookSignature},
		{name: "stale", now: exampleNow.Add(10 * time.Minute), skew: 5 * time.Minute, want: ErrWebhookStale},
		{name: "from the future", now: exampleNow.Add(-10 * time.Minute), skew: 5 * time.Minute, want: ErrWebhookStale},
		{name: "within skew", now: exampleNow.Add(4 * time.Minute), skew: 5 * time.Minute},
		{name: "default skew applies", now: exampleNow.Add(6 * time.Minute), skew: 0, want: ErrWebhookStale},
		{name: "missing x-ms-date", edit: func(h http.Header) { h.Del("x-ms-date") }, want: ErrWebhookMissingHeader},
		{name: "missing x-ms-content-sha256", edit: func(h http.Header) { h.Del("x-ms-content-sha256") }, want: ErrWebhookMissingHeader},
		{name: "missing Authorization", edit: func(h http.Header) { h.Del("Authorization") }, want: ErrWebhookMissingHeader},
		{name: "missing host", host: "-", want: ErrWebhookMissingHeader},
	}
	reasons := []error{ErrWebhookBodyHash, ErrWebhookSignature, ErrWebhookStale, ErrWebhookMissingHeader}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := exampleHeader()
			if tt.edit != nil {
				tt.edit(h)
			}
			secret, path, host, body, now, skew := exampleSecret, examplePath, exampleHost, exampleBody, exampleNow, time.Minute
			if tt.secret != "" {
				secret = tt.secret
			}
			if tt.path != "" {
				path = tt.path
			}
			switch tt.host {
			case "":
			case "-":
				host = ""
			default:
				host = tt.host
			}
			if tt.body != "" {
				body = tt.body
			}
			if !tt.now.IsZero() {
				now, skew = tt.now, tt.skew
			}
			err := VerifyWebhook(secret, "POST", path, host, h, []byte(body), now, skew)
			if tt.want == nil {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
			for _, other := range reasons {
				if other != tt.want {
					assert.False(t, errors.Is(err, other), "%v must carry one reason only", err)
				}
			}
		})
	}
}

func TestVerifyWebhookUnparseableDate(t *testing.T) {
	body := []byte(`{"name":"AUTHORIZED"}`)
	date := "30/03/2023 08:38"
	hash, auth := SignWebhook("s3cret", "POST", "/webhooks/vipps/webshop", "shop.example", date, body)
	h := http.Header{"X-Ms-Date": {date}, "X-Ms-Content-Sha256": {hash}, "Authorization": {auth}}
	err := VerifyWebhook("s3cret", "POST", "/webhooks/vipps/webshop", "shop.example", h, body, exampleNow, time.Minute)
	assert.ErrorIs(t, err, ErrWebhookStale)
}

// TestSignVerifyRoundTrip: what SignWebhook produces (as a fake Vipps
// would send it, with a port and a query) verifies.
func TestSignVerifyRoundTrip(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	body := []byte(`{"msn":"123456","reference":"acme-order-1234-1","name":"AUTHORIZED"}`)
	date := now.Format(http.TimeFormat)
	hash, auth := SignWebhook("secret", "POST", "/webhooks/vipps/webshop?x=1", "127.0.0.1:8080", date, body)
	h := http.Header{}
	h.Set("x-ms-date", date)
	h.Set("x-ms-content-sha256", hash)
	h.Set("Authorization", auth)
	assert.NoError(t, VerifyWebhook("secret", "POST", "/webhooks/vipps/webshop?x=1", "127.0.0.1:8080", h, body, now, time.Minute))
	assert.ErrorIs(t, VerifyWebhook("secret", "POST", "/webhooks/vipps/webshop", "127.0.0.1:8080", h, body, now, time.Minute), ErrWebhookSignature)
}

func FuzzVerifyWebhook(f *testing.F) {
	f.Add("secret", "/path?q=1", "host:8080", []byte(exampleBody), "Thu, 30 Mar 2023 08:38:32 GMT", "junk")
	f.Fuzz(func(t *testing.T, secret, path, host string, body []byte, date, forged string) {
		hash, auth := SignWebhook(secret, "POST", path, host, date, body)
		h := http.Header{"X-Ms-Date": {date}, "X-Ms-Content-Sha256": {hash}, "Authorization": {forged}}
		err := VerifyWebhook(secret, "POST", path, host, h, body, exampleNow, time.Minute)
		if forged != auth && err == nil {
			t.Fatalf("forged authorization %q accepted", forged)
		}
		h.Set("Authorization", auth)
		err = VerifyWebhook(secret, "POST", path, host, h, body, exampleNow, time.Minute)
		if err != nil && !errors.Is(err, ErrWebhookStale) && !errors.Is(err, ErrWebhookMissingHeader) {
			t.Fatalf("genuine delivery rejected: %v", err)
		}
	})
}

func BenchmarkVerifyWebhook(b *testing.B) {
	h := exampleHeader()
	body := []byte(exampleBody)
	for b.Loop() {
		if err := VerifyWebhook(exampleSecret, "POST", examplePath, exampleHost, h, body, exampleNow, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}
