package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge/config"
	"vippskco/bridge/notifysig"
	"vippskco/klarna"
	"vippskco/klarna/klarnatest"
	"vippskco/vipps/vippstest"
)

// The shutdown tests run Main against fakes of their own that outlive it,
// behind a middleware that holds the requests a test chooses: a provider
// call in flight, or one that never answers.

// holder is a middleware that holds chosen requests until the test releases
// them or the caller gives up.
type holder struct {
	mu     sync.Mutex
	holds  []*hold
	closed chan struct{}
	once   sync.Once
}

func newHolder() *holder { return &holder{closed: make(chan struct{})} }

// hold is one rule: the requests it matches wait until Release.
type hold struct {
	name  string
	match func(*http.Request) bool
	// after lets the fake act first and holds only its answer: the
	// provider did it, the caller never hears.
	after bool

	arrived, released   chan struct{}
	arriveOnce, relOnce sync.Once
	seen, abandoned     atomic.Int32
}

// Hold starts holding the requests match picks (the first rule that
// matches a request is the one it waits for).
func (hs *holder) Hold(name string, after bool, match func(*http.Request) bool) *hold {
	h := &hold{name: name, match: match, after: after, arrived: make(chan struct{}), released: make(chan struct{})}
	hs.mu.Lock()
	hs.holds = append(hs.holds, h)
	hs.mu.Unlock()
	return h
}

// Release lets every request h holds, and every later one, through.
func (h *hold) Release() { h.relOnce.Do(func() { close(h.released) }) }

// Arrived is closed when the first request h matches has arrived (for an
// after rule: once the fake has acted on it).
func (h *hold) Arrived() <-chan struct{} { return h.arrived }

// Abandoned counts the held requests whose caller gave up before release.
func (h *hold) Abandoned() int { return int(h.abandoned.Load()) }

// waitArrived waits, bounded, for the first request h holds.
func (h *hold) waitArrived(t testing.TB, within time.Duration) {
	t.Helper()
	select {
	case <-h.arrived:
	case <-time.After(within):
		t.Fatalf("no request reached the hold %q within %s", h.name, within)
	}
}

// Close releases everything, so that the fakes' servers can close.
func (hs *holder) Close() { hs.once.Do(func() { close(hs.closed) }) }

func (hs *holder) find(r *http.Request) *hold {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	for _, h := range hs.holds {
		if h.match(r) {
			return h
		}
	}
	return nil
}

// wait reports whether h let the request go on (false: its caller left).
func (hs *holder) wait(h *hold, r *http.Request) bool {
	h.seen.Add(1)
	h.arriveOnce.Do(func() { close(h.arrived) })
	select {
	case <-h.released:
		return true
	case <-hs.closed:
		return true
	case <-r.Context().Done():
		h.abandoned.Add(1)
		return false
	}
}

func (hs *holder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := hs.find(r)
		if h == nil {
			next.ServeHTTP(w, r)
			return
		}
		if !h.after {
			// Read the body first: only then does the server notice a
			// caller that hangs up, and end the request's context.
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if hs.wait(h, r) {
				next.ServeHTTP(w, r)
			}
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		if !hs.wait(h, r) {
			return
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// post matches POST requests whose path ends with suffix.
func post(suffix string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, suffix)
	}
}

// merchantHooks is the merchant's notification endpoint: it records what
// it is sent and answers 200.
type merchantHooks struct {
	mu    sync.Mutex
	posts []merchantPost
}

type merchantPost struct{ id, typ string }

func (mh *merchantHooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var n struct{ Type string }
	_ = json.NewDecoder(r.Body).Decode(&n)
	mh.mu.Lock()
	mh.posts = append(mh.posts, merchantPost{id: r.Header.Get(notifysig.HeaderID), typ: n.Type})
	mh.mu.Unlock()
}

// delivered counts the distinct notifications of a type received.
func (mh *merchantHooks) delivered(typ string) int {
	mh.mu.Lock()
	defer mh.mu.Unlock()
	ids := map[string]bool{}
	for _, p := range mh.posts {
		if p.typ == typ {
			ids[p.id] = true
		}
	}
	return len(ids)
}

// shutdownRig runs Mains, one after another, on one database file and one
// address, against fakes of Kustom and Vipps and a merchant endpoint that
// outlive them, all behind holders.
type shutdownRig struct {
	t        *testing.T
	clk      *vippstest.Clock
	edit     func(*config.Config)
	dsn      string
	addr     string
	vipps    *vippstest.Server
	kustom   *klarnatest.Server
	hooks    *merchantHooks
	vippsH   *holder
	kustomH  *holder
	hooksH   *holder
	vippsTS  *httptest.Server
	kustomTS *httptest.Server
	hooksTS  *httptest.Server
}

func newShutdownRig(t *testing.T, edit func(*config.Config)) *shutdownRig {
	r := &shutdownRig{
		t: t, clk: vippstest.NewClock(time.Now().UTC()), edit: edit, addr: "127.0.0.1:0",
		hooks: &merchantHooks{}, vippsH: newHolder(), kustomH: newHolder(), hooksH: newHolder(),
	}
	cfg := testConfig(t, edit)
	r.dsn = cfg.Storage.DSN

	r.vippsTS = httptest.NewUnstartedServer(nil)
	r.vipps = vippstest.NewUnstartedHandler(vippstest.Options{Now: r.clk.Now, AllowInsecureLocalReturnURL: true},
		"http://"+r.vippsTS.Listener.Addr().String())
	r.vippsTS.Config.Handler = r.vippsH.wrap(r.vipps.Handler())
	r.vippsTS.Start()
	for _, u := range cfg.Units {
		r.vipps.AddSalesUnit(vippstest.SalesUnit{
			MSN: u.MSN, ClientID: u.Vipps.ClientID, ClientSecret: u.Vipps.ClientSecret,
			SubscriptionKey: u.Vipps.SubscriptionKey, Currency: u.Currency, Name: u.Name,
		})
	}
	r.kustomTS = httptest.NewUnstartedServer(nil)
	r.kustom = klarnatest.NewHandler(klarnatest.Options{
		Now: r.clk.Now, Credentials: []klarnatest.Credential{{Username: cfg.Kustom.Username, APIKey: cfg.Kustom.APIKey}},
	}, "http://"+r.kustomTS.Listener.Addr().String())
	r.kustomTS.Config.Handler = r.kustomH.wrap(r.kustom.Handler())
	r.kustomTS.Start()
	r.hooksTS = httptest.NewServer(r.hooksH.wrap(r.hooks))

	t.Cleanup(func() {
		for _, h := range []*holder{r.vippsH, r.kustomH, r.hooksH} {
			h.Close()
		}
		r.vipps.Close()
		r.vippsTS.Close()
		r.kustomTS.Close()
		r.hooksTS.Close()
	})
	return r
}

// newMain makes a Main on the rig's database and address (port 0 the first
// time), its providers pointed at the rig's fakes, not started. logs, when
// not nil, receives its JSON log.
func (r *shutdownRig) newMain(logs io.Writer) *Main {
	t := r.t
	cfg := testConfig(t, r.edit, func(c *config.Config) {
		c.Storage.DSN = r.dsn
		c.Server.Addr = r.addr
		if !strings.HasSuffix(r.addr, ":0") {
			c.Server.PublicURL = "http://" + r.addr
		}
		c.MerchantWebhook.URL = r.hooksTS.URL + "/hooks/vipps"
	})
	if logs == nil {
		logs = io.Discard
	}
	m := NewMain(cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	m.Now = r.clk.Now
	m.PollEvery = 50 * time.Millisecond
	m.Providers = Providers{KustomURL: r.kustomTS.URL, VippsURL: r.vippsTS.URL}
	return m
}

// started records the address the first Main listens on, so that later
// ones take the same one.
func (r *shutdownRig) started(m *Main) {
	if strings.HasSuffix(r.addr, ":0") {
		r.addr = m.Addr()
	}
}

// order creates a KCO order at the fake Kustom, as the merchant would.
func (r *shutdownRig) order() klarna.Order {
	r.t.Helper()
	o, err := r.kustom.CreateOrder(cart(1, ""))
	require.NoError(r.t, err)
	return o
}

// noRedirects is a client for the shopper's and the merchant's requests.
var noRedirects = &http.Client{
	Timeout:       20 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// answer is what one request got.
type answer struct {
	status   int
	location string
	body     string
	err      error
}

func do(req *http.Request) answer {
	resp, err := noRedirects.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(b), err: err}
}

// redirect is the shopper following the EPM redirect_url of an order.
func redirect(m *Main, orderID string) answer {
	entry, err := m.Service.EPMEntry("webshop", orderID, "nb-NO")
	if err != nil {
		return answer{err: err}
	}
	req, _ := http.NewRequest(http.MethodGet, entry.RedirectURL, nil)
	req.Header.Set("Accept", "text/html")
	return do(req)
}

// capture is the merchant capturing through the API.
func capture(m *Main, reference, key string, amount int64) answer {
	req, _ := http.NewRequest(http.MethodPost, m.PublicURL()+"/api/v1/payments/"+reference+"/capture",
		strings.NewReader(fmt.Sprintf(`{"amount": {"value": %d, "currency": "NOK"}}`, amount)))
	req.Header.Set("Authorization", "Bearer "+m.Config.APITokens.Merchant)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	return do(req)
}

// heldLeases lists, from the database file itself, every lease some owner
// still holds: on a poll, an operation or a notification. An operation
// whose outcome is unknown keeps its lease as its retry backoff; it is
// listed too, with its state.
func heldLeases(t testing.TB, dsn string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", dsn+"?mode=ro&_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.Query(`
		SELECT 'poll ' || reference || ' owner=' || poll_owner || ' until=' || poll_lease_until
			FROM payment_polls WHERE poll_owner <> '' OR poll_lease_until <> 0
		UNION ALL
		SELECT 'operation ' || id || ' ' || kind || ' ' || state || ' owner=' || lease_owner || ' until=' || lease_until
			FROM operations WHERE lease_owner <> '' OR lease_until <> 0
		UNION ALL
		SELECT 'notification ' || id || ' ' || type || ' owner=' || lease_owner || ' until=' || lease_until
			FROM notifications WHERE lease_owner <> '' OR lease_until <> 0`)
	require.NoError(t, err)
	defer rows.Close()
	held := []string{}
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		held = append(held, s)
	}
	require.NoError(t, rows.Err())
	return held
}

// operationLeaseUntil is when the lease of the one leased operation in the
// database file runs out.
func operationLeaseUntil(t testing.TB, dsn string) time.Time {
	t.Helper()
	db, err := sql.Open("sqlite", dsn+"?mode=ro&_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	defer db.Close()
	var nanos int64
	require.NoError(t, db.QueryRow(`SELECT lease_until FROM operations WHERE lease_owner <> ''`).Scan(&nanos))
	return time.Unix(0, nanos)
}

// countRows counts the rows of a table in the database file.
func countRows(t testing.TB, dsn, table string) int {
	t.Helper()
	db, err := sql.Open("sqlite", dsn+"?mode=ro&_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	defer db.Close()
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM `+table).Scan(&n))
	return n
}

// logWatch keeps a Main's JSON log and says when a message appears.
type logWatch struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want map[string]chan struct{}
}

func newLogWatch(msgs ...string) *logWatch {
	w := &logWatch{want: map[string]chan struct{}{}}
	for _, m := range msgs {
		w.want[m] = make(chan struct{})
	}
	return w
}

func (w *logWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for msg, ch := range w.want {
		if bytes.Contains(p, []byte(`"msg":"`+msg+`"`)) {
			select {
			case <-ch:
			default:
				close(ch)
			}
		}
	}
	return len(p), nil
}

// seen is closed once msg has been logged.
func (w *logWatch) seen(msg string) <-chan struct{} { return w.want[msg] }

func (w *logWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// within waits for ch, at most d.
func within(t testing.TB, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("%s: not within %s", what, d)
	}
}

// eventually is require.Eventually with a message built when it fails.
func eventually(t testing.TB, cond func() bool, d time.Duration, format string, args ...any) {
	t.Helper()
	require.Eventually(t, cond, d, 10*time.Millisecond, fmt.Sprintf(format, args...))
}

// runLogged runs a new Main whose log is shown when the test fails.
func (r *shutdownRig) runLogged(t *testing.T) *Main {
	t.Helper()
	logs := newLogWatch()
	m := r.newMain(logs)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	})
	require.NoError(t, m.Run(context.Background()))
	r.started(m)
	return m
}

// approvedPayment takes a shopper through the redirect and approves the
// payment at Vipps; it returns the payment's reference.
func (r *shutdownRig) approvedPayment(t *testing.T, m *Main) string {
	t.Helper()
	o := r.order()
	a := redirect(m, o.OrderID)
	require.NoError(t, a.err)
	require.Equal(t, http.StatusSeeOther, a.status, a.body)
	ps, err := m.Store.PaymentsByOrder(context.Background(), o.OrderID)
	require.NoError(t, err)
	ref := ps[0].Reference
	require.NoError(t, r.vipps.Approve(ref))
	return ref
}
