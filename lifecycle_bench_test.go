package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/vipps"
	"vippskco/vipps/vippstest"
)

// BenchmarkWebhook measures Vipps webhooks verified and stored per second
// on SQLite, calling the handler directly (no HTTP): the HMAC check, the
// replay record, the raw event and the answer. "unknown reference" stops
// there; "read-back" is a known AUTHORIZED payment whose state is already
// current: the handler answers, then reads the payment back from the
// (in-process, over loopback HTTP) fake Vipps in the background and finds
// nothing new; the time includes those reads (up to 16 run at once).
// vipps-reads/op counts every GET of the payment at the fake, the
// poller's included.
// Each webhook is signed with a fresh x-ms-date (the clock moves a second
// per webhook) and a distinct pspReference, so none is a replay.
func BenchmarkWebhook(b *testing.B) {
	b.Run("verify+store, unknown reference", func(b *testing.B) { benchWebhook(b, false) })
	b.Run("verify+store+read-back", func(b *testing.B) { benchWebhook(b, true) })
}

// benchStep is how far the clock moves per webhook, so each carries a
// fresh x-ms-date (and a known payment stays within Vipps's 120 reads a
// minute).
const benchStep = time.Second

func benchWebhook(b *testing.B, known bool) {
	ctx := context.Background()
	e := startMain(b, nil)
	ref, want := "ws-00000000-0000-0000-0000-000000000000-1", "ignored"
	if known {
		p := e.paid()
		e.settle()
		require.Equal(b, bridge.StateAuthorized, e.payment(p.Reference).State)
		ref, want = p.Reference, "accepted"
	}
	reg, err := e.m.Store.WebhookRegistration(ctx, "webshop")
	require.NoError(b, err)
	host := strings.TrimPrefix(e.m.PublicURL(), "http://")
	headers := make([]http.Header, b.N)
	bodies := make([][]byte, b.N)
	first := e.clock.Now()
	for i := range b.N {
		at := first.Add(time.Duration(i+1) * benchStep).UTC()
		bodies[i] = fmt.Appendf(nil, `{"msn":"123456","reference":%q,"pspReference":"%d","name":"AUTHORIZED","amount":{"currency":"NOK","value":44700},"timestamp":%q,"idempotencyKey":null,"success":true}`,
			ref, 3000000000+i, at.Format("2006-01-02T15:04:05.000Z"))
		date := at.Format(http.TimeFormat)
		hash, auth := vipps.SignWebhook(reg.Secret, "POST", "/webhooks/vipps/webshop", host, date, bodies[i])
		headers[i] = http.Header{"X-Ms-Date": {date}, "X-Ms-Content-Sha256": {hash}, "Authorization": {auth}, "Content-Type": {"application/json"}}
	}
	gets := e.m.Sandbox.Vipps.Calls(vippstest.OpGet)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		e.clock.Advance(benchStep)
		got, err := e.m.Service.HandleVippsWebhook(ctx, "webshop", headers[i], bodies[i])
		if err != nil || got != want {
			b.Fatalf("webhook %d: %q, %v", i, got, err)
		}
		if known && (i%16 == 15 || i == b.N-1) {
			// The handler answers first and reads the payment back in the
			// background. Wait for those reads in batches of 16 (Wait
			// polls every 5 ms, which would swamp a single read), so the
			// reads are part of the measured time.
			e.m.Service.Wait()
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "webhooks/s")
	b.ReportMetric(float64(e.m.Sandbox.Vipps.Calls(vippstest.OpGet)-gets)/float64(b.N), "vipps-reads/op")
	raw, err := e.m.Store.RawEvents(ctx, ref)
	require.NoError(b, err)
	require.GreaterOrEqual(b, len(raw), b.N, "every webhook is kept")
}

// BenchmarkStatusRead measures GET /status/{token} over loopback HTTP.
// For a final payment it is a pure store read. For a CREATED one the page
// may also ask Vipps, at most once per two seconds per payment; the clock
// moves 200 ms per read, so about one read in ten goes to the (in-process)
// fake Vipps, as when a shopper's return page polls every 200 ms.
func BenchmarkStatusRead(b *testing.B) {
	b.Run("final (store read)", func(b *testing.B) { benchStatus(b, false) })
	b.Run("CREATED (throttled Vipps read)", func(b *testing.B) { benchStatus(b, true) })
}

func benchStatus(b *testing.B, created bool) {
	e := startMain(b, nil)
	fresh := func() (string, string) {
		o := e.order(nil)
		_, p := e.checkout(o.OrderID)
		require.NotNil(b, p)
		if !created {
			require.NoError(b, e.m.Sandbox.Vipps.Reject(p.Reference))
			require.Equal(b, "ABORTED", e.status(p.ReturnToken).State)
		}
		return e.m.PublicURL() + "/status/" + p.ReturnToken, string(p.State)
	}
	target, _ := fresh()
	client := &http.Client{Timeout: 10 * time.Second}
	gets := e.m.Sandbox.Vipps.Calls(vippstest.OpGet)
	var setup time.Duration
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if created {
			e.clock.Advance(200 * time.Millisecond)
			if i > 0 && i%2000 == 0 {
				// Vipps expires a payment after ten minutes; start another.
				b.StopTimer()
				t0 := time.Now()
				target, _ = fresh()
				setup += time.Since(t0)
				b.StartTimer()
			}
		}
		resp, err := client.Get(target)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	elapsed := time.Since(start) - setup
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "reads/s")
	b.ReportMetric(float64(e.m.Sandbox.Vipps.Calls(vippstest.OpGet)-gets)/float64(b.N), "vipps-reads/op")
}
