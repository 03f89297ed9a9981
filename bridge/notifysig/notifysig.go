// Package notifysig signs and verifies the webhooks this service sends to
// the merchant. It is a leaf package on purpose: it imports only the
// standard library, so a merchant's Go backend can import it, or copy its one
// file, to verify our notifications.
package notifysig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
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
// The secret may be given in either of two forms, on both sides:
//
//   - a Standard Webhooks key, "whsec_" followed by the standard base64 of
//     the key bytes (as the spec and its libraries generate and take them):
//     the HMAC key is the decoded bytes. Configure this service with such a
//     key and give the merchant the same string for their library.
//   - any other string: the HMAC key is its UTF-8 bytes, as before. A
//     Standard Webhooks library then needs "whsec_" + base64(secret).
//
// A secret that starts with "whsec_" but is not valid base64 of at least
// one byte is refused (ParseSecret), never silently used as text. The body
// is signed exactly as sent; verify the raw bytes before parsing them.
const (
	HeaderID        = "Webhook-Id"
	HeaderTimestamp = "Webhook-Timestamp"
	HeaderSignature = "Webhook-Signature"
)

// DefaultTolerance is how far a webhook's timestamp may be from
// the receiver's clock, either way, when Verify is given no
// tolerance. It is the Standard Webhooks recommendation: long enough for
// clock skew and slow networks, short enough that a captured request cannot
// be replayed later.
const DefaultTolerance = 5 * time.Minute

// Sign returns the Webhook-Signature header value for one
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
//
// A secret ParseSecret refuses signs with its text; check it with
// ParseSecret first (the service does, before it sends anything).
func Sign(secret, id string, timestamp int64, body []byte) string {
	k, err := ParseSecret(secret)
	if err != nil {
		k = []byte(secret)
	}
	return "v1," + base64.StdEncoding.EncodeToString(mac(k, id, timestamp, body))
}

func mac(key []byte, id string, timestamp int64, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, timestamp, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify is the merchant's side of Sign: it checks
// that header (Webhook-Id, Webhook-Timestamp, Webhook-Signature) signs body
// with secret, and that the timestamp is within tolerance of now, either
// way (zero or less: DefaultTolerance). Webhook-Signature may
// hold several space-separated signatures, as Standard Webhooks allows
// during a secret rotation; one valid "v1" signature is enough. Signatures
// are compared in constant time. The error is an *Error whose Reason says what was wrong: missing_signature, bad_timestamp,
// stale_timestamp or bad_signature.
//
// A valid signature proves the request came from us, not that it is new:
// receivers should also dedupe on Webhook-Id, which is stable across
// retries of one notification.
//
// In Go, with the worked example of Sign:
//
//	err := notifysig.Verify("merchant-webhook-secret", r.Header, body, time.Now(), 0)
func Verify(secret string, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	key, err := ParseSecret(secret)
	if err != nil {
		return errorf("bad_signature", "%v", err)
	}
	id := header.Get(HeaderID)
	rawTimestamp := header.Get(HeaderTimestamp)
	signatures := header.Get(HeaderSignature)
	if id == "" || rawTimestamp == "" || signatures == "" {
		return errorf("missing_signature", "the %s, %s and %s headers are required",
			HeaderID, HeaderTimestamp, HeaderSignature)
	}
	timestamp, err := strconv.ParseInt(rawTimestamp, 10, 64)
	// The bounds keep the arithmetic below far from overflow; no honest
	// timestamp is negative or beyond the year 30000.
	if err != nil || timestamp < 0 || timestamp > 1<<40 {
		return errorf("bad_timestamp", "%s %q is not a time in Unix seconds", HeaderTimestamp, rawTimestamp)
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if skew := time.Duration(now.Unix()-timestamp) * time.Second; skew > tolerance || skew < -tolerance {
		return errorf("stale_timestamp", "%s is %s away from now, more than the %s allowed",
			HeaderTimestamp, skew.Abs(), tolerance)
	}
	want := mac(key, id, timestamp, body)
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
	return errorf("bad_signature", "no valid v1 signature in %s", HeaderSignature)
}

// ParseSecret returns the HMAC key of a secret. A Standard Webhooks key,
// "whsec_" followed by standard base64, is its decoded bytes, exactly as the
// Standard Webhooks spec has it; it must decode to at least one byte. Any
// other non-empty secret is its UTF-8 bytes.
func ParseSecret(secret string) ([]byte, error) {
	if secret == "" {
		return nil, fmt.Errorf("no webhook secret is configured")
	}
	enc, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return []byte(secret), nil
	}
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("a webhook secret starting with whsec_ must be followed by the standard base64 of the key")
	}
	return b, nil
}

// Error says why a notification did not verify. Reason is one of
// missing_signature, bad_timestamp, stale_timestamp or bad_signature.
type Error struct {
	Reason  string
	Message string
}

func (e *Error) Error() string { return e.Reason + ": " + e.Message }

func errorf(reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...)}
}
