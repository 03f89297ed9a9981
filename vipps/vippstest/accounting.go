package vippstest

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// accountingTokenLifetime is the life of a /miami/v1/token token: 15
// minutes, in test and production alike.
const accountingTokenLifetime = 15 * time.Minute

// AccountingPartner is an accounting partner's key set: a client id and
// secret (no subscription key) that get a token from POST /miami/v1/token
// and read the Report API for the sales units whose merchants granted it
// access. No other API takes them.
type AccountingPartner struct {
	ClientID     string
	ClientSecret string
	// MSNs are the sales units whose ledgers the partner may read.
	MSNs []string
}

// AddAccountingPartner adds or replaces an accounting partner (kept in
// Server.accounting by client id). It panics on an MSN the fake has no sales unit for.
func (s *Server) AddAccountingPartner(a AccountingPartner) {
	if a.ClientID == "" || a.ClientSecret == "" {
		panic("vippstest: AddAccountingPartner: ClientID and ClientSecret are required")
	}
	a.MSNs = slices.Clone(a.MSNs)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, msn := range a.MSNs {
		if s.units[msn] == nil {
			panic("vippstest: AddAccountingPartner: MSN " + strconv.Quote(msn) + " is not a sales unit; add it first")
		}
	}
	if s.accounting == nil {
		s.accounting = map[string]*AccountingPartner{}
	}
	s.accounting[a.ClientID] = &a
}

type accountingTokenJSON struct {
	TokenType   string `json:"token_type"`
	ExpiresIn   string `json:"expires_in"`
	AccessToken string `json:"access_token"`
}

// handleAccountingToken is POST /miami/v1/token: client_id and
// client_secret in headers, no subscription key; only accounting keys get
// a token here in this fake (sales-unit keys use /accesstoken/get).
func (s *Server) handleAccountingToken(c *call) response {
	h := c.r.Header
	clientID, secret := h.Get("client_id"), h.Get("client_secret")
	if clientID == "" || secret == "" {
		return apimError(http.StatusBadRequest, "The client_id and client_secret headers are required.")
	}
	a := s.accounting[clientID]
	if a == nil || a.ClientSecret != secret {
		return apimError(http.StatusUnauthorized, "Access denied due to invalid client_id or client_secret.")
	}
	now := s.now()
	exp := now.Add(accountingTokenLifetime)
	tok := s.newAccessToken(clientID, now, exp)
	s.tokens[tok] = accessToken{accounting: clientID, expiresAt: exp}
	return jsonResponse(http.StatusOK, accountingTokenJSON{
		TokenType: "Bearer", ExpiresIn: strconv.Itoa(int(accountingTokenLifetime / time.Second)), AccessToken: tok,
	})
}

// authenticateAccounting checks a call without a subscription key: only an
// accounting token on the Report API passes, seeing the ledgers of the
// MSNs it was granted. handled is false when the call carries no
// accounting token, for the caller's usual answer.
func (c *call) authenticateAccounting() (resp response, ok, handled bool) {
	s := c.s
	raw, found := strings.CutPrefix(c.r.Header.Get("Authorization"), "Bearer ")
	tok, known := s.tokens[raw]
	if !found || !known || tok.accounting == "" {
		return response{}, false, false
	}
	if tok.revoked || !s.now().Before(tok.expiresAt) {
		return apimError(http.StatusUnauthorized, msgExpiredToken), false, true
	}
	switch c.op {
	case OpLedgers, OpReportDate, OpReportFeed:
	default:
		return apimError(http.StatusUnauthorized, msgMissingSubscriptionKey), false, true
	}
	a := s.accounting[tok.accounting]
	if a == nil {
		return apimError(http.StatusUnauthorized, msgInvalidToken), false, true
	}
	c.granted = a.MSNs
	return response{}, true, true
}

// seesLedger reports whether the caller's keys may read l: a unit's keys
// see the ledgers that settle for its MSN, an accounting partner's those
// of every MSN it was granted.
func (c *call) seesLedger(l *ledger) bool {
	if c.granted != nil {
		return slices.ContainsFunc(l.msns, func(m string) bool { return slices.Contains(c.granted, m) })
	}
	return c.unit != nil && slices.Contains(l.msns, c.unit.MSN)
}
