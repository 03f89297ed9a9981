// Package vippstest is a strict, stateful fake of the Vipps MobilePay APIs
// that the bridge uses: the access token API, ePayment API v1 (with the
// test-only force approve) and the Webhooks API v1, plus a small landing page
// that stands in for landing.vipps.no. It is meant for tests and for the
// sandbox, in the spirit of net/http/httptest.
//
// The fake is strict, not friendly: what the real API rejects, it rejects
// with the same HTTP status and the same RFC 7807 problem body, carrying a
// traceId and, for domain errors, extraDetails [{"name":"ErrorCode",
// "reason":"NNNN"}]. Some errors (401, 429) come in the Azure APIM format,
// {"statusCode":401,"message":"…"}, as they do from the real gateway.
//
// Time-based behaviour (token lifetime, the 10-minute expiry of unpaid
// payments, rate-limit windows, timestamps) follows the injected clock in
// Options.Now, so a test can move time without sleeping.
package vippstest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Options configures a fake server. The zero value is usable.
type Options struct {
	// Now is the clock; it defaults to time.Now. Every time-based rule of
	// the fake reads it.
	Now func() time.Time
	// AllowInsecureLocalReturnURL accepts http://localhost and
	// http://127.0.0.1 (any port) as returnUrl and as webhook URL, for the
	// sandbox and for tests. Real Vipps requires https (or, for returnUrl, a
	// custom scheme).
	AllowInsecureLocalReturnURL bool
	// WebhookClient delivers webhooks; it defaults to a client with a 10 s
	// timeout. Redirects are never followed, as at Vipps.
	WebhookClient *http.Client
	// Seed makes tokens, references and secrets reproducible; zero seeds
	// from crypto/rand.
	Seed int64
	// RateLimits overrides the per-reference rate limits.
	RateLimits RateLimits
	// WebhookMaxAttempts bounds the delivery attempts of one webhook
	// (default 5). Real Vipps retries for 7 days; a test cannot wait that long.
	WebhookMaxAttempts int
	// WebhookBackoff is the real-time wait after the first failed attempt;
	// it doubles after each further failure (default 50 ms).
	WebhookBackoff time.Duration
	// WebhookTimeout is how long one delivery may take before it counts as
	// failed (default 10 s, as at Vipps).
	WebhookTimeout time.Duration
	// RecordLimit bounds how many recorded requests and webhook deliveries
	// are kept, so that a long-running sandbox does not grow without end;
	// the oldest go first (default 10 000). Calls counts every request.
	RecordLimit int
	// SweepInterval is the real-time period of the background sweep that
	// applies time-based transitions (expiry) and fires their webhooks. It
	// defaults to 1 s for NewServer; NewUnstartedHandler sweeps only when it
	// is set. Tick applies the same transitions on demand.
	SweepInterval time.Duration
}

// RateLimits are the per-minute request limits of the ePayment API. Zero
// means the real default; a negative value disables the limit.
type RateLimits struct {
	// Modify limits create, capture, cancel and refund per reference and
	// MSN (default 5 per minute).
	Modify int
	// Query limits get payment and get events per reference and
	// subscription key (default 120 per minute).
	Query int
}

const (
	defaultModifyLimit     = 5
	defaultQueryLimit      = 120
	defaultWebhookAttempts = 5
	defaultWebhookBackoff  = 50 * time.Millisecond
	defaultWebhookTimeout  = 10 * time.Second
	defaultSweepInterval   = time.Second
	defaultRecordLimit     = 10000
	tokenLifetime          = time.Hour // test environment; production is 24 h
	paymentLifetime        = 10 * time.Minute
)

// Server is one fake Vipps environment: its sales units, tokens, payments,
// webhook registrations and everything it has recorded. All methods are
// safe for concurrent use.
type Server struct {
	opts    Options
	baseURL string
	handler http.Handler
	ts      *httptest.Server
	client  *http.Client

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	// mu guards everything below. One lock keeps the state machine simple;
	// a request holds it while it acts, never while it waits on the network.
	mu          sync.Mutex
	rnd         *mrand.ChaCha8
	units       map[string]*SalesUnit
	partners    map[string]*Partner
	accounting  map[string]*AccountingPartner
	tokens      map[string]accessToken
	payments    map[paymentKey]*payment
	order       []paymentKey // creation order
	open        openPayments // still CREATED, soonest to expire first
	byToken     map[string]paymentKey
	idem        map[idemScope]*idemEntry
	rate        map[rateKey][]time.Time
	hooks       map[string]*registration
	hookOrder   []string
	outboxes    map[string]*outbox
	pending     int
	drained     chan struct{}
	deliveries  []Delivery
	requests    []*RecordedRequest
	calls       map[string]int
	faults      Faults
	faultRand   *mrand.Rand
	faultCounts FaultCounts
	nextPSP     int64
	report      reportState // the Report API's ledgers (report.go)

	ecomCallbacks []*EcomCallback // eCom callbacks made (ecom.go)
	ecomDrop      int
}

// NewServer starts a fake on a local port, like httptest.NewServer. The
// caller must Close it.
func NewServer(opts Options) *Server {
	if opts.SweepInterval == 0 {
		opts.SweepInterval = defaultSweepInterval
	}
	s := newServer(opts)
	s.ts = httptest.NewUnstartedServer(s.handler)
	s.baseURL = "http://" + s.ts.Listener.Addr().String()
	s.ts.Start()
	s.startSweep()
	return s
}

// NewUnstartedHandler builds a fake that someone else serves under baseURL,
// e.g. mounted at http://127.0.0.1:8080/sandbox/vipps behind
// http.StripPrefix. baseURL is used for the redirectUrl and the landing
// page's links. Close stops its webhook deliveries and sweep.
func NewUnstartedHandler(opts Options, baseURL string) *Server {
	s := newServer(opts)
	s.baseURL = strings.TrimSuffix(baseURL, "/")
	s.startSweep()
	return s
}

func newServer(opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.WebhookMaxAttempts <= 0 {
		opts.WebhookMaxAttempts = defaultWebhookAttempts
	}
	if opts.WebhookBackoff <= 0 {
		opts.WebhookBackoff = defaultWebhookBackoff
	}
	if opts.WebhookTimeout <= 0 {
		opts.WebhookTimeout = defaultWebhookTimeout
	}
	if opts.RecordLimit <= 0 {
		opts.RecordLimit = defaultRecordLimit
	}
	var seed [32]byte
	if opts.Seed != 0 {
		binary.LittleEndian.PutUint64(seed[:8], uint64(opts.Seed))
	} else {
		_, _ = rand.Read(seed[:]) // crypto/rand.Read never fails on supported platforms
	}
	base := opts.WebhookClient
	if base == nil {
		base = &http.Client{}
	}
	client := *base
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:     opts,
		client:   &client,
		ctx:      ctx,
		cancel:   cancel,
		rnd:      mrand.NewChaCha8(seed),
		units:    map[string]*SalesUnit{},
		tokens:   map[string]accessToken{},
		payments: map[paymentKey]*payment{},
		byToken:  map[string]paymentKey{},
		idem:     map[idemScope]*idemEntry{},
		rate:     map[rateKey][]time.Time{},
		hooks:    map[string]*registration{},
		outboxes: map[string]*outbox{},
		drained:  make(chan struct{}),
		calls:    map[string]int{},
	}
	close(s.drained)
	s.nextPSP = 2018200000 + int64(s.randUint64()%100000)*1000
	s.faultRand = mrand.New(mrand.NewPCG(s.randUint64(), s.randUint64()))
	s.handler = s.routes()
	return s
}

// URL is the base URL of the fake: the httptest address for NewServer, the
// given baseURL for NewUnstartedHandler. The APIs live under it as at
// apitest.vipps.no (URL()+"/epayment/v1/payments", …).
func (s *Server) URL() string { return s.baseURL }

// Handler serves the fake's APIs and landing page.
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops the background sweep and the webhook deliveries, releases
// requests that hang because of an injected fault, and shuts down the
// listener started by NewServer.
func (s *Server) Close() {
	s.once.Do(func() {
		// Cancelling under the lock orders it with enqueue, which starts
		// delivery workers only while the server is open.
		s.mu.Lock()
		s.cancel()
		s.mu.Unlock()
		if s.ts != nil {
			s.ts.Close()
		}
		s.wg.Wait()
	})
}

func (s *Server) startSweep() {
	if s.opts.SweepInterval <= 0 {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(s.opts.SweepInterval)
		defer t.Stop()
		for {
			select {
			case <-s.ctx.Done():
				return
			case <-t.C:
				s.Tick()
			}
		}
	}()
}

// Tick applies the time-based transitions that are due by the injected
// clock (a CREATED payment not acted on for 10 minutes becomes EXPIRED) and
// queues their webhooks. Every request does the same lazily.
func (s *Server) Tick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
}

func (s *Server) now() time.Time { return s.opts.Now().UTC() }

func (s *Server) modifyLimit() int {
	if s.opts.RateLimits.Modify == 0 {
		return defaultModifyLimit
	}
	return s.opts.RateLimits.Modify
}

func (s *Server) queryLimit() int {
	if s.opts.RateLimits.Query == 0 {
		return defaultQueryLimit
	}
	return s.opts.RateLimits.Query
}

// isLocalHost reports whether host (without port) is a loopback name that
// AllowInsecureLocalReturnURL admits.
func isLocalHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}
