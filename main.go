// Command vippskco is the Vipps MobilePay external payment method for Kustom
// (Klarna) Checkout. It reads config.yaml, opens the store, wires the
// providers and serves the HTTP surface. With sandbox: true it also runs
// local fakes of Kustom and Vipps and a demo shop; a production build
// (go build -tags nosandbox) leaves the fakes out of the binary.
//
//	go run . help                     every command; help CMD for one
//	go run .                          serve with ./config.yaml
//	go run . -config other.yaml       serve with another file
//	go run . epm webshop -order ID [-locale nb-NO]
//	                                  print the external_payment_methods entry
//	go run . webhooks register|list UNIT · webhooks delete UNIT ID
//	go run . settlements import -provider vipps|kustom FILE
//	go run . reconcile [-from DAY] [-to DAY] [-format csv|json] [-dialect en|no]
//	go run . smoke UNIT [-phone MSISDN] [-wait 5m] [-return URL]
//	                                  a real 2 NOK payment, captured and refunded
//
// The command line is in cli.go: exit status 0 done, 1 failed, 2 usage
// error (nothing was done).
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"

	"vippskco/bridge"
	"vippskco/bridge/config"
	"vippskco/bridge/finance"
	"vippskco/bridge/i18n"
	"vippskco/bridge/metrics"
	"vippskco/bridge/postgres"
	"vippskco/bridge/providerlog"
	"vippskco/bridge/sandbox"
	"vippskco/bridge/sqlite"
	"vippskco/bridge/web"
	"vippskco/klarna"
	"vippskco/templates"
	"vippskco/vipps"
)

func main() {
	ctx, stop := signalContext()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	report(os.Stderr, err)
	os.Exit(exitCode(err))
}

// signalContext is cancelled by Ctrl-C or SIGTERM: the server drains, a
// command stops where it is and closes the store.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// serve runs the service until ctx ends or the server fails.
func serve(ctx context.Context, cfg *config.Config, stderr io.Writer) error {
	logger := slog.New(bridge.ContextHandler(slog.NewJSONHandler(stderr, nil)))
	slog.SetDefault(logger)
	m := NewMain(cfg, logger)
	m.Now = testClock // nil outside the crash test's child process
	return serveMain(ctx, m, stderr)
}

// testClock is nil in the product. The crash test (crash_test.go) re-runs
// its own binary as the service and sets it there, before calling run, so
// that it can move the restarted service's clock past the leases a killed
// process left behind instead of waiting minutes for them.
var testClock func() time.Time

// serveMain runs m until ctx ends or its HTTP server fails, then closes it.
// It is serve's whole life after the Main is built, apart so that tests can
// run it on a Main of their own (its providers pointed at their fakes).
func serveMain(ctx context.Context, m *Main, stderr io.Writer) error {
	cfg, logger := m.Config, m.Logger
	if err := m.Run(ctx); err != nil {
		return err
	}
	logger.Info("listening", "addr", m.Addr(), "public_url", m.PublicURL(), "sandbox", cfg.Sandbox)
	if cfg.Sandbox {
		fmt.Fprintf(stderr, "\nSandbox is running. Open %s/shop/ to pay with the fake Vipps.\n\n", m.PublicURL())
	}
	var serveErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case serveErr = <-m.Failed():
		logger.Error("the HTTP server stopped; shutting down", "err", serveErr)
	}
	return errors.Join(serveErr, m.Close())
}

// Main is the whole service. Tests start it on port 0 with a temporary
// database; main starts it with the configuration file.
type Main struct {
	Config *config.Config
	Logger *slog.Logger
	// Now is the clock of the service and the sandbox fakes; nil means
	// time.Now. Tests set it to move time.
	Now func() time.Time
	// Providers overrides where the provider clients go (tests point them
	// at fakes of their own, even in sandbox mode); its zero value takes
	// the configuration, or the sandbox's fakes.
	Providers Providers
	// PollEvery is how often the poller, the operation sweep and the
	// outbox run; zero means 500 ms.
	PollEvery time.Duration
	// NoLoops leaves the poller, the operation sweep and the outbox to the
	// caller: Run does not start their loops, and the caller runs one
	// round at a time with Service.PollOnce, SweepOperations and
	// DeliverOnce. Tests that step a clock use it, so that background work
	// happens only when they say and never while they move time.
	NoLoops bool

	// Set by Run.
	Store   bridge.Store
	Service *bridge.Service
	Finance *finance.Service
	// Metrics are served at /metrics; Run makes them when nil.
	Metrics *metrics.Metrics
	Sandbox *sandbox.Sandbox
	// ShopHooks is the demo shop's notification receiver (sandbox only).
	ShopHooks *sandbox.HookReceiver

	listener    net.Listener
	server      *http.Server
	opsListener net.Listener // server.ops_addr; nil when unset
	opsServer   *http.Server
	requests    web.InFlight
	endRequests context.CancelFunc
	publicURL   string
	failed      chan error
}

// Providers says where the provider clients send their requests.
type Providers struct {
	// KustomURL replaces kustom.base_url; VippsURL replaces every unit's
	// vipps.base_url.
	KustomURL, VippsURL string
	// HTTPClient carries every provider call; nil means a default one.
	HTTPClient *http.Client
	// Sleep is how the Vipps clients wait between retries; nil waits in
	// real time. A test that steps a clock makes it return at once, so a
	// retried call costs no wall time.
	Sleep func(ctx context.Context, d time.Duration) error
}

// NewMain returns a Main for cfg; Run starts it.
func NewMain(cfg *config.Config, logger *slog.Logger) *Main {
	if logger == nil {
		logger = slog.Default()
	}
	return &Main{Config: cfg, Logger: logger}
}

// Run listens, opens the store, wires the service to the providers (in
// sandbox mode, to the fakes it starts) and serves. It returns once the
// service is ready; Failed reports if serving stops by itself.
func (m *Main) Run(ctx context.Context) (err error) {
	cfg := m.Config
	defer func() {
		if err != nil {
			m.closeAll()
		}
	}()
	if m.listener, err = net.Listen("tcp", cfg.Server.Addr); err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Server.Addr, err)
	}
	if cfg.Server.OpsAddr != "" {
		if m.opsListener, err = net.Listen("tcp", cfg.Server.OpsAddr); err != nil {
			return fmt.Errorf("listen on %s (server.ops_addr): %w", cfg.Server.OpsAddr, err)
		}
	}
	if cfg.Sandbox && cfg.SandboxPublic {
		m.Logger.Warn("sandbox_public: the sandbox's fake providers and demo shop are reachable beyond this machine; never use it with real payments",
			"addr", cfg.Server.Addr, "public_url", cfg.Server.PublicURL)
	}
	m.publicURL = cfg.Server.PublicURL
	if cfg.Sandbox && strings.HasSuffix(cfg.Server.Addr, ":0") {
		// Port 0 (tests): the public URL is wherever we really listen.
		m.publicURL = "http://" + m.listener.Addr().String()
	}
	providers := m.Providers
	if cfg.Sandbox {
		if m.Sandbox, err = sandbox.New(cfg, m.publicURL, m.Logger, m.Now); err != nil {
			return err
		}
		// One clock for the fakes and the service: when the sandbox closes
		// the day, our webhook timestamp checks, leases and deadlines move
		// with the fake Vipps that signs the webhooks.
		m.Now = m.Sandbox.Now
		// The sandbox's fakes stand in for the providers unless a test
		// pointed the clients at fakes of its own.
		providers.KustomURL = cmp.Or(providers.KustomURL, m.Sandbox.KustomURL())
		providers.VippsURL = cmp.Or(providers.VippsURL, m.Sandbox.VippsURL())
	}
	if m.Store, err = openStore(ctx, cfg, m.Now, m.Logger); err != nil {
		return err
	}
	if m.Metrics == nil {
		m.Metrics = metrics.New()
	}
	a, err := wire(cfg, m.Store, providers, m.publicURL, m.Logger, m.Now, m.Metrics)
	if err != nil {
		return err
	}
	m.Service, m.Finance = a.service, a.finance
	pages, err := web.ParsePages(templates.FS)
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	if m.Sandbox != nil {
		m.ShopHooks, err = m.Sandbox.Mount(mux, sandbox.App{
			Kustom: a.kustom, Service: a.service, Finance: a.finance, MerchantToken: cfg.APITokens.Merchant,
			WebhookSecret: cfg.MerchantWebhook.Secret, Now: m.Now,
		})
		if err != nil {
			return err
		}
	}
	api := &web.HTTP{
		Service: a.service, Finance: a.finance, Metrics: m.Metrics, Pages: pages, Logger: m.Logger, Ready: m.ready,
		MerchantToken: cfg.APITokens.Merchant, FinanceToken: cfg.APITokens.Finance, FinanceLang: financeLang(cfg),
		TrustedProxies: cfg.Server.TrustedProxies, ServerTiming: cfg.Server.ServerTiming,
		MetricsElsewhere: m.opsListener != nil, MetricsToken: cfg.APITokens.Metrics, MetricsOpen: cfg.MetricsOpen(),
	}
	m.logMetricsPlace(api)
	if rl := cfg.Server.ShopperRateLimit; rl.PerSecond > 0 {
		api.ShopperLimit = web.NewRateLimiter(rl.PerSecond, rl.Burst)
	}
	mux.Handle("/", api.Handler())

	// Requests run under a context of ours, so that Close can end the ones
	// still running after the drain, and are counted, so that it can let
	// them record what they learned before it closes the store.
	reqCtx, endRequests := context.WithCancel(context.Background())
	m.endRequests = endRequests
	m.server = &http.Server{
		Handler: m.requests.Count(mux), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		// A body read and an answer written within this, unless the router
		// extends the deadline of an authenticated request (web.HTTP).
		ReadTimeout: web.DefaultRequestTimeout, WriteTimeout: web.DefaultRequestTimeout,
		BaseContext: func(net.Listener) context.Context { return reqCtx },
		ConnState:   m.requests.ConnState,
	}
	m.failed = make(chan error, 2)
	go func() {
		if err := m.server.Serve(m.listener); !errors.Is(err, http.ErrServerClosed) {
			m.failed <- fmt.Errorf("serving HTTP: %w", err)
		}
	}()
	if m.opsListener != nil {
		m.opsServer = &http.Server{Handler: web.OpsHandler(m.Metrics), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
		go func() {
			if err := m.opsServer.Serve(m.opsListener); !errors.Is(err, http.ErrServerClosed) {
				m.failed <- fmt.Errorf("serving the operations listener: %w", err)
			}
		}()
		m.Logger.Info("operations listener: /metrics and /debug/pprof/", "addr", m.opsListener.Addr().String())
	}
	if cfg.RegisterWebhooks || cfg.Sandbox {
		m.registerWebhooks(ctx)
	}
	if !m.NoLoops {
		m.Service.Start(m.PollEvery)
	}
	return nil
}

// logMetricsPlace says at start-up where /metrics can be read.
func (m *Main) logMetricsPlace(api *web.HTTP) {
	switch {
	case api.MetricsElsewhere:
		m.Logger.Info("metrics: served on the operations listener only (server.ops_addr), without a token", "addr", m.opsListener.Addr().String())
	case api.MetricsToken != "":
		m.Logger.Info("metrics: served on the public listener to holders of the api_tokens.metrics_env bearer token", "addr", m.listener.Addr().String())
	case api.MetricsOpen:
		m.Logger.Info("metrics: served on the public listener without a token (sandbox on loopback)", "addr", m.listener.Addr().String())
	default:
		m.Logger.Info("metrics: not served; set server.ops_addr or api_tokens.metrics_env to read them")
	}
}

// registerWebhooks makes sure every unit without a configured secret has
// its webhook registered at Vipps.
func (m *Main) registerWebhooks(ctx context.Context) {
	for _, u := range m.Config.Units {
		if u.Vipps.WebhookSecret != "" {
			continue
		}
		if _, err := m.Service.EnsureWebhook(ctx, u.ID); err != nil {
			// Without webhooks the poller still finds every outcome, only
			// later; that is no reason to refuse to start.
			m.Logger.Error("webhook registration failed; relying on polling", "unit", u.ID, "err", err)
		}
	}
}

// Failed delivers the error that stopped the HTTP server, if it stops by
// itself; Close does not count.
func (m *Main) Failed() <-chan error { return m.failed }

// ready reports whether the store is reachable and migrated exactly as
// this build expects: neither behind it nor by a newer build.
func (m *Main) ready(ctx context.Context) error {
	if err := m.Store.Ping(ctx); err != nil {
		return fmt.Errorf("store unreachable: %w", err)
	}
	applied, err := m.Store.MigrationsApplied(ctx)
	if err != nil {
		return err
	}
	if !applied {
		return errors.New("the store's schema is not this build's: a migration is not applied, or the database holds a newer build's")
	}
	return nil
}

// Addr is the address the service listens on.
func (m *Main) Addr() string { return m.listener.Addr().String() }

// OpsAddr is the operations listener's address; "" when there is none.
func (m *Main) OpsAddr() string {
	if m.opsListener == nil {
		return ""
	}
	return m.opsListener.Addr().String()
}

// PublicURL is the base URL shoppers and providers use.
func (m *Main) PublicURL() string { return m.publicURL }

// drainTimeout bounds how long Close lets requests in flight finish before
// it cancels what they wait for and closes their connections.
const drainTimeout = 5 * time.Second

// endGrace bounds how long Close then waits for those requests to return:
// their provider calls cancelled, they only write down what they learned
// (an operation's unknown outcome, the provider log), and need the store
// for that.
const endGrace = 2 * time.Second

// Close stops serving, letting requests in flight finish (at most
// drainTimeout; the ones left are cancelled and get endGrace to record
// what they learned), stops the background work (at most 10 s more: leases
// let what it abandons be taken up again) and closes the store.
func (m *Main) Close() error {
	var errs []error
	if m.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		stopSweep := m.closeUnusedConns()
		err := m.server.Shutdown(ctx)
		stopSweep()
		if err != nil {
			m.Logger.Warn("requests still in flight after the drain timeout; cancelling them", "err", err)
			m.endRequests()
			errs = append(errs, m.server.Close())
			if !m.requests.Wait(endGrace) {
				m.Logger.Warn("requests still running after they were cancelled; closing the store under them")
			}
		}
		m.endRequests()
		cancel()
	}
	if m.Service != nil {
		errs = append(errs, m.Service.Close())
	}
	errs = append(errs, m.closeAll())
	return errors.Join(errs...)
}

// closeUnusedConns closes, while Shutdown drains, the connections that
// never began a request (Shutdown would wait 5 s for each); it returns the
// function that stops it.
func (m *Main) closeUnusedConns() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		// Each pass after a tick, so that Shutdown has begun: from then on
		// the server itself drops a request read on a new connection, and
		// closing one that is still quiet changes nothing its client sees.
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			m.requests.CloseUnused(250 * time.Millisecond)
		}
	}()
	return func() { close(done); wg.Wait() }
}

// storeCloseTimeout bounds the store's Close: a PostgreSQL pool waits for
// every connection to come back, and one stuck on a database that stopped
// answering without closing its socket could hold it for the kernel's
// retransmission limit, many minutes.
const storeCloseTimeout = 5 * time.Second

// closeWithin runs close, and gives up waiting after d.
func closeWithin(d time.Duration, close func() error) error {
	done := make(chan error, 1)
	go func() { done <- close() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		return fmt.Errorf("the store did not close within %s; leaving it to the process's exit", d)
	}
}

func (m *Main) closeAll() error {
	var errs []error
	if m.Sandbox != nil {
		m.Sandbox.Close()
	}
	if m.Store != nil {
		errs = append(errs, closeWithin(storeCloseTimeout, m.Store.Close))
	}
	if m.server == nil && m.listener != nil {
		m.listener.Close()
	}
	if m.opsServer != nil {
		m.opsServer.Close()
	} else if m.opsListener != nil {
		m.opsListener.Close()
	}
	return errors.Join(errs...)
}

// openStore opens the configured store; logger (nil: slog.Default) gets
// what the PostgreSQL store does about an unavailable database, and the
// failures of SQLite's checkpoints.
func openStore(ctx context.Context, cfg *config.Config, now func() time.Time, logger *slog.Logger) (bridge.Store, error) {
	switch cfg.Storage.Driver {
	case "sqlite":
		st, err := sqlite.Open(ctx, cfg.Storage.DSN, now)
		if err != nil {
			return nil, fmt.Errorf("storage: %w", err)
		}
		st.SetLogger(logger)
		return st, nil
	case "postgres":
		st, err := postgres.Open(ctx, cfg.Storage.DSN, now)
		if err != nil {
			return nil, fmt.Errorf("storage: %w", err)
		}
		st.Logger = logger
		return st, nil
	}
	return nil, fmt.Errorf("storage.driver %q is not available in this build", cfg.Storage.Driver)
}

// app is the service wired to its store and providers.
type app struct {
	kustom  *klarna.Client
	vipps   map[string]*vipps.Client
	service *bridge.Service
	finance *finance.Service
}

// wire builds the provider clients, the payment service and the finance
// service from the configuration. It is the one way they are built: the
// server and every command use it, so a command sees the units exactly as
// the server does.
func wire(cfg *config.Config, st bridge.Store, p Providers, publicURL string, logger *slog.Logger, now func() time.Time, m *metrics.Metrics) (*app, error) {
	if logger == nil {
		logger = slog.Default()
	}
	rec := &providerlog.Recorder{Store: st, Logger: logger}
	kustomHTTP, vippsHTTP := p.HTTPClient, p.HTTPClient
	if p.HTTPClient == nil {
		// The clients' own defaults (the APIs' timeouts), on one pool of
		// connections that keeps enough of them open for a busy shop.
		t := providerTransport()
		kustomHTTP = &http.Client{Transport: t, Timeout: 30 * time.Second}
		vippsHTTP = &http.Client{Transport: t, Timeout: vipps.DefaultTimeout}
	}
	if cfg.Server.ServerTiming {
		// Provider round trips are timed into the request's Server-Timing
		// header.
		kustomHTTP = web.TimedClient(kustomHTTP, 30*time.Second)
		vippsHTTP = web.TimedClient(vippsHTTP, vipps.DefaultTimeout)
	}
	if m != nil {
		// Only a real one: a nil *metrics.Metrics in the interface would
		// not read as "none" to the domain.
		rec.Metrics = m
	}
	kc, err := klarna.New(klarna.Config{
		BaseURL: cmp.Or(p.KustomURL, cfg.Kustom.BaseURL), Username: cfg.Kustom.Username, APIKey: cfg.Kustom.APIKey,
		HTTPClient: kustomHTTP, UserAgent: cfg.System.Name + "/" + cfg.System.Version, Observer: rec.Kustom,
	})
	if err != nil {
		return nil, fmt.Errorf("kustom client: %w", err)
	}
	a := &app{kustom: kc, vipps: map[string]*vipps.Client{}}
	units := map[string]*bridge.Unit{}
	finUnits := map[string]*finance.Unit{}
	for _, u := range cfg.Units {
		vc, err := vipps.New(vipps.Config{
			BaseURL: cmp.Or(p.VippsURL, u.Vipps.BaseURL),
			Credentials: vipps.Credentials{
				ClientID: u.Vipps.ClientID, ClientSecret: u.Vipps.ClientSecret,
				SubscriptionKey: u.Vipps.SubscriptionKey, MSN: u.MSN,
			},
			System: vipps.SystemInfo{
				Name: cfg.System.Name, Version: cfg.System.Version,
				PluginName: cfg.System.PluginName, PluginVersion: cfg.System.PluginVersion,
			},
			HTTPClient: vippsHTTP,
			Sleep:      p.Sleep,
			Observer:   rec.Vipps,
		})
		if err != nil {
			return nil, fmt.Errorf("vipps client for unit %s: %w", u.ID, err)
		}
		a.vipps[u.ID] = vc
		var api bridge.VippsAPI = vc
		if u.API == config.APIEcom {
			api = bridge.NewEcomVipps(vc, vc, publicURL, u.ID, u.Vipps.ClientSecret)
		}
		units[u.ID] = &bridge.Unit{
			ID: u.ID, Name: u.Name, MSN: u.MSN, Capture: u.Capture, Currency: u.Currency,
			Countries: u.Countries, ReferencePrefix: u.ReferencePrefix,
			ConfirmationURL: cfg.ExpandPublicURL(u.ConfirmationURL, publicURL),
			CheckoutURL:     cfg.ExpandPublicURL(u.CheckoutURL, publicURL),
			EPMName:         u.EPMName, EPMImageURL: u.EPMImageURL,
			Vipps: api, Webhooks: vc, WebhookSecret: u.Vipps.WebhookSecret,
		}
		finUnits[u.ID] = &finance.Unit{ID: u.ID, MSN: u.MSN, Currency: u.Currency, Report: vc, ExpectedFee: u.ExpectedFee}
		if err := reportKeys(cfg, u, finUnits[u.ID], vc, vippsHTTP, p, rec); err != nil {
			return nil, err
		}
	}
	var signer *bridge.RedirectSigner
	if cfg.RedirectSigning.Secret != "" {
		signer = &bridge.RedirectSigner{Secret: []byte(cfg.RedirectSigning.Secret), TTL: cfg.RedirectSigning.TTL}
	}
	hostname, _ := os.Hostname()
	a.service = &bridge.Service{
		Store: st, Kustom: kc, Units: units, PublicURL: publicURL, Signer: signer, Logger: logger, Now: now,
		Owner:              fmt.Sprintf("%s-%d-%s", hostname, os.Getpid(), uuid.NewString()[:8]),
		PollReadsPerSecond: cfg.Poller.MaxReadsPerSecond,
		MerchantWebhook: bridge.MerchantWebhook{
			URL: cfg.ExpandPublicURL(cfg.MerchantWebhook.URL, publicURL), Secret: cfg.MerchantWebhook.Secret,
			Client: &http.Client{Timeout: 10 * time.Second},
		},
		ProviderLogRetention:   time.Duration(cfg.ProviderLog.RetentionDays) * 24 * time.Hour,
		CaptureDeadlineWarning: cfg.MerchantWebhook.CaptureDeadlineWarning,
	}
	if m != nil {
		a.service.Metrics = m
	}
	a.finance = &finance.Service{Store: st, Units: finUnits, Kustom: kc, Metrics: m, Now: now}
	return a, nil
}

// providerTransport is Go's default transport keeping up to 256 idle
// connections per provider host, not 2: with many shoppers at once, every
// call past the second would otherwise open (and TLS-handshake) a new
// connection and leave it in TIME_WAIT.
func providerTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	return t
}

// financeLang is the finance page's language: that of the first sales
// unit's first country (nb for NO, da for DK, fi for FI), else English.
func financeLang(cfg *config.Config) i18n.Lang {
	if len(cfg.Units) > 0 && len(cfg.Units[0].Countries) > 0 {
		if l, ok := i18n.CountryLang(cfg.Units[0].Countries[0]); ok {
			return l
		}
	}
	return i18n.LangEN
}
