package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/config"
	"vippskco/klarna/klarnatest"
	"vippskco/vipps/vippstest"
)

// TestReplicas runs three Mains on one PostgreSQL schema behind a load
// balancer, as production does: one public URL for all of them, so the
// unit's Vipps webhook is registered once (the first replica registers it,
// the others find it with the secret in the shared database) and every
// webhook, shopper and merchant request reaches whichever replica the
// balancer picks. The fake Vipps and Kustom are the test's own; each
// replica reaches them through Main.Providers. Some Vipps answers are slow,
// so requests stay in flight a while.
//
// Halfway through, replica 2 is stopped while requests are in flight. The
// balancer's health check notices a little later, so for a moment new
// requests still reach the stopping replica and are refused; the balancer
// sends those again to another replica, as it does with a request whose
// connection the stopping replica closed. The test records every request
// in flight at the moment of stopping and what became of it, and requires
// some. Afterwards the clock runs past every lease and the invariant
// checker requires that nothing was captured twice, no notification was
// lost or duplicated, and nothing was left unfinished.
func TestReplicas(t *testing.T) {
	dsn := postgresDSN(t)
	began := time.Now()
	shoppers := 240
	if raceEnabled {
		shoppers = 120
	}
	const workers = 16
	const nReplicas = 3
	ctx := context.Background()
	clk := vippstest.NewClock(time.Now().UTC())
	clockStart := clk.Now()

	rr := &replicaRun{t: t, clk: clk, began: began, asked: map[string]int64{}, inflight: map[*lbRequest]bool{}}
	rr.hooks = newMerchantReceiver(t, "", clk.Now)
	lb := httptest.NewServer(rr)
	t.Cleanup(lb.Close)

	edit := func(c *config.Config) {
		c.Server.Addr = freeAddr(t)
		c.Server.PublicURL = lb.URL
		c.MerchantWebhook.URL = rr.hooks.URL()
	}
	first := testConfig(t, onPostgres(dsn), edit)
	rr.hooks.secret = first.MerchantWebhook.Secret
	require.NotEmpty(t, rr.hooks.secret)

	rr.vipps = vippstest.NewServer(vippstest.Options{Now: clk.Now, AllowInsecureLocalReturnURL: true, RecordLimit: 1 << 22})
	for _, u := range first.Units {
		rr.vipps.AddSalesUnit(vippstest.SalesUnit{
			MSN: u.MSN, ClientID: u.Vipps.ClientID, ClientSecret: u.Vipps.ClientSecret,
			SubscriptionKey: u.Vipps.SubscriptionKey, Currency: u.Currency, Name: u.Name,
		})
	}
	rr.kustom = klarnatest.NewServer(klarnatest.Options{
		Now: clk.Now, Credentials: []klarnatest.Credential{{Username: first.Kustom.Username, APIKey: first.Kustom.APIKey}},
	})
	t.Cleanup(func() { rr.vipps.Close(); rr.kustom.Close() })

	// The replicas, started one after the other so that the first registers
	// the webhook and the others keep it.
	for n := range nReplicas {
		cfg := first
		if n > 0 {
			cfg = testConfig(t, onPostgres(dsn), edit)
		}
		m := NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		m.Now = clk.Now
		m.PollEvery = 50 * time.Millisecond
		m.Providers = Providers{KustomURL: rr.kustom.URL(), VippsURL: rr.vipps.URL(), HTTPClient: &http.Client{Timeout: 5 * time.Second}}
		require.NoError(t, m.Run(ctx))
		require.Equal(t, lb.URL, m.PublicURL())
		target, err := url.Parse("http://" + m.Addr())
		require.NoError(t, err)
		rp := &replica{n: n, m: m}
		rp.proxy = &httputil.ReverseProxy{
			Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.Out.Host = pr.In.Host },
			Transport: &http.Transport{MaxIdleConnsPerHost: workers},
			ErrorHandler: func(_ http.ResponseWriter, r *http.Request, err error) {
				*r.Context().Value(proxyErrKey{}).(*error) = err
			},
		}
		rp.alive.Store(true)
		rr.replicas = append(rr.replicas, rp)
	}
	t.Cleanup(func() {
		for _, rp := range rr.replicas {
			if !rp.stopped.Load() {
				require.NoError(t, rp.m.Close())
			}
		}
	})
	reg, err := rr.store().WebhookRegistration(ctx, "webshop")
	require.NoError(t, err)
	require.Equal(t, lb.URL+"/webhooks/vipps/webshop", reg.URL)
	listed, err := rr.replicas[0].m.Service.Units["webshop"].Webhooks.ListWebhooks(ctx)
	require.NoError(t, err)
	require.Len(t, listed, 1, "one registration for the unit, kept by every replica")

	// Slow answers: a tenth of the payment reads and captures take 150 ms
	// (the fake acts, then answers late), so requests are in flight long
	// enough to be caught by the stop.
	rr.vipps.SetFaults(vippstest.Faults{
		TimeoutAfterCommitRate: 0.1, Hang: 150 * time.Millisecond,
		Ops: []string{vippstest.OpGet, vippstest.OpCapture},
	})

	// 1. Shoppers and their merchant, concurrently; replica 2 stops a third of the way in.
	stopClock := runClock(clk, 100*time.Millisecond, 20*time.Millisecond)
	var done atomic.Int64
	var stopping sync.WaitGroup
	list := make([]*rpShopper, shoppers)
	pool(shoppers, workers, func(i int) {
		s := &rpShopper{i: i}
		list[i] = s
		rr.shop(s)
		// A third of the way in, so that plenty of load is left for the
		// replica to have requests in flight when it stops.
		if done.Add(1) == int64(shoppers/3) {
			stopping.Go(func() { rr.stop(rr.replicas[2]) })
		}
	})
	stopping.Wait()
	stopClock()
	driveDone := time.Since(began)
	require.NoError(t, rr.stopErr, "stopping replica 2")

	// 2. Time passes, past every lease, until everything is quiet.
	steps := 0
	quiet, why := false, ""
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		clk.Advance(3 * time.Second)
		time.Sleep(50 * time.Millisecond)
		steps++
		if steps%10 == 0 && clk.Now().Sub(clockStart) > 3*time.Minute {
			if quiet, why = rr.quiet(list); quiet {
				break
			}
		}
	}
	for _, rp := range rr.replicas {
		if !rp.stopped.Load() {
			rp.m.Service.Wait()
		}
	}

	// 3. Count, print, judge.
	orders := []string{}
	outcomes := map[string]int{}
	for _, s := range list {
		outcomes[s.outcome]++
		if s.orderID != "" {
			orders = append(orders, s.orderID)
		}
		if s.problem != "" {
			rr.problem("shopper %d (%s): %s", s.i, s.ref, s.problem)
		}
	}
	w := collectWorld(t, worldSources{
		store: rr.store(), vipps: rr.vipps, kustom: rr.kustom, merchant: rr.hooks, orders: orders, asked: rr.asked, now: clk.Now(),
	})
	st := rr.stopReport()
	states, bySource := map[bridge.PaymentState]int{}, map[string]int{}
	notes := 0
	w.eachAttempt(func(_ *worldOrder, a *worldAttempt) {
		states[a.p.State]++
		for _, h := range a.history {
			bySource[h.Source]++
		}
		notes += len(a.notes)
	})
	ids, deliveries, again, _ := rr.hooks.counts()
	// How late Vipps's webhooks arrived: the fake delivers one registration's
	// webhooks one at a time, in order, as Vipps does.
	var delays []time.Duration
	hooksOK := 0
	for _, d := range rr.vipps.Deliveries() {
		if d.Succeeded() {
			hooksOK++
		}
		if d.Attempt == 1 && !d.Dropped && !d.Duplicate {
			delays = append(delays, d.At.Sub(d.Event.Timestamp))
		}
	}
	slices.Sort(delays)
	quantile := func(q float64) time.Duration {
		if len(delays) == 0 {
			return 0
		}
		return delays[int(q*float64(len(delays)-1))].Round(time.Millisecond)
	}
	report := []string{
		fmt.Sprintf("replicas %d on one PostgreSQL schema; replica 2 stopped at %s after %d of %d shoppers, Close took %s",
			nReplicas, rr.stoppedAt.Round(time.Millisecond), shoppers/2, shoppers, rr.closeTook.Round(time.Millisecond)),
		fmt.Sprintf("in flight on replica 2 when it stopped: %d (%s); answered by it: %d (%s); not yet connected, refused and sent to another replica: %d; sent on a connection it then closed, and sent again: %d %s (these then got %s)",
			len(st.inFlight), mapText(st.inFlightKinds), st.finished, mapText(st.finishedStatus), st.unsent, st.cut, mapText(st.cutKinds), mapText(st.cutRetried)),
		fmt.Sprintf("arrived while it was stopping (before the health check noticed): %d; refused and sent again by the balancer: %d (then %s); answered by it: %d",
			st.late, st.lateRefused, mapText(st.lateRetried), st.late-st.lateRefused),
		fmt.Sprintf("requests through the balancer %d; shopper or merchant retries after an error answer %d",
			rr.requests.Load(), rr.clientRetries.Load()),
		fmt.Sprintf("shoppers %d: %s; payments %d (at Vipps %d): %s; state changes by source %s",
			shoppers, mapText(outcomes), len(w.vipps), len(w.vippsRefs), mapText(states), mapText(bySource)),
		fmt.Sprintf("captures asked %d (distinct keys), succeeded %d, other %d; same key again %d (identical answer %d); concurrent double-clicks %d",
			rr.capReq.Load(), rr.capOK.Load(), rr.capOther.Load(), rr.repeats.Load(), rr.repeatsOK.Load(), rr.doubles.Load()),
		fmt.Sprintf("at Vipps: capture calls %d, slow answers injected %d", rr.vipps.Calls(vippstest.OpCapture), rr.vipps.FaultCounts().TimeoutsAfterCommit),
		fmt.Sprintf("Vipps webhooks: %d events delivered, %d deliveries accepted; from event to first delivery (test clock, 5x real time) median %s, 90th percentile %s, max %s",
			len(delays), hooksOK, quantile(0.5), quantile(0.9), quantile(1)),
		fmt.Sprintf("notifications %d; at the merchant %d ids in %d deliveries (%d came again)", notes, ids, deliveries, again),
		fmt.Sprintf("elapsed %s (driving done at %s; the clock moved to +%s, %d settle steps); quiet=%v %s",
			time.Since(began).Round(time.Millisecond), driveDone.Round(time.Millisecond),
			clk.Now().Sub(clockStart).Round(time.Second), steps, quiet, why),
	}
	for _, line := range report {
		t.Log(line)
		fmt.Printf("    replicas: %s\n", line)
	}

	require.True(t, quiet, "the system never became quiet: %s", why)
	for i, p := range append(rr.problems, rr.hooks.troubles()...) {
		if i == 50 {
			t.Errorf("... and %d more problems", len(rr.problems)-50)
			break
		}
		t.Error(p)
	}
	requireInvariants(t, w)
	assert.Greater(t, rr.capOK.Load(), int64(0))
	assert.NotEmpty(t, st.inFlight, "replica 2 was stopped with requests in flight")
	for _, q := range st.inFlight {
		assert.True(t, q.status > 0 && q.status < 500, "request in flight at the stop, %s %s on replica %d, ended with %d after %d tries (%s)",
			q.method, q.path, q.replica, q.status, q.tries, q.err)
	}
}

// proxyErrKey carries, in a proxied request's context, where the
// balancer's proxy puts a transport error.
type proxyErrKey struct{}

type replica struct {
	n       int
	m       *Main
	proxy   *httputil.ReverseProxy
	alive   atomic.Bool // the balancer sends it requests
	stopped atomic.Bool // Close was called
}

// lbRequest is one request through the balancer.
type lbRequest struct {
	method, path string
	kind         string
	replica      int // where it went first
	at           int // where it is now
	// tries is how many replicas it was sent to; status is the final
	// answer (0: none); err is the last transport error.
	tries  int
	status int
	err    string
	// firstStatus and firstErr are what the first replica did; firstSent
	// says the request was written to it (else the connection failed
	// first).
	firstStatus int
	firstErr    string
	firstSent   bool
	retried     []int // the statuses from the replicas it was sent to again
}

type rpShopper struct {
	i       int
	orderID string
	ref     string
	outcome string
	problem string
}

type replicaRun struct {
	t        *testing.T
	clk      *vippstest.Clock
	vipps    *vippstest.Server
	kustom   *klarnatest.Server
	hooks    *merchantReceiver
	replicas []*replica

	// mu guards picking a replica and the in-flight set, so that a stop
	// sees exactly the requests in flight on its replica.
	mu       sync.Mutex
	inflight map[*lbRequest]bool
	victim   *replica
	// atStop are the victim's requests in flight when it stopped; late are
	// the ones the balancer still sent it while it was stopping.
	atStop, late []*lbRequest
	asked        map[string]int64

	stopErr              error
	stoppedAt, closeTook time.Duration
	began                time.Time

	requests, clientRetries     atomic.Int64
	capReq, capOK, capOther     atomic.Int64
	repeats, repeatsOK, doubles atomic.Int64
	problemsMu                  sync.Mutex
	problems                    []string
}

func (rr *replicaRun) problem(format string, args ...any) {
	rr.problemsMu.Lock()
	rr.problems = append(rr.problems, fmt.Sprintf(format, args...))
	rr.problemsMu.Unlock()
}

// store is the shared database, through replica 0, which is never stopped.
func (rr *replicaRun) store() bridge.Store { return rr.replicas[0].m.Store }

// healthCheckLag is how long the balancer keeps sending requests to a
// replica that has begun to stop.
const healthCheckLag = 100 * time.Millisecond

// stop stops a replica the way a deploy does, at a moment when it has
// requests in flight (three, or after five seconds of waiting, any): it records them, begins Close (no new connections;
// the requests in flight may finish, within the drain timeout), and only a
// health check later does the balancer stop sending it requests.
func (rr *replicaRun) stop(rp *replica) {
	for until := time.Now().Add(10 * time.Second); time.Now().Before(until); time.Sleep(200 * time.Microsecond) {
		rr.mu.Lock()
		n := 0
		for q := range rr.inflight {
			if q.at == rp.n {
				n++
			}
		}
		if n >= 3 || (n > 0 && time.Now().After(until.Add(-5*time.Second))) {
			for q := range rr.inflight {
				if q.at == rp.n {
					rr.atStop = append(rr.atStop, q)
				}
			}
			rr.victim = rp
			rp.stopped.Store(true)
			rr.mu.Unlock()
			break
		}
		rr.mu.Unlock()
	}
	if !rp.stopped.Load() {
		rr.stopErr = errors.New("replica 2 never had a request in flight")
		return
	}
	rr.stoppedAt = time.Since(rr.began)
	lag := time.AfterFunc(healthCheckLag, func() { rp.alive.Store(false) })
	t0 := time.Now()
	rr.stopErr = rp.m.Close()
	rr.closeTook = time.Since(t0)
	lag.Stop()
	rp.alive.Store(false)
}

// pick chooses a live replica other than those in avoid.
func (rr *replicaRun) pick(avoid map[int]bool) *replica {
	var live []*replica
	for _, rp := range rr.replicas {
		if rp.alive.Load() && !avoid[rp.n] {
			live = append(live, rp)
		}
	}
	if len(live) == 0 {
		return nil
	}
	return live[rand.IntN(len(live))]
}

// ServeHTTP is the load balancer: a random live replica; when the
// connection fails (refused, or closed by a stopping replica) the request
// goes to another one, as a balancer with retries does.
func (rr *replicaRun) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	rr.requests.Add(1)
	body, err := io.ReadAll(req.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	q := &lbRequest{method: req.Method, path: req.URL.Path, kind: requestKind(req.URL.Path)}
	tried := map[int]bool{}
	for {
		rr.mu.Lock()
		rp := rr.pick(tried)
		if rp == nil {
			rr.mu.Unlock()
			q.status = http.StatusBadGateway
			http.Error(w, "no replica left", http.StatusBadGateway)
			return
		}
		q.tries++
		q.at = rp.n
		if q.tries == 1 {
			q.replica = rp.n
			rr.inflight[q] = true
			if rp.stopped.Load() && rp == rr.victim {
				rr.late = append(rr.late, q)
			}
		}
		rr.mu.Unlock()
		tried[rp.n] = true

		var perr error
		var sent atomic.Bool
		octx := httptrace.WithClientTrace(context.WithValue(req.Context(), proxyErrKey{}, &perr),
			&httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { sent.Store(true) }})
		out := req.Clone(octx)
		out.Body = io.NopCloser(strings.NewReader(string(body)))
		rec := &statusRecorder{ResponseWriter: w}
		rp.proxy.ServeHTTP(rec, out)

		rr.mu.Lock()
		if perr != nil {
			q.err = perr.Error()
		}
		if q.tries == 1 {
			q.firstStatus, q.firstErr, q.firstSent = rec.status, q.err, sent.Load()
		} else {
			q.retried = append(q.retried, rec.status)
		}
		q.at = -1
		if perr == nil || rec.status != 0 || req.Context().Err() != nil {
			q.status = rec.status
			delete(rr.inflight, q)
			rr.mu.Unlock()
			return
		}
		rr.mu.Unlock()
	}
}

// requestKind names who sent a request, by its path.
func requestKind(path string) string {
	switch {
	case strings.HasPrefix(path, "/webhooks/"):
		return "vipps webhook"
	case strings.HasPrefix(path, "/api/"):
		return "merchant"
	default:
		return "shopper"
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// stopReport is what became of the stopped replica's requests.
type stopReport struct {
	inFlight                   []*lbRequest
	inFlightKinds              map[string]int
	finished, cut, unsent      int
	finishedStatus, cutRetried map[int]int
	cutKinds                   map[string]int
	late, lateRefused          int
	lateRetried                map[int]int
}

func (rr *replicaRun) stopReport() stopReport {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	r := stopReport{inFlight: rr.atStop, inFlightKinds: map[string]int{}, finishedStatus: map[int]int{}, cutRetried: map[int]int{}, cutKinds: map[string]int{}, lateRetried: map[int]int{}}
	for _, q := range rr.atStop {
		r.inFlightKinds[q.kind]++
		switch {
		case q.firstErr == "":
			r.finished++
			r.finishedStatus[q.firstStatus]++
		case q.firstSent:
			r.cut++
			r.cutKinds[q.kind]++
			r.cutRetried[q.status]++
		default:
			r.unsent++
			r.cutRetried[q.status]++
		}
	}
	for _, q := range rr.late {
		r.late++
		if q.firstErr != "" {
			r.lateRefused++
			r.lateRetried[q.status]++
		}
	}
	return r
}

var rpClient = &http.Client{
	Timeout:       20 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// do sends a request through the balancer; like a browser's reload or a
// merchant's job, it tries again on a network error or a 502/503.
func (rr *replicaRun) do(method, rawURL string, h http.Header, body string) (int, http.Header, []byte, error) {
	var err error
	for try := range 5 {
		var status int
		var header http.Header
		var b []byte
		status, header, b, err = ftDo(rpClient, method, rawURL, h.Clone(), body)
		if err == nil && status != http.StatusBadGateway && status != http.StatusServiceUnavailable {
			return status, header, b, nil
		}
		rr.clientRetries.Add(1)
		time.Sleep(time.Duration(20*(try+1)) * time.Millisecond)
	}
	return 0, nil, nil, err
}

// shop is one person and, if they pay, the merchant shipping their order.
func (rr *replicaRun) shop(s *rpShopper) {
	ctx := context.Background()
	o, err := rr.kustom.CreateOrder(cart(int64(1+s.i%3), fmt.Sprintf("FAULT-%04d", s.i)))
	if err != nil {
		s.problem = "creating the KCO order: " + err.Error()
		return
	}
	s.orderID = o.OrderID
	entry, err := rr.replicas[0].m.Service.EPMEntry("webshop", o.OrderID, "nb-NO")
	if err != nil {
		s.problem = "EPM entry: " + err.Error()
		return
	}
	landing := ""
	for try := range 6 {
		status, h, _, err := rr.do("GET", entry.RedirectURL, http.Header{"Accept": {"text/html"}}, "")
		if err == nil && status == http.StatusSeeOther {
			landing = h.Get("Location")
			break
		}
		time.Sleep(time.Duration(20*(try+1)) * time.Millisecond)
	}
	ps, err := rr.store().PaymentsByOrder(ctx, o.OrderID)
	if err != nil {
		s.problem = "payments of the order: " + err.Error()
		return
	}
	if landing == "" {
		s.outcome = "gave-up"
		return
	}
	if len(ps) != 1 {
		s.problem = fmt.Sprintf("one redirect made %d attempts", len(ps))
		return
	}
	s.ref = ps[0].Reference
	token := ps[0].ReturnToken
	if s.i%5 == 4 {
		s.outcome = "rejected"
		err = rr.vipps.Reject(s.ref)
	} else {
		s.outcome = "approved"
		err = rr.vipps.Approve(s.ref)
	}
	if err != nil {
		s.problem = "at Vipps: " + err.Error()
		return
	}
	base := rr.replicas[0].m.PublicURL()
	if s.i%2 == 0 {
		// Back on the return page, on whichever replica.
		_, _, _, _ = rr.do("GET", base+"/return/"+token, http.Header{"Accept": {"text/html"}}, "")
		_, _, _, _ = rr.do("GET", base+"/status/"+token, http.Header{"Accept": {"application/json"}}, "")
	}
	if s.outcome != "approved" {
		return
	}
	// The merchant ships once we say the payment is authorized.
	var p *bridge.Payment
	for until := time.Now().Add(30 * time.Second); time.Now().Before(until); time.Sleep(20 * time.Millisecond) {
		if got, err := rr.store().Payment(ctx, s.ref); err == nil && got.State == bridge.StateAuthorized {
			p = got
			break
		}
	}
	if p == nil {
		s.problem = "approved at Vipps but never AUTHORIZED here"
		return
	}
	if s.i%2 == 0 {
		rr.capture(s, "full", p.Authorized)
	} else if rr.capture(s, "a", 10000) == http.StatusOK {
		rr.capture(s, "b", p.Authorized-10000)
	}
}

// capture sends one merchant capture; some merchants double-click, some
// run the same job again later.
func (rr *replicaRun) capture(s *rpShopper, name string, amount int64) int {
	ref := s.ref
	key := ref + "-" + name
	rr.mu.Lock()
	rr.asked[ref] += amount
	rr.mu.Unlock()
	rr.capReq.Add(1)
	body := fmt.Sprintf(`{"amount":{"value":%d,"currency":"NOK"}}`, amount)
	var status int
	var answer []byte
	if s.i%11 == 0 {
		rr.doubles.Add(1)
		var wg sync.WaitGroup
		var st2 int
		var b2 []byte
		wg.Go(func() { st2, b2 = rr.operation(ref, key, body) })
		status, answer = rr.operation(ref, key, body)
		wg.Wait()
		if st2 != status || string(b2) != string(answer) {
			rr.problem("%s: a double-click got %d %s and %d %s", key, status, answer, st2, b2)
		}
	} else {
		status, answer = rr.operation(ref, key, body)
	}
	if status == http.StatusOK {
		rr.capOK.Add(1)
	} else {
		rr.capOther.Add(1)
		rr.problem("%s: capture of %d answered %d %s", key, amount, status, answer)
	}
	if status == http.StatusOK && s.i%7 < 2 {
		rr.repeats.Add(1)
		again, againBody := rr.operation(ref, key, body)
		if again == status && string(againBody) == string(answer) {
			rr.repeatsOK.Add(1)
		} else {
			rr.problem("%s: the same capture again got %d %s, the first %d %s", key, again, againBody, status, answer)
		}
	}
	return status
}

// operation posts a capture, retrying with the same key while it is in
// progress or the service is unavailable.
func (rr *replicaRun) operation(ref, key, body string) (int, []byte) {
	h := http.Header{
		"Authorization":   {"Bearer " + rr.replicas[0].m.Config.APITokens.Merchant},
		"Content-Type":    {"application/json"},
		"Idempotency-Key": {key},
	}
	giveUp := time.Now().Add(40 * time.Second)
	for {
		status, _, answer, err := rr.do("POST", rr.replicas[0].m.PublicURL()+"/api/v1/payments/"+ref+"/capture", h, body)
		retry := err != nil || (status >= 500 && !strings.Contains(string(answer), `"outcome_unknown"`)) ||
			(status == http.StatusConflict && (strings.Contains(string(answer), `"operation_in_progress"`) || strings.Contains(string(answer), `"busy"`)))
		if !retry || time.Now().After(giveUp) {
			return status, answer
		}
		rr.clientRetries.Add(1)
		time.Sleep(50 * time.Millisecond)
	}
}

// quiet reports whether everything has settled: every attempt final, no
// operation pending, every notification delivered, and the fake has no
// webhook left to send.
func (rr *replicaRun) quiet(list []*rpShopper) (bool, string) {
	ctx := context.Background()
	st := rr.store()
	if ns, err := st.Notifications(ctx, "", bridge.NotificationPending, 1); err != nil || len(ns) > 0 {
		return false, "notifications pending"
	}
	for _, s := range list {
		if s.orderID == "" {
			continue
		}
		if done, why := orderSettled(ctx, st, s.orderID); !done {
			return false, why
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := rr.vipps.WaitWebhooks(wctx); err != nil {
		return false, "webhooks still queued at Vipps"
	}
	return true, ""
}

// runClock moves clk forward by step every real interval until stopped.
func runClock(clk *vippstest.Clock, step, every time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				clk.Advance(step)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
