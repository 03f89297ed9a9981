package bridge

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// RedirectSigner signs and verifies the EPM redirect_url. The redirect URL is
// in the shopper's browser and can be edited, so when a secret is configured
// the URL carries sig=<expiry unix seconds>.<HMAC-SHA256 over unit, KCO order
// id and expiry>, and the redirect refuses anything else. The expiry keeps an
// old signed link from being replayed after the KCO order's own 48 hours.
type RedirectSigner struct {
	Secret []byte
	TTL    time.Duration
}

// Enabled reports whether redirects must be signed.
func (s *RedirectSigner) Enabled() bool { return s != nil && len(s.Secret) > 0 }

// Sign returns the sig parameter for unit and order, valid until now+TTL.
func (s *RedirectSigner) Sign(unit, kcoOrderID string, now time.Time) string {
	exp := strconv.FormatInt(now.Add(s.TTL).Unix(), 10)
	return exp + "." + s.mac(unit, kcoOrderID, exp)
}

func (s *RedirectSigner) mac(unit, kcoOrderID, exp string) string {
	m := hmac.New(sha256.New, s.Secret)
	m.Write([]byte("kco-vipps-redirect\n" + unit + "\n" + kcoOrderID + "\n" + exp))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Verify checks sig for unit and order at time now.
func (s *RedirectSigner) Verify(unit, kcoOrderID, sig string, now time.Time) error {
	if sig == "" {
		return Errorf(ECodeForbidden, "signature_missing", "this payment link is not signed")
	}
	exp, mac, ok := strings.Cut(sig, ".")
	if !ok {
		return Errorf(ECodeForbidden, "signature_malformed", "this payment link's signature is malformed")
	}
	expUnix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return Errorf(ECodeForbidden, "signature_malformed", "this payment link's signature is malformed")
	}
	want := s.mac(unit, kcoOrderID, exp)
	if subtle.ConstantTimeCompare([]byte(want), []byte(mac)) != 1 {
		return Errorf(ECodeForbidden, "signature_invalid", "this payment link's signature does not match the order")
	}
	if now.Unix() > expUnix {
		return Errorf(ECodeForbidden, "signature_expired", "this payment link has expired")
	}
	return nil
}
