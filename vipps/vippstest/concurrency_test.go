package vippstest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConcurrentCapturesNeverExceedTheAuthorization(t *testing.T) {
	h := newHarness(t, Options{RateLimits: RateLimits{Modify: -1, Query: -1}})
	h.mustCreate("concurrent-1", 100000)
	h.forceApprove("concurrent-1")

	var wg sync.WaitGroup
	statuses := make([]int, 12)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i], _ = h.capture("concurrent-1", "cap-"+itoa(i), 20000)
			h.get("concurrent-1")
		}()
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		if s == http.StatusOK {
			ok++
		} else {
			assert.Equal(t, http.StatusBadRequest, s)
		}
	}
	assert.Equal(t, 5, ok)
	assert.Equal(t, int64(100000), mustSnap(t, h.srv, "concurrent-1").Captured)
}

func TestConcurrentPayments(t *testing.T) {
	h := newHarness(t, Options{})
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref := "parallel-payment-" + itoa(i)
			h.mustCreate(ref, 10000)
			require.NoError(t, h.srv.Approve(ref))
			h.mod(h.capture(ref, "c", 10000))
			h.mod(h.refund(ref, "r", 5000))
			h.events(ref)
		}()
	}
	wg.Wait()
	assert.Len(t, h.srv.References(), 10)
	assert.Equal(t, 1+10*4, len(h.srv.Requests()), "the token, then create, capture, refund and events per payment")
}

// TestMountedUnderPrefix serves the fake the way the sandbox does: inside
// another server under a path prefix.
func TestMountedUnderPrefix(t *testing.T) {
	mux := http.NewServeMux()
	ts := httptest.NewUnstartedServer(mux)
	base := "http://" + ts.Listener.Addr().String() + "/sandbox/vipps"
	srv := NewUnstartedHandler(Options{Now: NewClock(t0).Now, Seed: 1}, base)
	t.Cleanup(srv.Close)
	mux.Handle("/sandbox/vipps/", http.StripPrefix("/sandbox/vipps", srv.Handler()))
	ts.Start()
	t.Cleanup(ts.Close)
	srv.AddSalesUnit(testUnit)
	require.Equal(t, base, srv.URL())

	h := &harness{t: t, srv: srv, unit: testUnit}
	h.token = h.fetchToken(testUnit)
	created := h.mustCreate("mounted-1", 10000)
	assert.True(t, strings.HasPrefix(created.RedirectURL, base+"/landing?token="), created.RedirectURL)

	status, _, page := getPage(t, created.RedirectURL)
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, page, `action="`+base+`/landing/approve"`)

	status, raw := h.call(http.MethodGet, "/epayment/v1/payments/unknown-ref-1", nil, nil)
	p := requireCode(t, status, raw, 404, "5090")
	assert.Equal(t, "/v1/payments/unknown-ref-1", p.Instance)
	var any map[string]any
	require.NoError(t, json.Unmarshal(raw, &any))
}

func TestRecordLimitKeepsTheNewest(t *testing.T) {
	h := newHarness(t, Options{RecordLimit: 4})
	for range 10 {
		h.call(http.MethodGet, "/webhooks/v1/webhooks", nil, nil)
	}
	reqs := h.srv.Requests()
	assert.LessOrEqual(t, len(reqs), 5)
	assert.GreaterOrEqual(t, len(reqs), 4)
	assert.Equal(t, OpWebhookList, reqs[len(reqs)-1].Op)
	assert.Equal(t, 10, h.srv.Calls(OpWebhookList), "Calls counts every request")
}
