package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/vipps"
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

// Vipps sends a merchant serial number's webhooks for all of its payments,
// so a shop sharing its MSN with a till gets all of the till's: a flood of
// webhooks for references we never made is one log line a minute, which
// says how many it stands for, and the metric counts every one.
func TestUnknownReferenceWebhooksAreSampledInTheLog(t *testing.T) {
	var logs syncBuffer
	e := startMain(t, nil, func(m *Main) {
		m.Logger = slog.New(bridge.ContextHandler(slog.NewJSONHandler(&logs, nil)))
	})
	e.paid() // registers the webhook and its secret
	unknown := func(i int) vipps.WebhookEvent {
		return vipps.WebhookEvent{MSN: "123456", Reference: fmt.Sprintf("till-%d", i), PSPReference: "1", Name: vipps.EventAuthorized,
			Amount: vipps.Amount{Currency: "NOK", Value: 100}, Timestamp: e.clock.Now()}
	}
	lines := func() []map[string]any {
		var out []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var rec map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
			if rec["msg"] == "webhook for an unknown reference" {
				out = append(out, rec)
			}
		}
		return out
	}
	for i := range 5 {
		require.Equal(t, http.StatusOK, e.signedWebhook(unknown(i), nil))
	}
	got := lines()
	require.Len(t, got, 1, "five in a minute are one line")
	require.Equal(t, "till-0", got[0]["reference"])
	require.EqualValues(t, 0, got[0]["unlogged_since_last_line"])

	e.clock.Advance(time.Minute)
	require.Equal(t, http.StatusOK, e.signedWebhook(unknown(5), nil))
	got = lines()
	require.Len(t, got, 2)
	require.Equal(t, "till-5", got[1]["reference"])
	require.EqualValues(t, 4, got[1]["unlogged_since_last_line"], "the line says how many it stands for")

	require.Equal(t, 6.0, sample(e.scrape(), "vippskco_webhooks_ignored_total", map[string]string{"unit": "webshop", "reason": bridge.IgnoreUnknownReference}))

	// A reference with our own prefix that we have no payment for is a
	// lost record, not another shop's payment: a Warn line every time.
	prefix := e.m.Service.Units["webshop"].ReferencePrefix
	for i := range 2 {
		ev := unknown(100 + i)
		ev.Reference = fmt.Sprintf("%s-KCO-LOST-%d-1", prefix, i)
		require.Equal(t, http.StatusOK, e.signedWebhook(ev, nil))
	}
	warned := 0
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		if rec["level"] == "WARN" && strings.HasPrefix(fmt.Sprint(rec["reference"]), prefix+"-KCO-LOST-") {
			warned++
		}
	}
	require.Equal(t, 2, warned, "each lost reference is a Warn line")
	require.Len(t, lines(), 2, "and not one of the sampled lines")
	require.Equal(t, 2.0, sample(e.scrape(), "vippskco_webhooks_ignored_total", map[string]string{"unit": "webshop", "reason": bridge.IgnoreOwnUnknownReference}))
}
