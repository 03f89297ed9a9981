package vippstest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSignWebhookWorkedExample reproduces the worked example of the Vipps
// request-authentication docs (notes §5).
func TestSignWebhookWorkedExample(t *testing.T) {
	const (
		secret = "A0+AeKBRG2KRGvnNwJpQlb6IJFk48CKXCIcrLoHncVJKDILsQSxS6NWCccwWm6r6FhGKhiHTBsG2wo/xU6FY/A=="
		target = "https://webhook.site/e2cee29b-012e-4f1d-8ef4-e95fd74a7a63"
		body   = `{"some-unique-content":"ee6e441b-cc4a-46f8-895d-a5af79bcc233/hello-world"}`
		date   = "Thu, 30 Mar 2023 08:38:32 GMT"
	)
	pathAndQuery, host, err := WebhookTarget(target)
	require.NoError(t, err)
	assert.Equal(t, "/e2cee29b-012e-4f1d-8ef4-e95fd74a7a63", pathAndQuery)
	assert.Equal(t, "webhook.site", host)

	contentHash, authorization := SignWebhook(secret, pathAndQuery, host, date, []byte(body))
	assert.Equal(t, "lNlsp1XA03N34HrQsVzPgJKtC+r7l/RBF4V3JQUWMj4=", contentHash)
	assert.Equal(t, "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=agAiSyogQbDHpeucoNwYz+yAr5nJ+v+zasdkSbqzv+U=", authorization)
}

func TestWebhookTarget(t *testing.T) {
	tests := []struct {
		url, pathAndQuery, host string
	}{
		{"https://shop.example", "/", "shop.example"},
		{"https://shop.example:443/hook", "/hook", "shop.example"},
		{"https://Shop.Example:8443/hook?a=1&b=2", "/hook?a=1&b=2", "shop.example:8443"},
		{"http://127.0.0.1:8080/webhooks/vipps/unit", "/webhooks/vipps/unit", "127.0.0.1:8080"},
		{"http://localhost:80/x%20y", "/x%20y", "localhost"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			pq, host, err := WebhookTarget(tt.url)
			require.NoError(t, err)
			assert.Equal(t, tt.pathAndQuery, pq)
			assert.Equal(t, tt.host, host)
		})
	}
	_, _, err := WebhookTarget("/relative")
	assert.Error(t, err)
}
