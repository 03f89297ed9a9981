package vippstest

import (
	"encoding/base64"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// SalesUnit is a merchant's sales unit (MSN) with its API keys.
type SalesUnit struct {
	MSN             string // 4–6 digits
	ClientID        string
	ClientSecret    string
	SubscriptionKey string
	// Currency is the unit's market currency (NOK, DKK or EUR; default
	// NOK). A create in another currency fails with 5040.
	Currency string
	// Name is the merchant name the landing page shows.
	Name string
	// PartialCaptureNotAllowed makes any capture other than the full
	// authorized amount fail with 6140.
	PartialCaptureNotAllowed bool
	// PushMessageAllowed admits userFlow PUSH_MESSAGE (else 5080).
	PushMessageAllowed bool
	// LongLivingPaymentsAllowed admits expiresAt (else 5050).
	LongLivingPaymentsAllowed bool
	// DirectCapture is the eCom direct-capture setting Vipps makes on a
	// unit: an approved eCom payment is captured at once and reported as
	// SALE.
	DirectCapture bool
	// CaptureDeadline is how long after authorization a reservation may be
	// captured or cancelled. Zero is Vipps' default for the unit's market:
	// 180 days in Norway (NOK), 14 days for MobilePay in Denmark and Finland
	// (DKK, EUR); "late capture" up to 180 days needs Vipps' approval. Past
	// it the reservation is cancelled by Vipps, and capture answers 6100,
	// cancel 6030 (notes/vipps.md §3.3 "Capture deadlines").
	CaptureDeadline time.Duration
}

// captureDeadline is the unit's capture deadline (see SalesUnit).
func (u *SalesUnit) captureDeadline() time.Duration {
	switch {
	case u.CaptureDeadline > 0:
		return u.CaptureDeadline
	case u.Currency == "DKK" || u.Currency == "EUR":
		return 14 * 24 * time.Hour
	}
	return 180 * 24 * time.Hour
}

var msnPattern = regexp.MustCompile(`^[0-9]{4,6}$`)

// AddSalesUnit adds or replaces a sales unit. It panics on a unit that real
// Vipps could not have issued (bad MSN, empty keys, unknown currency): that
// is a mistake in the test, not in the code under test.
func (s *Server) AddSalesUnit(u SalesUnit) {
	if !msnPattern.MatchString(u.MSN) {
		panic("vippstest: AddSalesUnit: MSN must match ^[0-9]{4,6}$, got " + strconv.Quote(u.MSN))
	}
	if u.ClientID == "" || u.ClientSecret == "" || u.SubscriptionKey == "" {
		panic("vippstest: AddSalesUnit: ClientID, ClientSecret and SubscriptionKey are required")
	}
	switch u.Currency {
	case "":
		u.Currency = "NOK"
	case "NOK", "DKK", "EUR":
	default:
		panic("vippstest: AddSalesUnit: Currency must be NOK, DKK or EUR, got " + strconv.Quote(u.Currency))
	}
	if u.Name == "" {
		u.Name = "Testbutikk " + u.MSN
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for msn, other := range s.units {
		if msn != u.MSN && (other.SubscriptionKey == u.SubscriptionKey || other.ClientID == u.ClientID) {
			panic("vippstest: AddSalesUnit: keys of MSN " + u.MSN + " are already used by MSN " + msn)
		}
	}
	for _, p := range s.partners {
		if p.SubscriptionKey == u.SubscriptionKey || p.ClientID == u.ClientID {
			panic("vippstest: AddSalesUnit: keys of MSN " + u.MSN + " are already a partner's")
		}
	}
	s.units[u.MSN] = &u
}

func (s *Server) unitBySubscriptionKey(key string) *SalesUnit {
	for _, u := range s.units {
		if u.SubscriptionKey == key {
			return u
		}
	}
	return nil
}

type accessToken struct {
	msn     string
	partner string // the partner's subscription key, for a partner's token
	// accounting is the client id of an accounting partner's token.
	accounting string
	expiresAt  time.Time
	revoked    bool
}

// ExpireTokens makes every token issued so far invalid, as if an hour had
// passed, so that a test can exercise the client's refresh on 401.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.tokens {
		t.revoked = true
		s.tokens[k] = t
	}
}

// The APIM messages, word for word as Vipps users quote them.
const (
	msgMissingSubscriptionKey = "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."
	msgInvalidSubscriptionKey = "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."
	msgInvalidToken           = "Unauthorized. Access token is missing or invalid."
	msgExpiredToken           = "Unauthorized. Access token has expired."
)

type tokenJSON struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    string `json:"expires_in"`
	ExtExpiresIn string `json:"ext_expires_in"`
	ExpiresOn    string `json:"expires_on"`
	NotBefore    string `json:"not_before"`
	Resource     string `json:"resource"`
	AccessToken  string `json:"access_token"`
}

// handleToken is POST /accesstoken/get: the keys come in headers and every
// value of the answer is a JSON string, numbers included.
func (s *Server) handleToken(c *call) response {
	h := c.r.Header
	subKey := h.Get("Ocp-Apim-Subscription-Key")
	if subKey == "" {
		return apimError(http.StatusUnauthorized, msgMissingSubscriptionKey)
	}
	u := s.unitBySubscriptionKey(subKey)
	if p := s.partners[subKey]; u == nil && p != nil {
		return s.partnerToken(c, p)
	}
	if u == nil {
		return apimError(http.StatusUnauthorized, msgInvalidSubscriptionKey)
	}
	clientID, secret := h.Get("client_id"), h.Get("client_secret")
	if clientID == "" || secret == "" {
		return apimError(http.StatusBadRequest, "The client_id and client_secret headers are required.")
	}
	if clientID != u.ClientID || secret != u.ClientSecret {
		return apimError(http.StatusUnauthorized, "Access denied due to invalid client_id or client_secret for this subscription.")
	}
	if msn := h.Get("Merchant-Serial-Number"); msn != "" && msn != u.MSN {
		return apimError(http.StatusUnauthorized, "Access denied: Merchant-Serial-Number "+msn+" does not belong to these API keys.")
	}
	return s.issueToken(accessToken{msn: u.MSN}, u.ClientID)
}

// issueToken records a new token (t with its expiry) and answers with it.
func (s *Server) issueToken(t accessToken, clientID string) response {
	now := s.now()
	// Forget tokens a day past their expiry; until then a client using one
	// still hears that it expired rather than that it never existed.
	for k, t := range s.tokens {
		if now.Sub(t.expiresAt) > 24*time.Hour {
			delete(s.tokens, k)
		}
	}
	exp := now.Add(tokenLifetime)
	tok := s.newAccessToken(clientID, now, exp)
	t.expiresAt = exp
	s.tokens[tok] = t
	secs := strconv.Itoa(int(tokenLifetime / time.Second))
	return jsonResponse(http.StatusOK, tokenJSON{
		TokenType:    "Bearer",
		ExpiresIn:    secs,
		ExtExpiresIn: secs,
		ExpiresOn:    strconv.FormatInt(exp.Unix(), 10),
		NotBefore:    strconv.FormatInt(now.Unix(), 10),
		Resource:     "00000002-0000-0000-c000-000000000000",
		AccessToken:  tok,
	})
}

// newAccessToken builds a JWT-shaped token like the real ones (header,
// claims, a long signature). Its content means nothing: the fake looks
// tokens up by their whole string.
func (s *Server) newAccessToken(clientID string, now, exp time.Time) string {
	enc := base64.RawURLEncoding
	header := marshalJSON(map[string]string{"typ": "JWT", "alg": "RS256", "kid": s.randToken(20)})
	claims := marshalJSON(map[string]any{
		"aud":   "00000002-0000-0000-c000-000000000000",
		"iss":   "https://sts.windows.net/" + s.newUUID() + "/",
		"iat":   now.Unix(),
		"nbf":   now.Unix(),
		"exp":   exp.Unix(),
		"appid": clientID,
		"oid":   s.newUUID(),
		"tid":   s.newUUID(),
	})
	return enc.EncodeToString(header) + "." + enc.EncodeToString(claims) + "." + enc.EncodeToString(s.randBytes(256))
}

// authenticate checks what the gateway and the API check before acting:
// subscription key, bearer token of that unit, and the MSN header.
func (c *call) authenticate() (response, bool) {
	s, h := c.s, c.r.Header
	subKey := h.Get("Ocp-Apim-Subscription-Key")
	if subKey == "" {
		if resp, ok, handled := c.authenticateAccounting(); handled {
			return resp, ok
		}
		return apimError(http.StatusUnauthorized, msgMissingSubscriptionKey), false
	}
	u := s.unitBySubscriptionKey(subKey)
	p := s.partners[subKey]
	if u == nil && p == nil {
		return apimError(http.StatusUnauthorized, msgInvalidSubscriptionKey), false
	}
	// "Bearer" is case-sensitive at Vipps: "bearer …" is a 401.
	raw, ok := strings.CutPrefix(h.Get("Authorization"), "Bearer ")
	if !ok || raw == "" {
		return apimError(http.StatusUnauthorized, msgInvalidToken), false
	}
	tok, ok := s.tokens[raw]
	if ok && u == nil {
		return c.authenticatePartner(p, tok)
	}
	if !ok || tok.msn != u.MSN {
		return apimError(http.StatusUnauthorized, msgInvalidToken), false
	}
	if tok.revoked || !s.now().Before(tok.expiresAt) {
		return apimError(http.StatusUnauthorized, msgExpiredToken), false
	}
	msn := h.Get("Merchant-Serial-Number")
	switch {
	case msn == "":
		return c.invalid(field("Merchant-Serial-Number", "The Merchant-Serial-Number header is required.")), false
	case !msnPattern.MatchString(msn):
		return c.invalid(field("Merchant-Serial-Number", "The field Merchant-Serial-Number must match the regular expression '^[0-9]{4,6}$'.")), false
	case msn != u.MSN:
		return c.problem(http.StatusForbidden, "Forbidden",
			"Merchant-Serial-Number "+msn+" is not the sales unit of the access token.", nil), false
	}
	c.unit = u
	return response{}, true
}
