package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
)

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Every line logged while handling a request carries its request id, the
// same one the response carries; no secret, token or phone number is
// ever logged.
func TestLogsCarryRequestIDsAndNoSecrets(t *testing.T) {
	var logs syncBuffer
	e := startMain(t, nil, func(m *Main) {
		m.Logger = slog.New(bridge.ContextHandler(slog.NewJSONHandler(&logs, nil)))
	})
	o := e.order(nil)
	resp, p := e.checkout(o.OrderID)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	id := resp.Header.Get("X-Request-Id")
	require.NotEmpty(t, id)
	e.settle()

	found := false
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		if rec["msg"] == "payment attempt stored" {
			found = true
			require.Equal(t, id, rec["request_id"], line)
		}
		if rec["msg"] == "http request" {
			require.NotEmpty(t, rec["request_id"], line)
		}
	}
	require.True(t, found, "the redirect logs the attempt it stored")
	all := logs.String()
	for name, secret := range map[string]string{
		"phone number": "4791234567", "return token": p.ReturnToken, "merchant token": e.m.Config.APITokens.Merchant,
		"Vipps client secret": e.m.Config.Units[0].Vipps.ClientSecret, "Kustom key": e.m.Config.Kustom.APIKey,
	} {
		require.NotContains(t, all, secret, "the logs must not contain the %s", name)
	}
}
