package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/config"
	"vippskco/bridge/notifysig"
	"vippskco/klarna/klarnatest"
	"vippskco/vipps/vippstest"
)

// TestReplicas runs three Mains on one PostgreSQL schema behind a load
// balancer, as production does: one public URL for all of them, so the
// unit's Vipps webhook is registered once (the first replica registers it,
// the others find it with the secret in the shared database) and every
// webhook reaches whichever replica the balancer picks. The fake Vipps and
// Kustom run outside every Main and are shared through the HTTP client's
// transport (crashRoute). Shoppers and merchants talk to replicas chosen at
// random; halfway through, replica 2 is closed while work is in flight.
// Afterwards the clock runs past every lease and the test checks that
// nothing was captured twice, no notification id was reused, and nothing
// was left unfinished.
func TestReplicas(t *testing.T) {
	dsn := postgresDSN(t)
	began := time.Now()
	shoppers := 300
	if raceEnabled {
		shoppers = 150
	}
	const workers = 16
	const nReplicas = 3
	ctx := context.Background()
	clk := vippstest.NewClock(time.Now().UTC())
	clockStart := clk.Now()

	rr := &replicaRun{t: t, clk: clk, requested: map[string]map[string]int64{}, received: map[string]*replicaHook{}}

	// The merchant's notification receiver, shared by all replicas.
	var secret string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if err := notifysig.Verify(secret, r.Header, body, clk.Now(), 0); err != nil {
			rr.problem("receiver: notification %s refused: %v", r.Header.Get(notifysig.HeaderID), err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		rr.receive(r.Header.Get(notifysig.HeaderID), body)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)

	// The load balancer: the replicas' shared public URL.
	lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rp := rr.pick()
		rp.proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(lb.Close)

	raw, err := os.ReadFile("config.yaml")
	require.NoError(t, err)
	text := string(raw)
	text = strings.Replace(text, `public_url: "http://localhost:8080"`, `public_url: "`+lb.URL+`"`, 1)
	text = strings.Replace(text, "shopper_rate_limit: { per_second: 5, burst: 60 }", "shopper_rate_limit: { per_second: 0, burst: 0 }", 1)
	text = strings.Replace(text, `url: "{public_url}/shop/hooks/vipps"`, `url: "`+receiver.URL+`/hooks"`, 1)
	text = strings.Replace(text, "driver: sqlite", "driver: postgres", 1)
	i := strings.Index(text, `dsn: "file:`)
	j := strings.Index(text[i:], "\n")
	text = text[:i] + `dsn: "` + dsn + `"` + text[i+j:]
	base, err := config.Parse([]byte(text), func(string) string { return "" })
	require.NoError(t, err)
	secret = base.MerchantWebhook.Secret
	require.NotEmpty(t, secret)

	rr.vipps = vippstest.NewServer(vippstest.Options{Now: clk.Now, AllowInsecureLocalReturnURL: true})
	for _, u := range base.Units {
		rr.vipps.AddSalesUnit(vippstest.SalesUnit{
			MSN: u.MSN, ClientID: u.Vipps.ClientID, ClientSecret: u.Vipps.ClientSecret,
			SubscriptionKey: u.Vipps.SubscriptionKey, Currency: u.Currency, Name: u.Name,
		})
	}
	rr.kustom = klarnatest.NewServer(klarnatest.Options{
		Now: clk.Now, Credentials: []klarnatest.Credential{{Username: base.Kustom.Username, APIKey: base.Kustom.APIKey}},
	})
	t.Cleanup(func() { rr.vipps.Close(); rr.kustom.Close() })
	vu, err := url.Parse(rr.vipps.URL())
	require.NoError(t, err)
	ku, err := url.Parse(rr.kustom.URL())
	require.NoError(t, err)

	// The replicas, started one after the other so that the first registers
	// the webhook and the others keep it.
	for n := range nReplicas {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		require.NoError(t, l.Close())
		cfg, err := config.Parse([]byte(strings.Replace(text, `addr: ":8080"`, `addr: "`+addr+`"`, 1)), func(string) string { return "" })
		require.NoError(t, err)
		m := NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		m.Now = clk.Now
		m.PollEvery = 50 * time.Millisecond
		m.Providers.HTTPClient = &http.Client{Timeout: 5 * time.Second, Transport: &crashRoute{
			routes: map[string]*url.URL{"/sandbox/vipps": vu, "/sandbox/kustom": ku}, next: http.DefaultTransport,
		}}
		require.NoError(t, m.Run(ctx))
		require.Equal(t, lb.URL, m.PublicURL())
		target, err := url.Parse("http://" + m.Addr())
		require.NoError(t, err)
		rp := &replica{n: n, m: m, base: target.String(), proxy: httputil.NewSingleHostReverseProxy(target)}
		rp.alive.Store(true)
		rr.replicas = append(rr.replicas, rp)
	}
	t.Cleanup(func() {
		for _, rp := range rr.replicas {
			if rp.alive.Swap(false) {
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

	// 1. Shoppers and their merchant, concurrently; replica 2 stops halfway.
	stopClock := ftRunClock(clk, 100*time.Millisecond, 20*time.Millisecond)
	var done atomic.Int64
	var closeOnce sync.Once
	var closeErr error
	var closedAt, closeTook time.Duration
	var closing sync.WaitGroup
	list := make([]*rpShopper, shoppers)
	ftPool(shoppers, workers, func(i int) {
		s := &rpShopper{i: i}
		list[i] = s
		rr.shop(s)
		if done.Add(1) == int64(shoppers/2) {
			closeOnce.Do(func() {
				closing.Go(func() {
					victim := rr.replicas[2]
					victim.alive.Store(false)
					t0 := time.Now()
					closedAt = time.Since(began)
					closeErr = victim.m.Close()
					closeTook = time.Since(t0)
				})
			})
		}
	})
	closing.Wait()
	stopClock()
	driveDone := time.Since(began)
	require.NoError(t, closeErr, "closing replica 2")

	// 2. Time passes, past every lease, until everything is quiet.
	steps := 0
	quiet, why := false, ""
	for deadline := time.Now().Add(45 * time.Second); time.Now().Before(deadline); {
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
		if rp.alive.Load() {
			rp.m.Service.Wait()
		}
	}
	if !quiet {
		quiet, why = rr.quiet(list)
	}

	// 3. Count, print, judge.
	c := rr.collect(list)
	outcomes := map[string]int{}
	for _, s := range list {
		outcomes[s.outcome]++
		if s.problem != "" {
			c.problems = append(c.problems, fmt.Sprintf("shopper %d (%s): %s", s.i, s.ref, s.problem))
		}
	}
	report := []string{
		fmt.Sprintf("replicas %d on one PostgreSQL schema, replica 2 closed at %s (Close took %s) after %d of %d shoppers",
			nReplicas, closedAt.Round(time.Millisecond), closeTook.Round(time.Millisecond), shoppers/2, shoppers),
		fmt.Sprintf("shoppers %d: approved %d, rejected %d, gave up %d; requests refused by the stopped replica and retried elsewhere %d",
			shoppers, outcomes["approved"], outcomes["rejected"], outcomes["gave-up"], rr.failover.Load()),
		fmt.Sprintf("payments here %d (at the fake %d): %v; state changes by source %v",
			c.payments, c.fakePayments, c.states, c.bySource),
		fmt.Sprintf("captures requested %d (distinct keys), succeeded %d, other %d; same key again on another replica %d (identical answer %d); concurrent double-clicks on two replicas %d",
			rr.capReq.Load(), rr.capOK.Load(), rr.capOther.Load(), rr.repeats.Load(), rr.repeatsOK.Load(), rr.doubles.Load()),
		fmt.Sprintf("at the fake: capture calls %d, CAPTURED events %d, %d øre; succeeded capture operations here %d, %d øre",
			rr.vipps.Calls(vippstest.OpCapture), c.fakeCaptureEvents, c.fakeCaptured, c.captureOps, c.captureOpAmount),
		fmt.Sprintf("Vipps webhook deliveries %d (2xx %d)", c.deliveries, c.deliveriesOK),
		fmt.Sprintf("notification rows %d (ids unique: %v) %v; received at the merchant: %d distinct ids in %d deliveries, redelivered (at-least-once) %d ids, unknown ids %d",
			c.notifications, c.idsUnique, c.byType, c.receivedIDs, c.receivedTotal, c.redelivered, c.unknownIDs),
		fmt.Sprintf("elapsed %s (driving done at %s; the clock moved to +%s, %d settle steps); quiet=%v %s",
			time.Since(began).Round(time.Millisecond), driveDone.Round(time.Millisecond),
			clk.Now().Sub(clockStart).Round(time.Second), steps, quiet, why),
	}
	for _, line := range report {
		t.Log(line)
		fmt.Printf("    replicas: %s\n", line)
	}

	require.True(t, quiet, "the system never became quiet: %s", why)
	for i, p := range c.problems {
		if i == 50 {
			t.Errorf("... and %d more problems", len(c.problems)-50)
			break
		}
		t.Error(p)
	}
	require.Greater(t, rr.capOK.Load(), int64(0))
	require.Equal(t, c.notifications, c.receivedIDs, "every notification row reached the merchant")
}

type replica struct {
	n     int
	m     *Main
	base  string
	proxy *httputil.ReverseProxy
	alive atomic.Bool
}

type replicaHook struct {
	count     int
	typ, ref  string
	firstBody string
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
	replicas []*replica

	mu        sync.Mutex
	requested map[string]map[string]int64 // reference -> merchant key -> amount
	received  map[string]*replicaHook     // Webhook-Id -> what arrived

	capReq, capOK, capOther      atomic.Int64
	repeats, repeatsOK, doubles  atomic.Int64
	failover                     atomic.Int64
	problemsMu                   sync.Mutex
	problems                     []string
	receivedTotal, receiveErrors atomic.Int64
}

func (rr *replicaRun) problem(format string, args ...any) {
	rr.problemsMu.Lock()
	rr.problems = append(rr.problems, fmt.Sprintf(format, args...))
	rr.problemsMu.Unlock()
}

// store is the shared database, through replica 0, which is never stopped.
func (rr *replicaRun) store() bridge.Store { return rr.replicas[0].m.Store }

// pick is a random live replica.
func (rr *replicaRun) pick() *replica {
	for {
		rp := rr.replicas[rand.IntN(len(rr.replicas))]
		if rp.alive.Load() {
			return rp
		}
	}
}

// other is a random live replica other than rp, when there is one.
func (rr *replicaRun) other(rp *replica) *replica {
	for range 20 {
		if o := rr.pick(); o != rp {
			return o
		}
	}
	return rr.pick()
}

func (rr *replicaRun) receive(id string, body []byte) {
	rr.receivedTotal.Add(1)
	var p bridge.NotificationPayload
	if err := json.Unmarshal(body, &p); err != nil || p.ID != id {
		rr.problem("receiver: notification %s has body id %q (%v)", id, p.ID, err)
		return
	}
	rr.mu.Lock()
	defer rr.mu.Unlock()
	h := rr.received[id]
	if h == nil {
		rr.received[id] = &replicaHook{count: 1, typ: p.Type, ref: p.Payment.Reference, firstBody: string(body)}
		return
	}
	h.count++
	if h.typ != p.Type || h.ref != p.Payment.Reference {
		rr.problem("receiver: id %s delivered as two different notifications: %s %s and %s %s", id, h.typ, h.ref, p.Type, p.Payment.Reference)
	}
}

var rpClient = &http.Client{
	Timeout:       20 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// do sends a request to rp (or, when rp has stopped, to another replica).
func (rr *replicaRun) do(rp *replica, method, path string, h http.Header, body string) (int, http.Header, []byte, error) {
	var err error
	for range 5 {
		if !rp.alive.Load() {
			rr.failover.Add(1)
			rp = rr.pick()
		}
		var status int
		var header http.Header
		var b []byte
		status, header, b, err = ftDo(rpClient, method, rp.base+path, h.Clone(), body)
		if err == nil {
			return status, header, b, nil
		}
		rr.failover.Add(1)
		rp = rr.other(rp)
	}
	return 0, nil, nil, err
}

// shop is one person and, if they pay, the merchant shipping their order.
func (rr *replicaRun) shop(s *rpShopper) {
	ctx := context.Background()
	o, err := rr.kustom.CreateOrder(ftOrder(s.i))
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
	path := strings.TrimPrefix(entry.RedirectURL, rr.replicas[0].m.PublicURL())
	landing := ""
	for try := range 6 {
		status, h, _, err := rr.do(rr.pick(), "GET", path, http.Header{"Accept": {"text/html"}}, "")
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
	if s.i%2 == 0 {
		// Back on the return page, on whichever replica.
		_, _, _, _ = rr.do(rr.pick(), "GET", "/return/"+token, http.Header{"Accept": {"text/html"}}, "")
		_, _, _, _ = rr.do(rr.pick(), "GET", "/status/"+token, http.Header{"Accept": {"application/json"}}, "")
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

// capture sends one merchant capture to a random replica; some merchants
// double-click onto two replicas, some run the same job again later on
// another replica.
func (rr *replicaRun) capture(s *rpShopper, name string, amount int64) int {
	ref := s.ref
	key := ref + "-" + name
	rr.mu.Lock()
	if rr.requested[ref] == nil {
		rr.requested[ref] = map[string]int64{}
	}
	rr.requested[ref][key] = amount
	rr.mu.Unlock()
	rr.capReq.Add(1)
	body := fmt.Sprintf(`{"amount":{"value":%d,"currency":"NOK"}}`, amount)
	first := rr.pick()
	var status int
	var answer []byte
	if s.i%11 == 0 {
		rr.doubles.Add(1)
		var wg sync.WaitGroup
		var st2 int
		var b2 []byte
		wg.Go(func() { st2, b2 = rr.operation(rr.other(first), ref, key, body) })
		status, answer = rr.operation(first, ref, key, body)
		wg.Wait()
		if st2 != status || string(b2) != string(answer) {
			rr.problem("%s: a double-click on two replicas got %d %s and %d %s", key, status, answer, st2, b2)
		}
	} else {
		status, answer = rr.operation(first, ref, key, body)
	}
	if status == http.StatusOK {
		rr.capOK.Add(1)
	} else {
		rr.capOther.Add(1)
		rr.problem("%s: capture of %d answered %d %s", key, amount, status, answer)
	}
	if status == http.StatusOK && s.i%7 < 2 {
		rr.repeats.Add(1)
		again, againBody := rr.operation(rr.other(first), ref, key, body)
		if again == status && string(againBody) == string(answer) {
			rr.repeatsOK.Add(1)
		} else {
			rr.problem("%s: the same capture again on another replica got %d %s, the first %d %s", key, again, againBody, status, answer)
		}
	}
	return status
}

// operation posts a capture, retrying with the same key (on any replica)
// while it is in progress or the service is unavailable.
func (rr *replicaRun) operation(rp *replica, ref, key, body string) (int, []byte) {
	h := http.Header{
		"Authorization":   {"Bearer " + rp.m.Config.APITokens.Merchant},
		"Content-Type":    {"application/json"},
		"Idempotency-Key": {key},
	}
	giveUp := time.Now().Add(40 * time.Second)
	for {
		status, _, answer, err := rr.do(rp, "POST", "/api/v1/payments/"+ref+"/capture", h, body)
		retry := err != nil || (status >= 500 && !strings.Contains(string(answer), `"outcome_unknown"`)) ||
			(status == http.StatusConflict && (strings.Contains(string(answer), `"operation_in_progress"`) || strings.Contains(string(answer), `"busy"`)))
		if !retry || time.Now().After(giveUp) {
			return status, answer
		}
		time.Sleep(50 * time.Millisecond)
		rp = rr.pick()
	}
}

// quiet reports whether everything has settled: we agree with Vipps on
// every payment, nothing is pending, every notification is delivered and
// the fake has no webhook left to send.
func (rr *replicaRun) quiet(list []*rpShopper) (bool, string) {
	ctx := context.Background()
	st := rr.store()
	for _, ref := range rr.vipps.References() {
		snap, _ := rr.vipps.Payment(ref)
		p, err := st.Payment(ctx, ref)
		if err != nil {
			return false, ref + ": " + err.Error()
		}
		if string(snap.State) != string(p.State) {
			return false, fmt.Sprintf("%s is %s at Vipps, %s here", ref, snap.State, p.State)
		}
		if agg := [4]int64{snap.Authorized, snap.Captured, snap.Cancelled, snap.Refunded}; agg != [4]int64{p.Authorized, p.Captured, p.Cancelled, p.Refunded} {
			return false, fmt.Sprintf("%s aggregates at Vipps %v, here %v", ref, agg, [4]int64{p.Authorized, p.Captured, p.Cancelled, p.Refunded})
		}
		ops, err := st.Operations(ctx, ref)
		if err != nil {
			return false, err.Error()
		}
		for _, op := range ops {
			if op.State == bridge.OperationPending {
				return false, fmt.Sprintf("%s operation %s %s is pending", ref, op.Kind, op.IdempotencyKey)
			}
		}
		ns, err := st.Notifications(ctx, ref, "", 1000)
		if err != nil {
			return false, err.Error()
		}
		for _, n := range ns {
			if n.State() != bridge.NotificationDelivered {
				return false, fmt.Sprintf("%s notification %s (%s) is %s", ref, n.ID, n.Type, n.State())
			}
		}
	}
	for _, s := range list {
		if s.orderID == "" {
			continue
		}
		ps, err := st.PaymentsByOrder(ctx, s.orderID)
		if err != nil {
			return false, err.Error()
		}
		for _, p := range ps {
			if p.State == bridge.StateCreated || p.State == bridge.StatePending {
				return false, fmt.Sprintf("%s is still %s here", p.Reference, p.State)
			}
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := rr.vipps.WaitWebhooks(wctx); err != nil {
		return false, "webhooks still queued at Vipps"
	}
	return true, ""
}

type rpCounts struct {
	payments, fakePayments        int
	states                        map[bridge.PaymentState]int
	bySource, byType              map[string]int
	notifications                 int
	idsUnique                     bool
	receivedIDs, redelivered      int
	unknownIDs                    int
	receivedTotal                 int64
	fakeCaptureEvents, captureOps int
	fakeCaptured, captureOpAmount int64
	deliveries, deliveriesOK      int
	problems                      []string
}

// collect compares every payment with the fake and checks the invariants.
func (rr *replicaRun) collect(list []*rpShopper) *rpCounts {
	ctx := context.Background()
	st := rr.store()
	c := &rpCounts{states: map[bridge.PaymentState]int{}, bySource: map[string]int{}, byType: map[string]int{}, idsUnique: true}
	rr.problemsMu.Lock()
	c.problems = append(c.problems, rr.problems...)
	rr.problemsMu.Unlock()
	bad := func(format string, args ...any) { c.problems = append(c.problems, fmt.Sprintf(format, args...)) }
	for _, d := range rr.vipps.Deliveries() {
		if d.Dropped {
			continue
		}
		c.deliveries++
		if d.Succeeded() {
			c.deliveriesOK++
		}
	}
	atFake := map[string]bool{}
	for _, ref := range rr.vipps.References() {
		atFake[ref] = true
	}
	c.fakePayments = len(atFake)

	var refs []string
	for _, s := range list {
		if s.orderID == "" {
			continue
		}
		ps, err := st.PaymentsByOrder(ctx, s.orderID)
		if err != nil {
			bad("payments of %s: %v", s.orderID, err)
			continue
		}
		for _, p := range ps {
			refs = append(refs, p.Reference)
		}
	}
	sort.Strings(refs)
	rows := map[string]*bridge.Notification{}
	for _, ref := range refs {
		c.payments++
		delete(atFake, ref)
		p, err := st.Payment(ctx, ref)
		if err != nil {
			bad("%s: %v", ref, err)
			continue
		}
		c.states[p.State]++
		snap, ok := rr.vipps.Payment(ref)
		if !ok {
			bad("%s: unknown at Vipps but %s here", ref, p.State)
			continue
		}
		if string(snap.State) != string(p.State) {
			bad("%s: %s at Vipps, %s here", ref, snap.State, p.State)
		}
		if p.State == bridge.StateCreated || p.State == bridge.StatePending {
			bad("%s: left %s here (%s at Vipps)", ref, p.State, snap.State)
		}
		if got, want := [4]int64{p.Authorized, p.Captured, p.Cancelled, p.Refunded}, [4]int64{snap.Authorized, snap.Captured, snap.Cancelled, snap.Refunded}; got != want {
			bad("%s: aggregates (authorized, captured, cancelled, refunded) here %v, at Vipps %v", ref, got, want)
		}

		ops, err := st.Operations(ctx, ref)
		if err != nil {
			bad("%s operations: %v", ref, err)
		}
		opByVippsKey := map[string]*bridge.Operation{}
		var opCaptured int64
		for _, op := range ops {
			opByVippsKey[op.VippsIdempotencyKey] = op
			if op.State == bridge.OperationPending {
				bad("%s: operation %s (%s) still pending", ref, op.IdempotencyKey, op.Kind)
			}
			if op.Kind == bridge.OpCapture && op.State == bridge.OperationSucceeded {
				c.captureOps++
				opCaptured += op.Amount.Value
			}
		}
		c.captureOpAmount += opCaptured
		c.fakeCaptured += snap.Captured
		if snap.Captured != opCaptured {
			bad("%s: Vipps captured %d, succeeded capture operations here add up to %d", ref, snap.Captured, opCaptured)
		}
		rr.mu.Lock()
		var asked int64
		for _, v := range rr.requested[ref] {
			asked += v
		}
		rr.mu.Unlock()
		if snap.Captured > asked {
			bad("%s: Vipps captured %d, the merchant asked for %d in distinct keys", ref, snap.Captured, asked)
		}
		perMerchantKey := map[string]int{}
		for _, ev := range snap.Events {
			if ev.Name != vippstest.EventCaptured || !ev.Success {
				continue
			}
			c.fakeCaptureEvents++
			op := opByVippsKey[ev.IdempotencyKey]
			if op == nil || op.Kind != bridge.OpCapture {
				bad("%s: CAPTURED at Vipps with key %q that none of our capture operations sent", ref, ev.IdempotencyKey)
				continue
			}
			perMerchantKey[op.IdempotencyKey]++
		}
		for k, n := range perMerchantKey {
			if n > 1 {
				bad("%s: %d captures at Vipps for merchant key %s", ref, n, k)
			}
		}

		hist, err := st.History(ctx, ref)
		if err != nil {
			bad("%s history: %v", ref, err)
		}
		for _, h := range hist {
			c.bySource[h.Source]++
		}
		ns, err := st.Notifications(ctx, ref, "", 1000)
		if err != nil {
			bad("%s notifications: %v", ref, err)
			continue
		}
		for _, n := range ns {
			c.notifications++
			c.byType[n.Type]++
			if other, dup := rows[n.ID]; dup {
				c.idsUnique = false
				bad("notification id %s on two rows (%s %s and %s %s)", n.ID, other.Reference, other.Type, ref, n.Type)
			}
			rows[n.ID] = n
			if n.State() != bridge.NotificationDelivered {
				bad("%s: notification %s (%s) is %s", ref, n.ID, n.Type, n.State())
			}
		}
	}
	for ref := range atFake {
		bad("%s exists at Vipps but belongs to no shopper's order here", ref)
	}

	rr.mu.Lock()
	defer rr.mu.Unlock()
	c.receivedTotal = rr.receivedTotal.Load()
	for id, h := range rr.received {
		c.receivedIDs++
		if h.count > 1 {
			c.redelivered++
		}
		row := rows[id]
		if row == nil {
			c.unknownIDs++
			bad("the merchant received notification %s (%s %s) that is no row here", id, h.typ, h.ref)
			continue
		}
		if row.Type != h.typ || row.Reference != h.ref {
			bad("notification %s is %s %s here, arrived as %s %s", id, row.Type, row.Reference, h.typ, h.ref)
		}
	}
	for id, n := range rows {
		if rr.received[id] == nil {
			bad("notification %s (%s %s) never reached the merchant", id, n.Reference, n.Type)
		}
	}
	return c
}
