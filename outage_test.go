package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/notifysig"
	"vippskco/bridge/postgres"
	"vippskco/klarna/klarnatest"
	"vippskco/vipps/vippstest"
)

// TestOutage is the promise that no shopper meets an error page because of
// an outage the service can ride out. Three replicas, each a process of its
// own, share a PostgreSQL server the test runs itself, behind a load
// balancer that sends a request on to another replica when one does not
// answer. Shoppers walk the whole path: the EPM redirect, approving (or
// rejecting) on the Vipps landing page, the return page, and the status
// JSON until the payment is final. Mid-load one replica is killed with
// SIGKILL and, a little later, PostgreSQL is restarted with
// `pg_ctl restart -m immediate`, which kills every backend as a crash
// does.
//
// Every shopper must get through without an error answer, and nothing may
// be lost or done twice: each order has one attempt, each payment has the
// state Vipps has, and each state change produced exactly one notification,
// delivered to the merchant.
func TestOutage(t *testing.T) {
	pg := startTestPostgres(t)
	shoppers, workers := 3000, 24
	if raceEnabled {
		shoppers, workers = 500, 12
	}
	if testing.Short() {
		shoppers = 400
	}
	ctx := context.Background()
	var clock offsetClock
	base := testConfig(t)
	signer := &bridge.RedirectSigner{Secret: []byte(base.RedirectSigning.Secret), TTL: base.RedirectSigning.TTL}

	// The merchant's notification endpoint, shared by every replica.
	hooks := &outageHooks{secret: base.MerchantWebhook.Secret, now: clock.Now, got: map[string]map[string]map[string]int{}}
	hooksTS := httptest.NewServer(hooks)
	t.Cleanup(hooksTS.Close)

	// The fakes of Vipps and Kustom, outside every replica.
	vp := vippstest.NewServer(vippstest.Options{Now: clock.Now, AllowInsecureLocalReturnURL: true})
	for _, u := range base.Units {
		vp.AddSalesUnit(vippstest.SalesUnit{
			MSN: u.MSN, ClientID: u.Vipps.ClientID, ClientSecret: u.Vipps.ClientSecret,
			SubscriptionKey: u.Vipps.SubscriptionKey, Currency: u.Currency, Name: u.Name,
		})
	}
	kc := klarnatest.NewServer(klarnatest.Options{
		Now: clock.Now, Credentials: []klarnatest.Credential{{Username: base.Kustom.Username, APIKey: base.Kustom.APIKey}},
	})
	t.Cleanup(func() { vp.Close(); kc.Close() })

	// The load balancer is the replicas' public URL.
	const nReplicas = 3
	addrs := make([]string, nReplicas)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	}
	lb := newBalancer(addrs)
	lbTS := httptest.NewServer(lb)
	t.Cleanup(lbTS.Close)

	// The replicas, one after the other: the first registers the webhook,
	// the others find it in the database.
	replicas := make([]*replicaProc, nReplicas)
	for i := range replicas {
		replicas[i] = startReplica(t, i, addrs[i], map[string]string{
			envDSN: pg.DSN(), envPublicURL: lbTS.URL, envKustom: kc.URL(), envVipps: vp.URL(),
			envHooks: hooksTS.URL + "/hooks",
		})
	}
	victim := replicas[2]

	// 1. The shoppers; mid-load, a replica dies and PostgreSQL restarts.
	client := &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true},
	}
	run := &outageRun{t: t, lb: lbTS.URL, vipps: vp, kustom: kc, signer: signer, client: client, now: clock.Now}
	list := make([]*outageShopper, shoppers)
	loadStart := time.Now()
	stopStarting := loadStart.Add(30 * time.Second)
	var done atomic.Int64
	var faults sync.WaitGroup
	var killedAt, restartedAt, restartTook time.Duration
	var victimInFlight, victimServed int64
	faults.Go(func() {
		waitFor := func(share float64, latest time.Duration) {
			for float64(done.Load()) < share*float64(shoppers) && time.Since(loadStart) < latest {
				time.Sleep(20 * time.Millisecond)
			}
		}
		waitFor(0.30, 12*time.Second)
		// Killed while it works: the moment it has requests in flight.
		tgt := lb.targets[victim.n]
		for t0 := time.Now(); tgt.inFlight.Load() == 0 && time.Since(t0) < 2*time.Second; {
			time.Sleep(100 * time.Microsecond)
		}
		victimInFlight, victimServed = tgt.inFlight.Load(), tgt.served.Load()
		killedAt = time.Since(loadStart)
		tgt.killedAt.Store(time.Now().UnixNano())
		victim.Kill()
		waitFor(0.55, 20*time.Second)
		restartedAt = time.Since(loadStart)
		restartTook = pg.RestartImmediate()
	})
	pool(shoppers, workers, func(i int) {
		s := &outageShopper{i: i, approve: i%10 != 9}
		list[i] = s
		if time.Now().After(stopStarting) {
			s.skipped = true
			return
		}
		run.shop(s)
		done.Add(1)
	})
	loadTook := time.Since(loadStart)
	faults.Wait()

	// 2. Time moves past the leases the killed replica held (polls and
	// notifications it had claimed), and the others finish its work.
	clock.offset.Store(int64(70 * time.Second))
	for _, r := range replicas {
		if !r.killed.Load() {
			r.SetOffset(t, 70*time.Second)
		}
	}
	var finished []*outageShopper
	for _, s := range list {
		if !s.skipped && s.problem == "" && s.ref != "" {
			finished = append(finished, s)
		}
	}
	quietUntil := time.Now().Add(20 * time.Second)
	for time.Now().Before(quietUntil) && !hooks.allDelivered(finished) {
		time.Sleep(200 * time.Millisecond)
	}

	// 3. What the shoppers saw, and what is stored.
	st, err := postgres.Open(ctx, pg.DSN(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	var logs []string
	for _, r := range replicas {
		logs = append(logs, r.Log())
	}
	failureLines, metInside, sample := storeFailures(logs...)
	said := func(msg string) int {
		n := 0
		for _, l := range logs {
			n += strings.Count(l, `"msg":"`+msg)
		}
		return n
	}
	// The writes whose outcome was unknown, by call.
	unknownCalls := map[string]int{}
	for _, l := range logs {
		for _, m := range regexp.MustCompile(`"msg":"database connection broke after a write was sent[^"]*","call":"([^"]+)"`).FindAllStringSubmatch(l, -1) {
			unknownCalls[m[1]]++
		}
	}

	c := outageCounts{}
	for _, s := range list {
		c.add(s, metInside)
	}
	lost := run.verify(ctx, st, hooks, finished)
	pgLog := pg.Log()
	recovered := len(regexp.MustCompile(`database system was interrupted|redo done|automatic recovery`).FindAllString(pgLog, -1))
	killedBackends := len(regexp.MustCompile(`terminating connection because of|terminating any other active server processes|immediate shutdown request`).FindAllString(pgLog, -1))

	t.Logf("outage: %d shoppers (%d skipped: out of time) in %s across %d replicas; %d approved, %d rejected",
		c.shoppers, c.skipped, loadTook.Round(100*time.Millisecond), nReplicas, c.approved, c.rejected)
	t.Logf("faults: replica %d killed (SIGKILL) at %s with %d requests in flight, after serving %d; "+
		"PostgreSQL restarted (-m immediate) at %s and back after %s (server log: %d crash-recovery lines, %d backend-kill lines)",
		victim.n, killedAt.Round(10*time.Millisecond), victimInFlight, victimServed,
		restartedAt.Round(10*time.Millisecond), restartTook.Round(10*time.Millisecond), recovered, killedBackends)
	t.Logf("requests: %d from shoppers; %d met the outage: %d sent on by the load balancer to another replica "+
		"(%d cut off mid-request by the kill), %d met a store failure inside the service",
		c.requests, c.metOutage, c.failedOver, lb.cutOff.Load(), c.metInside)
	t.Logf("store failures the replicas logged: %d lines; store calls that retried: %d, rode it out: %d, gave up: %d; "+
		"commits whose outcome was unknown (the caller read again): %d; other writes whose outcome was unknown (not repeated): %d",
		failureLines, said("database unavailable; retrying"), said("database answered again"), said("database unavailable; giving up"),
		said("database connection broke while COMMIT was in flight"), said("database connection broke after a write was sent"))
	if len(unknownCalls) > 0 {
		t.Logf("  writes whose outcome was unknown, by call: %v", unknownCalls)
	}
	t.Logf("slowest shopper request: %s (%s)", c.slowest.took.Round(time.Millisecond), c.slowest.id)
	for _, l := range sample {
		t.Logf("  e.g. %s", truncate(l, 400))
	}
	t.Logf("shoppers who saw an error: %d (redirects that failed three reloads: %d; error answers: %d on the redirect, %d on the return page, %d on the status JSON)",
		c.sawError, c.gaveUp, c.redirectErrors, c.returnErrors, c.statusErrors)
	for _, e := range c.samples {
		t.Logf("  e.g. %s", e)
	}
	t.Logf("state: %d payments checked: each order has one attempt, %d AUTHORIZED here and at Vipps, %d ABORTED; "+
		"%d notifications delivered, one per payment; %d problems", len(finished), c.approvedFinal, c.rejectedFinal, hooks.distinct(), len(lost))
	for i, p := range lost {
		if i == 10 {
			t.Logf("  … and %d more", len(lost)-10)
			break
		}
		t.Logf("  %s", p)
	}

	for _, r := range replicas {
		require.NotContains(t, r.output.String(), "DATA RACE", "replica %d", r.n)
	}
	require.Zero(t, c.problems, "the test itself failed for some shoppers (see above)")
	require.Positive(t, victimServed, "the killed replica served requests before it died")
	require.Positive(t, failureLines, "the restart was felt: the replicas logged store failures")
	require.Positive(t, recovered, "PostgreSQL recovered from a crash")
	require.Empty(t, lost, "no state was lost and nothing was done twice")
	require.Empty(t, hooks.refused(), "every notification the merchant got was signed right")
	require.Zero(t, c.sawError, "no shopper saw an error")
}

// outageRun is what the shoppers share.
type outageRun struct {
	t      *testing.T
	lb     string
	vipps  *vippstest.Server
	kustom *klarnatest.Server
	signer *bridge.RedirectSigner
	client *http.Client
	now    func() time.Time
}

// outageShopper is one person, and what they saw.
type outageShopper struct {
	i       int
	approve bool
	skipped bool
	orderID string
	amount  int64
	ref     string
	token   string
	final   string

	requests []outageRequest
	gaveUp   bool
	problem  string // the test failed, not the service
}

// outageRequest is one request of a shopper to the service.
type outageRequest struct {
	kind   string // redirect, return or status
	id     string
	status int
	err    error
	tries  int
	body   string
	took   time.Duration
}

func (r outageRequest) failed() bool {
	if r.err != nil {
		return true
	}
	switch r.kind {
	case "redirect":
		return r.status != http.StatusSeeOther
	case "return":
		return r.status != http.StatusSeeOther && r.status != http.StatusOK
	}
	return r.status != http.StatusOK
}

func (r outageRequest) String() string {
	if r.err != nil {
		return fmt.Sprintf("%s %s: %v", r.kind, r.id, r.err)
	}
	return fmt.Sprintf("%s %s: HTTP %d %s", r.kind, r.id, r.status, truncate(strings.Join(strings.Fields(r.body), " "), 200))
}

// get sends one shopper request through the load balancer.
func (run *outageRun) get(s *outageShopper, kind, target, accept string) (outageRequest, http.Header) {
	id := fmt.Sprintf("s%d-%d", s.i, len(s.requests))
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		panic(err)
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("X-Request-Id", id)
	r := outageRequest{kind: kind, id: id}
	t0 := time.Now()
	defer func() { s.requests[len(s.requests)-1].took = time.Since(t0) }()
	resp, err := run.client.Do(req)
	var h http.Header
	if err != nil {
		r.err = err
	} else {
		b, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		r.status, r.err, r.body, h = resp.StatusCode, rerr, string(b), resp.Header
		r.tries, _ = strconv.Atoi(resp.Header.Get(headerTries))
	}
	s.requests = append(s.requests, r)
	return r, h
}

// shop is one shopper's whole path. Like a person, they reload a page that
// failed, up to three times.
func (run *outageRun) shop(s *outageShopper) {
	o, err := run.kustom.CreateOrder(cart(int64(1+s.i%3), fmt.Sprintf("OUTAGE-%05d", s.i)))
	if err != nil {
		s.problem = "creating the KCO order: " + err.Error()
		return
	}
	s.orderID, s.amount = o.OrderID, o.OrderAmount
	q := url.Values{"kco_order_id": {o.OrderID}, "sig": {run.signer.Sign("webshop", o.OrderID, run.now())}}
	redirectURL := run.lb + "/checkout/webshop/vipps?" + q.Encode()

	// The EPM redirect sends them to the Vipps landing page.
	landing := ""
	for range 4 {
		r, h := run.get(s, "redirect", redirectURL, "text/html")
		if !r.failed() {
			landing = h.Get("Location")
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if landing == "" {
		s.gaveUp = true
		return
	}
	lu, err := url.Parse(landing)
	if err != nil || !strings.HasPrefix(landing, run.vipps.URL()+"/landing?") {
		s.problem = "the redirect went to " + landing
		return
	}

	// They approve or reject in Vipps, which sends them back to us.
	form := url.Values{"token": {lu.Query().Get("token")}}
	action := "/landing/reject"
	if s.approve {
		action = "/landing/approve"
		form.Set("phoneNumber", "4791234567")
	}
	resp, err := run.client.PostForm(run.vipps.URL()+action, form)
	if err != nil {
		s.problem = "at Vipps: " + err.Error()
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	back := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(back, run.lb+"/return/") {
		s.problem = fmt.Sprintf("Vipps answered %d, back to %q", resp.StatusCode, back)
		return
	}
	s.token = strings.TrimPrefix(back, run.lb+"/return/")

	// The return page, then the status it polls until the payment is final.
	for range 4 {
		if r, _ := run.get(s, "return", back, "text/html"); !r.failed() {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	for until := time.Now().Add(30 * time.Second); time.Now().Before(until); time.Sleep(250 * time.Millisecond) {
		r, _ := run.get(s, "status", run.lb+"/status/"+s.token, "application/json")
		if r.failed() {
			continue
		}
		var st struct {
			Reference, State string
			Final            bool
		}
		if err := json.Unmarshal([]byte(r.body), &st); err != nil {
			s.problem = "status JSON: " + err.Error()
			return
		}
		s.ref = st.Reference
		if st.Final {
			s.final = st.State
			break
		}
	}
	want := "ABORTED"
	if s.approve {
		want = "AUTHORIZED"
	}
	if s.final != want {
		s.problem = fmt.Sprintf("%s: the status page showed %q, not %s, within 30 s", s.ref, s.final, want)
	}
}

// verify checks that nothing was lost or done twice, against the store,
// the fake Vipps and what the merchant received.
func (run *outageRun) verify(ctx context.Context, st *postgres.Store, hooks *outageHooks, finished []*outageShopper) []string {
	var bad []string
	for _, s := range finished {
		ps, err := st.PaymentsByOrder(ctx, s.orderID)
		if err != nil || len(ps) != 1 {
			bad = append(bad, fmt.Sprintf("order %s: %d attempts (%v), want one", s.orderID, len(ps), err))
			continue
		}
		p := ps[0]
		want, typ := bridge.StateAborted, "payment.aborted"
		if s.approve {
			want, typ = bridge.StateAuthorized, "payment.authorized"
		}
		fake, ok := run.vipps.Payment(p.Reference)
		switch {
		case !ok:
			bad = append(bad, p.Reference+": unknown at Vipps")
		case p.State != want || string(fake.State) != string(want):
			bad = append(bad, fmt.Sprintf("%s: %s here, %s at Vipps, want %s", p.Reference, p.State, fake.State, want))
		case want == bridge.StateAuthorized && (p.Authorized != s.amount || fake.Authorized != s.amount):
			bad = append(bad, fmt.Sprintf("%s: authorized %d here, %d at Vipps, want %d", p.Reference, p.Authorized, fake.Authorized, s.amount))
		}
		hist, err := st.History(ctx, p.Reference)
		if err != nil {
			bad = append(bad, p.Reference+": history: "+err.Error())
		}
		steps := map[string]int{}
		for _, h := range hist {
			if steps[string(h.FromState)+">"+string(h.ToState)]++; steps[string(h.FromState)+">"+string(h.ToState)] == 2 {
				bad = append(bad, fmt.Sprintf("%s: %s → %s recorded twice", p.Reference, h.FromState, h.ToState))
			}
		}
		notes, err := st.Notifications(ctx, p.Reference, "", 20)
		if err != nil {
			bad = append(bad, p.Reference+": notifications: "+err.Error())
			continue
		}
		if len(notes) != 1 || notes[0].Type != typ {
			var types []string
			for _, n := range notes {
				types = append(types, n.Type)
			}
			bad = append(bad, fmt.Sprintf("%s: notifications %v, want one %s", p.Reference, types, typ))
			continue
		}
		if notes[0].DeliveredAt.IsZero() {
			bad = append(bad, fmt.Sprintf("%s: %s not marked delivered", p.Reference, typ))
		}
		if got := hooks.ids(p.Reference); len(got) != 1 || got[typ] == nil || !got[typ][notes[0].ID] || len(got[typ]) != 1 {
			bad = append(bad, fmt.Sprintf("%s: the merchant received %v, want %s %s", p.Reference, got, typ, notes[0].ID))
		}
	}
	return bad
}

// outageCounts sums up what the shoppers saw.
type outageCounts struct {
	shoppers, skipped, approved, rejected, problems              int
	requests, failedOver, metInside, metOutage                   int
	sawError, gaveUp, redirectErrors, returnErrors, statusErrors int
	approvedFinal, rejectedFinal                                 int
	samples                                                      []string
	slowest                                                      outageRequest
}

func (c *outageCounts) add(s *outageShopper, metInside map[string]bool) {
	if s == nil || s.skipped {
		c.skipped++
		return
	}
	c.shoppers++
	if s.approve {
		c.approved++
	} else {
		c.rejected++
	}
	if s.problem != "" {
		c.problems++
		if len(c.samples) < 10 {
			c.samples = append(c.samples, "test problem: "+s.problem)
		}
	}
	switch s.final {
	case "AUTHORIZED":
		c.approvedFinal++
	case "ABORTED":
		c.rejectedFinal++
	}
	if s.gaveUp {
		c.gaveUp++
	}
	saw := false
	for _, r := range s.requests {
		c.requests++
		if r.took > c.slowest.took {
			c.slowest = r
		}
		if r.tries > 1 {
			c.failedOver++
		}
		if metInside[r.id] {
			c.metInside++
		}
		if r.tries > 1 || metInside[r.id] || r.failed() {
			c.metOutage++
		}
		if !r.failed() {
			continue
		}
		saw = true
		switch r.kind {
		case "redirect":
			c.redirectErrors++
		case "return":
			c.returnErrors++
		case "status":
			c.statusErrors++
		}
		if len(c.samples) < 10 {
			c.samples = append(c.samples, r.String())
		}
	}
	if saw {
		c.sawError++
	}
}

// outageHooks is the merchant's notification endpoint: it checks each
// signature and records every delivery by payment, type and id.
type outageHooks struct {
	secret string
	now    func() time.Time
	mu     sync.Mutex
	got    map[string]map[string]map[string]int // reference → type → id → deliveries
	bad    []string
}

func (h *outageHooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if err := notifysig.Verify(h.secret, r.Header, body, h.now(), 0); err != nil {
		h.mu.Lock()
		h.bad = append(h.bad, err.Error())
		h.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var n bridge.NotificationPayload
	if err := json.Unmarshal(body, &n); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	byType := h.got[n.Payment.Reference]
	if byType == nil {
		byType = map[string]map[string]int{}
		h.got[n.Payment.Reference] = byType
	}
	if byType[n.Type] == nil {
		byType[n.Type] = map[string]int{}
	}
	byType[n.Type][n.ID]++
	w.WriteHeader(http.StatusNoContent)
}

// ids is what the merchant received about a payment: type → ids.
func (h *outageHooks) ids(ref string) map[string]map[string]bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]map[string]bool{}
	for typ, ids := range h.got[ref] {
		out[typ] = map[string]bool{}
		for id := range ids {
			out[typ][id] = true
		}
	}
	return out
}

// allDelivered reports whether every finished shopper's payment has had
// its final notification delivered.
func (h *outageHooks) allDelivered(list []*outageShopper) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range list {
		typ := "payment.aborted"
		if s.approve {
			typ = "payment.authorized"
		}
		if len(h.got[s.ref][typ]) == 0 {
			return false
		}
	}
	return true
}

// refused lists the notifications whose signature did not verify.
func (h *outageHooks) refused() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.bad...)
}

// distinct counts the distinct notifications received.
func (h *outageHooks) distinct() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, byType := range h.got {
		for _, ids := range byType {
			n += len(ids)
		}
	}
	return n
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
