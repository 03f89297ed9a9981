package config

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestShippedConfigLoadsInSandbox(t *testing.T) {
	c, err := Load("../../config.yaml", env(nil))
	require.NoError(t, err)
	require.True(t, c.Sandbox)
	u, ok := c.Unit("webshop")
	require.True(t, ok)
	require.Equal(t, "123456", u.MSN)
	require.Equal(t, "sandbox-vipps-webshop-client-secret", u.Vipps.ClientSecret)
	require.Equal(t, []string{"NO"}, u.Countries)
	require.Equal(t, "sandbox-redirect-signing-secret", c.RedirectSigning.Secret)
	require.Equal(t, "127.0.0.1:8080", c.Server.Addr, "the shipped sandbox listens on loopback only")
	require.True(t, c.MetricsOpen(), "in sandbox on loopback /metrics needs no token")
}

// long is a secret of the length the rules ask for, distinct per name.
func long(name string) string { return name + "-" + strings.Repeat("0123456789abcdef", 4) }

// prodConfig is the shipped config.yaml outside sandbox mode, behind an
// https public URL, with a unit webhook secret of its own (as for a
// webhook registered by hand), and the environment that completes it.
func prodConfig(t *testing.T) (string, map[string]string) {
	t.Helper()
	base, err := os.ReadFile("../../config.yaml")
	require.NoError(t, err)
	prod := string(base)
	for from, to := range map[string]string{
		"\nsandbox: true\n":                                  "\nsandbox: false\n",
		`public_url: "http://localhost:8080"`:                `public_url: "https://pay.example"`,
		"# webhook_secret_env: VIPPS_WEBSHOP_WEBHOOK_SECRET": "webhook_secret_env: VIPPS_WEBSHOP_WEBHOOK_SECRET",
		"# metrics_env: METRICS_API_TOKEN":                   "metrics_env: METRICS_API_TOKEN",
	} {
		require.Contains(t, prod, from)
		prod = strings.Replace(prod, from, to, 1)
	}
	full := map[string]string{
		"KUSTOM_API_KEY": "kco_test_api_x", "VIPPS_WEBSHOP_CLIENT_ID": "id", "VIPPS_WEBSHOP_CLIENT_SECRET": "s",
		"VIPPS_WEBSHOP_SUBSCRIPTION_KEY": "k",
	}
	for _, name := range []string{"MERCHANT_API_TOKEN", "FINANCE_API_TOKEN", "METRICS_API_TOKEN", "MERCHANT_WEBHOOK_SECRET",
		"REDIRECT_SIGNING_SECRET", "VIPPS_WEBSHOP_WEBHOOK_SECRET"} {
		full[name] = long(name)
	}
	return prod, full
}

// Outside sandbox mode every secret the configuration names must be set:
// an optional one (the redirect signing secret, a unit's webhook secret,
// the metrics token) that is missing would otherwise quietly switch its
// protection off.
func TestEveryNamedSecretMustBeSetOutsideSandbox(t *testing.T) {
	prod, full := prodConfig(t)
	c, err := Parse([]byte(prod), env(full))
	require.NoError(t, err, "a complete production configuration loads")
	require.Equal(t, full["REDIRECT_SIGNING_SECRET"], c.RedirectSigning.Secret)
	require.Equal(t, full["VIPPS_WEBSHOP_WEBHOOK_SECRET"], c.Units[0].Vipps.WebhookSecret)
	require.Equal(t, full["METRICS_API_TOKEN"], c.APITokens.Metrics)
	require.False(t, c.MetricsOpen())

	keys := map[string]string{
		"KUSTOM_API_KEY":                 "kustom.api_key_env",
		"VIPPS_WEBSHOP_CLIENT_ID":        "units[0].vipps.client_id_env",
		"VIPPS_WEBSHOP_CLIENT_SECRET":    "units[0].vipps.client_secret_env",
		"VIPPS_WEBSHOP_SUBSCRIPTION_KEY": "units[0].vipps.subscription_key_env",
		"VIPPS_WEBSHOP_WEBHOOK_SECRET":   "units[0].vipps.webhook_secret_env",
		"REDIRECT_SIGNING_SECRET":        "redirect_signing.secret_env",
		"MERCHANT_WEBHOOK_SECRET":        "merchant_webhook.secret_env",
		"MERCHANT_API_TOKEN":             "api_tokens.merchant_env",
		"FINANCE_API_TOKEN":              "api_tokens.finance_env",
		"METRICS_API_TOKEN":              "api_tokens.metrics_env",
	}
	require.Len(t, keys, len(full), "every variable of the configuration is checked")
	for name, key := range keys {
		for what, e := range map[string]map[string]string{"unset": without(full, name), "empty": with(full, name, "  ")} {
			t.Run(name+" "+what, func(t *testing.T) {
				_, err := Parse([]byte(prod), env(e))
				require.Error(t, err)
				require.True(t, IsKeyError(err))
				require.Contains(t, err.Error(), key)
				require.Contains(t, err.Error(), name, "the error names the variable")
			})
		}
	}
}

// Tokens and signing secrets we choose must be at least 32 bytes outside
// sandbox mode; the provider's own credentials keep their form.
func TestShortSecretsAreRefused(t *testing.T) {
	prod, full := prodConfig(t)
	for name, key := range map[string]string{
		"MERCHANT_API_TOKEN":           "api_tokens.merchant_env",
		"FINANCE_API_TOKEN":            "api_tokens.finance_env",
		"METRICS_API_TOKEN":            "api_tokens.metrics_env",
		"REDIRECT_SIGNING_SECRET":      "redirect_signing.secret_env",
		"MERCHANT_WEBHOOK_SECRET":      "merchant_webhook.secret_env",
		"VIPPS_WEBSHOP_WEBHOOK_SECRET": "units[0].vipps.webhook_secret_env",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(prod), env(with(full, name, "a")))
			require.Error(t, err)
			require.Contains(t, err.Error(), key)
			require.Contains(t, err.Error(), "at least 32")
			require.Contains(t, err.Error(), "openssl rand -hex 32")

			_, err = Parse([]byte(prod), env(with(full, name, strings.Repeat("x", 31))))
			require.Error(t, err, "31 bytes is one short")
			_, err = Parse([]byte(prod), env(with(full, name, strings.Repeat("y", 32))))
			require.NoError(t, err, "32 bytes is enough")
		})
	}
	// The sandbox on loopback keeps its short development values.
	c, err := Load("../../config.yaml", env(map[string]string{"MERCHANT_API_TOKEN": "a"}))
	require.NoError(t, err)
	require.Equal(t, "a", c.APITokens.Merchant)
}

// Sandbox mode serves fake providers with well-known secrets: it listens on
// loopback only, unless sandbox_public says otherwise, and then nothing
// falls back to a development secret.
func TestSandboxStaysOnLoopback(t *testing.T) {
	base, err := os.ReadFile("../../config.yaml")
	require.NoError(t, err)
	sandbox := string(base)
	require.Contains(t, sandbox, `addr: "127.0.0.1:8080"`)
	withAddr := func(addr string) string {
		return strings.Replace(sandbox, `addr: "127.0.0.1:8080"`, `addr: "`+addr+`"`, 1)
	}
	for _, addr := range []string{"127.0.0.1:8080", "[::1]:8080", "localhost:8080", "127.0.0.2:0"} {
		_, err := Parse([]byte(withAddr(addr)), env(nil))
		require.NoError(t, err, addr)
	}
	for _, addr := range []string{":8080", "0.0.0.0:8080", "[::]:8080", "192.0.2.10:8080", "pay.example:443"} {
		_, err := Parse([]byte(withAddr(addr)), env(nil))
		require.Error(t, err, addr)
		require.Contains(t, err.Error(), "server.addr", addr)
		require.Contains(t, err.Error(), "sandbox_public", addr)
	}
	noAddr := strings.Replace(sandbox, `addr: "127.0.0.1:8080"`, `addr: ""`, 1)
	c, err := Parse([]byte(noAddr), env(nil))
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:8080", c.Server.Addr, "sandbox's default address is loopback")

	public := strings.Replace(sandbox, `public_url: "http://localhost:8080"`, `public_url: "https://pay.example"`, 1)
	_, err = Parse([]byte(public), env(nil))
	require.Error(t, err, "a sandbox reached through a public URL")
	require.Contains(t, err.Error(), "server.public_url")

	// The override: anywhere, but with every secret set and long enough.
	open := strings.Replace(withAddr(":8080"), "\nsandbox_public: false\n", "\nsandbox_public: true\n", 1)
	open = strings.Replace(open, `public_url: "http://localhost:8080"`, `public_url: "https://demo.example"`, 1)
	_, full := prodConfig(t)
	c, err = Parse([]byte(open), env(full))
	require.NoError(t, err)
	require.True(t, c.Sandbox)
	require.False(t, c.DevSecrets())
	require.False(t, c.MetricsOpen())
	require.Equal(t, full["MERCHANT_API_TOKEN"], c.APITokens.Merchant)
	require.Equal(t, full["REDIRECT_SIGNING_SECRET"], c.RedirectSigning.Secret)
	require.Equal(t, "id", c.Units[0].Vipps.ClientID)

	_, err = Parse([]byte(open), env(nil))
	require.Error(t, err, "no development secret on a public sandbox")
	require.Contains(t, err.Error(), "KUSTOM_API_KEY")
	_, err = Parse([]byte(open), env(without(full, "REDIRECT_SIGNING_SECRET")))
	require.Error(t, err)
	require.Contains(t, err.Error(), "redirect_signing.secret_env")
	_, err = Parse([]byte(open), env(with(full, "MERCHANT_API_TOKEN", "sandbox-merchant-token")))
	require.Error(t, err, "the well-known development token is too short anyway")
	require.Contains(t, err.Error(), "api_tokens.merchant_env")

	prod, full := prodConfig(t)
	_, err = Parse([]byte(strings.Replace(prod, "\nsandbox_public: false\n", "\nsandbox_public: true\n", 1)), env(full))
	require.Error(t, err)
	require.Contains(t, err.Error(), "sandbox_public")
}

func TestBadSettingNamesTheKey(t *testing.T) {
	prod, full := prodConfig(t)
	_, err := Parse([]byte(prod), env(full))
	require.NoError(t, err, "a complete production configuration loads")

	cases := []struct {
		name, from, to string
		env            map[string]string
		key            string
	}{
		{"missing secret", "", "", without(full, "VIPPS_WEBSHOP_CLIENT_SECRET"), "units[0].vipps.client_secret_env"},
		{"missing kustom key", "", "", without(full, "KUSTOM_API_KEY"), "kustom.api_key_env"},
		{"bad msn", `msn: "123456"`, `msn: "12ab"`, full, "units[0].msn"},
		{"bad capture", "capture: reserve", "capture: later", full, "units[0].capture"},
		{"bad currency", "currency: NOK", "currency: SEK", full, "units[0].currency"},
		{"long prefix", "reference_prefix: ws", "reference_prefix: waytoolongprefix", full, "units[0].reference_prefix"},
		{"bad country", "countries: [NO]", "countries: [NOR]", full, "units[0].countries[0]"},
		{"http public url", `public_url: "https://pay.example"`, `public_url: "http://pay.example"`, full, "server.public_url"},
		{"bad driver", "driver: sqlite", "driver: mysql", full, "storage.driver"},
		{"unknown key", "sandbox: false", "sandbox: false\nsandbx: true", full, "sandbx"},
		{"same tokens", "", "", with(full, "FINANCE_API_TOKEN", full["MERCHANT_API_TOKEN"]), "api_tokens"},
		{"same metrics token", "", "", with(full, "METRICS_API_TOKEN", full["FINANCE_API_TOKEN"]), "api_tokens"},
		{"merchant webhook without secret", "", "", without(full, "MERCHANT_WEBHOOK_SECRET"), "merchant_webhook.secret_env"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := prod
			if tc.from != "" {
				require.Contains(t, raw, tc.from)
				raw = strings.Replace(raw, tc.from, tc.to, 1)
			}
			_, err := Parse([]byte(raw), env(tc.env))
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.key)
		})
	}
}

func without(m map[string]string, k string) map[string]string {
	out := map[string]string{}
	for kk, v := range m {
		if kk != k {
			out[kk] = v
		}
	}
	return out
}

func with(m map[string]string, k, v string) map[string]string {
	out := without(m, k)
	out[k] = v
	return out
}

func TestPollerReadBudget(t *testing.T) {
	c, err := Load("../../config.yaml", env(nil))
	require.NoError(t, err)
	require.Equal(t, DefaultMaxPollReads, c.Poller.MaxReadsPerSecond, "unset: the default")

	base, err := os.ReadFile("../../config.yaml")
	require.NoError(t, err)
	path := t.TempDir() + "/config.yaml"
	require.NoError(t, os.WriteFile(path, append(base, "\npoller:\n  max_reads_per_second: -1\n"...), 0o600))
	_, err = Load(path, env(nil))
	require.ErrorContains(t, err, "poller.max_reads_per_second")
}

// merchant_webhook.capture_deadline_warning defaults to 48h and must leave
// a Danish or Finnish reservation's 14 days room; a MobilePay unit (DKK or
// EUR) without epm_name is called MobilePay, a NOK one Vipps.
func TestCaptureDeadlineWarningAndMobilePayName(t *testing.T) {
	base, err := os.ReadFile("../../config.yaml")
	require.NoError(t, err)
	c, err := Parse(base, env(nil))
	require.NoError(t, err)
	require.Equal(t, 48*time.Hour, c.MerchantWebhook.CaptureDeadlineWarning)

	withWarning := func(w string) string {
		return strings.Replace(string(base), "  secret_env: MERCHANT_WEBHOOK_SECRET\n", "  secret_env: MERCHANT_WEBHOOK_SECRET\n  capture_deadline_warning: "+w+"\n", 1)
	}
	c, err = Parse([]byte(withWarning("72h")), env(nil))
	require.NoError(t, err)
	require.Equal(t, 72*time.Hour, c.MerchantWebhook.CaptureDeadlineWarning)
	for _, bad := range []string{"30m", "336h", "-1h"} {
		_, err = Parse([]byte(withWarning(bad)), env(nil))
		require.ErrorContains(t, err, "merchant_webhook.capture_deadline_warning", bad)
	}

	for currency, name := range map[string]string{"NOK": "Vipps", "DKK": "MobilePay", "EUR": "MobilePay"} {
		raw := strings.Replace(strings.Replace(string(base), "    epm_name: Vipps", "", 1), "currency: NOK", "currency: "+currency, 1)
		c, err := Parse([]byte(raw), env(nil))
		require.NoError(t, err, currency)
		require.Equal(t, name, c.Units[0].EPMName, currency)
	}
}
