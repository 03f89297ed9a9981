package vippstest

import (
	"net/http"
	"slices"
	"strconv"
)

// Partner is a partner's key set: one client id, secret and subscription
// key that serve many sales units. A call made with it must name the sales
// unit in the Merchant-Serial-Number header, and only the units the
// partner serves are accepted, as at Vipps. The Report API does not accept
// partner keys (it takes accounting-partner keys through /miami/v1/token).
type Partner struct {
	ClientID        string
	ClientSecret    string
	SubscriptionKey string
	// MSNs are the sales units the partner serves; each must have been
	// added with AddSalesUnit.
	MSNs []string
}

// AddPartner adds or replaces a partner key set (kept in Server.partners
// by subscription key). It panics on keys another
// unit or partner already uses, or on an MSN that is not a sales unit of
// the fake: a mistake in the test, not in the code under test.
func (s *Server) AddPartner(p Partner) {
	if p.ClientID == "" || p.ClientSecret == "" || p.SubscriptionKey == "" {
		panic("vippstest: AddPartner: ClientID, ClientSecret and SubscriptionKey are required")
	}
	if len(p.MSNs) == 0 {
		panic("vippstest: AddPartner: a partner serves at least one MSN")
	}
	p.MSNs = slices.Clone(p.MSNs)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, msn := range p.MSNs {
		if s.units[msn] == nil {
			panic("vippstest: AddPartner: MSN " + strconv.Quote(msn) + " is not a sales unit; add it first")
		}
	}
	for msn, u := range s.units {
		if u.SubscriptionKey == p.SubscriptionKey || u.ClientID == p.ClientID {
			panic("vippstest: AddPartner: the partner's keys are already used by MSN " + msn)
		}
	}
	for key, other := range s.partners {
		if key != p.SubscriptionKey && other.ClientID == p.ClientID {
			panic("vippstest: AddPartner: client id already used by another partner")
		}
	}
	if s.partners == nil {
		s.partners = map[string]*Partner{}
	}
	s.partners[p.SubscriptionKey] = &p
}

// partnerToken handles POST /accesstoken/get with a partner's subscription
// key: the token is the partner's, good for any unit it serves. The
// Merchant-Serial-Number header is optional here, but when sent it must be
// one of the partner's units.
func (s *Server) partnerToken(c *call, p *Partner) response {
	h := c.r.Header
	clientID, secret := h.Get("client_id"), h.Get("client_secret")
	if clientID == "" || secret == "" {
		return apimError(http.StatusBadRequest, "The client_id and client_secret headers are required.")
	}
	if clientID != p.ClientID || secret != p.ClientSecret {
		return apimError(http.StatusUnauthorized, "Access denied due to invalid client_id or client_secret for this subscription.")
	}
	if msn := h.Get("Merchant-Serial-Number"); msn != "" && !slices.Contains(p.MSNs, msn) {
		return apimError(http.StatusUnauthorized, "Access denied: Merchant-Serial-Number "+msn+" is not served by these partner keys.")
	}
	return s.issueToken(accessToken{partner: p.SubscriptionKey}, p.ClientID)
}

// authenticatePartner checks a call made with a partner's subscription
// key: the partner's token, and a Merchant-Serial-Number header naming a
// unit the partner serves, which the call then acts for.
func (c *call) authenticatePartner(p *Partner, tok accessToken) (response, bool) {
	s, h := c.s, c.r.Header
	if tok.partner != p.SubscriptionKey {
		return apimError(http.StatusUnauthorized, msgInvalidToken), false
	}
	if tok.revoked || !s.now().Before(tok.expiresAt) {
		return apimError(http.StatusUnauthorized, msgExpiredToken), false
	}
	switch c.op {
	case OpLedgers, OpReportDate, OpReportFeed:
		return c.problem(http.StatusForbidden, "Forbidden",
			"The Report API does not accept partner keys: use accounting partner keys (POST /miami/v1/token) or the sales unit's own keys.", nil), false
	}
	msn := h.Get("Merchant-Serial-Number")
	switch {
	case msn == "":
		return c.invalid(field("Merchant-Serial-Number", "The Merchant-Serial-Number header is required with partner keys.")), false
	case !msnPattern.MatchString(msn):
		return c.invalid(field("Merchant-Serial-Number", "The field Merchant-Serial-Number must match the regular expression '^[0-9]{4,6}$'.")), false
	case !slices.Contains(p.MSNs, msn):
		return c.problem(http.StatusForbidden, "Forbidden",
			"Merchant-Serial-Number "+msn+" is not a sales unit these partner keys serve.", nil), false
	}
	c.unit = s.units[msn]
	return response{}, true
}
