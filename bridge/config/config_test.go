package config

import (
	"os"
	"strings"
	"testing"

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
}

func TestBadSettingNamesTheKey(t *testing.T) {
	base, err := os.ReadFile("../../config.yaml")
	require.NoError(t, err)
	prod := strings.Replace(string(base), "\nsandbox: true\n", "\nsandbox: false\n", 1)
	prod = strings.Replace(prod, `public_url: "http://localhost:8080"`, `public_url: "https://pay.example"`, 1)
	full := map[string]string{
		"KUSTOM_API_KEY": "kco_test_api_x", "VIPPS_WEBSHOP_CLIENT_ID": "id", "VIPPS_WEBSHOP_CLIENT_SECRET": "s",
		"VIPPS_WEBSHOP_SUBSCRIPTION_KEY": "k", "MERCHANT_API_TOKEN": "m", "FINANCE_API_TOKEN": "f",
		"MERCHANT_WEBHOOK_SECRET": "w",
	}
	_, err = Parse([]byte(prod), env(full))
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
		{"same tokens", "", "", with(full, "FINANCE_API_TOKEN", "m"), "api_tokens"},
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
