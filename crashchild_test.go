package main

// The harness of TestCrashRecovery (crash_test.go): the service as a child
// process (this test binary re-executed, running the product's own run()),
// the fakes of Vipps and Kustom and the merchant's webhook receiver in the
// test process, and a gate in front of the fake Vipps and the receiver that
// holds a chosen request unanswered while the test kills the child.
//
// It leans on as little of the code under test as it can: the command line,
// the config.yaml format, the public HTTP surface, the exported API of the
// fakes, and one hook in main.go (testClock) for the child's clock.

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"vippskco/bridge/config"
	"vippskco/klarna"
	"vippskco/klarna/klarnatest"
	"vippskco/vipps/vippstest"
)

// The environment of a child process: the configuration file it serves
// with, and the file its clock offset is read from.
const (
	crashChildConfigEnv = "VIPPSKCO_CRASH_CHILD_CONFIG"
	crashChildClockEnv  = "VIPPSKCO_CRASH_CHILD_CLOCK"
)

func TestMain(m *testing.M) {
	if addrFile := os.Getenv(loadFakesEnv); addrFile != "" {
		os.Exit(loadFakesMain(addrFile)) // the load test's fakes (load_rig_test.go)
	}
	if addrFile := os.Getenv(loadBareBridgeEnv); addrFile != "" {
		os.Exit(loadBareBridgeMain(addrFile)) // the load test's bare bridge (load_bare_bridge_test.go)
	}
	if cfg := os.Getenv(crashChildConfigEnv); cfg != "" {
		os.Exit(crashChildMain(cfg, os.Getenv(crashChildClockEnv)))
	}
	os.Exit(m.Run())
}

// crashChildMain is main() with a clock the parent test can move: the
// process serves exactly as `vippskco -config FILE` does.
func crashChildMain(cfgFile, clockFile string) int {
	if clockFile != "" {
		var offset atomic.Int64
		read := func() {
			if b, err := os.ReadFile(clockFile); err == nil {
				if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
					offset.Store(n)
				}
			}
		}
		read()
		go func() {
			for range time.Tick(5 * time.Millisecond) {
				read()
			}
		}()
		testClock = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	}
	ctx, stop := signalContext()
	defer stop()
	if err := run(ctx, []string{"-config", cfgFile}, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	return 0
}

const (
	crashUnitID = "webshop"
	crashMSN    = "123456"
	crashPrefix = "ws"
)

// crashWorld is everything that outlives the service's process: the fakes,
// the merchant's receiver, the public URL (a TLS front that forwards to
// wherever the child listens), the database file and the clock.
type crashWorld struct {
	t *testing.T

	offset    atomic.Int64 // the clock's offset from real time, in ns
	clockFile string

	secrets map[string]string // environment variable → value
	cfgFile string
	dbFile  string
	cfg     *config.Config
	addr    atomic.Pointer[string] // where the current child listens

	front  *httptest.Server // the public URL (https)
	client *http.Client     // trusts front; follows no redirects

	vipps     *vippstest.Server
	vippsGate *gate
	kustom    *klarnatest.Server

	hooks     *gate // the merchant's receiver, behind its gate
	hooksMu   sync.Mutex
	acked     []receipt // notifications the receiver answered 2xx
	hookProbs []string  // signatures the receiver refused

	child *crashChild
}

// receipt is one notification POST as the merchant saw it.
type receipt struct {
	ID, Type, Reference string
	Body                []byte
}

func newCrashWorld(t *testing.T) *crashWorld {
	w := &crashWorld{t: t, secrets: map[string]string{}}
	none := "127.0.0.1:1"
	w.addr.Store(&none)
	dir := t.TempDir()
	w.dbFile = filepath.Join(dir, "bridge.db")
	w.cfgFile = filepath.Join(dir, "config.yaml")
	w.clockFile = filepath.Join(dir, "clock")
	w.writeClock()
	for _, name := range []string{"KUSTOM", "CLIENT_ID", "CLIENT_SECRET", "SUBSCRIPTION_KEY", "MERCHANT_TOKEN", "FINANCE_TOKEN", "HOOK_SECRET", "REDIRECT_SECRET"} {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		w.secrets["CRASHTEST_"+name] = hex.EncodeToString(b)
	}
	require.NoError(t, verifyStandardWebhook("merchant-webhook-secret", "7c9e6679-7425-40de-944b-e07fc1f90ae7", "1767225600",
		"v1,ccBGAGgXdSNtYMNDpYDNjeNXZR5GMuEkmTvViMQWEYY=", []byte(`{"id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","type":"payment.authorized"}`),
		time.Unix(1767225600, 0)), "the receiver checks signatures as the README's worked example says")

	// The public URL: a TLS front that forwards to wherever the current
	// child listens, as a load balancer does.
	w.front = httptest.NewTLSServer(&httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(&url.URL{Scheme: "http", Host: *w.addr.Load()})
			r.Out.Host = r.In.Host // the host Vipps signs its webhooks for
		},
		// A fresh connection each time: none survives a killed child.
		Transport:    &http.Transport{DisableKeepAlives: true},
		ErrorLog:     log.New(io.Discard, "", 0),
		ErrorHandler: func(rw http.ResponseWriter, _ *http.Request, _ error) { rw.WriteHeader(http.StatusBadGateway) },
	})
	t.Cleanup(w.front.Close)
	// Shoppers and the merchant, and below the fake Vipps's webhooks, reach
	// the service through the front, trusting its certificate.
	client := *w.front.Client()
	client.Timeout = 20 * time.Second
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	w.client = &client

	// The fake Vipps, behind its gate.
	vsrv := httptest.NewUnstartedServer(nil)
	webhookClient := *w.front.Client()
	webhookClient.Timeout = 5 * time.Second
	w.vipps = vippstest.NewUnstartedHandler(vippstest.Options{Now: w.now, WebhookClient: &webhookClient}, "http://"+vsrv.Listener.Addr().String())
	w.vippsGate = newGate(w.vipps.Handler())
	vsrv.Config.Handler = w.vippsGate
	vsrv.Start()
	t.Cleanup(func() { w.vipps.Close(); vsrv.Close() })
	w.vipps.AddSalesUnit(vippstest.SalesUnit{
		MSN: crashMSN, ClientID: w.secrets["CRASHTEST_CLIENT_ID"], ClientSecret: w.secrets["CRASHTEST_CLIENT_SECRET"],
		SubscriptionKey: w.secrets["CRASHTEST_SUBSCRIPTION_KEY"], Currency: "NOK", Name: "Crash Shop",
	})

	w.kustom = klarnatest.NewServer(klarnatest.Options{Now: w.now, Credentials: []klarnatest.Credential{{APIKey: w.secrets["CRASHTEST_KUSTOM"]}}})
	t.Cleanup(w.kustom.Close)

	// The merchant's webhook receiver, behind its gate.
	w.hooks = newGate(http.HandlerFunc(w.receive))
	hooks := httptest.NewServer(w.hooks)
	t.Cleanup(hooks.Close)

	// The shipped configuration, as production runs it: no sandbox, every
	// secret from the environment, the providers at the fakes.
	w.cfg = testConfigRaw(t, func(c *config.Config) {
		c.Sandbox = false
		c.Server.PublicURL = w.front.URL
		c.Storage.Driver, c.Storage.DSN = "sqlite", "file:"+w.dbFile
		c.Kustom.BaseURL, c.Kustom.Username, c.Kustom.APIKeyEnv = w.kustom.URL(), "", "CRASHTEST_KUSTOM"
		u := &c.Units[0]
		u.ID, u.Name, u.MSN, u.Capture, u.ReferencePrefix = crashUnitID, "Crash Shop", crashMSN, "reserve", crashPrefix
		u.ConfirmationURL, u.CheckoutURL = "https://shop.example/thanks?order={kco_order_id}", "https://shop.example/checkout"
		u.Vipps = config.Vipps{BaseURL: w.vipps.URL(), ClientIDEnv: "CRASHTEST_CLIENT_ID",
			ClientSecretEnv: "CRASHTEST_CLIENT_SECRET", SubscriptionKeyEnv: "CRASHTEST_SUBSCRIPTION_KEY"}
		c.Units = c.Units[:1]
		c.RedirectSigning.SecretEnv = "CRASHTEST_REDIRECT_SECRET"
		c.RegisterWebhooks = true
		c.MerchantWebhook.URL, c.MerchantWebhook.SecretEnv = hooks.URL+"/hooks/vipps", "CRASHTEST_HOOK_SECRET"
		c.APITokens.MerchantEnv, c.APITokens.FinanceEnv = "CRASHTEST_MERCHANT_TOKEN", "CRASHTEST_FINANCE_TOKEN"
	})
	t.Cleanup(func() {
		if w.child != nil && w.child.running() {
			w.child.signal(syscall.SIGKILL)
			<-w.child.exited
		}
	})
	return w
}

// now is the clock of the fakes and the receiver; the child reads the same
// offset from clockFile.
func (w *crashWorld) now() time.Time { return time.Now().Add(time.Duration(w.offset.Load())) }

// advance moves the clock of the fakes, the receiver and the child.
func (w *crashWorld) advance(d time.Duration) {
	w.offset.Add(int64(d))
	w.writeClock()
}

func (w *crashWorld) writeClock() {
	tmp := w.clockFile + ".tmp"
	require.NoError(w.t, os.WriteFile(tmp, []byte(strconv.FormatInt(w.offset.Load(), 10)), 0o600))
	require.NoError(w.t, os.Rename(tmp, w.clockFile))
}

// crashChild is one run of the service.
type crashChild struct {
	cmd    *exec.Cmd
	out    *lockedBuffer
	exited chan struct{}
	state  *os.ProcessState
}

func (c *crashChild) running() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

func (c *crashChild) signal(sig os.Signal) { _ = c.cmd.Process.Signal(sig) }

// start runs the service in a new process on the world's database and
// returns once it is ready and its background work has begun (it has
// looked up its webhook at Vipps, the last step of start-up). Each run
// listens on a new free port, as a restarted pod gets a new address behind
// its load balancer; should another process take the port first, start
// tries another.
func (w *crashWorld) start() *crashChild {
	w.t.Helper()
	require.True(w.t, w.child == nil || !w.child.running(), "one child at a time")
	for try := 1; ; try++ {
		c, err := w.startOnce()
		if err == nil {
			return c
		}
		if try == 3 || !strings.Contains(c.out.String(), "address already in use") {
			w.t.Fatalf("the service exited during start-up: %v\n%s", err, c.out.String())
		}
	}
}

func (w *crashWorld) startOnce() (*crashChild, error) {
	t := w.t
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	w.cfg.Server.Addr = addr
	raw, err := yaml.Marshal(w.cfg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(w.cfgFile, raw, 0o600))

	lists := w.vipps.Calls(vippstest.OpWebhookList)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildConfigEnv+"="+w.cfgFile, crashChildClockEnv+"="+w.clockFile)
	for k, v := range w.secrets {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	c := &crashChild{cmd: cmd, out: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = c.out, c.out
	require.NoError(t, cmd.Start())
	w.child = c
	go func() {
		_ = cmd.Wait()
		c.state = cmd.ProcessState
		close(c.exited)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("child %d output:\n%s", cmd.Process.Pid, c.out.String())
		}
	})
	direct := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var exited error
	w.waitFor(15*time.Second, "the service is ready", func() (bool, string) {
		if !c.running() {
			exited = fmt.Errorf("%v", c.state)
			return true, ""
		}
		resp, err := direct.Get("http://" + addr + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, resp.Status
		}
		if w.vipps.Calls(vippstest.OpWebhookList) == lists {
			return false, "start-up has not looked up the webhook yet"
		}
		return true, ""
	})
	if exited == nil {
		w.addr.Store(&addr)
	}
	return c, exited
}

// kill ends the child with SIGKILL, as the OOM killer or a pulled plug
// would, and waits until it is gone.
func (w *crashWorld) kill(c *crashChild) {
	w.t.Helper()
	require.True(w.t, c.running(), "the service died before the test killed it:\n%s", c.out.String())
	require.NoError(w.t, c.cmd.Process.Signal(syscall.SIGKILL))
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		w.t.Fatal("the killed service did not exit")
	}
	ws, ok := c.state.Sys().(syscall.WaitStatus)
	require.True(w.t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL, "the service died of SIGKILL, not %v", c.state)
}

// waitFor polls cond until it holds, failing the test after timeout with
// what cond last said.
func (w *crashWorld) waitFor(timeout time.Duration, what string, cond func() (bool, string)) {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, why := cond()
		if ok {
			return
		}
		last = why
		if time.Now().After(deadline) {
			w.t.Fatalf("waited %s for %s: %s", timeout, what, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// order makes a KCO order at the fake Kustom, as the merchant's checkout does.
func (w *crashWorld) order() klarna.Order {
	o, err := w.kustom.CreateOrder(cart(1, "CRASH-1"))
	require.NoError(w.t, err)
	return o
}

// redirectURL is the signed EPM redirect_url of an order, from the
// merchant API, as the merchant puts it into the KCO order.
func (w *crashWorld) redirectURL(orderID string) string {
	status, body := w.api("GET", "/api/v1/epm/"+crashUnitID+"?kco_order_id="+orderID, "", "")
	require.Equal(w.t, http.StatusOK, status, string(body))
	var out struct {
		EPMs []struct {
			RedirectURL string `json:"redirect_url"`
		} `json:"external_payment_methods"`
	}
	require.NoError(w.t, json.Unmarshal(body, &out))
	require.Len(w.t, out.EPMs, 1)
	require.True(w.t, strings.HasPrefix(out.EPMs[0].RedirectURL, w.front.URL+"/checkout/"), out.EPMs[0].RedirectURL)
	return out.EPMs[0].RedirectURL
}

// shopperGet is a browser's GET, redirects not followed. A failed request
// (the service died under it) is status 0.
func (w *crashWorld) shopperGet(rawURL string) (int, http.Header, string) {
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		return 0, nil, err.Error()
	}
	req.Header.Set("Accept", "text/html")
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, nil, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// api is a merchant API call with the bearer token; key, when set, is the
// Idempotency-Key. A failed request is status 0.
func (w *crashWorld) api(method, path, key, body string) (int, []byte) {
	req, err := http.NewRequest(method, w.front.URL+path, strings.NewReader(body))
	if err != nil {
		return 0, []byte(err.Error())
	}
	req.Header.Set("Authorization", "Bearer "+w.secrets["CRASHTEST_MERCHANT_TOKEN"])
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// apiJSON is a GET of the merchant API that must succeed.
func (w *crashWorld) apiJSON(path string, into any) {
	w.t.Helper()
	status, body := w.api("GET", path, "", "")
	require.Equal(w.t, http.StatusOK, status, "GET %s: %s", path, body)
	require.NoError(w.t, json.Unmarshal(body, into), string(body))
}

// crashPayment is GET /api/v1/payments/{reference}, the parts checked here.
type crashPayment struct {
	Reference string `json:"reference"`
	Attempt   int    `json:"attempt"`
	State     string `json:"state"`
	Aggregate struct {
		Authorized int64 `json:"authorized"`
		Captured   int64 `json:"captured"`
	} `json:"aggregate"`
	Events []struct {
		Name string `json:"name"`
	} `json:"events"`
	Operations []struct {
		Kind  string `json:"kind"`
		State string `json:"state"`
	} `json:"operations"`
}

func (w *crashWorld) payment(ref string) crashPayment {
	w.t.Helper()
	var p crashPayment
	w.apiJSON("/api/v1/payments/"+ref, &p)
	return p
}

// crashNotification is an entry of GET /api/v1/notifications.
type crashNotification struct {
	ID          string          `json:"id"`
	Reference   string          `json:"reference"`
	Type        string          `json:"type"`
	State       string          `json:"state"`
	Attempts    int             `json:"attempts"`
	DeliveredAt *time.Time      `json:"delivered_at"`
	Payload     json.RawMessage `json:"payload"`
}

func (w *crashWorld) notifications(ref string) []crashNotification {
	w.t.Helper()
	var out struct {
		Notifications []crashNotification `json:"notifications"`
	}
	w.apiJSON("/api/v1/notifications?reference="+ref, &out)
	return out.Notifications
}

// approve does what the shopper does on the Vipps landing page the
// redirect sent them to: approve, then come back to our return page, whose
// status the page polls until the payment is authorized.
func (w *crashWorld) approve(landing string) {
	t := w.t
	t.Helper()
	u, err := url.Parse(landing)
	require.NoError(t, err)
	require.Equal(t, w.vipps.URL()+"/landing", u.Scheme+"://"+u.Host+u.Path, "the redirect goes to the Vipps landing page")
	resp, err := w.client.PostForm(w.vipps.URL()+"/landing/approve", url.Values{"token": {u.Query().Get("token")}, "phoneNumber": {"4791234567"}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	back := resp.Header.Get("Location")
	require.True(t, strings.HasPrefix(back, w.front.URL+"/return/"), back)
	// The return page either waits (200) or, when it already knows, sends
	// the shopper on to the confirmation page.
	status, header, body := w.shopperGet(back)
	if status == http.StatusSeeOther {
		require.True(t, strings.HasPrefix(header.Get("Location"), "https://shop.example/thanks?order="), header.Get("Location"))
	} else {
		require.Equal(t, http.StatusOK, status, body)
	}
	statusURL := w.front.URL + "/status/" + strings.TrimPrefix(back, w.front.URL+"/return/")
	w.waitFor(10*time.Second, "the status page to say AUTHORIZED", func() (bool, string) {
		code, _, body := w.shopperGet(statusURL)
		var s struct {
			State string `json:"state"`
		}
		_ = json.Unmarshal([]byte(body), &s)
		return code == http.StatusOK && s.State == "AUTHORIZED", fmt.Sprintf("%d %s", code, body)
	})
}

// receive is the merchant's webhook receiver: it checks the signature as
// the README tells merchants to, and answers 204.
func (w *crashWorld) receive(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc := parseReceipt(r.Header, body)
	if err := verifyStandardWebhook(w.secrets["CRASHTEST_HOOK_SECRET"], rc.ID, r.Header.Get("Webhook-Timestamp"), r.Header.Get("Webhook-Signature"), body, w.now()); err != nil {
		w.hooksMu.Lock()
		w.hookProbs = append(w.hookProbs, fmt.Sprintf("%s: %v", rc.ID, err))
		w.hooksMu.Unlock()
		rw.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.hooksMu.Lock()
	w.acked = append(w.acked, rc)
	w.hooksMu.Unlock()
	rw.WriteHeader(http.StatusNoContent)
}

func parseReceipt(h http.Header, body []byte) receipt {
	var n struct {
		Type    string `json:"type"`
		Payment struct {
			Reference string `json:"reference"`
		} `json:"payment"`
	}
	_ = json.Unmarshal(body, &n)
	return receipt{ID: h.Get("Webhook-Id"), Type: n.Type, Reference: n.Payment.Reference, Body: body}
}

// ackedOf lists the notifications of a payment the receiver answered 2xx.
func (w *crashWorld) ackedOf(ref string) []receipt {
	w.hooksMu.Lock()
	defer w.hooksMu.Unlock()
	var out []receipt
	for _, r := range w.acked {
		if r.Reference == ref {
			out = append(out, r)
		}
	}
	return out
}

// receivedOf lists every notification POST of a payment that reached the
// receiver, answered or not.
func (w *crashWorld) receivedOf(ref string) []receipt {
	var out []receipt
	for _, s := range w.hooks.seen() {
		if s.Method != http.MethodPost {
			continue
		}
		if rc := parseReceipt(s.Header, s.Body); rc.Reference == ref {
			out = append(out, rc)
		}
	}
	return out
}

// verifyStandardWebhook checks a notification's signature as the README's
// "Notifications to the merchant" says, independently of the product's code.
func verifyStandardWebhook(secret, id, timestamp, signatures string, body []byte, now time.Time) error {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp %q: %w", timestamp, err)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("timestamp %s is %s away", timestamp, d)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%s.%s.", id, timestamp)
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(signatures) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return errors.New("no valid signature")
}

// gate wraps a handler. It records every request, and can hold one chosen
// request unanswered: the caller is left waiting, as a slow provider or
// merchant leaves it, until its connection goes away.
type gate struct {
	next http.Handler

	mu   sync.Mutex
	log  []seenRequest
	hold *holdSpec
}

type seenRequest struct {
	Method, Path string
	Header       http.Header
	Body         []byte
}

type holdSpec struct {
	match func(*http.Request) bool
	// commit lets the wrapped handler act on the request (a provider that
	// did the work, or a merchant who stored the notification) before the
	// answer is held back.
	commit  bool
	arrived chan *heldCall
}

// heldCall is the request a gate holds.
type heldCall struct {
	Request seenRequest
	// Committed is what the wrapped handler answered, never sent; nil
	// when the request was held before reaching it.
	Committed *httptest.ResponseRecorder
	// callerGone is closed when the caller's connection ended while the
	// request was still unanswered.
	callerGone chan struct{}
	// answered is closed if the gate gave up holding and answered.
	answered chan struct{}
	at       time.Time // when it arrived
	goneAt   time.Time // when the caller's connection closed; set before callerGone
}

func newGate(next http.Handler) *gate { return &gate{next: next} }

// holdNext holds the next request that matches and returns a channel that
// delivers it when it arrives.
func (g *gate) holdNext(commit bool, match func(*http.Request) bool) <-chan *heldCall {
	ch := make(chan *heldCall, 1)
	g.mu.Lock()
	g.hold = &holdSpec{match: match, commit: commit, arrived: ch}
	g.mu.Unlock()
	return ch
}

func (g *gate) seen() []seenRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]seenRequest(nil), g.log...)
}

func (g *gate) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	s := seenRequest{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	g.mu.Lock()
	g.log = append(g.log, s)
	h := g.hold
	if h != nil && h.match(r) {
		g.hold = nil
	} else {
		h = nil
	}
	g.mu.Unlock()
	if h == nil {
		g.next.ServeHTTP(rw, r)
		return
	}
	call := &heldCall{Request: s, callerGone: make(chan struct{}), answered: make(chan struct{}), at: time.Now()}
	if h.commit {
		call.Committed = httptest.NewRecorder()
		g.next.ServeHTTP(call.Committed, r)
	}
	h.arrived <- call
	select {
	case <-r.Context().Done():
		// The caller's connection closed with no answer sent.
		call.goneAt = time.Now()
		close(call.callerGone)
	case <-time.After(30 * time.Second):
		close(call.answered)
		rw.WriteHeader(http.StatusServiceUnavailable)
	}
}

// waitHeld waits for the held request to arrive.
func (w *crashWorld) waitHeld(ch <-chan *heldCall, what string) *heldCall {
	w.t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(15 * time.Second):
		w.t.Fatalf("%s never arrived", what)
		return nil
	}
}

// killMidFlight kills the child while call is held, and proves it was mid
// flight: the child was alive and still waiting when it was killed, and
// its connection then ended with no answer ever sent.
func (w *crashWorld) killMidFlight(c *crashChild, call *heldCall, what string) {
	w.t.Helper()
	select {
	case <-call.callerGone:
		w.t.Fatalf("%s: the caller gave up before the kill", what)
	case <-call.answered:
		w.t.Fatalf("%s: answered before the kill", what)
	default:
	}
	killed := time.Now()
	w.kill(c)
	select {
	case <-call.callerGone:
		require.True(w.t, call.goneAt.After(killed), "%s: the connection closed before the kill", what)
		w.t.Logf("%s %s: held at the gate for %s, then pid %d got SIGKILL while waiting for it; its connection closed %s after the signal, no answer sent",
			call.Request.Method, call.Request.Path, killed.Sub(call.at).Round(time.Microsecond), c.cmd.Process.Pid, call.goneAt.Sub(killed).Round(time.Microsecond))
	case <-call.answered:
		w.t.Fatalf("%s: answered instead of abandoned", what)
	case <-time.After(10 * time.Second):
		w.t.Fatalf("%s: the killed service's connection did not close", what)
	}
}

// lockedBuffer is a bytes.Buffer safe for the child's two output streams.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
