// Package vipps is a client for the Vipps MobilePay APIs that a merchant
// needs to take ePayment payments: the access token, the ePayment API v1 and
// the Webhooks API, plus the verification of the webhooks Vipps sends.
//
// One Client serves one sales unit (one Merchant-Serial-Number with its own
// keys). It caches the access token, sends the headers Vipps requires on every
// call, retries only what is safe to retry, reports an unanswered change as
// ErrOutcomeUnknown and returns provider errors as *Error with the whole body.
package vipps

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Base URLs of the two Vipps MobilePay environments. Each environment has its
// own keys, sales units and webhook registrations.
const (
	TestBaseURL       = "https://apitest.vipps.no"
	ProductionBaseURL = "https://api.vipps.no"
)

// Defaults that New fills in.
const (
	DefaultBaseURL    = TestBaseURL
	DefaultTimeout    = 15 * time.Second
	DefaultMaxRetries = 3
)

// maxSystemHeaderLen is the limit Vipps sets for each Vipps-System-* header.
const maxSystemHeaderLen = 30

// Config configures a Client. Only Credentials and System are required.
type Config struct {
	// BaseURL is the API host, DefaultBaseURL when empty. It may carry a path
	// prefix (e.g. a local fake at http://127.0.0.1:8080/sandbox/vipps); API
	// paths are appended to it.
	BaseURL     string
	Credentials Credentials
	System      SystemInfo
	// HTTPClient sends the requests; when nil a client with DefaultTimeout is
	// used. Its Timeout bounds each attempt, not the whole call.
	HTTPClient *http.Client
	// MaxRetries is how many times a failed attempt may be repeated:
	// DefaultMaxRetries when 0, no retries when negative.
	MaxRetries int
	// Observer, when set, is called synchronously after every HTTP attempt
	// (token fetches included) with the exchange, secrets redacted. It is how
	// callers keep the full request and response log Vipps asks for.
	Observer func(ctx context.Context, ex Exchange)
	// Now is the clock for token expiry, Retry-After dates and Exchange
	// timing; time.Now when nil.
	Now func() time.Time
	// Sleep waits between retries; when nil it waits on a timer and returns
	// early with ctx.Err() when ctx is done. Tests replace it to run fast.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Credentials are the API keys of one sales unit, from the merchant portal.
type Credentials struct {
	ClientID        string
	ClientSecret    string
	SubscriptionKey string // Ocp-Apim-Subscription-Key, primary or secondary
	MSN             string // Merchant-Serial-Number, 4 to 6 digits
	// Accounting marks an accounting partner's keys: the token comes from
	// POST /miami/v1/token with the client id and secret alone, no
	// subscription key is sent, and only the Report API takes them.
	Accounting bool
}

// SystemInfo fills the Vipps-System-* headers, which Vipps requires from
// platforms and partners so that it can trace problems to an integration.
// Each value is at most 30 characters.
type SystemInfo struct {
	Name          string // Vipps-System-Name, e.g. the shop platform
	Version       string // Vipps-System-Version
	PluginName    string // Vipps-System-Plugin-Name, e.g. this integration
	PluginVersion string // Vipps-System-Plugin-Version
}

// Client calls the Vipps MobilePay APIs for one sales unit. It is safe for
// concurrent use.
type Client struct {
	baseURL    string
	creds      Credentials
	system     SystemInfo
	httpClient *http.Client
	maxRetries int
	observer   func(ctx context.Context, ex Exchange)
	now        func() time.Time
	sleep      func(ctx context.Context, d time.Duration) error
	tokens     tokenCache
}

// New checks cfg and returns a Client with the defaults filled in.
func New(cfg Config) (*Client, error) {
	base, err := normalizeBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if err := cfg.Credentials.validate(); err != nil {
		return nil, err
	}
	if err := cfg.System.validate(); err != nil {
		return nil, err
	}
	c := &Client{
		baseURL:    base,
		creds:      cfg.Credentials,
		system:     cfg.System,
		httpClient: cfg.HTTPClient,
		maxRetries: cfg.MaxRetries,
		observer:   cfg.Observer,
		now:        cfg.Now,
		sleep:      cfg.Sleep,
		tokens:     newTokenCache(),
	}
	if c.httpClient == nil {
		c.httpClient = &http.Client{Timeout: DefaultTimeout}
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = DefaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.sleep == nil {
		c.sleep = sleepContext
	}
	return c, nil
}

// MSN returns the Merchant-Serial-Number of the sales unit the client serves.
func (c *Client) MSN() string { return c.creds.MSN }

// normalizeBaseURL checks the base URL and drops a trailing slash so that
// API paths, which start with "/", can be appended to it.
func normalizeBaseURL(raw string) (string, error) {
	if raw == "" {
		return DefaultBaseURL, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("vipps: Config.BaseURL: %w", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("vipps: Config.BaseURL %q: scheme must be https or http", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("vipps: Config.BaseURL %q: no host", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("vipps: Config.BaseURL %q: must not carry user info, a query or a fragment", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func (cr Credentials) validate() error {
	fields := []struct{ name, value string }{
		{"ClientID", cr.ClientID},
		{"ClientSecret", cr.ClientSecret},
		{"SubscriptionKey", cr.SubscriptionKey},
		{"MSN", cr.MSN},
	}
	for _, f := range fields {
		if f.value == "" && f.name == "SubscriptionKey" && cr.Accounting {
			continue // accounting keys have none
		}
		if f.value == "" {
			return fmt.Errorf("vipps: Config.Credentials.%s is required", f.name)
		}
		if !headerSafe(f.value) {
			return fmt.Errorf("vipps: Config.Credentials.%s: only printable ASCII is allowed in a header", f.name)
		}
	}
	if !isDigits(cr.MSN) || len(cr.MSN) < 4 || len(cr.MSN) > 6 {
		return fmt.Errorf("vipps: Config.Credentials.MSN %q: must be 4 to 6 digits", cr.MSN)
	}
	return nil
}

func (s SystemInfo) validate() error {
	fields := []struct{ name, value string }{
		{"Name", s.Name},
		{"Version", s.Version},
		{"PluginName", s.PluginName},
		{"PluginVersion", s.PluginVersion},
	}
	for _, f := range fields {
		switch {
		case f.value == "":
			return fmt.Errorf("vipps: Config.System.%s is required (it is sent as a Vipps-System-* header)", f.name)
		case len(f.value) > maxSystemHeaderLen:
			return fmt.Errorf("vipps: Config.System.%s %q: longer than %d characters", f.name, f.value, maxSystemHeaderLen)
		case !headerSafe(f.value):
			return fmt.Errorf("vipps: Config.System.%s %q: only printable ASCII is allowed", f.name, f.value)
		}
	}
	return nil
}

// ErrInvalidInput is wrapped by every error that rejects an argument before
// anything is sent to Vipps.
var ErrInvalidInput = errors.New("vipps: invalid input")

// maxIdempotencyKeyLen is the ePayment limit on the Idempotency-Key header.
const maxIdempotencyKeyLen = 50

// checkIdempotencyKey rejects a key Vipps would refuse. The key must be chosen
// (and stored) by the caller before the first attempt, so that a retry after a
// crash sends the same one.
func checkIdempotencyKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: an Idempotency-Key is required for changes", ErrInvalidInput)
	case len(key) > maxIdempotencyKeyLen:
		return fmt.Errorf("%w: Idempotency-Key %q is %d characters, the limit is %d", ErrInvalidInput, key, len(key), maxIdempotencyKeyLen)
	case !headerSafe(key):
		return fmt.Errorf("%w: Idempotency-Key %q: only printable ASCII is allowed", ErrInvalidInput, key)
	}
	return nil
}

// headerSafe reports whether s is printable ASCII, which every header value
// this client sends must be.
func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
