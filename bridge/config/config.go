// Package config reads and validates the service configuration once, at
// start-up. Secrets are never in the file: it names environment variables,
// and Load resolves them through the getenv function main passes in, so no
// other package reads the environment.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"vippskco/bridge/reconcile"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration after validation.
type Config struct {
	Server  Server  `yaml:"server"`
	Storage Storage `yaml:"storage"`
	Sandbox bool    `yaml:"sandbox"`
	// SandboxPublic lets sandbox mode listen beyond loopback: the fakes and
	// the demo shop are then public, so no development secret is filled in
	// (every secret must be set, as in production) and start-up logs a
	// warning each time.
	SandboxPublic   bool            `yaml:"sandbox_public"`
	Kustom          Kustom          `yaml:"kustom"`
	Units           []Unit          `yaml:"units"`
	RedirectSigning RedirectSigning `yaml:"redirect_signing"`
	MerchantWebhook MerchantWebhook `yaml:"merchant_webhook"`
	APITokens       APITokens       `yaml:"api_tokens"`
	System          System          `yaml:"system"`
	// RegisterWebhooks makes start-up register each unit's webhook at Vipps
	// (through the Webhooks API) unless the unit has a configured secret.
	RegisterWebhooks bool   `yaml:"register_webhooks"`
	Poller           Poller `yaml:"poller"`
	// ProviderLog is the retention of the provider log.
	ProviderLog ProviderLog `yaml:"provider_log"`

	// VippsPartners are partner key sets, each serving many sales units
	// (a unit names one with vipps.partner instead of its own keys).
	VippsPartners []VippsPartner `yaml:"vipps_partners"`
	// VippsAccounting are accounting-partner key sets for the Report API
	// (a unit names one with vipps.accounting).
	VippsAccounting []VippsAccounting `yaml:"vipps_accounting"`
}

// ProviderLog: RetentionDays is how many days an exchange with a provider
// is kept (default 90); older ones are purged in the background.
type ProviderLog struct {
	RetentionDays int `yaml:"retention_days"`
}

// Poller sizes the poller: the reads of waiting payments it makes on its
// own schedule (Vipps's guidance: 5 s after create, then every 2 s).
type Poller struct {
	// MaxReadsPerSecond bounds those reads on each replica (default 1000:
	// 2,000 waiting payments at the guidance's pace, about a third of a
	// core here). Past it every payment is read later, earliest due first;
	// the reads a webhook or a shopper's page asks for are not counted and
	// never wait for it.
	MaxReadsPerSecond int `yaml:"max_reads_per_second"`
}

// DefaultMaxPollReads is poller.max_reads_per_second when unset.
const DefaultMaxPollReads = 1000

// Server is where we listen and the address shoppers and providers reach us at.
type Server struct {
	Addr      string `yaml:"addr"`
	PublicURL string `yaml:"public_url"`
	// OpsAddr, when set, is a second listener for the operations network:
	// /metrics (then no longer served on addr) and Go's profiler at
	// /debug/pprof/. Neither asks for credentials: keep it on loopback or a
	// private address (for example 127.0.0.1:9090).
	OpsAddr string `yaml:"ops_addr"`
	// TrustedProxies are the load balancers whose X-Forwarded-For names the
	// client (for the shopper rate limit); empty trusts none.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// ShopperRateLimit bounds requests per client to the shopper pages;
	// zero per_second turns it off.
	ShopperRateLimit RateLimit `yaml:"shopper_rate_limit"`
	// ServerTiming adds a Server-Timing header to every response: the time
	// spent in provider round trips and the whole time, in ms. Off by
	// default; the load test (load_bench_test.go) turns it on.
	ServerTiming bool `yaml:"server_timing"`
}

// RateLimit is a token bucket: a steady rate and a burst.
type RateLimit struct {
	PerSecond float64 `yaml:"per_second"`
	Burst     int     `yaml:"burst"`
}

// Storage selects the store.
type Storage struct {
	Driver string `yaml:"driver"` // sqlite or postgres
	DSN    string `yaml:"dsn"`
	// DSNEnv names an environment variable that overrides DSN (for a
	// PostgreSQL password, say).
	DSNEnv string `yaml:"dsn_env"`
}

// Kustom is the Kustom (Klarna) Checkout API account.
type Kustom struct {
	BaseURL     string `yaml:"base_url"`
	Username    string `yaml:"username"`
	APIKeyEnv   string `yaml:"api_key_env"`
	APIKey      string `yaml:"-"`
	TimeoutSecs int    `yaml:"timeout_seconds"`
}

// Unit is one Vipps MobilePay sales unit (MSN) with its own keys and policy.
type Unit struct {
	ID      string `yaml:"id"`
	Name    string `yaml:"name"`
	MSN     string `yaml:"msn"`
	Vipps   Vipps  `yaml:"vipps"`
	Capture string `yaml:"capture"`
	// API is the Vipps API the unit was set up for: epayment (default) or
	// ecom (eCom API v2, e.g. a direct-capture unit; NOK only).
	API             string   `yaml:"api"`
	Currency        string   `yaml:"currency"`
	Countries       []string `yaml:"countries"`
	ReferencePrefix string   `yaml:"reference_prefix"`
	ConfirmationURL string   `yaml:"confirmation_url"`
	CheckoutURL     string   `yaml:"checkout_url"`
	// EPMName is the name shown in KCO: "Vipps" or "MobilePay".
	EPMName     string `yaml:"epm_name"`
	EPMImageURL string `yaml:"epm_image_url"`
	// ExpectedFee is the capture fee finance expects from Vipps for this
	// unit, for the reconciliation's fee check.
	ExpectedFee reconcile.FeeModel `yaml:"expected_fee"`
}

// Vipps holds a sales unit's API keys, resolved from the environment.
type Vipps struct {
	BaseURL            string `yaml:"base_url"`
	ClientIDEnv        string `yaml:"client_id_env"`
	ClientSecretEnv    string `yaml:"client_secret_env"`
	SubscriptionKeyEnv string `yaml:"subscription_key_env"`
	WebhookSecretEnv   string `yaml:"webhook_secret_env"`
	ClientID           string `yaml:"-"`
	ClientSecret       string `yaml:"-"`
	SubscriptionKey    string `yaml:"-"`
	WebhookSecret      string `yaml:"-"`
	TimeoutSecs        int    `yaml:"timeout_seconds"`

	// Partner names an entry of vipps_partners whose keys the unit uses
	// instead of its own: every call carries the unit's MSN.
	Partner string `yaml:"partner"`
	// Accounting names an entry of vipps_accounting whose keys settlement
	// sync uses for this unit instead of the unit's (or partner's) keys.
	Accounting string `yaml:"accounting"`
}

// RedirectSigning configures the HMAC on the EPM redirect_url. When a secret
// is configured every redirect must carry a valid signature.
type RedirectSigning struct {
	SecretEnv string        `yaml:"secret_env"`
	TTL       time.Duration `yaml:"ttl"`
	Secret    string        `yaml:"-"`
}

// MerchantWebhook is where we notify the merchant of state changes.
type MerchantWebhook struct {
	URL       string `yaml:"url"`
	SecretEnv string `yaml:"secret_env"`
	Secret    string `yaml:"-"`
	// CaptureDeadlineWarning is how long before a reservation's capture
	// deadline (captureGuaranteedUntil; 14 days in Denmark and Finland)
	// payment.capture_deadline_near is sent (default 48h).
	CaptureDeadlineWarning time.Duration `yaml:"capture_deadline_warning"`
}

// APITokens name the bearer tokens of the merchant and finance APIs, and
// the optional one that opens /metrics on the public listener.
type APITokens struct {
	MerchantEnv string `yaml:"merchant_env"`
	FinanceEnv  string `yaml:"finance_env"`
	MetricsEnv  string `yaml:"metrics_env"`
	Merchant    string `yaml:"-"`
	Finance     string `yaml:"-"`
	Metrics     string `yaml:"-"`
}

// System is what we send in the Vipps-System-* headers.
type System struct {
	Name          string `yaml:"name"`
	Version       string `yaml:"version"`
	PluginName    string `yaml:"plugin_name"`
	PluginVersion string `yaml:"plugin_version"`
}

// The Vipps APIs a unit can be set up for.
const (
	APIEPayment = "epayment"
	APIEcom     = "ecom"
)

// Capture policies.
const (
	CaptureReserve = "reserve"
	CaptureDirect  = "direct"
)

var (
	unitIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
	msnPattern    = regexp.MustCompile(`^[0-9]{4,6}$`)
	prefixPattern = regexp.MustCompile(`^[a-zA-Z0-9]{1,8}$`)
	envPattern    = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
)

// Load reads the YAML file at path, resolves the environment variables it
// names through getenv and validates the result. Every error names the key.
func Load(path string, getenv func(string) string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(raw, getenv)
}

// Parse is Load without the file.
func Parse(raw []byte, getenv func(string) string) (*Config, error) {
	c, err := Decode(raw)
	if err != nil {
		return nil, err
	}
	if err := c.Resolve(getenv); err != nil {
		return nil, err
	}
	return c, nil
}

// Decode reads YAML strictly (an unknown key is an error) into a Config
// that is not yet resolved nor validated: what a program that builds a
// configuration (a test, a tool) edits before calling Resolve.
func Decode(raw []byte) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return &c, nil
}

type keyError struct {
	key string
	msg string
}

func (e *keyError) Error() string { return fmt.Sprintf("config: %s: %s", e.key, e.msg) }

func bad(key, format string, args ...any) error {
	return &keyError{key: key, msg: fmt.Sprintf(format, args...)}
}

// MinSecretLen is the least length, in bytes, of a secret we choose
// ourselves (API tokens, signing secrets) outside loopback sandbox mode.
const MinSecretLen = 32

// secretKind says what a secret is, for the rules on it.
type secretKind int

const (
	// issued: a credential the provider hands out (Kustom API key, Vipps
	// client id, client secret and subscription key); its form is theirs.
	issued secretKind = iota
	// chosen: a token or signing secret the operator makes; it must be at
	// least MinSecretLen bytes.
	chosen
)

// DevSecrets reports whether unset secrets get the fixed development
// values: only in sandbox mode listening on loopback. Those values are
// well known, so anything reachable from another machine must have every
// secret set.
func (c *Config) DevSecrets() bool { return c.Sandbox && !c.SandboxPublic }

// MetricsOpen reports whether /metrics is served without a token on the
// public listener: only in sandbox mode on loopback.
func (c *Config) MetricsOpen() bool { return c.DevSecrets() }

// secret resolves an environment variable name into its value. In sandbox
// mode on loopback a missing value is allowed and filled with a fixed
// development value, because the local fakes accept whatever we give them.
// Anywhere else a variable the configuration names must be set (whether or
// not the setting itself is optional: a configured secret that is missing
// must not quietly turn a protection off), a required setting must name
// one, and a chosen secret must be long enough.
func (c *Config) secret(key, envName string, getenv func(string) string, required bool, kind secretKind, sandboxDefault string) (string, error) {
	if envName == "" {
		if c.DevSecrets() {
			return sandboxDefault, nil
		}
		if required {
			return "", bad(key, "is required")
		}
		return "", nil
	}
	if !envPattern.MatchString(envName) {
		return "", bad(key, "%q is not an environment variable name", envName)
	}
	v := strings.TrimSpace(getenv(envName))
	if v == "" {
		if c.DevSecrets() {
			return sandboxDefault, nil
		}
		return "", bad(key, "environment variable %s is empty or unset; set it, or remove %s from the configuration", envName, key)
	}
	if kind == chosen && !c.DevSecrets() && len(v) < MinSecretLen {
		return "", bad(key, "environment variable %s holds %d bytes; it must be at least %d (make one with `openssl rand -hex 32`)", envName, len(v), MinSecretLen)
	}
	return v, nil
}

// onLoopback reports whether a listen address (host:port) accepts
// connections from this machine only. An empty host (":8080") means every
// interface.
func onLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	return hostIsLoopback(host)
}

func hostIsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Resolve fills in defaults, reads the secrets from the environment
// variables the configuration names (through getenv) and validates the
// result. Every error names the key. Call it once.
func (c *Config) Resolve(getenv func(string) string) error {
	var err error
	if c.Server.Addr == "" {
		c.Server.Addr = ":8080"
		if c.Sandbox {
			c.Server.Addr = "127.0.0.1:8080"
		}
	}
	if c.SandboxPublic && !c.Sandbox {
		return bad("sandbox_public", "is only meaningful with sandbox: true")
	}
	if c.Server.PublicURL == "" {
		return bad("server.public_url", "is required")
	}
	pu, perr := url.Parse(c.Server.PublicURL)
	if perr != nil || pu.Host == "" || (pu.Scheme != "http" && pu.Scheme != "https") {
		return bad("server.public_url", "%q is not an absolute http(s) URL", c.Server.PublicURL)
	}
	if !c.Sandbox && pu.Scheme != "https" {
		return bad("server.public_url", "must be https outside sandbox mode: Vipps only returns shoppers to https URLs")
	}
	if c.Sandbox && !c.SandboxPublic {
		// The sandbox serves fake providers and a demo shop with
		// well-known secrets: it must not be reachable from elsewhere.
		if !onLoopback(c.Server.Addr) {
			return bad("server.addr", "%q is not a loopback address, and sandbox mode serves fake providers and well-known secrets: listen on 127.0.0.1, ::1 or localhost (for example 127.0.0.1:8080), or set sandbox_public: true and every secret", c.Server.Addr)
		}
		if !hostIsLoopback(pu.Hostname()) {
			return bad("server.public_url", "%q is not on this machine, and sandbox mode must not be reachable from elsewhere: use http://localhost:PORT, or set sandbox_public: true and every secret", c.Server.PublicURL)
		}
	}
	c.Server.PublicURL = strings.TrimRight(c.Server.PublicURL, "/")
	if rl := c.Server.ShopperRateLimit; rl.PerSecond < 0 || rl.Burst < 0 || (rl.PerSecond > 0 && rl.Burst < 1) {
		return bad("server.shopper_rate_limit", "per_second must not be negative, and burst must be at least 1 when a rate is set")
	}

	switch c.Storage.Driver {
	case "sqlite", "postgres":
	case "":
		return bad("storage.driver", "is required (sqlite or postgres)")
	default:
		return bad("storage.driver", "%q is not sqlite or postgres", c.Storage.Driver)
	}
	if c.Storage.DSNEnv != "" {
		if v := getenv(c.Storage.DSNEnv); v != "" {
			c.Storage.DSN = v
		}
	}
	if c.Storage.DSN == "" {
		return bad("storage.dsn", "is required")
	}

	if c.Kustom.BaseURL == "" {
		c.Kustom.BaseURL = "https://api.playground.kustom.co"
	}
	if err := checkURL("kustom.base_url", c.Kustom.BaseURL); err != nil {
		return err
	}
	if c.Kustom.APIKey, err = c.secret("kustom.api_key_env", c.Kustom.APIKeyEnv, getenv, true, issued, "kco_test_api_sandbox"); err != nil {
		return err
	}

	if len(c.Units) == 0 {
		return bad("units", "at least one sales unit is required")
	}
	if err := c.resolvePartners(getenv); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i := range c.Units {
		if err := c.resolveUnit(i, getenv, seen); err != nil {
			return err
		}
	}

	if c.ProviderLog.RetentionDays == 0 {
		c.ProviderLog.RetentionDays = 90
	}
	if c.ProviderLog.RetentionDays < 0 {
		return bad("provider_log.retention_days", "must be at least 1 (days)")
	}

	if c.RedirectSigning.TTL == 0 {
		c.RedirectSigning.TTL = 48 * time.Hour
	}
	if c.RedirectSigning.TTL < time.Minute {
		return bad("redirect_signing.ttl", "must be at least 1m")
	}
	if c.RedirectSigning.Secret, err = c.secret("redirect_signing.secret_env", c.RedirectSigning.SecretEnv, getenv, false, chosen, "sandbox-redirect-signing-secret"); err != nil {
		return err
	}
	if c.RedirectSigning.SecretEnv == "" {
		c.RedirectSigning.Secret = ""
	}

	if c.MerchantWebhook.CaptureDeadlineWarning == 0 {
		c.MerchantWebhook.CaptureDeadlineWarning = 48 * time.Hour
	}
	if w := c.MerchantWebhook.CaptureDeadlineWarning; w < time.Hour || w > 13*24*time.Hour {
		return bad("merchant_webhook.capture_deadline_warning", "%s must be between 1h and 312h (13 days): a Danish or Finnish reservation may be captured for 14 days", w)
	}
	if c.MerchantWebhook.URL != "" {
		if err := checkURL("merchant_webhook.url", c.ExpandPublicURL(c.MerchantWebhook.URL, c.Server.PublicURL)); err != nil {
			return err
		}
	}
	if c.MerchantWebhook.Secret, err = c.secret("merchant_webhook.secret_env", c.MerchantWebhook.SecretEnv, getenv, c.MerchantWebhook.URL != "", chosen, "sandbox-merchant-webhook-secret"); err != nil {
		return err
	}
	if c.APITokens.Merchant, err = c.secret("api_tokens.merchant_env", c.APITokens.MerchantEnv, getenv, true, chosen, "sandbox-merchant-token"); err != nil {
		return err
	}
	if c.APITokens.Finance, err = c.secret("api_tokens.finance_env", c.APITokens.FinanceEnv, getenv, true, chosen, "sandbox-finance-token"); err != nil {
		return err
	}
	// No development value: in sandbox mode on loopback /metrics is open.
	if c.APITokens.Metrics, err = c.secret("api_tokens.metrics_env", c.APITokens.MetricsEnv, getenv, false, chosen, ""); err != nil {
		return err
	}
	if c.APITokens.Merchant != "" && c.APITokens.Merchant == c.APITokens.Finance {
		return bad("api_tokens", "the merchant and finance tokens must differ")
	}
	if c.APITokens.Metrics != "" && (c.APITokens.Metrics == c.APITokens.Merchant || c.APITokens.Metrics == c.APITokens.Finance) {
		return bad("api_tokens", "the metrics token must differ from the merchant and finance tokens")
	}

	if c.System.Name == "" {
		c.System.Name = "vippskco"
	}
	if c.System.Version == "" {
		c.System.Version = "1.0.0"
	}
	if c.System.PluginName == "" {
		c.System.PluginName = "kco-epm-bridge"
	}
	if c.System.PluginVersion == "" {
		c.System.PluginVersion = "1.0.0"
	}
	if c.Poller.MaxReadsPerSecond < 0 {
		return bad("poller.max_reads_per_second", "must not be negative")
	}
	if c.Poller.MaxReadsPerSecond == 0 {
		c.Poller.MaxReadsPerSecond = DefaultMaxPollReads
	}
	for key, v := range map[string]string{"system.name": c.System.Name, "system.version": c.System.Version, "system.plugin_name": c.System.PluginName, "system.plugin_version": c.System.PluginVersion} {
		if len(v) > 30 {
			return bad(key, "must be at most 30 characters (Vipps-System-* header limit)")
		}
	}
	return nil
}

func (c *Config) resolveUnit(i int, getenv func(string) string, seen map[string]bool) error {
	u := &c.Units[i]
	key := func(k string) string { return fmt.Sprintf("units[%d].%s", i, k) }
	if !unitIDPattern.MatchString(u.ID) {
		return bad(key("id"), "%q must be lower-case letters, digits and dashes (1-32)", u.ID)
	}
	if seen[u.ID] {
		return bad(key("id"), "%q is used by two units", u.ID)
	}
	seen[u.ID] = true
	if !msnPattern.MatchString(u.MSN) {
		return bad(key("msn"), "%q is not a 4-6 digit merchant serial number", u.MSN)
	}
	if u.Name == "" {
		u.Name = u.ID
	}
	switch u.Capture {
	case CaptureReserve, CaptureDirect:
	case "":
		u.Capture = CaptureReserve
	default:
		return bad(key("capture"), "%q is not reserve or direct", u.Capture)
	}
	switch u.API {
	case "":
		u.API = APIEPayment
	case APIEPayment:
	case APIEcom:
		if u.Currency != "NOK" {
			return bad(key("currency"), "%q: an eCom unit (api: ecom) takes NOK only", u.Currency)
		}
	default:
		return bad(key("api"), "%q is not epayment or ecom", u.API)
	}
	switch u.Currency {
	case "NOK", "DKK", "EUR":
	default:
		return bad(key("currency"), "%q is not a currency Vipps MobilePay accepts (NOK, DKK, EUR)", u.Currency)
	}
	if len(u.Countries) == 0 {
		return bad(key("countries"), "at least one purchase country is required")
	}
	for j, cc := range u.Countries {
		up := strings.ToUpper(cc)
		if len(up) != 2 || up[0] < 'A' || up[0] > 'Z' || up[1] < 'A' || up[1] > 'Z' {
			return bad(fmt.Sprintf("units[%d].countries[%d]", i, j), "%q is not an ISO 3166 alpha-2 code", cc)
		}
		u.Countries[j] = up
	}
	slices.Sort(u.Countries)
	if !prefixPattern.MatchString(u.ReferencePrefix) {
		return bad(key("reference_prefix"), "%q must be 1-8 letters or digits: a Vipps reference is prefix-<KCO order id>-<attempt> and must stay within 50 characters", u.ReferencePrefix)
	}
	for _, o := range c.Units[:i] {
		if o.ReferencePrefix == u.ReferencePrefix && o.MSN == u.MSN {
			return bad(key("reference_prefix"), "%q is already used by unit %q on the same MSN; references must be unique per MSN", u.ReferencePrefix, o.ID)
		}
	}
	if u.ConfirmationURL != "" {
		if err := checkURL(key("confirmation_url"), c.ExpandPublicURL(u.ConfirmationURL, c.Server.PublicURL)); err != nil {
			return err
		}
	}
	if u.CheckoutURL == "" {
		return bad(key("checkout_url"), "is required: shoppers whose payment failed are sent back there")
	}
	if err := checkURL(key("checkout_url"), c.ExpandPublicURL(u.CheckoutURL, c.Server.PublicURL)); err != nil {
		return err
	}
	if u.EPMName == "" {
		// DKK and EUR units are MobilePay's (Denmark, Finland); NOK are Vipps'.
		u.EPMName = "Vipps"
		if u.Currency == "DKK" || u.Currency == "EUR" {
			u.EPMName = "MobilePay"
		}
	}
	if f := u.ExpectedFee; f.Bps < 0 || f.Bps > 10000 || f.Fixed < 0 || f.Tolerance < 0 {
		return bad(key("expected_fee"), "bps must be 0-10000 and fixed and tolerance not negative")
	}
	if u.Vipps.BaseURL == "" {
		u.Vipps.BaseURL = "https://apitest.vipps.no"
	}
	if err := checkURL(key("vipps.base_url"), u.Vipps.BaseURL); err != nil {
		return err
	}
	if u.Vipps.Partner != "" {
		return c.resolvePartnerUnit(i, getenv)
	}
	var err error
	// A sandbox key is derived from its variable's name, so units that name
	// the same variables (one sales unit shared by several stores) share
	// the same keys there too.
	sb := func(env, fallback string) string {
		if env == "" {
			return "sandbox-" + u.ID + "-" + fallback
		}
		return "sandbox-" + strings.ToLower(strings.ReplaceAll(env, "_", "-"))
	}
	if u.Vipps.ClientID, err = c.secret(key("vipps.client_id_env"), u.Vipps.ClientIDEnv, getenv, true, issued, sb(u.Vipps.ClientIDEnv, "client-id")); err != nil {
		return err
	}
	if u.Vipps.ClientSecret, err = c.secret(key("vipps.client_secret_env"), u.Vipps.ClientSecretEnv, getenv, true, issued, sb(u.Vipps.ClientSecretEnv, "client-secret")); err != nil {
		return err
	}
	if u.Vipps.SubscriptionKey, err = c.secret(key("vipps.subscription_key_env"), u.Vipps.SubscriptionKeyEnv, getenv, true, issued, sb(u.Vipps.SubscriptionKeyEnv, "subscription-key")); err != nil {
		return err
	}
	if u.Vipps.WebhookSecret, err = c.secret(key("vipps.webhook_secret_env"), u.Vipps.WebhookSecretEnv, getenv, false, chosen, ""); err != nil {
		return err
	}
	return nil
}

func checkURL(key, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return bad(key, "%q is not an absolute http(s) URL", raw)
	}
	return nil
}

// ExpandPublicURL replaces "{public_url}" in raw with publicURL, so that the
// sandbox's shop URLs follow the address the service really listens on.
func (c *Config) ExpandPublicURL(raw, publicURL string) string {
	return strings.ReplaceAll(raw, "{public_url}", publicURL)
}

// Unit returns the unit with this id.
func (c *Config) Unit(id string) (*Unit, bool) {
	for i := range c.Units {
		if c.Units[i].ID == id {
			return &c.Units[i], true
		}
	}
	return nil, false
}

// IsKeyError reports whether err is a validation error naming a key.
func IsKeyError(err error) bool {
	var k *keyError
	return errors.As(err, &k)
}
