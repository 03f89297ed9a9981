package bridge

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Merchant webhooks are signed the Standard Webhooks way
// (https://www.standardwebhooks.com/, "symmetric" v1 signatures), so that a
// merchant can verify them with any library of that scheme, or with a few
// lines of their own. Each request carries three headers:
//
//	Webhook-Id:        the notification's id, stable across retries (dedupe on it)
//	Webhook-Timestamp: when this attempt was signed, in Unix seconds
//	Webhook-Signature: "v1," + base64(HMAC-SHA256(secret, id + "." + timestamp + "." + body))
//
// The secret is used as its UTF-8 bytes. Standard Webhooks libraries take
// the key as "whsec_" followed by its base64: give them "whsec_" +
// base64(secret). The body is signed exactly as sent; verify the raw bytes
// before parsing them.
const (
	HeaderWebhookID        = "Webhook-Id"
	HeaderWebhookTimestamp = "Webhook-Timestamp"
	HeaderWebhookSignature = "Webhook-Signature"
)

// DefaultNotificationTolerance is how far a webhook's timestamp may be from
// the receiver's clock, either way, when VerifyNotification is given no
// tolerance. It is the Standard Webhooks recommendation: long enough for
// clock skew and slow networks, short enough that a captured request cannot
// be replayed later.
const DefaultNotificationTolerance = 5 * time.Minute

// SignNotification returns the Webhook-Signature header value for one
// delivery: "v1," followed by the standard base64 of
// HMAC-SHA256(secret, id + "." + timestamp + "." + body).
//
// Worked example, to check an implementation against:
//
//	secret:    "merchant-webhook-secret"
//	id:        "7c9e6679-7425-40de-944b-e07fc1f90ae7"
//	timestamp: 1767225600 (2026-01-01T00:00:00Z)
//	body:      {"id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","type":"payment.authorized"}
//	signed:    7c9e6679-7425-40de-944b-e07fc1f90ae7.1767225600.{"id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","type":"payment.authorized"}
//	header:    v1,ccBGAGgXdSNtYMNDpYDNjeNXZR5GMuEkmTvViMQWEYY=
func SignNotification(secret, id string, timestamp int64, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(notificationMAC(secret, id, timestamp, body))
}

func notificationMAC(secret, id string, timestamp int64, body []byte) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, timestamp, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(nil)
}

// VerifyNotification is the merchant's side of SignNotification: it checks
// that header (Webhook-Id, Webhook-Timestamp, Webhook-Signature) signs body
// with secret, and that the timestamp is within tolerance of now, either
// way (zero or less: DefaultNotificationTolerance). Webhook-Signature may
// hold several space-separated signatures, as Standard Webhooks allows
// during a secret rotation; one valid "v1" signature is enough. Signatures
// are compared in constant time. The error is an unauthorized *Error whose
// reason says what was wrong: missing_signature, bad_timestamp,
// stale_timestamp or bad_signature.
//
// A valid signature proves the request came from us, not that it is new:
// receivers should also dedupe on Webhook-Id, which is stable across
// retries of one notification.
//
// In Go, with the worked example of SignNotification:
//
//	err := bridge.VerifyNotification("merchant-webhook-secret", r.Header, body, time.Now(), 0)
func VerifyNotification(secret string, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	if secret == "" {
		return Errorf(ECodeUnauthorized, "bad_signature", "no webhook secret is configured to verify with")
	}
	id := header.Get(HeaderWebhookID)
	rawTimestamp := header.Get(HeaderWebhookTimestamp)
	signatures := header.Get(HeaderWebhookSignature)
	if id == "" || rawTimestamp == "" || signatures == "" {
		return Errorf(ECodeUnauthorized, "missing_signature", "the %s, %s and %s headers are required",
			HeaderWebhookID, HeaderWebhookTimestamp, HeaderWebhookSignature)
	}
	timestamp, err := strconv.ParseInt(rawTimestamp, 10, 64)
	// The bounds keep the arithmetic below far from overflow; no honest
	// timestamp is negative or beyond the year 30000.
	if err != nil || timestamp < 0 || timestamp > 1<<40 {
		return Errorf(ECodeUnauthorized, "bad_timestamp", "%s %q is not a time in Unix seconds", HeaderWebhookTimestamp, rawTimestamp)
	}
	if tolerance <= 0 {
		tolerance = DefaultNotificationTolerance
	}
	if skew := time.Duration(now.Unix()-timestamp) * time.Second; skew > tolerance || skew < -tolerance {
		return Errorf(ECodeUnauthorized, "stale_timestamp", "%s is %s away from now, more than the %s allowed",
			HeaderWebhookTimestamp, skew.Abs(), tolerance)
	}
	want := notificationMAC(secret, id, timestamp, body)
	for _, sig := range strings.Fields(signatures) {
		encoded, ok := strings.CutPrefix(sig, "v1,")
		if !ok {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(encoded)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return Errorf(ECodeUnauthorized, "bad_signature", "no valid v1 signature in %s", HeaderWebhookSignature)
}
