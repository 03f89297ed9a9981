package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var serverTimingRE = regexp.MustCompile(`^provider;dur=([0-9.]+), app;dur=([0-9.]+)$`)

// serverTimingOf parses the header; ok is false when it is absent.
func serverTimingOf(t *testing.T, h http.Header) (provider, app float64, ok bool) {
	t.Helper()
	v := h.Get("Server-Timing")
	if v == "" {
		return 0, 0, false
	}
	m := serverTimingRE.FindStringSubmatch(v)
	require.NotNil(t, m, "Server-Timing: %q", v)
	provider, _ = strconv.ParseFloat(m[1], 64)
	app, _ = strconv.ParseFloat(m[2], 64)
	return provider, app, true
}

// A request that calls a provider through the timed client reports the
// provider's time, and the whole time, which includes it.
func TestServerTimingCountsProviderTime(t *testing.T) {
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(20 * time.Millisecond)
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer provider.Close()
	client := TimedClient(nil, 5*time.Second)
	h := serverTiming(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, provider.URL, nil)
		resp, err := client.Do(req)
		require.NoError(t, err)
		_, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		time.Sleep(5 * time.Millisecond) // our own work
		http.Redirect(w, r, "https://landing.example/", http.StatusSeeOther)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/checkout/webshop/vipps", nil))
	require.Equal(t, http.StatusSeeOther, rec.Code)
	p, app, ok := serverTimingOf(t, rec.Header())
	require.True(t, ok, "the header is there")
	require.GreaterOrEqual(t, p, 20.0, "the provider's 20 ms")
	require.GreaterOrEqual(t, app, p+5, "the whole time holds the provider's and ours")
}

// On the real router: there when on (no provider call: zero), absent when
// off; a call outside any request is not timed.
func TestServerTimingOnTheRouter(t *testing.T) {
	for _, on := range []bool{true, false} {
		h := (&HTTP{ServerTiming: on}).Handler()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		require.Equal(t, http.StatusOK, rec.Code)
		p, _, ok := serverTimingOf(t, rec.Header())
		require.Equal(t, on, ok, "server_timing: %v", on)
		require.Zero(t, p)
	}
	provider := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer provider.Close()
	resp, err := TimedClient(&http.Client{}, 0).Get(provider.URL)
	require.NoError(t, err)
	resp.Body.Close()
}
