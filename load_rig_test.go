package main

// The rig of the load test (load_bench_test.go): three processes.
//
//  1. The fakes: this test binary re-executed with VIPPSKCO_LOAD_FAKES_ADDR
//     set (see TestMain), serving the fake Kustom and the fake Vipps on
//     loopback ports of their own, and a small admin API for the rig: the
//     Vipps GET reads per reference, each Vipps payment's returnUrl, and a
//     merchant webhook receiver that says 204.
//  2. The service: the real binary (`go build`, then `-config FILE serve`),
//     or for the smoke test this test binary running run() as the crash
//     rig's child does, which is the same code without the build. It runs
//     as production does: no sandbox, secrets from the environment, a
//     public https URL (a load balancer's, never dialled: the rig talks to
//     the port behind it) and server.server_timing on.
//  3. The load generator: the test process.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"gopkg.in/yaml.v3"

	"vippskco/bridge"
	"vippskco/bridge/config"
	"vippskco/klarna"
	"vippskco/klarna/klarnatest"
	"vippskco/vipps"
	"vippskco/vipps/vippstest"
)

// loadFakesEnv, set in the environment of this test binary, makes it the
// fakes process: the value is the file it writes its addresses to.
const loadFakesEnv = "VIPPSKCO_LOAD_FAKES_ADDR"

const (
	loadUnit      = "loadshop"
	loadMSN       = "654321"
	loadPublicURL = "https://vippskco.load.test" // the load balancer's name; the rig goes to the port behind it
)

// loadSecretNames are the environment variables of the secrets both other
// processes get (LOADTEST_ + name).
var loadSecretNames = []string{"KUSTOM", "CLIENT_ID", "CLIENT_SECRET", "SUBSCRIPTION_KEY", "WEBHOOK_SECRET",
	"MERCHANT_TOKEN", "FINANCE_TOKEN", "HOOK_SECRET", "REDIRECT_SECRET"}

// loadFakesAddrs is what the fakes process writes to its address file.
type loadFakesAddrs struct {
	Kustom, Vipps, Admin string // base URLs
}

// loadFakesMain is the fakes process. It serves until its standard input
// closes (the rig ends it, or the rig died).
func loadFakesMain(addrFile string) int {
	listen := func() net.Listener {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "fakes:", err)
			os.Exit(1)
		}
		return l
	}
	vl, kl, al := listen(), listen(), listen()
	addrs := loadFakesAddrs{Vipps: "http://" + vl.Addr().String(), Kustom: "http://" + kl.Addr().String(), Admin: "http://" + al.Addr().String()}
	secret := func(name string) string { return os.Getenv("LOADTEST_" + name) }

	fv := vippstest.NewUnstartedHandler(vippstest.Options{}, addrs.Vipps)
	defer fv.Close()
	fv.AddSalesUnit(vippstest.SalesUnit{MSN: loadMSN, ClientID: secret("CLIENT_ID"), ClientSecret: secret("CLIENT_SECRET"),
		SubscriptionKey: secret("SUBSCRIPTION_KEY"), Currency: "NOK", Name: "Load Shop"})
	reads := &readCounter{next: fv.Handler(), n: map[string]int{}, last: map[string]time.Time{}, gap: map[string]time.Duration{}}
	fk := klarnatest.NewHandler(klarnatest.Options{Credentials: []klarnatest.Credential{{APIKey: secret("KUSTOM")}}}, addrs.Kustom)

	admin := http.NewServeMux()
	admin.HandleFunc("GET /reads", func(w http.ResponseWriter, _ *http.Request) { writeLoadJSON(w, reads.snapshot()) })
	admin.HandleFunc("POST /gaps", func(w http.ResponseWriter, _ *http.Request) { writeLoadJSON(w, reads.takeGaps()) })
	admin.HandleFunc("GET /payments", func(w http.ResponseWriter, _ *http.Request) {
		out := map[string]string{} // reference → returnUrl
		for _, ref := range fv.References() {
			if p, ok := fv.Payment(ref); ok {
				out[ref] = p.ReturnURL
			}
		}
		writeLoadJSON(w, out)
	})
	admin.HandleFunc("POST /hooks", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	})
	for l, h := range map[net.Listener]http.Handler{vl: reads, kl: fk.Handler(), al: admin} {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(l) }()
	}

	raw, _ := json.Marshal(addrs)
	if err := os.WriteFile(addrFile+".tmp", raw, 0o600); err != nil || os.Rename(addrFile+".tmp", addrFile) != nil {
		fmt.Fprintln(os.Stderr, "fakes: cannot write", addrFile, err)
		return 1
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

func writeLoadJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// readCounter counts the Vipps payment reads (GET payment and GET events)
// per reference, and the shortest time between two of them, then hands
// the request to the fake.
type readCounter struct {
	next http.Handler
	mu   sync.Mutex
	n    map[string]int
	last map[string]time.Time     // each payment's latest read
	gap  map[string]time.Duration // since the last takeGaps: each payment's shortest time between two reads
}

var vippsReadPath = regexp.MustCompile(`^/epayment/v1/payments/([^/]+)(/events)?$`)

func (c *readCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		if m := vippsReadPath.FindStringSubmatch(r.URL.Path); m != nil {
			now := time.Now()
			c.mu.Lock()
			c.n[m[1]]++
			if last, ok := c.last[m[1]]; ok {
				if g, ok := c.gap[m[1]]; !ok || now.Sub(last) < g {
					c.gap[m[1]] = now.Sub(last)
				}
			}
			c.last[m[1]] = now
			c.mu.Unlock()
		}
	}
	c.next.ServeHTTP(w, r)
}

func (c *readCounter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}

// takeGaps returns each payment's shortest time between two reads since
// the last call (a read just before it counts as the previous one), and
// starts counting again.
func (c *readCounter) takeGaps() map[string]time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.gap
	c.gap = map[string]time.Duration{}
	return g
}

// loadRig is the running fakes and service of one store.
type loadRig struct {
	tb      testing.TB
	dir     string
	secrets map[string]string // environment variable → value
	fakes   loadFakesAddrs
	cfg     *config.Config

	service    *exec.Cmd
	serviceOut *lockedBuffer
	serviceURL string // http://127.0.0.1:port, behind loadPublicURL
	opsURL     string // the service's operations listener: /metrics, /debug/pprof/
	profile    string // when set, each phase's CPU profile goes to profile-PHASE-CLIENTS.pprof
	trace      bool   // with profile: a runtime trace of each phase instead, to profile-PHASE-CLIENTS.trace

	stops  []func() // stop the children, last started first (stop)
	cpuPid int      // when set, the process whose CPU time a phase counts instead of the service's

	client *http.Client   // the shoppers' and Vipps's: keeps connections, follows no redirect
	kustom *klarna.Client // the merchant's checkout, creating KCO orders
	signer *bridge.RedirectSigner
}

// startLoadRig starts the fakes, then the service on store: the built
// binary bin, or (bin == "") this test binary running run().
func startLoadRig(tb testing.TB, bin string, store func(*config.Config)) *loadRig {
	tb.Helper()
	r := &loadRig{tb: tb, dir: tb.TempDir(), secrets: map[string]string{}}
	for _, name := range loadSecretNames {
		b := make([]byte, 24)
		_, _ = rand.Read(b)
		r.secrets["LOADTEST_"+name] = hex.EncodeToString(b)
	}
	r.signer = &bridge.RedirectSigner{Secret: []byte(r.secrets["LOADTEST_REDIRECT_SECRET"]), TTL: time.Hour}
	r.startFakes()

	tr := &http.Transport{MaxIdleConns: 2048, MaxIdleConnsPerHost: 1024, IdleConnTimeout: time.Minute}
	r.client = &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	kc, err := klarna.New(klarna.Config{BaseURL: r.fakes.Kustom, APIKey: r.secrets["LOADTEST_KUSTOM"],
		HTTPClient: &http.Client{Transport: tr, Timeout: 30 * time.Second}})
	if err != nil {
		tb.Fatal(err)
	}
	r.kustom = kc
	r.startService(bin, store)
	return r
}

// onStop registers f to stop a child: at stop, or when the test ends,
// whichever is first, once.
func (r *loadRig) onStop(f func()) {
	var once sync.Once
	g := func() { once.Do(f) }
	r.stops = append(r.stops, g)
	r.tb.Cleanup(g)
}

// stop stops the service and then the fakes. A run on one store stops its
// rig before the next store's starts: a service left running with its
// waiting payments would go on polling them, on the same two cores.
func (r *loadRig) stop() {
	for i := len(r.stops) - 1; i >= 0; i-- {
		r.stops[i]()
	}
}

// loadEnv is the environment of a child: the secrets, nothing of the
// caller's settings.
func (r *loadRig) loadEnv(extra ...string) []string {
	env := benchEnv()
	for k, v := range r.secrets {
		env = append(env, k+"="+v)
	}
	return append(env, extra...)
}

func (r *loadRig) startFakes() {
	r.startChild("fakes", loadFakesEnv, nil, &r.fakes)
}

// startChild starts this test binary as a helper process with env set to
// the file it writes its addresses to, waits for the file and reads it
// into addrs. The child serves until its standard input closes; it is
// stopped at stop, and returns its pid.
func (r *loadRig) startChild(name, env string, extra []string, addrs any) int {
	tb := r.tb
	addrFile := filepath.Join(r.dir, name+".json")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = r.loadEnv(append(extra, env+"="+addrFile)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	r.onStop(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if raw, err := os.ReadFile(addrFile); err == nil {
			if err := json.Unmarshal(raw, addrs); err != nil {
				tb.Fatal(err)
			}
			return cmd.Process.Pid
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the %s did not start:\n%s", name, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *loadRig) startService(bin string, store func(*config.Config)) {
	tb := r.tb
	addr, ops := freeAddr(tb), freeAddr(tb)
	r.opsURL = "http://" + ops
	r.cfg = testConfigRaw(tb, func(c *config.Config) {
		c.Sandbox = false
		c.Server.Addr, c.Server.PublicURL, c.Server.ServerTiming = addr, loadPublicURL, true
		c.Server.OpsAddr = ops
		c.Storage.Driver, c.Storage.DSN = "sqlite", "file:"+filepath.Join(r.dir, "bridge.db")
		c.Kustom.BaseURL, c.Kustom.Username, c.Kustom.APIKeyEnv = r.fakes.Kustom, "", "LOADTEST_KUSTOM"
		u := &c.Units[0]
		u.ID, u.Name, u.MSN, u.Capture, u.ReferencePrefix = loadUnit, "Load Shop", loadMSN, "reserve", "ld"
		u.ConfirmationURL, u.CheckoutURL = "https://shop.example/thanks?order={kco_order_id}", "https://shop.example/checkout"
		u.Vipps = config.Vipps{BaseURL: r.fakes.Vipps, ClientIDEnv: "LOADTEST_CLIENT_ID", ClientSecretEnv: "LOADTEST_CLIENT_SECRET",
			SubscriptionKeyEnv: "LOADTEST_SUBSCRIPTION_KEY", WebhookSecretEnv: "LOADTEST_WEBHOOK_SECRET"}
		c.Units = c.Units[:1]
		c.RedirectSigning.SecretEnv = "LOADTEST_REDIRECT_SECRET"
		c.RegisterWebhooks = false
		c.MerchantWebhook.URL, c.MerchantWebhook.SecretEnv = r.fakes.Admin+"/hooks", "LOADTEST_HOOK_SECRET"
		c.APITokens.MerchantEnv, c.APITokens.FinanceEnv = "LOADTEST_MERCHANT_TOKEN", "LOADTEST_FINANCE_TOKEN"
	}, store)
	raw, err := yaml.Marshal(r.cfg)
	if err != nil {
		tb.Fatal(err)
	}
	cfgFile := filepath.Join(r.dir, "config.yaml")
	if err := os.WriteFile(cfgFile, raw, 0o600); err != nil {
		tb.Fatal(err)
	}
	var cmd *exec.Cmd
	if bin != "" {
		cmd = exec.Command(bin, "-config", cfgFile, "serve")
		cmd.Env = r.loadEnv()
	} else {
		cmd = exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = r.loadEnv(crashChildConfigEnv + "=" + cfgFile)
	}
	r.serviceOut = &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = io.Discard, r.serviceOut
	if bin == "" {
		cmd.Stdout = r.serviceOut
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	r.service = cmd
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	r.onStop(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	r.serviceURL = "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			tb.Fatalf("the service exited during start-up: %v\n%s", cmd.ProcessState, r.serviceLog())
		default:
		}
		if resp, err := http.Get(r.serviceURL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the service is not ready after 30 s:\n%s", r.serviceLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// serviceLog is the last of what the service wrote, for a failure.
func (r *loadRig) serviceLog() string {
	s := r.serviceOut.String()
	if len(s) > 8000 {
		s = "…" + s[len(s)-8000:]
	}
	return s
}

// cpuTime is the CPU time the service process used so far (user + system,
// /proc/PID/stat fields 14 and 15). They are in clock ticks of USER_HZ,
// which is 100 on every Linux architecture Go runs on (sysconf(_SC_CLK_TCK)
// reports the same fixed value), so one tick is 10 ms.
func (r *loadRig) cpuTime() time.Duration {
	if r.cpuPid != 0 {
		return r.cpuTimeOf(r.cpuPid)
	}
	return r.cpuTimeOf(r.service.Process.Pid)
}

// cpuTimeOf is the CPU time (user + system) process pid has used.
func (r *loadRig) cpuTimeOf(pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		r.tb.Fatalf("CPU time of process %d: %v", pid, err)
	}
	// The command name (field 2) may hold spaces; count from after it.
	fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64) // field 14
	stime, _ := strconv.ParseInt(fields[12], 10, 64) // field 15
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// newOrders makes n KCO orders at the fake Kustom through its checkout API,
// as the merchant's checkout does, and returns their signed redirect URLs.
func (r *loadRig) newOrders(n int) []loadOrder {
	out := make([]loadOrder, n)
	var mu sync.Mutex
	var firstErr error
	pool(n, 32, func(i int) {
		o := cart(1, fmt.Sprintf("LOAD-%d", i))
		created, err := r.kustom.CreateOrder(context.Background(), &o)
		if err != nil {
			mu.Lock()
			firstErr = err
			mu.Unlock()
			return
		}
		q := url.Values{"kco_order_id": {created.OrderID}, "sig": {r.signer.Sign(loadUnit, created.OrderID, time.Now())}}
		out[i] = loadOrder{id: created.OrderID, redirect: r.serviceURL + "/checkout/" + loadUnit + "/vipps?" + q.Encode()}
	})
	if firstErr != nil {
		r.tb.Fatalf("creating KCO orders: %v", firstErr)
	}
	return out
}

type loadOrder struct{ id, redirect string }

// redirect is the shopper's GET of the EPM redirect_url, not followed: it
// must be a 303 to the Vipps landing page. provider is the service's own
// Server-Timing provider time.
func (r *loadRig) redirect(o loadOrder) (provider time.Duration, err error) {
	h, err := r.redirectAt(o.redirect)
	if err != nil {
		return 0, err
	}
	return providerTime(h)
}

// redirectAt is a shopper's GET of a redirect URL, the service's or the
// bare bridge's, which must answer 303 to the Vipps landing page; it
// returns the answer's header.
func (r *loadRig) redirectAt(link string) (http.Header, error) {
	req, _ := http.NewRequest(http.MethodGet, link, nil)
	req.Header.Set("Accept", "text/html")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), r.fakes.Vipps+"/landing") {
		return nil, fmt.Errorf("redirect: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	return resp.Header, nil
}

var providerTimingRE = regexp.MustCompile(`(?:^|,\s*)provider;dur=([0-9.]+)`)

// providerTime reads the provider time of a Server-Timing header.
func providerTime(h http.Header) (time.Duration, error) {
	m := providerTimingRE.FindStringSubmatch(h.Get("Server-Timing"))
	if m == nil {
		return 0, fmt.Errorf("no provider time in Server-Timing %q", h.Get("Server-Timing"))
	}
	ms, err := strconv.ParseFloat(m[1], 64)
	return time.Duration(ms * float64(time.Millisecond)), err
}

// status is the waiting page's GET /status/{token}; provider as for
// redirect (it may ask Vipps).
func (r *loadRig) status(token string) (provider time.Duration, err error) {
	resp, err := r.client.Get(r.serviceURL + "/status/" + token)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status: %s", resp.Status)
	}
	return providerTime(resp.Header)
}

// webhook posts an ePayment event for reference, signed as Vipps signs it
// for the unit's webhook URL at the public address; it must be answered
// 2xx. provider as for redirect.
func (r *loadRig) webhook(reference string, seq int) (provider time.Duration, err error) {
	now := time.Now().UTC()
	key := fmt.Sprintf("load-%d", seq)
	body, _ := json.Marshal(vipps.WebhookEvent{MSN: loadMSN, Reference: reference, PSPReference: strconv.Itoa(seq),
		Name: "AUTHORIZED", Amount: vipps.Amount{Currency: "NOK", Value: 44700}, Timestamp: now, IdempotencyKey: &key, Success: true})
	path := "/webhooks/vipps/" + loadUnit
	date := now.Format(http.TimeFormat)
	hash, auth := vipps.SignWebhook(r.secrets["LOADTEST_WEBHOOK_SECRET"], http.MethodPost, path, strings.TrimPrefix(loadPublicURL, "https://"), date, body)
	req, _ := http.NewRequest(http.MethodPost, r.serviceURL+path, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-ms-date", date)
	req.Header.Set("x-ms-content-sha256", hash)
	req.Header.Set("Authorization", auth)
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return 0, fmt.Errorf("webhook: %s %s", resp.Status, b)
	}
	return providerTime(resp.Header)
}

// adminJSON reads the fakes' admin API.
func (r *loadRig) adminJSON(path string, into any) { r.admin(http.MethodGet, path, into) }

// admin makes a request of the fakes' admin listener and decodes its
// answer into into.
func (r *loadRig) admin(method, path string, into any) {
	req, err := http.NewRequest(method, r.fakes.Admin+path, nil)
	if err != nil {
		r.tb.Fatal(err)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		r.tb.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		r.tb.Fatalf("admin %s: %v", path, err)
	}
}

// vippsReads is the count of Vipps GET reads per reference so far.
func (r *loadRig) vippsReads() map[string]int {
	var m map[string]int
	r.adminJSON("/reads", &m)
	return m
}

// readGaps is each payment's shortest time between two Vipps reads at the
// fake since the last call.
func (r *loadRig) readGaps() map[string]time.Duration {
	var m map[string]time.Duration
	r.admin(http.MethodPost, "/gaps", &m)
	return m
}

// waitingPayments are the payments our service created at Vipps, with the
// status token of their returnUrl.
func (r *loadRig) waitingPayments() []loadPayment {
	var m map[string]string
	r.adminJSON("/payments", &m)
	var out []loadPayment
	for ref, ret := range m {
		if token, ok := strings.CutPrefix(ret, loadPublicURL+"/return/"); ok {
			out = append(out, loadPayment{ref: ref, token: token})
		}
	}
	slices.SortFunc(out, func(a, b loadPayment) int { return strings.Compare(a.ref, b.ref) })
	return out
}

type loadPayment struct{ ref, token string }

// bareClients are the product's own provider clients, used with no store:
// the floor a redirect's two provider calls cost.
func (r *loadRig) bareClients() (*klarna.Client, *vipps.Client) {
	s := r.cfg.System
	kc, vc, err := newBareClients(r.fakes, func(name string) string { return r.secrets["LOADTEST_"+name] },
		vipps.SystemInfo{Name: s.Name, Version: s.Version, PluginName: s.PluginName, PluginVersion: s.PluginVersion})
	if err != nil {
		r.tb.Fatal(err)
	}
	return kc, vc
}

// newBareClients are the product's own provider clients on the fakes,
// with nothing observing them.
func newBareClients(fakes loadFakesAddrs, secret func(string) string, system vipps.SystemInfo) (*klarna.Client, *vipps.Client, error) {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: 2048, MaxIdleConnsPerHost: 1024}, Timeout: 30 * time.Second}
	kc, err := klarna.New(klarna.Config{BaseURL: fakes.Kustom, APIKey: secret("KUSTOM"), HTTPClient: hc})
	if err != nil {
		return nil, nil, err
	}
	vc, err := vipps.New(vipps.Config{BaseURL: fakes.Vipps, HTTPClient: hc,
		Credentials: vipps.Credentials{ClientID: secret("CLIENT_ID"), ClientSecret: secret("CLIENT_SECRET"),
			SubscriptionKey: secret("SUBSCRIPTION_KEY"), MSN: loadMSN},
		System: system})
	if err != nil {
		return nil, nil, err
	}
	return kc, vc, nil
}

// bareCreate is what a redirect asks of the providers, with nothing
// stored: read the KCO order, create the Vipps payment from it. It
// returns the Vipps landing page's URL.
func bareCreate(kc *klarna.Client, vc *vipps.Client, orderID, reference string) (string, error) {
	return bareCreateKept(kc, vc, nil, orderID, reference)
}

// bareCreateKept is bareCreate with keep, when not nil, writing the attempt
// before the create and its answer after it (the durable bridge).
func bareCreateKept(kc *klarna.Client, vc *vipps.Client, keep *bareKeeper, orderID, reference string) (string, error) {
	ctx := context.Background()
	o, err := kc.GetOrder(ctx, orderID)
	if err != nil {
		return "", err
	}
	key := reference // the bare client's key: it keeps nothing to retry with
	if keep != nil {
		// The durable bridge commits the key it sends, before it sends it.
		key = uuid.NewString()
		if err := keep.attempt(ctx, reference, key, orderID, o.OrderAmount, o.PurchaseCurrency); err != nil {
			return "", err
		}
	}
	lines := make([]vipps.OrderLine, 0, len(o.OrderLines))
	for _, l := range o.OrderLines {
		rate := l.TaxRate
		lines = append(lines, vipps.OrderLine{Name: l.Name, ID: l.Reference, TotalAmount: l.TotalAmount,
			TotalAmountExcludingTax: l.TotalAmount - l.TotalTaxAmount, TotalTaxAmount: l.TotalTaxAmount,
			TaxRate:  &rate,
			UnitInfo: &vipps.UnitInfo{UnitPrice: l.UnitPrice, Quantity: strconv.FormatInt(l.Quantity, 10), QuantityUnit: "PCS"}})
	}
	created, err := vc.CreatePayment(ctx, key, vipps.CreatePaymentRequest{
		Amount:        vipps.Amount{Currency: vipps.Currency(o.PurchaseCurrency), Value: o.OrderAmount},
		PaymentMethod: vipps.PaymentMethod{Type: "WALLET"}, Customer: &vipps.Customer{PhoneNumber: "4791234567"},
		Reference: reference, UserFlow: "WEB_REDIRECT", ReturnURL: "https://shop.example/bare/" + reference,
		PaymentDescription: "Load Shop " + orderID,
		Receipt:            &vipps.Receipt{OrderLines: lines, BottomLine: vipps.BottomLine{Currency: vipps.Currency(o.PurchaseCurrency)}},
	})
	if err != nil {
		return "", err
	}
	if keep != nil {
		if err := keep.created(ctx, reference, created.RedirectURL); err != nil {
			return "", err
		}
	}
	return created.RedirectURL, nil
}

// startProfile, when the run keeps profiles, asks the service's profiler
// for a CPU profile over the phase (whole seconds, at least one), or a
// runtime trace when the run keeps traces, and writes it out; the returned
// function waits for it.
func (r *loadRig) startProfile(phase string, clients int, d time.Duration) (wait func()) {
	if r.profile == "" {
		return func() {}
	}
	secs := max(1, int(d.Seconds()))
	name := fmt.Sprintf("%s-%s-%d.pprof", r.profile, strings.NewReplacer(" ", "-", ",", "", "×", "x").Replace(phase), clients)
	done := make(chan struct{})
	go func() {
		defer close(done)
		kind := "profile"
		if r.trace {
			kind, name = "trace", strings.TrimSuffix(name, ".pprof")+".trace"
		}
		resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/%s?seconds=%d", r.opsURL, kind, secs))
		if err != nil {
			r.tb.Logf("profile %s: %v", name, err)
			return
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode == http.StatusOK {
			err = os.WriteFile(name, raw, 0o644)
		}
		if err != nil || resp.StatusCode != http.StatusOK {
			r.tb.Logf("profile %s: HTTP %d %v", name, resp.StatusCode, err)
		}
	}()
	return func() { <-done }
}
