package bridge_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/notifysig"
	"vippskco/bridge/sqlite"
	"vippskco/vipps/vippstest"
)

// These tests run the outbox against the real SQLite store: its leases are
// what keeps two deliverers apart.

const testSecret = "test-merchant-secret"

// newClock is the clock shared by the service, the store and the merchant.
func newClock() *vippstest.Clock {
	return vippstest.NewClock(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
}

// merchant is a webhook receiver that verifies what it gets the way a
// merchant would and answers as a test tells it.
type merchant struct {
	secret string
	now    func() time.Time
	// respond answers the call-th post of notification id; nil answers 204.
	respond func(w http.ResponseWriter, id string, call int)
	// delay is how long each post takes.
	delay time.Duration
	// arrived, when set, hears the id of every post as it arrives; with
	// hang, the merchant then answers only when the sender gives up.
	arrived chan string
	hang    atomic.Bool

	mu          sync.Mutex
	posts       []post
	calls       map[string]int
	inFlight    int
	maxInFlight int
}

// post is one request the merchant got.
type post struct {
	method    string
	path      string
	id        string
	reference string
	header    http.Header
	body      []byte
	verifyErr error
}

func (m *merchant) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var payload struct {
		Payment struct {
			Reference string `json:"reference"`
		} `json:"payment"`
	}
	_ = json.Unmarshal(body, &payload)
	id := r.Header.Get(notifysig.HeaderID)
	p := post{method: r.Method, path: r.URL.Path, id: id, reference: payload.Payment.Reference, header: r.Header.Clone(), body: body,
		verifyErr: notifysig.Verify(m.secret, r.Header, body, m.now(), 0)}

	m.mu.Lock()
	if m.calls == nil {
		m.calls = map[string]int{}
	}
	m.calls[id]++
	call := m.calls[id]
	m.posts = append(m.posts, p)
	m.inFlight++
	m.maxInFlight = max(m.maxInFlight, m.inFlight)
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.inFlight--
		m.mu.Unlock()
	}()

	if m.arrived != nil {
		m.arrived <- id
	}
	if m.hang.Load() {
		<-r.Context().Done()
		return
	}
	time.Sleep(m.delay)
	if p.verifyErr != nil {
		http.Error(w, p.verifyErr.Error(), http.StatusUnauthorized)
		return
	}
	if m.respond != nil {
		m.respond(w, id, call)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (m *merchant) Posts() []post {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]post(nil), m.posts...)
}

// postedIDs lists the ids posted about reference, in the order they came.
func (m *merchant) postedIDs(reference string) []string {
	var ids []string
	for _, p := range m.Posts() {
		if p.reference == reference {
			ids = append(ids, p.id)
		}
	}
	return ids
}

// outbox is a service with a store and a merchant, at a settable time.
type outbox struct {
	clock    *vippstest.Clock
	store    *sqlite.Store
	svc      *bridge.Service
	merchant *merchant
	server   *httptest.Server
}

func newOutbox(t *testing.T) *outbox {
	t.Helper()
	c := newClock()
	o := &outbox{clock: c, store: openStore(t, filepath.Join(t.TempDir(), "bridge.db"), c)}
	o.merchant = &merchant{secret: testSecret, now: c.Now}
	o.server = httptest.NewServer(o.merchant)
	t.Cleanup(o.server.Close)
	o.svc = newService(o.store, c, "replica-a", o.server.URL+"/hooks/vipps")
	return o
}

func openStore(t *testing.T, path string, c *vippstest.Clock) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path, c.Now)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	return st
}

func newService(st bridge.Store, c *vippstest.Clock, owner, url string) *bridge.Service {
	return &bridge.Service{
		Store: st, Now: c.Now, Owner: owner, Logger: slog.New(slog.DiscardHandler),
		MerchantWebhook: bridge.MerchantWebhook{URL: url, Secret: testSecret, Client: &http.Client{Timeout: 10 * time.Second}},
	}
}

// add stores a notification about reference (and the payment, the first
// time), created at createdAt, and returns its id. The payload is spaced
// oddly so that a deliverer which re-encodes it is caught.
func (o *outbox) add(t *testing.T, reference, typ string, createdAt time.Time) string {
	t.Helper()
	ctx := t.Context()
	p, err := o.store.Payment(ctx, reference)
	if bridge.ErrorCode(err) == bridge.ECodeNotFound {
		p = &bridge.Payment{
			Reference: reference, Unit: "webshop", KCOOrderID: "kco-" + reference, Attempt: 1,
			Amount: bridge.Money{Value: 149900, Currency: "NOK"}, State: bridge.StateCreated,
			CreateIdempotencyKey: "idem-" + reference, CreateRequest: json.RawMessage(`{}`),
			ReturnToken: "token-" + reference, Locale: "nb-NO",
		}
		require.NoError(t, o.store.InsertPayment(ctx, p))
		p, err = o.store.Payment(ctx, reference)
	}
	require.NoError(t, err)
	id := reference + "." + typ
	payload := fmt.Sprintf("{\"id\": %q,\n  \"type\":%q, \"payment\": {\"reference\": %q, \"note\": \"ø\\u00e6\"}}", id, typ, reference)
	require.NoError(t, o.store.Commit(ctx, &bridge.Change{Payment: p, Notifications: []bridge.Notification{{
		ID: id, Reference: reference, Type: typ, Payload: json.RawMessage(payload), CreatedAt: createdAt, NextAttemptAt: createdAt,
	}}}))
	return id
}

func (o *outbox) get(t *testing.T, id string) *bridge.Notification {
	t.Helper()
	n, err := o.store.Notification(t.Context(), id)
	require.NoError(t, err)
	return n
}

// requireLeaseFree checks that a notification can be claimed again.
func requireLeaseFree(t *testing.T, n *bridge.Notification) {
	t.Helper()
	require.Empty(t, n.LeaseOwner, "lease owner of %s", n.ID)
	require.True(t, n.LeaseUntil.IsZero(), "lease of %s runs until %s", n.ID, n.LeaseUntil)
}

// backoffBase is the wait after the attempts-th failure before jitter:
// 10 s doubling, at most 1 h.
func backoffBase(attempts int) time.Duration {
	base := 10 * time.Second
	for i := 1; i < attempts && base < time.Hour; i++ {
		base *= 2
	}
	return min(base, time.Hour)
}

// requireBackoff checks that the wait after the attempts-th failure is its
// base within ±20 %.
func requireBackoff(t *testing.T, attempts int, wait time.Duration) {
	t.Helper()
	base := backoffBase(attempts)
	require.GreaterOrEqual(t, wait, base*8/10, "wait after attempt %d", attempts)
	require.LessOrEqual(t, wait, base*12/10, "wait after attempt %d", attempts)
}

func TestDeliverOnceSigned(t *testing.T) {
	o := newOutbox(t)
	id := o.add(t, "ws-1001-1", "payment.authorized", o.clock.Now())
	stored := o.get(t, id)
	o.clock.Advance(3 * time.Second)

	delivered, err := o.svc.DeliverOnce(t.Context())
	require.NoError(t, err)
	require.Equal(t, 1, delivered)

	posts := o.merchant.Posts()
	require.Len(t, posts, 1)
	got := posts[0]
	require.NoError(t, got.verifyErr, "the merchant's verification")
	require.Equal(t, string(stored.Payload), string(got.body), "the body is the stored payload, byte for byte")
	for _, h := range []struct{ name, want string }{
		{"Content-Type", "application/json"},
		{"User-Agent", "vippskco-webhooks/1"},
		{"Webhook-Id", id},
		{"Webhook-Timestamp", strconv.FormatInt(o.clock.Now().Unix(), 10)},
		{"Webhook-Signature", notifysig.Sign(testSecret, id, o.clock.Now().Unix(), stored.Payload)},
	} {
		t.Run(h.name, func(t *testing.T) { require.Equal(t, h.want, got.header.Get(h.name)) })
	}

	n := o.get(t, id)
	require.Equal(t, bridge.NotificationDelivered, n.State())
	require.Equal(t, 1, n.Attempts)
	require.Equal(t, http.StatusNoContent, n.LastStatus)
	require.Empty(t, n.LastError)
	require.Equal(t, o.clock.Now(), n.DeliveredAt)
	require.Equal(t, o.clock.Now(), n.LastAttemptAt)
	requireLeaseFree(t, n)

	delivered, err = o.svc.DeliverOnce(t.Context())
	require.NoError(t, err)
	require.Zero(t, delivered)
	require.Len(t, o.merchant.Posts(), 1, "a delivered notification is not sent again")
}

func TestDeliverOnceNotConfigured(t *testing.T) {
	cases := []struct {
		name    string
		webhook func(w *bridge.MerchantWebhook)
		code    string
	}{
		{"no URL: notifications wait in the outbox", func(w *bridge.MerchantWebhook) { w.URL = "" }, ""},
		{"URL but no secret", func(w *bridge.MerchantWebhook) { w.Secret = "" }, bridge.ECodeInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := newOutbox(t)
			id := o.add(t, "ws-1002-1", "payment.authorized", o.clock.Now())
			before := o.get(t, id)
			tc.webhook(&o.svc.MerchantWebhook)

			delivered, err := o.svc.DeliverOnce(t.Context())
			if tc.code == "" {
				require.NoError(t, err)
			} else {
				require.Equal(t, tc.code, bridge.ErrorCode(err))
			}
			require.Zero(t, delivered)
			require.Empty(t, o.merchant.Posts())
			// A claim bumps the version: an unchanged row was not claimed.
			require.Equal(t, before, o.get(t, id))
			require.Equal(t, bridge.NotificationPending, before.State())
		})
	}
}

// standardWebhooksVerify is the verify of the Standard Webhooks libraries
// (https://github.com/standard-webhooks/standard-webhooks, spec
// "Verifying webhook signatures"), written here from the spec and sharing
// no code with notifysig: the key is the base64 after "whsec_", the
// signed content is msg_id.timestamp.payload, the signature HMAC-SHA256 in
// standard base64 with a "v1," prefix, several signatures space-separated,
// and the timestamp within 5 minutes.
func standardWebhooksVerify(secret string, h http.Header, payload []byte, now time.Time) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	msgID, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if msgID == "" || ts == "" || sigs == "" {
		return errors.New("missing required headers")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("invalid timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("timestamp out of tolerance")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msgID + "." + ts + "." + string(payload)))
	expected := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Split(sigs, " ") {
		version, sig, ok := strings.Cut(s, ",")
		if ok && version == "v1" && hmac.Equal([]byte(sig), []byte(expected)) {
			return nil
		}
	}
	return errors.New("no matching signature found")
}

// A merchant given a whsec_ secret verifies our deliveries with an
// off-the-shelf Standard Webhooks library.
func TestDeliverVerifiesWithStandardWebhooksLibrary(t *testing.T) {
	o := newOutbox(t)
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	o.svc.MerchantWebhook.Secret = secret
	o.merchant.secret = secret
	id := o.add(t, "ws-1010-1", "payment.authorized", o.clock.Now())
	delivered, err := o.svc.DeliverOnce(t.Context())
	require.NoError(t, err)
	require.Equal(t, 1, delivered)
	posts := o.merchant.Posts()
	require.Len(t, posts, 1)
	require.Equal(t, id, posts[0].id)
	require.NoError(t, standardWebhooksVerify(secret, posts[0].header, posts[0].body, o.clock.Now()))
	require.Error(t, standardWebhooksVerify("whsec_"+base64.StdEncoding.EncodeToString([]byte("another key")), posts[0].header, posts[0].body, o.clock.Now()))
	tampered := append([]byte(nil), posts[0].body...)
	tampered[len(tampered)-2] ^= 1
	require.Error(t, standardWebhooksVerify(secret, posts[0].header, tampered, o.clock.Now()))
}

// A whsec_ secret that is not base64 is refused before anything is
// claimed or sent, rather than used as text.
func TestDeliverRefusesMalformedStandardWebhooksSecret(t *testing.T) {
	o := newOutbox(t)
	o.svc.MerchantWebhook.Secret = "whsec_this is not base64"
	id := o.add(t, "ws-1011-1", "payment.authorized", o.clock.Now())
	before := o.get(t, id)
	delivered, err := o.svc.DeliverOnce(t.Context())
	require.Equal(t, bridge.ECodeInvalid, bridge.ErrorCode(err))
	require.Equal(t, "bad_webhook_secret", bridge.ErrorReason(err))
	require.Zero(t, delivered)
	require.Empty(t, o.merchant.Posts())
	require.Equal(t, before, o.get(t, id), "nothing was claimed")
}

func TestDeliverFailureRecorded(t *testing.T) {
	long := strings.Repeat("x", 3000)
	cases := []struct {
		name       string
		respond    func(w http.ResponseWriter, id string, call int)
		url        func(o *outbox) string
		secret     string
		delivered  bool
		wantStatus int
		wantError  string // prefix; "" means none when delivered
	}{
		{name: "200", respond: answer(http.StatusOK, "ok"), delivered: true, wantStatus: 200},
		{name: "201", respond: answer(http.StatusCreated, ""), delivered: true, wantStatus: 201},
		{name: "204", respond: answer(http.StatusNoContent, ""), delivered: true, wantStatus: 204},
		{name: "server error keeps 1 KiB of the body", respond: answer(http.StatusInternalServerError, long),
			wantStatus: 500, wantError: "HTTP 500: " + long[:1024]},
		{name: "not found", respond: answer(http.StatusNotFound, "no such hook\n"), wantStatus: 404, wantError: "HTTP 404: no such hook"},
		{name: "redirect is not followed", respond: func(w http.ResponseWriter, _ string, _ int) {
			w.Header().Set("Location", "/elsewhere")
			w.WriteHeader(http.StatusFound)
		}, wantStatus: 302, wantError: "HTTP 302"},
		{name: "merchant refuses our signature", secret: "not-the-merchants-secret", wantStatus: 401, wantError: "HTTP 401: bad_signature"},
		{name: "connection refused", url: func(o *outbox) string {
			dead := httptest.NewServer(http.NotFoundHandler())
			dead.Close()
			return dead.URL
		}, wantStatus: 0, wantError: "Post "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := newOutbox(t)
			o.merchant.respond = tc.respond
			if tc.url != nil {
				o.svc.MerchantWebhook.URL = tc.url(o)
			}
			if tc.secret != "" {
				o.svc.MerchantWebhook.Secret = tc.secret
			}
			id := o.add(t, "ws-1003-1", "payment.captured", o.clock.Now())
			now := o.clock.Now()

			delivered, err := o.svc.DeliverOnce(t.Context())
			require.NoError(t, err)
			n := o.get(t, id)
			require.Equal(t, 1, n.Attempts)
			require.Equal(t, tc.wantStatus, n.LastStatus)
			require.Equal(t, now, n.LastAttemptAt)
			requireLeaseFree(t, n)
			if tc.delivered {
				require.Equal(t, 1, delivered)
				require.Equal(t, bridge.NotificationDelivered, n.State())
				require.Empty(t, n.LastError)
				return
			}
			require.Zero(t, delivered)
			require.Equal(t, bridge.NotificationPending, n.State())
			require.True(t, strings.HasPrefix(n.LastError, tc.wantError), "last error %q", n.LastError)
			require.LessOrEqual(t, len(n.LastError), len("HTTP 500: ")+1024)
			requireBackoff(t, 1, n.NextAttemptAt.Sub(now))
			for _, p := range o.merchant.Posts() {
				require.Equal(t, "POST /hooks/vipps", p.method+" "+p.path, "only the configured URL is called")
			}
		})
	}
}

// answer is a merchant response with a status and a body.
func answer(status int, body string) func(w http.ResponseWriter, id string, call int) {
	return func(w http.ResponseWriter, _ string, _ int) {
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func TestDeliverRetriesWithBackoff(t *testing.T) {
	o := newOutbox(t)
	o.merchant.respond = func(w http.ResponseWriter, _ string, call int) {
		switch call {
		case 1:
			answer(http.StatusInternalServerError, "database is down")(w, "", call)
		case 2:
			answer(http.StatusServiceUnavailable, "")(w, "", call)
		default:
			answer(http.StatusOK, "")(w, "", call)
		}
	}
	id := o.add(t, "ws-1004-1", "payment.authorized", o.clock.Now())

	steps := []struct {
		status    int
		lastError string
	}{
		{500, "HTTP 500: database is down"},
		{503, "HTTP 503"},
		{200, ""},
	}
	var lastNext time.Time
	for i, step := range steps {
		attempt := i + 1
		t.Run(fmt.Sprintf("attempt %d", attempt), func(t *testing.T) {
			now := o.clock.Now()
			delivered, err := o.svc.DeliverOnce(t.Context())
			require.NoError(t, err)
			n := o.get(t, id)
			require.Equal(t, attempt, n.Attempts)
			require.Equal(t, step.status, n.LastStatus)
			require.Equal(t, step.lastError, n.LastError)
			requireLeaseFree(t, n)
			if step.status == 200 {
				require.Equal(t, 1, delivered)
				require.Equal(t, bridge.NotificationDelivered, n.State())
				return
			}
			require.Zero(t, delivered)
			require.Equal(t, bridge.NotificationPending, n.State())
			requireBackoff(t, attempt, n.NextAttemptAt.Sub(now))
			require.True(t, n.NextAttemptAt.After(lastNext), "each retry is later than the one before")
			lastNext = n.NextAttemptAt

			// Not due a nanosecond early.
			o.clock.Set(n.NextAttemptAt.Add(-time.Nanosecond))
			delivered, err = o.svc.DeliverOnce(t.Context())
			require.NoError(t, err)
			require.Zero(t, delivered)
			require.Len(t, o.merchant.Posts(), attempt)
			o.clock.Set(n.NextAttemptAt)
		})
	}
	require.Len(t, o.merchant.Posts(), 3)
}

func TestDeliverBackoffGrowsToCapWithJitter(t *testing.T) {
	o := newOutbox(t)
	o.svc.MerchantWebhook.GiveUpAfter = 1000 * time.Hour
	o.merchant.respond = answer(http.StatusBadGateway, "")
	ids := make([]string, 8)
	for i := range ids {
		ids[i] = o.add(t, fmt.Sprintf("ws-1005-%d", i+1), "payment.authorized", o.clock.Now())
	}
	ratios := map[float64]bool{}
	for attempt := 1; attempt <= 14; attempt++ {
		now := o.clock.Now()
		_, err := o.svc.DeliverOnce(t.Context())
		require.NoError(t, err)
		latest := now
		for _, id := range ids {
			n := o.get(t, id)
			require.Equal(t, attempt, n.Attempts)
			wait := n.NextAttemptAt.Sub(now)
			requireBackoff(t, attempt, wait)
			if attempt >= 10 {
				require.LessOrEqual(t, wait, 72*time.Minute, "capped at 1 h plus jitter")
			}
			ratios[float64(wait)/float64(backoffBase(attempt))] = true
			if n.NextAttemptAt.After(latest) {
				latest = n.NextAttemptAt
			}
		}
		o.clock.Set(latest)
	}
	require.Greater(t, len(ratios), 10, "waits are spread by jitter, not all the same")
}

func TestDeliverGivesUpThenRedeliver(t *testing.T) {
	o := newOutbox(t)
	o.svc.MerchantWebhook.GiveUpAfter = time.Hour
	var healthy atomic.Bool
	o.merchant.respond = func(w http.ResponseWriter, id string, call int) {
		if healthy.Load() {
			answer(http.StatusOK, "")(w, id, call)
			return
		}
		answer(http.StatusInternalServerError, "down for maintenance")(w, id, call)
	}
	created := o.clock.Now()
	id := o.add(t, "ws-1006-1", "payment.authorized", created)
	ctx := t.Context()

	_, err := o.svc.DeliverOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, bridge.NotificationPending, o.get(t, id).State(), "younger than GiveUpAfter: retried")

	o.clock.Set(created.Add(time.Hour))
	_, err = o.svc.DeliverOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, bridge.NotificationPending, o.get(t, id).State(), "exactly GiveUpAfter old: still retried")

	o.clock.Set(o.get(t, id).NextAttemptAt)
	_, err = o.svc.DeliverOnce(ctx)
	require.NoError(t, err)
	n := o.get(t, id)
	require.Equal(t, bridge.NotificationFailed, n.State())
	require.Equal(t, o.clock.Now(), n.GaveUpAt)
	require.Equal(t, 3, n.Attempts)
	require.Equal(t, "HTTP 500: down for maintenance", n.LastError)
	requireLeaseFree(t, n)

	o.clock.Advance(24 * time.Hour)
	delivered, err := o.svc.DeliverOnce(ctx)
	require.NoError(t, err)
	require.Zero(t, delivered)
	require.Len(t, o.merchant.Posts(), 3, "a given-up notification is not retried")

	failed, err := o.store.Notifications(ctx, "", bridge.NotificationFailed, 10)
	require.NoError(t, err)
	require.Len(t, failed, 1)
	require.Equal(t, id, failed[0].ID)

	healthy.Store(true)
	again, err := o.svc.RedeliverNotification(ctx, id)
	require.NoError(t, err)
	require.Equal(t, bridge.NotificationPending, again.State())
	require.Equal(t, 3, again.Attempts, "attempts are kept")
	require.Equal(t, o.clock.Now(), again.NextAttemptAt)

	delivered, err = o.svc.DeliverOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, delivered)
	n = o.get(t, id)
	require.Equal(t, bridge.NotificationDelivered, n.State())
	require.Equal(t, 4, n.Attempts)
	require.NoError(t, o.merchant.Posts()[3].verifyErr)

	_, err = o.svc.RedeliverNotification(ctx, id)
	require.Equal(t, bridge.ECodeConflict, bridge.ErrorCode(err))
	require.Equal(t, "already_delivered", bridge.ErrorReason(err))
}

func TestRedeliverNotification(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(n *bridge.Notification, now time.Time)
		code   string
		reason string
	}{
		{name: "pending in backoff is due now", setup: func(n *bridge.Notification, now time.Time) {
			n.Attempts, n.LastStatus, n.NextAttemptAt = 5, 503, now.Add(40*time.Minute)
		}},
		{name: "given up is due now", setup: func(n *bridge.Notification, now time.Time) {
			n.Attempts, n.LastStatus, n.GaveUpAt = 30, 500, now.Add(-time.Minute)
		}},
		{name: "delivered", setup: func(n *bridge.Notification, now time.Time) {
			n.Attempts, n.LastStatus, n.DeliveredAt = 1, 200, now.Add(-time.Minute)
		}, code: bridge.ECodeConflict, reason: "already_delivered"},
		{name: "unknown", code: bridge.ECodeNotFound, reason: "not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := newOutbox(t)
			ctx := t.Context()
			id := "no-such-notification"
			if tc.setup != nil {
				id = o.add(t, "ws-1007-1", "payment.authorized", o.clock.Now().Add(-2*time.Hour))
				n := o.get(t, id)
				tc.setup(n, o.clock.Now())
				require.NoError(t, o.store.UpdateNotification(ctx, n))
			}
			var before *bridge.Notification
			if tc.setup != nil {
				before = o.get(t, id)
			}

			got, err := o.svc.RedeliverNotification(ctx, id)
			if tc.code != "" {
				require.Equal(t, tc.code, bridge.ErrorCode(err), "%v", err)
				require.Equal(t, tc.reason, bridge.ErrorReason(err))
				require.Nil(t, got)
				if before != nil {
					require.Equal(t, before, o.get(t, id), "nothing changes")
				}
				return
			}
			require.NoError(t, err)
			stored := o.get(t, id)
			require.Equal(t, stored, got)
			require.Equal(t, bridge.NotificationPending, stored.State())
			require.Equal(t, o.clock.Now(), stored.NextAttemptAt)
			require.True(t, stored.GaveUpAt.IsZero())
			require.Equal(t, before.Attempts, stored.Attempts)
			require.Equal(t, before.LastStatus, stored.LastStatus)

			delivered, err := o.svc.DeliverOnce(ctx)
			require.NoError(t, err)
			require.Equal(t, 1, delivered)
		})
	}
}

func TestDeliverInOrderPerReference(t *testing.T) {
	cases := []struct {
		name string
		// fail makes the first post of this notification fail.
		fail string
	}{
		{name: "all succeed"},
		{name: "a failure holds back the rest of its payment", fail: "ws-a-1.payment.captured"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := newOutbox(t)
			o.merchant.delay = 3 * time.Millisecond
			o.merchant.respond = func(w http.ResponseWriter, id string, call int) {
				if id == tc.fail && call == 1 {
					answer(http.StatusInternalServerError, "")(w, id, call)
					return
				}
				answer(http.StatusOK, "")(w, id, call)
			}
			t0 := o.clock.Now().Add(-time.Minute)
			// Interleaved in time across payments, as they happen.
			rows := []struct{ ref, typ string }{
				{"ws-a-1", "payment.authorized"}, {"ws-b-1", "payment.authorized"}, {"ws-a-1", "payment.captured"},
				{"ws-c-1", "payment.authorized"}, {"ws-b-1", "payment.cancelled"}, {"ws-a-1", "payment.refunded"},
			}
			want := map[string][]string{}
			for i, r := range rows {
				id := o.add(t, r.ref, r.typ, t0.Add(time.Duration(i)*time.Millisecond))
				want[r.ref] = append(want[r.ref], id)
			}

			delivered, err := o.svc.DeliverOnce(t.Context())
			require.NoError(t, err)
			if tc.fail == "" {
				require.Equal(t, 6, delivered)
				for ref, ids := range want {
					require.Equal(t, ids, o.merchant.postedIDs(ref), "order of %s", ref)
				}
				return
			}

			require.Equal(t, 4, delivered)
			require.Equal(t, want["ws-a-1"][:2], o.merchant.postedIDs("ws-a-1"), "the refund waits for the capture")
			require.Equal(t, want["ws-b-1"], o.merchant.postedIDs("ws-b-1"))
			failed, held := o.get(t, want["ws-a-1"][1]), o.get(t, want["ws-a-1"][2])
			require.Equal(t, 1, failed.Attempts)
			require.Zero(t, held.Attempts, "holding back is not an attempt")
			require.Equal(t, bridge.NotificationPending, held.State())
			requireLeaseFree(t, held)
			require.False(t, held.NextAttemptAt.Before(failed.NextAttemptAt), "the held one is not due before the failed one")

			o.clock.Set(held.NextAttemptAt)
			delivered, err = o.svc.DeliverOnce(t.Context())
			require.NoError(t, err)
			require.Equal(t, 2, delivered)
			require.Equal(t, []string{want["ws-a-1"][0], want["ws-a-1"][1], want["ws-a-1"][1], want["ws-a-1"][2]},
				o.merchant.postedIDs("ws-a-1"))
		})
	}
}

func TestDeliverBoundedConcurrency(t *testing.T) {
	o := newOutbox(t)
	o.merchant.delay = 40 * time.Millisecond
	for i := range 12 {
		o.add(t, fmt.Sprintf("ws-1008-%d", i+1), "payment.authorized", o.clock.Now())
	}
	delivered, err := o.svc.DeliverOnce(t.Context())
	require.NoError(t, err)
	require.Equal(t, 12, delivered)
	o.merchant.mu.Lock()
	defer o.merchant.mu.Unlock()
	require.LessOrEqual(t, o.merchant.maxInFlight, 4)
	require.GreaterOrEqual(t, o.merchant.maxInFlight, 2, "payments are served side by side")
}

// TestDeliverStopsBeforeLeaseRunsOut: a slow merchant must not keep a row
// past its lease, or another replica could claim and send it meanwhile.
func TestDeliverStopsBeforeLeaseRunsOut(t *testing.T) {
	o := newOutbox(t)
	o.merchant.respond = func(w http.ResponseWriter, id string, call int) {
		o.clock.Advance(30 * time.Second)
		w.WriteHeader(http.StatusOK)
	}
	t0 := o.clock.Now().Add(-time.Minute)
	var ids []string
	for i, typ := range []string{"payment.authorized", "payment.captured", "payment.refunded"} {
		ids = append(ids, o.add(t, "ws-1009-1", typ, t0.Add(time.Duration(i)*time.Millisecond)))
	}
	delivered, err := o.svc.DeliverOnce(t.Context())
	require.NoError(t, err)
	require.Equal(t, 2, delivered, "the third would have started 10 s before the lease ends")
	n := o.get(t, ids[2])
	require.Zero(t, n.Attempts)
	require.Equal(t, bridge.NotificationPending, n.State())
	requireLeaseFree(t, n)

	delivered, err = o.svc.DeliverOnce(t.Context())
	require.NoError(t, err)
	require.Equal(t, 1, delivered)
	require.Equal(t, ids, o.merchant.postedIDs("ws-1009-1"))
}

func TestDeliverOnceCancelled(t *testing.T) {
	o := newOutbox(t)
	arrived := make(chan string, 1)
	o.merchant.arrived = arrived
	o.merchant.hang.Store(true)
	t0 := o.clock.Now().Add(-time.Minute)
	first := o.add(t, "ws-1010-1", "payment.authorized", t0)
	second := o.add(t, "ws-1010-1", "payment.captured", t0.Add(time.Millisecond))

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := o.svc.DeliverOnce(ctx)
		done <- err
	}()
	require.Equal(t, first, <-arrived)
	cancel()
	require.NoError(t, <-done)
	for _, id := range []string{first, second} {
		n := o.get(t, id)
		require.Zero(t, n.Attempts, "%s: a shutdown is not the merchant's failure", id)
		require.Equal(t, bridge.NotificationPending, n.State())
		requireLeaseFree(t, n)
	}

	o.merchant.hang.Store(false)
	go func() {
		for range arrived {
		}
	}()
	delivered, err := o.svc.DeliverOnce(t.Context())
	require.NoError(t, err)
	require.Equal(t, 2, delivered)
	require.Equal(t, []string{first, first, second}, o.merchant.postedIDs("ws-1010-1"))
	close(arrived)
}

// TestDeliverOnceConcurrentCallers runs two replicas, each with its own
// connection to one database, against one merchant: the store's leases
// must keep every notification to one delivery.
func TestDeliverOnceConcurrentCallers(t *testing.T) {
	c := newClock()
	path := filepath.Join(t.TempDir(), "bridge.db")
	first := openStore(t, path, c)
	second := openStore(t, path, c)
	m := &merchant{secret: testSecret, now: c.Now, delay: time.Millisecond}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	o := &outbox{clock: c, store: first, merchant: m, server: srv}

	var ids []string
	for i := range 40 {
		ids = append(ids, o.add(t, fmt.Sprintf("ws-1011-%d", i%10+1), fmt.Sprintf("payment.event%02d", i), c.Now().Add(time.Duration(i-40)*time.Millisecond)))
	}
	replicas := []*bridge.Service{
		newService(first, c, "replica-a", srv.URL),
		newService(second, c, "replica-b", srv.URL),
	}
	var total atomic.Int64
	var wg sync.WaitGroup
	for _, svc := range replicas {
		wg.Go(func() {
			for range 20 {
				n, err := svc.DeliverOnce(t.Context())
				if err != nil {
					t.Error(err)
					return
				}
				total.Add(int64(n))
			}
		})
	}
	wg.Wait()

	require.Equal(t, int64(len(ids)), total.Load())
	counts := map[string]int{}
	for _, p := range m.Posts() {
		require.NoError(t, p.verifyErr)
		counts[p.id]++
	}
	for _, id := range ids {
		require.Equal(t, 1, counts[id], "posts of %s", id)
		require.Equal(t, bridge.NotificationDelivered, o.get(t, id).State())
	}
}

func TestRunOutbox(t *testing.T) {
	o := newOutbox(t)
	o.svc.Start(5 * time.Millisecond)
	// More than one batch, all due: the loop keeps going until they are out.
	var ids []string
	for i := range 45 {
		ids = append(ids, o.add(t, fmt.Sprintf("ws-1012-%d", i%7+1), fmt.Sprintf("payment.event%02d", i),
			o.clock.Now().Add(time.Duration(i-45)*time.Millisecond)))
	}
	require.Eventually(t, func() bool {
		pending, err := o.store.Notifications(t.Context(), "", bridge.NotificationPending, 100)
		require.NoError(t, err)
		return len(pending) == 0
	}, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, o.svc.Close(), "the loops stop when the service closes")
	require.Len(t, o.merchant.Posts(), len(ids))
}
