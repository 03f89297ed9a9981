package web

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"vippskco/bridge"
	"vippskco/bridge/finance"
	"vippskco/bridge/sqlite"
	"vippskco/templates"

	"github.com/stretchr/testify/require"
)

// financeServer is the finance API on a fresh SQLite store, its public URL
// https://pay.example.
func financeServer(t *testing.T) (http.Handler, bridge.Store) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), "file:"+filepath.Join(t.TempDir(), "fin.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	pages, err := ParsePages(templates.FS)
	require.NoError(t, err)
	h := &HTTP{Finance: &finance.Service{Store: st}, FinanceToken: "fin-token", Pages: pages,
		Service: &bridge.Service{PublicURL: "https://pay.example"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return h.Handler(), st
}

// Finance writes take the bearer token only, and none that a browser says
// comes from another site; HTTP Basic still opens the finance page and the
// reconciliation for reading.
func TestFinanceWritesRefuseBasicAndCrossSite(t *testing.T) {
	sample, err := os.ReadFile("../../vipps/settlement/testdata/csv/settlement-report.csv")
	require.NoError(t, err)
	h, st := financeServer(t)
	basic := func(r *http.Request) { r.SetBasicAuth("anyone", "fin-token") }
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer fin-token") }
	header := func(k, v string) func(*http.Request) { return func(r *http.Request) { r.Header.Set(k, v) } }
	do := func(method, path string, body []byte, edits ...func(*http.Request)) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "text/plain")
		for _, e := range edits {
			e(req)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	upload := "/api/v1/settlements/vipps?name=settlement-report.csv"
	refused := []struct {
		name   string
		status int
		reason string
		edits  []func(*http.Request)
	}{
		{"a text/plain form posted with Basic", 401, "bearer_required", []func(*http.Request){basic}},
		{"Basic from our own page", 401, "bearer_required", []func(*http.Request){basic, header("Origin", "https://pay.example"), header("Sec-Fetch-Site", "same-origin")}},
		{"Basic from another site", 403, "cross_site", []func(*http.Request){basic, header("Origin", "https://evil.example"), header("Sec-Fetch-Site", "cross-site")}},
		{"the bearer token with another Origin", 403, "cross_site", []func(*http.Request){bearer, header("Origin", "https://evil.example")}},
		{"the bearer token with Origin null", 403, "cross_site", []func(*http.Request){bearer, header("Origin", "null")}},
		{"the bearer token, Sec-Fetch-Site cross-site", 403, "cross_site", []func(*http.Request){bearer, header("Sec-Fetch-Site", "cross-site")}},
		{"the bearer token, Sec-Fetch-Site same-site", 403, "cross_site", []func(*http.Request){bearer, header("Sec-Fetch-Site", "same-site")}},
	}
	for _, tc := range refused {
		for _, path := range []string{upload, "/api/v1/settlements/sync?from=2026-01-01&to=2026-01-02"} {
			rec := do(http.MethodPost, path, sample, tc.edits...)
			require.Equal(t, tc.status, rec.Code, "%s: %s %s", tc.name, path, rec.Body.String())
			require.Contains(t, rec.Body.String(), `"reason":"`+tc.reason+`"`, tc.name)
			require.Contains(t, rec.Header().Get("Content-Type"), "application/json")
		}
	}
	lines, err := st.SettlementLines(context.Background(), "2000-01-01", "2100-01-01")
	require.NoError(t, err)
	require.Empty(t, lines, "no refused upload stored anything")

	// Reading with Basic, as a browser opens the page.
	require.Equal(t, http.StatusOK, do(http.MethodGet, "/finance", nil, basic).Code)
	require.Equal(t, http.StatusOK, do(http.MethodGet, "/api/v1/reconciliation", nil, basic, header("Sec-Fetch-Site", "cross-site")).Code,
		"a read is no write: what another site gets to read, the browser keeps from it")
	// The bearer token from a client that is no browser, or from our origin.
	rec := do(http.MethodPost, upload, sample, bearer)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	rec = do(http.MethodPost, upload, sample, bearer, header("Origin", "https://pay.example"), header("Sec-Fetch-Site", "same-origin"))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Contains(t, rec.Body.String(), `"already_imported":true`)
}

// The public URL's origin is what a browser sends as Origin: no default
// port, lower case.
func TestPublicOrigin(t *testing.T) {
	for url, want := range map[string]string{
		"https://Pay.Example:443/base": "https://pay.example",
		"http://127.0.0.1:8080":        "http://127.0.0.1:8080",
		"http://pay.example:80":        "http://pay.example",
		"":                             "",
	} {
		require.Equal(t, want, (&HTTP{Service: &bridge.Service{PublicURL: url}}).publicOrigin(), url)
	}
}
