package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/config"
	"vippskco/klarna/klarnatest"
	"vippskco/vipps"
	"vippskco/vipps/vippstest"
)

// TestCrashRecovery stops the service in the middle of a capture and starts
// a fresh Main on the same database file and address, the way a deploy or
// a crash does. The fake Vipps and Kustom run on their own listeners and
// outlive both processes, as the real ones do: the sandbox's in-process
// fakes die with Main, so the service's provider traffic to its sandbox
// URLs is routed to these long-lived fakes by the HTTP client's transport
// (Main.HTTPClient), set before Run, which is all the service lets a test
// change without touching its code.
func TestCrashRecovery(t *testing.T) {
	t.Run("stopped before Vipps answered", func(t *testing.T) { crashDuringCapture(t, false) })
	t.Run("Vipps committed, answer lost", func(t *testing.T) { crashDuringCapture(t, true) })
}

func crashDuringCapture(t *testing.T, vippsCommitted bool) {
	ctx := context.Background()
	r := newCrashRig(t)
	e := r.start()

	// An authorized payment, by the shopper's path.
	o, err := r.kustom.CreateOrder(ftOrder(0))
	require.NoError(t, err)
	resp, body := e.get(e.redirectURL(o.OrderID))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	require.True(t, strings.HasPrefix(resp.Header.Get("Location"), r.vipps.URL()+"/landing?token="), resp.Header.Get("Location"))
	ps, err := e.m.Store.PaymentsByOrder(ctx, o.OrderID)
	require.NoError(t, err)
	require.Len(t, ps, 1)
	ref := ps[0].Reference
	require.NoError(t, r.vipps.Approve(ref))
	require.Equal(t, "AUTHORIZED", e.status(ps[0].ReturnToken).State)
	r.settle(e)
	p := e.payment(ref)
	require.Equal(t, bridge.StateAuthorized, p.State)
	amount := bridge.Money{Value: p.Authorized, Currency: p.Amount.Currency}
	require.Equal(t, int64(44700), amount.Value)

	// The merchant's capture as RequestOperation stores it, leased by a
	// runner that had counted its attempt and was calling Vipps when its
	// process died.
	now := e.clock.Now()
	op := &bridge.Operation{
		ID: uuid.NewString(), Reference: ref, Kind: bridge.OpCapture, IdempotencyKey: "merchant:ship-1",
		RequestHash: crashRequestHash(bridge.OpCapture, ref, amount), Amount: amount,
		VippsIdempotencyKey: uuid.NewString(), Source: bridge.SourceMerchant, State: bridge.OperationPending,
		Attempts: 1, LeaseOwner: "dead-replica", LeaseUntil: now.Add(2 * time.Minute),
		CreatedAt: now, UpdatedAt: now,
	}
	require.NoError(t, e.m.Store.InsertOperation(ctx, op))
	if vippsCommitted {
		// The request reached Vipps and was done; its answer, and the
		// webhook about it, never arrived.
		r.vipps.SetFaults(vippstest.Faults{DropWebhookRate: 1})
		_, err := r.vippsClient(t).Capture(ctx, ref, op.VippsIdempotencyKey, vipps.Amount{Currency: vipps.NOK, Value: amount.Value})
		require.NoError(t, err)
		r.vipps.SetFaults(vippstest.Faults{})
	}
	capturesBefore := 0
	if vippsCommitted {
		capturesBefore = 1
	}
	require.Equal(t, capturesBefore, r.vipps.Calls(vippstest.OpCapture))
	require.Empty(t, crashTypes(t, e, ref, "payment.captured"), "nothing told the old process about the capture")
	r.stop()

	// A fresh process on the same database. While the dead runner's lease
	// holds, nobody touches the operation.
	e = r.start()
	time.Sleep(300 * time.Millisecond) // the start-up sweep and a few background rounds
	require.NoError(t, e.m.Service.SweepOperations(ctx))
	held, err := e.m.Store.Operation(ctx, op.ID)
	require.NoError(t, err)
	require.Equal(t, bridge.OperationPending, held.State)
	require.Equal(t, "dead-replica", held.LeaseOwner)
	require.Equal(t, capturesBefore, r.vipps.Calls(vippstest.OpCapture))
	// The merchant's job retries meanwhile: told to wait, and Vipps hears
	// nothing.
	shipBody := fmt.Sprintf(`{"amount":{"value":%d,"currency":"NOK"}}`, amount.Value)
	status, out := e.call("POST", "/api/v1/payments/"+ref+"/capture", "ship-1", shipBody)
	require.Equal(t, http.StatusConflict, status, out)
	require.Equal(t, "operation_in_progress", out["error"].(map[string]any)["reason"])
	require.Equal(t, capturesBefore, r.vipps.Calls(vippstest.OpCapture))

	// Once the lease has run out the sweep finishes it, exactly once.
	e.clock.Advance(2*time.Minute + time.Second)
	require.NoError(t, e.m.Service.SweepOperations(ctx))
	require.Eventually(t, func() bool {
		got, err := e.m.Store.Operation(ctx, op.ID)
		return err == nil && got.State != bridge.OperationPending
	}, 10*time.Second, 20*time.Millisecond)
	r.settle(e)
	done, err := e.m.Store.Operation(ctx, op.ID)
	require.NoError(t, err)
	require.Equal(t, bridge.OperationSucceeded, done.State, "error: %s", done.Error)
	require.Equal(t, http.StatusOK, done.ResponseStatus)
	require.Equal(t, op.VippsIdempotencyKey, done.VippsIdempotencyKey, "never a new key")
	wantAttempts := 2
	if vippsCommitted {
		wantAttempts = 1 // found in the event log: not sent again
	}
	require.Equal(t, wantAttempts, done.Attempts)

	require.Equal(t, 1, r.vipps.Calls(vippstest.OpCapture), "Vipps was asked to capture exactly once")
	snap, ok := r.vipps.Payment(ref)
	require.True(t, ok)
	require.Equal(t, amount.Value, snap.Captured)
	var captured []vippstest.Event
	for _, ev := range snap.Events {
		if ev.Name == vippstest.EventCaptured {
			captured = append(captured, ev)
		}
	}
	require.Len(t, captured, 1)
	require.Equal(t, op.VippsIdempotencyKey, captured[0].IdempotencyKey)

	got := e.payment(ref)
	require.Equal(t, amount.Value, got.Captured)
	require.Equal(t, bridge.StateAuthorized, got.State)
	events, err := e.m.Store.PaymentEvents(ctx, ref)
	require.NoError(t, err)
	var stored []bridge.PaymentEvent
	for _, ev := range events {
		if ev.Name == "CAPTURED" {
			stored = append(stored, ev)
		}
	}
	require.Len(t, stored, 1)
	require.Equal(t, op.VippsIdempotencyKey, stored[0].IdempotencyKey)
	require.Equal(t, []string{"payment.captured"}, crashTypes(t, e, ref, "payment.captured"))
	require.Equal(t, []string{"payment.authorized", "payment.captured"}, e.notifications(ref))

	// A second sweep, later still, changes nothing.
	calls := [3]int{r.vipps.Calls(vippstest.OpCapture), r.vipps.Calls(vippstest.OpGet), r.vipps.Calls(vippstest.OpEvents)}
	e.clock.Advance(3 * time.Minute)
	require.NoError(t, e.m.Service.SweepOperations(ctx))
	r.settle(e)
	again, err := e.m.Store.Operation(ctx, op.ID)
	require.NoError(t, err)
	require.Equal(t, done.Version, again.Version)
	require.Equal(t, calls[0], r.vipps.Calls(vippstest.OpCapture))
	require.Equal(t, []string{"payment.authorized", "payment.captured"}, e.notifications(ref))
	require.Equal(t, amount.Value, e.payment(ref).Captured)

	// The merchant's job retries its request after the restart: the same
	// key and body replay the stored answer (so the hash we stored is the
	// one RequestOperation computes), another body is refused, and Vipps
	// hears nothing.
	status, out = e.call("POST", "/api/v1/payments/"+ref+"/capture", "ship-1", shipBody)
	require.Equal(t, http.StatusOK, status, out)
	require.Equal(t, "succeeded", out["operation"].(map[string]any)["state"])
	status, out = e.call("POST", "/api/v1/payments/"+ref+"/capture", "ship-1", `{"amount":{"value":100,"currency":"NOK"}}`)
	require.Equal(t, http.StatusConflict, status, out)
	require.Equal(t, "idempotency_key_reused", out["error"].(map[string]any)["reason"])
	require.Equal(t, 1, r.vipps.Calls(vippstest.OpCapture))
	require.Less(t, r.vipps.Calls(vippstest.OpGet)+r.vipps.Calls(vippstest.OpEvents), calls[1]+calls[2]+10, "the second sweep and the replays read little")
}

// crashRequestHash is the request hash RequestOperation stores with an
// operation. bridge.requestHash is unexported, so this repeats its
// definition; the replay at the end of the test proves they agree.
func crashRequestHash(kind, reference string, amount bridge.Money) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s\n%s\n%d\n%s", kind, reference, amount.Value, amount.Currency))
	return hex.EncodeToString(h[:])
}

// crashTypes lists a payment's notifications of one type.
func crashTypes(t *testing.T, e *testEnv, ref, typ string) []string {
	var out []string
	for _, n := range e.notifications(ref) {
		if n == typ {
			out = append(out, n)
		}
	}
	return out
}

// crashRig runs Main, stops it and runs a new one on the same database
// file and address, against fakes that outlive every Main.
type crashRig struct {
	t      *testing.T
	clk    *vippstest.Clock
	text   string // config.yaml with the database fixed
	addr   string // 127.0.0.1:0 until the first start picks the port
	cfg    *config.Config
	vipps  *vippstest.Server
	kustom *klarnatest.Server
	m      *Main
}

func newCrashRig(t *testing.T) *crashRig {
	raw, err := os.ReadFile("config.yaml")
	require.NoError(t, err)
	text := strings.Replace(string(raw), `dsn: "file:bridge.db"`, `dsn: "file:`+filepath.Join(t.TempDir(), "bridge.db")+`"`, 1)
	cfg, err := config.Parse([]byte(text), func(string) string { return "" })
	require.NoError(t, err)
	r := &crashRig{t: t, clk: vippstest.NewClock(time.Now().UTC()), text: text, addr: "127.0.0.1:0", cfg: cfg}
	r.vipps = vippstest.NewServer(vippstest.Options{Now: r.clk.Now, AllowInsecureLocalReturnURL: true})
	for _, u := range cfg.Units {
		r.vipps.AddSalesUnit(vippstest.SalesUnit{
			MSN: u.MSN, ClientID: u.Vipps.ClientID, ClientSecret: u.Vipps.ClientSecret,
			SubscriptionKey: u.Vipps.SubscriptionKey, Currency: u.Currency, Name: u.Name,
		})
	}
	r.kustom = klarnatest.NewServer(klarnatest.Options{
		Now: r.clk.Now, Credentials: []klarnatest.Credential{{Username: cfg.Kustom.Username, APIKey: cfg.Kustom.APIKey}},
	})
	t.Cleanup(func() {
		if r.m != nil {
			r.stop()
		}
		r.vipps.Close()
		r.kustom.Close()
	})
	return r
}

// start runs a new Main on the rig's database and address.
func (r *crashRig) start() *testEnv {
	t := r.t
	require.Nil(t, r.m, "stop the running Main first")
	text := strings.Replace(r.text, `addr: ":8080"`, `addr: "`+r.addr+`"`, 1)
	if !strings.HasSuffix(r.addr, ":0") {
		text = strings.Replace(text, `public_url: "http://localhost:8080"`, `public_url: "http://`+r.addr+`"`, 1)
	}
	cfg, err := config.Parse([]byte(text), func(string) string { return "" })
	require.NoError(t, err)
	vu, err := url.Parse(r.vipps.URL())
	require.NoError(t, err)
	ku, err := url.Parse(r.kustom.URL())
	require.NoError(t, err)
	m := NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	m.Now = r.clk.Now
	m.PollEvery = 50 * time.Millisecond
	m.Providers.HTTPClient = &http.Client{Timeout: 5 * time.Second, Transport: &crashRoute{
		routes: map[string]*url.URL{"/sandbox/vipps": vu, "/sandbox/kustom": ku}, next: http.DefaultTransport,
	}}
	require.NoError(t, m.Run(context.Background()))
	r.m = m
	if strings.HasSuffix(r.addr, ":0") {
		r.addr = m.Addr()
	}
	require.Equal(t, "http://"+r.addr, m.PublicURL())
	return &testEnv{t: t, m: m, clock: r.clk, http: &http.Client{
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// stop closes the running Main: it stops serving, stops its background
// work and closes the database, as a process that exits does.
func (r *crashRig) stop() {
	m := r.m
	r.m = nil
	require.NoError(r.t, m.Close())
}

// settle lets the long-lived fake deliver its webhooks and the service
// finish what they started.
func (r *crashRig) settle(e *testEnv) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(r.t, r.vipps.WaitWebhooks(ctx))
	e.m.Service.Wait()
}

// vippsClient is a client of the fake for the configured unit, as another
// process holding the same keys would have.
func (r *crashRig) vippsClient(t *testing.T) *vipps.Client {
	u := r.cfg.Units[0]
	c, err := vipps.New(vipps.Config{
		BaseURL: r.vipps.URL(),
		Credentials: vipps.Credentials{ClientID: u.Vipps.ClientID, ClientSecret: u.Vipps.ClientSecret,
			SubscriptionKey: u.Vipps.SubscriptionKey, MSN: u.MSN},
		System: vipps.SystemInfo{Name: r.cfg.System.Name, Version: r.cfg.System.Version,
			PluginName: r.cfg.System.PluginName, PluginVersion: r.cfg.System.PluginVersion},
		Now: r.clk.Now,
	})
	require.NoError(t, err)
	return c
}

// crashRoute sends requests for the sandbox's provider paths to the
// long-lived fakes instead.
type crashRoute struct {
	routes map[string]*url.URL
	next   http.RoundTripper
}

func (c *crashRoute) RoundTrip(req *http.Request) (*http.Response, error) {
	for prefix, to := range c.routes {
		rest, ok := strings.CutPrefix(req.URL.Path, prefix)
		if !ok || (rest != "" && !strings.HasPrefix(rest, "/")) {
			continue
		}
		out := req.Clone(req.Context())
		out.URL.Scheme, out.URL.Host = to.Scheme, to.Host
		out.URL.Path = to.Path + rest
		out.URL.RawPath = ""
		out.Host = ""
		return c.next.RoundTrip(out)
	}
	return c.next.RoundTrip(req)
}
