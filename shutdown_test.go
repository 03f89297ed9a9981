package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/config"
	"vippskco/bridge/sqlite"
	"vippskco/vipps/vippstest"
)

// On SIGTERM the process path (run, serve) stops taking requests and
// exits cleanly.
func TestSIGTERMShutsDownCleanly(t *testing.T) {
	cfgFile := testConfigFile(t)

	pr, pw := io.Pipe()
	done := make(chan error, 1)
	ctx, stop := signalContext()
	defer stop()
	go func() {
		done <- run(ctx, []string{"-config", cfgFile}, func(string) string { return "" }, io.Discard, pw)
		pw.Close()
	}()
	addr := ""
	lines := bufio.NewScanner(pr)
	for lines.Scan() {
		var rec map[string]any
		if json.Unmarshal(lines.Bytes(), &rec) == nil && rec["msg"] == "listening" {
			addr = rec["addr"].(string)
			break
		}
	}
	require.NotEmpty(t, addr, "the service says where it listens")
	go io.Copy(io.Discard, pr)

	resp, err := http.Get("http://" + addr + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	select {
	case err := <-done:
		require.NoError(t, err, "a clean exit")
	case <-time.After(20 * time.Second):
		t.Fatal("the service did not stop within 20 s of SIGTERM")
	}
	_, err = http.Get("http://" + addr + "/healthz")
	require.Error(t, err, "no more requests are taken")
}

// SIGTERM while a shopper's redirect waits for Vipps to create its payment
// and a merchant's capture waits for Vipps to capture: the service stops
// taking connections at once, both requests still get their normal answer,
// and once it has stopped no poll, operation or notification is left
// leased in the database.
func TestSIGTERMFinishesRequestsInFlight(t *testing.T) {
	r := newShutdownRig(t, nil)
	logs := newLogWatch("listening")
	m := r.newMain(logs)
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	ctx, stop := signalContext()
	defer stop()
	done := make(chan error, 1)
	go func() { done <- serveMain(ctx, m, io.Discard) }()
	within(t, logs.seen("listening"), 10*time.Second, "the service starts")
	addr := m.Addr()

	// An authorized payment for the merchant to capture.
	paid := r.order()
	a := redirect(m, paid.OrderID)
	require.NoError(t, a.err)
	require.Equal(t, http.StatusSeeOther, a.status, a.body)
	ps, err := m.Store.PaymentsByOrder(context.Background(), paid.OrderID)
	require.NoError(t, err)
	require.Len(t, ps, 1)
	ref := ps[0].Reference
	require.NoError(t, r.vipps.Approve(ref))
	eventually(t, func() bool {
		p, err := m.Store.Payment(context.Background(), ref)
		return err == nil && p.State == bridge.StateAuthorized
	}, 10*time.Second, "the payment is authorized")

	// Vipps takes its time with the next create and with the capture.
	creates := r.vippsH.Hold("create", false, post("/epayment/v1/payments"))
	captures := r.vippsH.Hold("capture", false, post("/capture"))
	next := r.order()
	redirected, captured := make(chan answer, 1), make(chan answer, 1)
	go func() { redirected <- redirect(m, next.OrderID) }()
	go func() { captured <- capture(m, ref, "ship-"+ref, 44700) }()
	creates.waitArrived(t, 10*time.Second)
	captures.waitArrived(t, 10*time.Second)

	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	within(t, ctx.Done(), 5*time.Second, "SIGTERM reaches the service")
	eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, 3*time.Second, "new connections are refused once shutdown starts")
	require.Empty(t, redirected, "the redirect is still waiting for Vipps")
	require.Empty(t, captured, "the capture is still waiting for Vipps")
	select {
	case err := <-done:
		t.Fatalf("the service stopped with requests in flight: %v", err)
	default:
	}

	// Vipps answers: both requests finish with their normal answer.
	creates.Release()
	captures.Release()
	got := receive(t, redirected, 10*time.Second, "the redirect")
	require.NoError(t, got.err)
	require.Equal(t, http.StatusSeeOther, got.status, got.body)
	require.True(t, strings.HasPrefix(got.location, r.vippsTS.URL+"/landing?token="), got.location)
	got = receive(t, captured, 10*time.Second, "the capture")
	require.NoError(t, got.err)
	require.Equal(t, http.StatusOK, got.status, got.body)
	var op struct {
		Operation bridge.OperationJSON
		Payment   bridge.PaymentJSON
	}
	require.NoError(t, json.Unmarshal([]byte(got.body), &op), got.body)
	require.Equal(t, bridge.OperationSucceeded, op.Operation.State)
	require.Equal(t, int64(44700), op.Payment.Aggregate.Captured)
	require.Zero(t, creates.Abandoned()+captures.Abandoned(), "no provider call was cut off")

	select {
	case err := <-done:
		require.NoError(t, err, "a clean stop")
	case <-time.After(15 * time.Second):
		t.Fatal("the service did not stop within 15 s of SIGTERM")
	}

	// Nothing is left leased, and what the requests did is stored.
	require.Empty(t, heldLeases(t, r.dsn), "leases left held after shutdown")
	st, err := sqlite.Open(context.Background(), r.dsn, nil)
	require.NoError(t, err)
	defer st.Close()
	p, err := st.Payment(context.Background(), ref)
	require.NoError(t, err)
	require.Equal(t, int64(44700), p.Captured)
	ps, err = st.PaymentsByOrder(context.Background(), next.OrderID)
	require.NoError(t, err)
	require.Len(t, ps, 1)
	require.Equal(t, bridge.StateCreated, ps[0].State)
}

// receive waits for one answer, at most d.
func receive(t testing.TB, ch <-chan answer, d time.Duration, what string) answer {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(d):
		t.Fatalf("%s got no answer within %s", what, d)
		return answer{}
	}
}

// Close returns well within its 10 s bound while the background work waits
// on providers that never answer: Vipps took the direct capture and went
// silent, and the merchant's notification endpoint hangs. The leases it
// abandons let the next process finish the work, exactly once.
func TestCloseWithHungProviders(t *testing.T) {
	r := newShutdownRig(t, func(c *config.Config) { c.Units[0].Capture = "direct" })
	// Vipps captures but its answer never comes; the merchant never answers.
	captures := r.vippsH.Hold("capture", true, post("/capture"))
	hooks := r.hooksH.Hold("merchant", false, func(*http.Request) bool { return true })

	m := r.runLogged(t)
	firstOwner := m.Service.Owner
	ref := r.approvedPayment(t, m)
	captures.waitArrived(t, 10*time.Second)
	hooks.waitArrived(t, 10*time.Second)
	snap, _ := r.vipps.Payment(ref)
	require.Equal(t, int64(44700), snap.Captured, "Vipps did capture")

	start := time.Now()
	err := m.Close()
	took := time.Since(start)
	t.Logf("Close took %s with a capture and a notification hanging", took)
	require.NoError(t, err)
	require.Less(t, took, 5*time.Second, "Close waits for nothing that hangs")
	require.Equal(t, 1, captures.Abandoned(), "the capture's caller gave up")
	eventually(t, func() bool { return hooks.Abandoned() >= 1 }, 5*time.Second, "the notification's post was given up")

	// The capture is left pending under a lease of the stopped process;
	// nothing else is.
	held := heldLeases(t, r.dsn)
	require.Len(t, held, 1, "%v", held)
	require.Contains(t, held[0], " capture pending owner="+firstOwner)
	until := operationLeaseUntil(t, r.dsn)

	// The next process, with Vipps and the merchant answering again, takes
	// the capture over once that lease has run out, and does not capture
	// twice.
	captures.Release()
	hooks.Release()
	m = r.newMain(nil)
	require.NoError(t, m.Run(context.Background()))
	t.Cleanup(func() { require.NoError(t, m.Close()) })
	require.NotEqual(t, firstOwner, m.Service.Owner)
	r.clk.Set(until.Add(time.Second))
	eventually(t, func() bool {
		ops, err := m.Store.Operations(context.Background(), ref)
		return err == nil && len(ops) == 1 && ops[0].State == bridge.OperationSucceeded
	}, 10*time.Second, "the capture is taken over and finished")
	eventually(t, func() bool { return r.hooks.delivered("payment.captured") == 1 }, 10*time.Second,
		"the merchant hears of the capture")
	require.Equal(t, 1, r.vipps.Calls(vippstest.OpCapture), "Vipps was asked to capture once")
	snap, _ = r.vipps.Payment(ref)
	require.Equal(t, int64(44700), snap.Captured)
	p, err := m.Store.Payment(context.Background(), ref)
	require.NoError(t, err)
	require.Equal(t, int64(44700), p.Captured)
}

// Close with a merchant's request stuck on a Vipps call that never
// answers: the drain gives up after its timeout, the request's call is
// cancelled, and Close still returns well within its bound. The capture it
// abandoned is taken over by the next process, exactly once.
func TestCloseWithARequestHungAtAProvider(t *testing.T) {
	r := newShutdownRig(t, nil)
	m := r.runLogged(t)
	firstOwner := m.Service.Owner
	ref := r.approvedPayment(t, m)
	eventually(t, func() bool {
		p, err := m.Store.Payment(context.Background(), ref)
		return err == nil && p.State == bridge.StateAuthorized
	}, 10*time.Second, "the payment is authorized")

	// Vipps never answers the capture; the request waits on it.
	captures := r.vippsH.Hold("capture", false, post("/capture"))
	captured := make(chan answer, 1)
	go func() { captured <- capture(m, ref, "ship-"+ref, 44700) }()
	captures.waitArrived(t, 10*time.Second)

	start := time.Now()
	err := m.Close()
	took := time.Since(start)
	t.Logf("Close took %s with a request waiting on a capture that never answers", took)
	require.NoError(t, err)
	require.Less(t, took, drainTimeout+3*time.Second, "Close gives up on the request after the drain timeout")
	got := receive(t, captured, 5*time.Second, "the capture")
	require.Error(t, got.err, "the merchant's connection is closed, not answered: %d %s", got.status, got.body)
	eventually(t, func() bool { return captures.Abandoned() == 1 }, 5*time.Second, "the Vipps call was cancelled")

	held := heldLeases(t, r.dsn)
	t.Logf("after Close: %v", held)
	require.Len(t, held, 1, "%v", held)
	require.Contains(t, held[0], " capture pending owner="+firstOwner)
	until := operationLeaseUntil(t, r.dsn)
	t.Logf("the abandoned lease runs out %s after the clock", until.Sub(r.clk.Now()))

	// The request, its call cancelled, recorded what it learned before the
	// store closed: the capture's outcome is unknown (retried after a short
	// backoff, not after the whole lease), and the cut-off call is in the
	// provider log.
	st, err := sqlite.Open(context.Background(), r.dsn, nil)
	require.NoError(t, err)
	ops, err := st.Operations(context.Background(), ref)
	require.NoError(t, err)
	require.Len(t, ops, 1)
	require.True(t, strings.HasPrefix(ops[0].Error, "outcome unknown"), "operation error %q", ops[0].Error)
	exchanges, err := st.Exchanges(context.Background(), ref)
	require.NoError(t, err)
	var cut []string
	for _, ex := range exchanges {
		if ex.Operation == "capture" {
			cut = append(cut, ex.Error)
		}
	}
	require.NoError(t, st.Close())
	require.Len(t, cut, 1, "the cut-off capture call is in the provider log")
	require.NotEmpty(t, cut[0])

	// The next process takes the capture over once that lease has run out;
	// the merchant's retry with the same key gets the one outcome.
	captures.Release()
	m = r.newMain(nil)
	require.NoError(t, m.Run(context.Background()))
	t.Cleanup(func() { require.NoError(t, m.Close()) })
	r.clk.Set(until.Add(time.Second))
	eventually(t, func() bool {
		ops, err := m.Store.Operations(context.Background(), ref)
		return err == nil && len(ops) == 1 && ops[0].State == bridge.OperationSucceeded
	}, 10*time.Second, "the capture is taken over and finished")
	again := capture(m, ref, "ship-"+ref, 44700)
	require.NoError(t, again.err)
	require.Equal(t, http.StatusOK, again.status, again.body)
	require.LessOrEqual(t, r.vipps.Calls(vippstest.OpCapture), 2, "at most the lost try and its resend with the same key")
	snap, _ := r.vipps.Payment(ref)
	require.Equal(t, int64(44700), snap.Captured, "captured once")
}

// When the HTTP server stops by itself (here its listener is closed under
// it), serve does not wait for a signal that may never come: it closes
// the service and returns the server's error, which main turns into exit
// status 1.
func TestServeFailureStopsMain(t *testing.T) {
	r := newShutdownRig(t, nil)
	logs := newLogWatch("listening", "the HTTP server stopped; shutting down")
	m := r.newMain(logs)
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	done := make(chan error, 1)
	go func() { done <- serveMain(context.Background(), m, io.Discard) }()
	within(t, logs.seen("listening"), 10*time.Second, "the service starts")
	a := redirect(m, r.order().OrderID)
	require.NoError(t, a.err)
	require.Equal(t, http.StatusSeeOther, a.status, a.body)

	require.NoError(t, m.listener.Close())
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("serve kept running after its HTTP server failed")
	}
	require.Error(t, err)
	require.Contains(t, err.Error(), "serving HTTP")
	within(t, logs.seen("the HTTP server stopped; shutting down"), time.Second, "the failure is logged")
	require.Error(t, m.Store.Ping(context.Background()), "the store is closed")
	require.Empty(t, heldLeases(t, r.dsn), "leases left held after the failure")
}
