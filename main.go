// Command vippskco is the Vipps MobilePay external payment method for Kustom
// (Klarna) Checkout. It reads config.yaml, opens the store, wires the
// providers and serves the HTTP surface. With sandbox: true it also runs
// local fakes of Kustom and Vipps and a demo shop.
//
//	go run .                          serve with ./config.yaml
//	go run . -config other.yaml       serve with another file
//	go run . epm webshop [-order ID] [-locale nb-NO]
//	                                  print the external_payment_methods entry
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
	"syscall"
	"time"

	"vippskco/bridge"
	"vippskco/bridge/config"
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
	default:
		return fmt.Errorf("unknown command %q (serve or epm)", cmd)
	}
}

func serve(cfg *config.Config, stderr io.Writer) error {
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	slog.SetDefault(logger)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := NewMain(cfg, logger)
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
	Sandbox *sandbox.Sandbox

	listener  net.Listener
	server    *http.Server
	publicURL string
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

	switch cfg.Storage.Driver {
	case "sqlite":
		st, err := sqlite.Open(ctx, cfg.Storage.DSN, m.Now)
		if err != nil {
			ln.Close()
			return fmt.Errorf("storage: %w", err)
		}
		m.Store = st
	default:
		ln.Close()
		return fmt.Errorf("storage.driver %q is not available in this build", cfg.Storage.Driver)
	}

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

	rec := &bridge.ExchangeRecorder{Store: m.Store, Logger: m.Logger}
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
		vc, err := vipps.New(vipps.Config{
			BaseURL: vippsURLs[u.ID],
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
			m.closeAll()
			return fmt.Errorf("vipps client for unit %s: %w", u.ID, err)
		}
		clients[u.ID] = vc
	}

	pages, err := bridge.ParsePages(templates.FS)
	if err != nil {
		m.closeAll()
		return err
	}
	m.Service = &bridge.Service{
		Store: m.Store, Kustom: kc, Units: units(cfg, clients, m.publicURL), PublicURL: m.publicURL,
		Signer: signer(cfg), Logger: m.Logger, Now: m.Now,
	}
	api := &bridge.HTTP{
		Service: m.Service, Pages: pages, MerchantToken: cfg.APITokens.Merchant, FinanceToken: cfg.APITokens.Finance,
		Ready: m.Store.Ping, Logger: m.Logger,
	}
	if cfg.Sandbox {
		shop, err := m.Sandbox.Shop(kc, m.Service, cfg.APITokens.Merchant)
		if err != nil {
			m.closeAll()
			return err
		}
		mux.Handle("/shop/", shop)
		mux.Handle("/{$}", http.RedirectHandler("/shop/", http.StatusFound))
	}
	mux.Handle("/", api.Handler())

	m.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		if err := m.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Logger.Error("http server stopped", "err", err)
		}
	}()
	return nil
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
		}
	}
	return out
}

func signer(cfg *config.Config) *bridge.RedirectSigner {
	if cfg.RedirectSigning.Secret == "" {
		return nil
	}
	return &bridge.RedirectSigner{Secret: []byte(cfg.RedirectSigning.Secret), TTL: cfg.RedirectSigning.TTL}
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
