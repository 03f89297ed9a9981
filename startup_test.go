package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge/config"
)

// prodSecrets is an environment with every secret of the shipped
// configuration set, long enough for the rules outside sandbox mode.
func prodSecrets(name string) string {
	return "secret-of-" + strings.ToLower(name) + "-" + strings.Repeat("0123456789abcdef", 2)
}

// withoutVar is getenv with one variable unset.
func withoutVar(getenv func(string) string, name string) func(string) string {
	return func(k string) string {
		if k == name {
			return ""
		}
		return getenv(k)
	}
}

// asProduction takes a test configuration out of sandbox mode, behind an
// https public URL, with no webhook registration at start-up (nothing
// answers at the providers' addresses).
func asProduction(c *config.Config) {
	c.Sandbox = false
	c.Server.PublicURL = "https://bridge.example"
	c.RegisterWebhooks = false
}

// startProduction runs a Main outside sandbox mode on a free loopback
// port, its configuration resolved with getenv, and returns it and its log.
func startProduction(t *testing.T, getenv func(string) string, edit func(*config.Config)) (*Main, *lockedBuffer) {
	t.Helper()
	cfg := testConfigRaw(t, asProduction, edit)
	require.NoError(t, cfg.Resolve(getenv))
	logs := &lockedBuffer{}
	m := NewMain(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	m.NoLoops = true
	m.Providers = Providers{KustomURL: "http://127.0.0.1:1", VippsURL: "http://127.0.0.1:1"}
	require.NoError(t, m.Run(context.Background()))
	t.Cleanup(func() { require.NoError(t, m.Close()) })
	return m, logs
}

func getMetrics(t *testing.T, addr, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// Outside sandbox mode the shopper listener serves /metrics only to holders
// of the metrics token, and not at all without one; start-up says where
// the metrics are.
func TestMetricsOnThePublicListener(t *testing.T) {
	t.Run("outside sandbox without a token", func(t *testing.T) {
		m, logs := startProduction(t, prodSecrets, nil)
		code, _ := getMetrics(t, m.Addr(), "")
		require.Equal(t, http.StatusNotFound, code)
		code, _ = getMetrics(t, m.Addr(), prodSecrets("MERCHANT_API_TOKEN"))
		require.Equal(t, http.StatusNotFound, code, "the merchant token opens nothing here")
		require.Contains(t, logs.String(), "metrics: not served")
	})
	t.Run("outside sandbox with a token", func(t *testing.T) {
		m, logs := startProduction(t, prodSecrets, func(c *config.Config) { c.APITokens.MetricsEnv = "METRICS_API_TOKEN" })
		token := prodSecrets("METRICS_API_TOKEN")
		code, _ := getMetrics(t, m.Addr(), "")
		require.Equal(t, http.StatusUnauthorized, code)
		code, _ = getMetrics(t, m.Addr(), prodSecrets("FINANCE_API_TOKEN"))
		require.Equal(t, http.StatusUnauthorized, code, "another token")
		code, body := getMetrics(t, m.Addr(), token)
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, "vippskco_")
		require.Contains(t, logs.String(), "metrics: served on the public listener to holders of the api_tokens.metrics_env bearer token")
	})
	t.Run("outside sandbox with an operations listener", func(t *testing.T) {
		m, logs := startProduction(t, prodSecrets, func(c *config.Config) { c.Server.OpsAddr = "127.0.0.1:0" })
		code, _ := getMetrics(t, m.Addr(), "")
		require.Equal(t, http.StatusNotFound, code)
		code, body := getMetrics(t, m.OpsAddr(), "")
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, "vippskco_")
		require.Contains(t, logs.String(), "metrics: served on the operations listener only")
	})
	t.Run("sandbox on loopback", func(t *testing.T) {
		logs := &lockedBuffer{}
		e := startMain(t, nil, func(m *Main) { m.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
		code, body := getMetrics(t, e.m.Addr(), "")
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, "vippskco_")
		require.Contains(t, logs.String(), "metrics: served on the public listener without a token")
	})
}

// A sandbox opened beyond loopback says so, loudly, every time it starts,
// and its /metrics then follows the production rule.
func TestSandboxPublicWarnsAtStart(t *testing.T) {
	cfg := testConfigRaw(t, func(c *config.Config) { c.SandboxPublic = true })
	require.Error(t, cfg.Resolve(noEnv), "no development secrets with sandbox_public")
	for range 2 {
		cfg := testConfigRaw(t, func(c *config.Config) { c.SandboxPublic = true })
		require.NoError(t, cfg.Resolve(prodSecrets))
		logs := &lockedBuffer{}
		m := NewMain(cfg, slog.New(slog.NewTextHandler(logs, nil)))
		m.NoLoops = true
		require.NoError(t, m.Run(context.Background()))
		code, _ := getMetrics(t, m.Addr(), "")
		require.NoError(t, m.Close())
		require.Equal(t, http.StatusNotFound, code, "no open /metrics on a public sandbox")
		require.Contains(t, logs.String(), "level=WARN msg=\"sandbox_public:")
	}
}

// Start-up itself stops on a configured secret that is missing or short,
// and on a sandbox listening on every interface, with the key in the
// error.
func TestStartupRefusesUnsafeConfiguration(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(*config.Config)
		getenv func(string) string
		want   []string
	}{
		{"redirect signing secret unset", asProduction, withoutVar(prodSecrets, "REDIRECT_SIGNING_SECRET"),
			[]string{"redirect_signing.secret_env", "REDIRECT_SIGNING_SECRET"}},
		{"merchant token of one byte", asProduction, func(k string) string {
			if k == "MERCHANT_API_TOKEN" {
				return "a"
			}
			return prodSecrets(k)
		}, []string{"api_tokens.merchant_env", "at least 32", "openssl rand -hex 32"}},
		{"sandbox on every interface", func(c *config.Config) { c.Server.Addr = ":0" }, noEnv,
			[]string{"server.addr", "sandbox_public"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, testConfigRaw(t, tc.edit))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := run(ctx, []string{"-config", path}, tc.getenv, io.Discard, io.Discard)
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}
