package vippstest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTimeoutAfterCommit(t *testing.T) {
	h := newHarness(t, Options{})
	h.mustCreate("fault-timeout-1", 10000)
	h.forceApprove("fault-timeout-1")
	h.srv.SetFaults(Faults{TimeoutAfterCommitRate: 1, Ops: []string{OpCapture}, Hang: 5 * time.Second})

	raw, err := json.Marshal(amountBody(4000))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.srv.URL()+"/epayment/v1/payments/fault-timeout-1/capture", bytes.NewReader(raw))
	require.NoError(t, err)
	req.Header = h.headers(key("cap-key"))
	req.Header.Set("Content-Type", "application/json")
	_, err = http.DefaultClient.Do(req)
	require.Error(t, err, "the client gives up")

	assert.Equal(t, int64(4000), mustSnap(t, h.srv, "fault-timeout-1").Captured, "the capture happened anyway")
	assert.Equal(t, 1, h.srv.FaultCounts().TimeoutsAfterCommit)

	// The retry with the same key gets the stored answer, not a second capture.
	h.srv.SetFaults(Faults{})
	m := h.mod(h.capture("fault-timeout-1", "cap-key", 4000))
	assert.Equal(t, int64(4000), m.Aggregate.CapturedAmount.Value)
}

func TestServerErrorFaultOnAllAPIOps(t *testing.T) {
	h := newHarness(t, Options{})
	h.mustCreate("fault-500-1", 10000)
	h.srv.SetFaults(Faults{ServerErrorRate: 1})
	status, raw := h.call(http.MethodGet, "/epayment/v1/payments/fault-500-1", nil, nil)
	requireCode(t, status, raw, 500, "3010")
	status, _ = tokenRequest(t, h.srv, map[string]string{
		"client_id": testUnit.ClientID, "client_secret": testUnit.ClientSecret, "Ocp-Apim-Subscription-Key": testUnit.SubscriptionKey,
	})
	assert.Equal(t, 500, status)
	status, _, _ = getPage(t, mustSnap(t, h.srv, "fault-500-1").RedirectURL)
	assert.Equal(t, 200, status, "the landing page is not an API operation")
	assert.Equal(t, 2, h.srv.FaultCounts().ServerErrors)
}

func TestServerErrorRateIsReproducible(t *testing.T) {
	outcomes := func() []int {
		h := newHarness(t, Options{})
		h.mustCreate("fault-rate-1", 10000)
		h.srv.SetFaults(Faults{Seed: 7, ServerErrorRate: 0.5, Ops: []string{OpGet}})
		var out []int
		for range 20 {
			status, _ := h.call(http.MethodGet, "/epayment/v1/payments/fault-rate-1", nil, nil)
			out = append(out, status)
		}
		return out
	}
	first := outcomes()
	assert.Equal(t, first, outcomes())
	assert.Contains(t, first, 500)
	assert.Contains(t, first, 200)
}

func TestWebhookDropAndDuplicate(t *testing.T) {
	h := newHarness(t, localOpts())
	rec := newReceiver(t, nil)
	h.registerWebhook(rec.url+"/hook", "epayments.payment.created.v1")

	h.srv.SetFaults(Faults{DropWebhookRate: 1})
	h.mustCreate("fault-drop-1", 10000)
	h.waitWebhooks()
	assert.Empty(t, rec.all())
	ds := h.srv.Deliveries()
	require.Len(t, ds, 1)
	assert.True(t, ds[0].Dropped)

	h.srv.SetFaults(Faults{DuplicateWebhookRate: 1})
	h.mustCreate("fault-dup-1", 10000)
	h.waitWebhooks()
	got := rec.events()
	require.Len(t, got, 2)
	assert.Equal(t, got[0], got[1], "the same event twice")
	counts := h.srv.FaultCounts()
	assert.Equal(t, 1, counts.DroppedWebhooks)
	assert.Equal(t, 1, counts.DuplicatedWebhooks)
	assert.True(t, h.srv.Deliveries()[2].Duplicate)
}
