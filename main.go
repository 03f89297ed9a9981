// Command vippskco is the Vipps MobilePay external payment method for Kustom
// (Klarna) Checkout. It reads config.yaml, opens the store, wires the
// providers and serves the HTTP surface. With sandbox: true it also runs
// local fakes of Kustom and Vipps and a demo shop.
//
//	go run .                          serve with ./config.yaml
//	go run . -config other.yaml       serve with another file
//	go run . epm webshop [-order ID] [-locale nb-NO]
//	                                  print the external_payment_methods entry
//	go run . webhooks register|list UNIT · webhooks delete UNIT ID
//	go run . settlements import -provider vipps|kustom FILE
//	go run . reconcile [-from DAY] [-to DAY] [-format csv|json]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
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
	"vippskco/bridge/postgres"
	"vippskco/bridge/sandbox"
	"vippskco/bridge/sqlite"
	"vippskco/klarna"
	"vippskco/templates"
	"vippskco/vipps"
)

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vippskco", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "config.yaml", "path of the configuration file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath, getenv)
	if err != nil {
		return err
	}
	switch cmd := fs.Arg(0); cmd {
	case "", "serve":
		return serve(cfg, stderr)
	case "epm":
		return printEPM(cfg, fs.Args()[1:], stdout, stderr)
	case "webhooks":
		return webhooksCommand(cfg, fs.Args()[1:], stdout)
	case "settlements":
		return settlementsCommand(cfg, fs.Args()[1:], stdout, stderr)
	case "reconcile":
		return reconcileCommand(cfg, fs.Args()[1:], stdout, stderr)
	default:
		return fmt.Errorf("unknown command %q (serve, epm, webhooks, settlements or reconcile)", cmd)
	}
}

func serve(cfg *config.Config, stderr io.Writer) error {
	logger := slog.New(bridge.ContextHandler(slog.NewJSONHandler(stderr, nil)))
	slog.SetDefault(logger)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := NewMain(cfg, logger)
	m.Now = testClock // nil outside the crash test's child process
	if err := m.Run(ctx); err != nil {
		return err
	}
	logger.Info("listening", "addr", m.Addr(), "public_url", m.PublicURL(), "sandbox", cfg.Sandbox)
	if cfg.Sandbox {
		fmt.Fprintf(stderr, "\nSandbox is running. Open %s/shop/ to pay with the fake Vipps.\n\n", m.PublicURL())
	}
	<-ctx.Done()
	logger.Info("shutting down")
	return m.Close()
}

// testClock is nil in the product. The crash test (crash_test.go) re-runs
// its own binary as the service and sets it there, before calling run, so
// that it can move the restarted service's clock past the leases a killed
// process left behind instead of waiting minutes for them.
var testClock func() time.Time

// printEPM prints the external_payment_methods entry for a unit.
func printEPM(cfg *config.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("epm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	order := fs.String("order", "", "KCO order id: print a signed redirect_url for this order")
	locale := fs.String("locale", "nb-NO", "the order's locale (picks the description's language)")
	unitID := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		unitID, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if unitID == "" {
		return errors.New("usage: epm UNIT [-order KCO_ORDER_ID] [-locale nb-NO]")
	}
	svc := &bridge.Service{Units: units(cfg, nil, cfg.Server.PublicURL), PublicURL: cfg.Server.PublicURL, Signer: signer(cfg)}
	entry, err := svc.EPMEntry(unitID, *order, *locale)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(map[string]any{"external_payment_methods": []any{entry}})
}

// webhooksCommand registers, lists or deletes a unit's webhook at Vipps:
// `webhooks register UNIT`, `webhooks list UNIT`, `webhooks delete UNIT ID`.
func webhooksCommand(cfg *config.Config, args []string, stdout io.Writer) error {
	if len(args) < 2 {
		return errors.New("usage: webhooks register|list UNIT, or webhooks delete UNIT ID")
	}
	if cfg.Sandbox {
		return errors.New("in sandbox mode the fake Vipps lives inside the running service, which registers its webhooks at start-up")
	}
	action, unitID := args[0], args[1]
	u, ok := cfg.Unit(unitID)
	if !ok {
		return fmt.Errorf("no unit %q in the configuration", unitID)
	}
	ctx := context.Background()
	st, err := openStore(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	rec := &bridge.ExchangeRecorder{Store: st, Logger: slog.Default()}
	vc, err := vippsClient(cfg, *u, u.Vipps.BaseURL, nil, rec)
	if err != nil {
		return err
	}
	svc := &bridge.Service{Store: st, Units: units(cfg, map[string]bridge.VippsAPI{u.ID: vc}, cfg.Server.PublicURL), PublicURL: cfg.Server.PublicURL}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	switch action {
	case "register":
		reg, err := svc.EnsureWebhook(ctx, u.ID)
		if err != nil {
			return err
		}
		return enc.Encode(map[string]any{"unit": reg.Unit, "id": reg.ID, "url": reg.URL, "events": reg.Events})
	case "list":
		list, err := vc.ListWebhooks(ctx)
		if err != nil {
			return err
		}
		return enc.Encode(map[string]any{"webhooks": list})
	case "delete":
		if len(args) < 3 {
			return errors.New("usage: webhooks delete UNIT ID")
		}
		if err := vc.DeleteWebhook(ctx, args[2]); err != nil {
			return err
		}
		if reg, err := st.WebhookRegistration(ctx, u.ID); err == nil && reg.ID == args[2] {
			if err := st.DeleteWebhookRegistration(ctx, u.ID); err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "deleted webhook %s of unit %s\n", args[2], u.ID)
		return nil
	}
	return fmt.Errorf("unknown webhooks action %q (register, list or delete)", action)
}

// openStore opens the configured store.
func openStore(ctx context.Context, cfg *config.Config, now func() time.Time) (bridge.Store, error) {
	switch cfg.Storage.Driver {
	case "sqlite":
		st, err := sqlite.Open(ctx, cfg.Storage.DSN, now)
		if err != nil {
			return nil, fmt.Errorf("storage: %w", err)
		}
		return st, nil
	case "postgres":
		st, err := postgres.Open(ctx, cfg.Storage.DSN, now)
		if err != nil {
			return nil, fmt.Errorf("storage: %w", err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("storage.driver %q is not available in this build", cfg.Storage.Driver)
}

// Main is the whole service. Tests start it on port 0 with a temporary
// database; main starts it with the configuration file.
type Main struct {
	Config *config.Config
	Logger *slog.Logger
	// HTTPClient is used for provider calls; nil means a default one.
	HTTPClient *http.Client
	// Now is the clock of the service and the sandbox fakes; nil means
	// time.Now. Tests set it to move time.
	Now func() time.Time

	Store   bridge.Store
	Service *bridge.Service
	// Metrics are served at /metrics; Run makes them when nil.
	Metrics *bridge.Metrics
	Sandbox *sandbox.Sandbox
	// ShopHooks is the demo shop's notification receiver (sandbox only).
	ShopHooks *sandbox.HookReceiver

	// PollEvery is how often the poller, the operation sweep and the
	// outbox run; zero means 500 ms.
	PollEvery time.Duration

	listener  net.Listener
	server    *http.Server
	publicURL string
	stop      context.CancelFunc
	done      chan struct{}
}

// NewMain returns a Main for cfg; Run starts it.
func NewMain(cfg *config.Config, logger *slog.Logger) *Main {
	if logger == nil {
		logger = slog.Default()
	}
	return &Main{Config: cfg, Logger: logger}
}

// Run opens the store, listens, wires the providers (or, in sandbox mode,
// the fakes) and starts serving. It returns once the service is ready.
func (m *Main) Run(ctx context.Context) error {
	cfg := m.Config
	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Server.Addr, err)
	}
	m.listener = ln
	m.publicURL = cfg.Server.PublicURL
	if cfg.Sandbox && strings.HasSuffix(cfg.Server.Addr, ":0") {
		// Port 0 (tests): the public URL is wherever we really listen.
		m.publicURL = "http://" + ln.Addr().String()
	}

	st, err := openStore(ctx, cfg, m.Now)
	if err != nil {
		ln.Close()
		return err
	}
	m.Store = st

	httpClient := m.HTTPClient
	mux := http.NewServeMux()
	kustomURL := cfg.Kustom.BaseURL
	vippsURLs := map[string]string{}
	for _, u := range cfg.Units {
		vippsURLs[u.ID] = u.Vipps.BaseURL
	}
	if cfg.Sandbox {
		m.Sandbox = sandbox.New(cfg, m.publicURL, m.Logger, m.Now)
		kustomURL = m.Sandbox.KustomURL()
		for id := range vippsURLs {
			vippsURLs[id] = m.Sandbox.VippsURL()
		}
		mux.Handle("/sandbox/", m.Sandbox.ProviderHandler())
	}

	if m.Metrics == nil {
		m.Metrics = bridge.NewMetrics()
	}
	rec := &bridge.ExchangeRecorder{Store: m.Store, Logger: m.Logger, Metrics: m.Metrics}
	kc, err := klarna.New(klarna.Config{
		BaseURL: kustomURL, Username: cfg.Kustom.Username, APIKey: cfg.Kustom.APIKey,
		HTTPClient: httpClient, UserAgent: cfg.System.Name + "/" + cfg.System.Version, Observer: rec.Kustom,
	})
	if err != nil {
		m.closeAll()
		return fmt.Errorf("kustom client: %w", err)
	}
	clients := map[string]bridge.VippsAPI{}
	for _, u := range cfg.Units {
		vc, err := vippsClient(cfg, u, vippsURLs[u.ID], httpClient, rec)
		if err != nil {
			m.closeAll()
			return err
		}
		clients[u.ID] = vc
	}
	hostname, _ := os.Hostname()

	pages, err := bridge.ParsePages(templates.FS)
	if err != nil {
		m.closeAll()
		return err
	}
	m.Service = &bridge.Service{
		Store: m.Store, Kustom: kc, Units: units(cfg, clients, m.publicURL), PublicURL: m.publicURL,
		Signer: signer(cfg), Logger: m.Logger, Now: m.Now,
		Owner:             fmt.Sprintf("%s-%d-%s", hostname, os.Getpid(), uuid.NewString()[:8]),
		KustomSettlements: kc,
		Metrics:           m.Metrics,
		MerchantWebhook: bridge.MerchantWebhook{
			URL: cfg.ExpandPublicURL(cfg.MerchantWebhook.URL, m.publicURL), Secret: cfg.MerchantWebhook.Secret,
			Client: &http.Client{Timeout: 10 * time.Second},
		},
	}
	api := &bridge.HTTP{
		Service: m.Service, Pages: pages, MerchantToken: cfg.APITokens.Merchant, FinanceToken: cfg.APITokens.Finance,
		Ready: m.ready, Logger: m.Logger,
		TrustedProxies: cfg.Server.TrustedProxies,
	}
	if rl := cfg.Server.ShopperRateLimit; rl.PerSecond > 0 {
		api.ShopperLimit = &bridge.RateLimiter{Rate: rl.PerSecond, Burst: float64(rl.Burst)}
	}
	if cfg.Sandbox {
		shop, err := m.Sandbox.Shop(kc, m.Service, cfg.APITokens.Merchant)
		if err != nil {
			m.closeAll()
			return err
		}
		mux.Handle("/shop/", shop)
		m.ShopHooks = m.Sandbox.HookReceiver(cfg.MerchantWebhook.Secret)
		m.ShopHooks.Now = m.Now
		mux.Handle(sandbox.HookPath, m.ShopHooks)
		mux.Handle("/{$}", http.RedirectHandler("/shop/", http.StatusFound))
	}
	mux.Handle("/", api.Handler())

	m.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		if err := m.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Logger.Error("http server stopped", "err", err)
		}
	}()

	if cfg.RegisterWebhooks || cfg.Sandbox {
		for _, u := range cfg.Units {
			if u.Vipps.WebhookSecret != "" {
				continue
			}
			if _, err := m.Service.EnsureWebhook(ctx, u.ID); err != nil {
				// Without webhooks the poller still finds every outcome,
				// only later; that is no reason to refuse to start.
				m.Logger.Error("webhook registration failed; relying on polling", "unit", u.ID, "err", err)
			}
		}
	}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	m.stop, m.done = stop, make(chan struct{})
	var loops sync.WaitGroup
	loops.Add(2)
	go func() { defer loops.Done(); m.Service.RunBackground(bg, m.PollEvery) }()
	// The outbox has its own loop: a slow merchant endpoint must not hold
	// up the poller.
	go func() { defer loops.Done(); m.Service.RunOutbox(bg, m.PollEvery) }()
	go func() { loops.Wait(); close(m.done) }()
	return nil
}

// vippsClient builds the Vipps client of one sales unit.
func vippsClient(cfg *config.Config, u config.Unit, baseURL string, httpClient *http.Client, rec *bridge.ExchangeRecorder) (*vipps.Client, error) {
	vc, err := vipps.New(vipps.Config{
		BaseURL: baseURL,
		Credentials: vipps.Credentials{
			ClientID: u.Vipps.ClientID, ClientSecret: u.Vipps.ClientSecret,
			SubscriptionKey: u.Vipps.SubscriptionKey, MSN: u.MSN,
		},
		System: vipps.SystemInfo{
			Name: cfg.System.Name, Version: cfg.System.Version,
			PluginName: cfg.System.PluginName, PluginVersion: cfg.System.PluginVersion,
		},
		HTTPClient: httpClient,
		Observer:   rec.Vipps,
	})
	if err != nil {
		return nil, fmt.Errorf("vipps client for unit %s: %w", u.ID, err)
	}
	return vc, nil
}

// units builds the bridge's units from the configuration and the clients.
func units(cfg *config.Config, clients map[string]bridge.VippsAPI, publicURL string) map[string]*bridge.Unit {
	out := map[string]*bridge.Unit{}
	for _, u := range cfg.Units {
		out[u.ID] = &bridge.Unit{
			ID: u.ID, Name: u.Name, MSN: u.MSN, Capture: u.Capture, Currency: u.Currency,
			Countries: u.Countries, ReferencePrefix: u.ReferencePrefix,
			ConfirmationURL: cfg.ExpandPublicURL(u.ConfirmationURL, publicURL),
			CheckoutURL:     cfg.ExpandPublicURL(u.CheckoutURL, publicURL),
			EPMName:         u.EPMName, EPMImageURL: u.EPMImageURL, Vipps: clients[u.ID],
			WebhookSecret: u.Vipps.WebhookSecret,
		}
		if w, ok := clients[u.ID].(bridge.WebhookAPI); ok {
			out[u.ID].Webhooks = w
		}
		if r, ok := clients[u.ID].(bridge.ReportAPI); ok {
			out[u.ID].Report = r
		}
		out[u.ID].ExpectedFee = bridge.FeeModel{Bps: u.ExpectedFee.Bps, Fixed: u.ExpectedFee.Fixed, Tolerance: u.ExpectedFee.Tolerance}
	}
	return out
}

func signer(cfg *config.Config) *bridge.RedirectSigner {
	if cfg.RedirectSigning.Secret == "" {
		return nil
	}
	return &bridge.RedirectSigner{Secret: []byte(cfg.RedirectSigning.Secret), TTL: cfg.RedirectSigning.TTL}
}

// ready reports whether the store is reachable and fully migrated.
func (m *Main) ready(ctx context.Context) error {
	if err := m.Store.Ping(ctx); err != nil {
		return fmt.Errorf("store unreachable: %w", err)
	}
	if mg, ok := m.Store.(interface {
		MigrationsApplied(context.Context) (bool, error)
	}); ok {
		applied, err := mg.MigrationsApplied(ctx)
		if err != nil {
			return err
		}
		if !applied {
			return errors.New("store migrations are not all applied")
		}
	}
	return nil
}

// Addr is the address the service listens on.
func (m *Main) Addr() string { return m.listener.Addr().String() }

// PublicURL is the base URL shoppers and providers use.
func (m *Main) PublicURL() string { return m.publicURL }

// Close stops serving, letting requests in flight finish, and closes the store.
func (m *Main) Close() error {
	var errs []error
	if m.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.server.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if m.stop != nil {
		m.stop()
		<-m.done
	}
	if m.Service != nil {
		m.Service.Wait()
	}
	errs = append(errs, m.closeAll())
	return errors.Join(errs...)
}

func (m *Main) closeAll() error {
	var errs []error
	if m.Sandbox != nil {
		m.Sandbox.Close()
	}
	if m.Store != nil {
		errs = append(errs, m.Store.Close())
	}
	if m.server == nil && m.listener != nil {
		m.listener.Close()
	}
	return errors.Join(errs...)
}
