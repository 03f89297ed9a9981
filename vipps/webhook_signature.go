package vipps

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// The reasons VerifyWebhook rejects a delivery. Each returned error wraps
// exactly one of them, so callers can count rejections by reason.
var (
	ErrWebhookMissingHeader = errors.New("vipps webhook: missing header")
	ErrWebhookBodyHash      = errors.New("vipps webhook: x-ms-content-sha256 does not match the body")
	ErrWebhookSignature     = errors.New("vipps webhook: signature mismatch")
	// ErrWebhookStale also covers an x-ms-date that cannot be parsed: a
	// date that cannot be read cannot be shown to be fresh.
	ErrWebhookStale = errors.New("vipps webhook: x-ms-date outside the allowed window")
)

// DefaultWebhookMaxSkew is the freshness window VerifyWebhook applies when
// given a maxSkew of zero or less. Vipps does not document one; a few
// minutes covers clock drift while keeping replays short-lived.
const DefaultWebhookMaxSkew = 5 * time.Minute

// webhookSignedHeaders is the fixed prefix of a Vipps webhook Authorization
// header.
const webhookSignedHeaders = "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature="

// ContentHash is the x-ms-content-sha256 value for body: the standard
// base64 of its SHA-256. It must be computed over the raw bytes received;
// re-encoded JSON hashes differently.
func ContentHash(body []byte) string {
	sum := sha256.Sum256(body)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// SignWebhook signs a webhook delivery the way Vipps does, returning the
// x-ms-content-sha256 and Authorization header values. pathAndQuery is the
// path (plus "?query") and host the authority of the registered URL; date
// is the x-ms-date value. The key is the UTF-8 bytes of the secret exactly
// as Vipps returned it at registration, not base64-decoded.
func SignWebhook(secret, method, pathAndQuery, host, date string, body []byte) (contentHash, authorization string) {
	contentHash = ContentHash(body)
	stringToSign := method + "\n" + pathAndQuery + "\n" + date + ";" + host + ";" + contentHash
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(stringToSign))
	return contentHash, webhookSignedHeaders + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// VerifyWebhook checks a webhook delivery against the registration secret:
// the x-ms-content-sha256 header must be the hash of body, the
// Authorization header must be the signature over method, pathAndQuery,
// x-ms-date, host and that hash (compared in constant time), and x-ms-date
// must be within maxSkew of now (DefaultWebhookMaxSkew when maxSkew <= 0).
// host and pathAndQuery are those of the URL the webhook was registered
// with (for a non-default port the host includes it, as in URL.Host).
//
// Checks run in that order, so a forged delivery counts as a signature
// failure and a genuine but old one (a replay) as stale. A fresh date does
// not stop a replay inside the window; deduplicate deliveries as well.
func VerifyWebhook(secret, method, pathAndQuery, host string, header http.Header, body []byte, now time.Time, maxSkew time.Duration) error {
	date := header.Get("x-ms-date")
	gotHash := header.Get("x-ms-content-sha256")
	gotAuth := header.Get("Authorization")
	for _, h := range []struct{ name, value string }{
		{"x-ms-date", date},
		{"x-ms-content-sha256", gotHash},
		{"Authorization", gotAuth},
	} {
		if h.value == "" {
			return fmt.Errorf("%w: %s", ErrWebhookMissingHeader, h.name)
		}
	}
	if host == "" {
		return fmt.Errorf("%w: host", ErrWebhookMissingHeader)
	}

	wantHash, wantAuth := SignWebhook(secret, method, pathAndQuery, host, date, body)
	if subtle.ConstantTimeCompare([]byte(gotHash), []byte(wantHash)) != 1 {
		return ErrWebhookBodyHash
	}
	if subtle.ConstantTimeCompare([]byte(gotAuth), []byte(wantAuth)) != 1 {
		return ErrWebhookSignature
	}

	sent, err := http.ParseTime(date)
	if err != nil {
		return fmt.Errorf("%w: x-ms-date %q is not an HTTP date", ErrWebhookStale, date)
	}
	if maxSkew <= 0 {
		maxSkew = DefaultWebhookMaxSkew
	}
	if skew := now.Sub(sent); skew > maxSkew || skew < -maxSkew {
		return fmt.Errorf("%w: x-ms-date %s is %s from now (limit %s)", ErrWebhookStale, date, skew.Round(time.Second), maxSkew)
	}
	return nil
}
