package vipps

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// tokenRefreshMargin is how long before expiry a cached token is replaced,
// so that a token never expires between being read and being used.
const tokenRefreshMargin = time.Minute

// tokenCache holds the access token of one sales unit. Reads take mu
// briefly; fetches are serialised by fetching, a one-slot semaphore that a
// waiter can abandon when its context ends.
type tokenCache struct {
	mu        sync.Mutex
	token     string
	refreshAt time.Time

	fetching chan struct{}
}

func newTokenCache() tokenCache {
	return tokenCache{fetching: make(chan struct{}, 1)}
}

// valid returns the cached token, or "" when there is none or it is due
// for refresh.
func (tc *tokenCache) valid(now time.Time) string {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.token == "" || !now.Before(tc.refreshAt) {
		return ""
	}
	return tc.token
}

func (tc *tokenCache) store(token string, refreshAt time.Time) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.token, tc.refreshAt = token, refreshAt
}

// invalidate drops token if it is still the cached one, so that a 401 on a
// stale token does not throw away a newer token another call just fetched.
func (tc *tokenCache) invalidate(token string) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.token == token {
		tc.token = ""
	}
}

// accessToken returns a valid token, fetching one when needed. Only one
// fetch runs at a time; concurrent callers wait for it and share its result.
func (c *Client) accessToken(ctx context.Context) (string, error) {
	if tok := c.tokens.valid(c.now()); tok != "" {
		return tok, nil
	}
	select {
	case c.tokens.fetching <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-c.tokens.fetching }()
	if tok := c.tokens.valid(c.now()); tok != "" {
		return tok, nil
	}
	tok, refreshAt, err := c.fetchToken(ctx)
	if err != nil {
		return "", err
	}
	c.tokens.store(tok, refreshAt)
	return tok, nil
}

// tokenResponse is the answer of POST /accesstoken/get. Vipps sends the
// numbers as JSON strings ("expires_in": "3599"); lenientInt takes both.
type tokenResponse struct {
	TokenType   string     `json:"token_type"`
	ExpiresIn   lenientInt `json:"expires_in"`
	ExpiresOn   lenientInt `json:"expires_on"`
	AccessToken string     `json:"access_token"`
}

// fetchToken gets a new token with the sales unit's keys and says when it
// should be refreshed: a minute before expiry, or halfway through a
// lifetime shorter than two minutes.
func (c *Client) fetchToken(ctx context.Context) (string, time.Time, error) {
	fetched := c.now()
	r := &request{
		op:     "token",
		method: http.MethodPost,
		path:   tokenPath(c.creds),
		// Written with the key as Vipps documents it (lower case).
		header: http.Header{
			"client_id":     {c.creds.ClientID},
			"client_secret": {c.creds.ClientSecret},
		},
		resendable: true,
	}
	res, err := c.do(ctx, r)
	if err != nil {
		return "", time.Time{}, err
	}
	var tr tokenResponse
	if err := c.decodeJSON(r, res, &tr); err != nil {
		return "", time.Time{}, err
	}
	if tr.AccessToken == "" {
		return "", time.Time{}, fmt.Errorf("vipps: POST %s: the token response has no access_token", r.path)
	}
	var expiry time.Time
	switch {
	case tr.ExpiresIn.set && tr.ExpiresIn.v > 0:
		// Relative expiry is immune to clock skew between us and Vipps.
		expiry = fetched.Add(time.Duration(tr.ExpiresIn.v) * time.Second)
	case tr.ExpiresOn.set && tr.ExpiresOn.v > 0:
		expiry = time.Unix(tr.ExpiresOn.v, 0)
	default:
		return "", time.Time{}, fmt.Errorf("vipps: POST %s: the token response has neither expires_in nor expires_on", r.path)
	}
	lifetime := expiry.Sub(fetched)
	if lifetime <= 0 {
		return "", time.Time{}, fmt.Errorf("vipps: POST %s: the token expired at %s, before it was fetched (%s)", r.path, expiry.UTC().Format(time.RFC3339), fetched.UTC().Format(time.RFC3339))
	}
	return tr.AccessToken, expiry.Add(-min(tokenRefreshMargin, lifetime/2)), nil
}

// tokenPath is where a key set gets its token: sales-unit and partner keys
// at /accesstoken/get, accounting-partner keys at /miami/v1/token (which
// answers expires_in alone, as a string).
func tokenPath(cr Credentials) string {
	if cr.Accounting {
		return "/miami/v1/token"
	}
	return "/accesstoken/get"
}

// lenientInt decodes an integer sent as a JSON string or a JSON number.
type lenientInt struct {
	v   int64
	set bool
}

func (n *lenientInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			return nil
		}
		b = []byte(s)
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("not an integer: %s", b)
	}
	n.v, n.set = v, true
	return nil
}
