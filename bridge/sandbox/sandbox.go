//go:build !nosandbox

// Package sandbox runs the local stand-ins that make `go run .` a complete,
// offline payment: a fake Kustom Checkout (with a page standing in for the
// KCO iframe), a fake Vipps MobilePay (with a landing page where a person
// approves or rejects), and a small demo shop that creates KCO orders with
// our external payment method in them.
package sandbox

import (
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"vippskco/bridge/config"
	"vippskco/klarna/klarnatest"
	"vippskco/vipps/vippstest"
)

// Sandbox holds the fakes and the shop's settings.
type Sandbox struct {
	Vipps  *vippstest.Server
	Kustom *klarnatest.Server

	// base is the clock New was given; skew moves the sandbox's one clock
	// (Now) ahead of it, so a person can close a settlement day without
	// waiting for midnight. The fakes, the service and the demo shop all
	// read Now, so a webhook signed after the move is not stale to anyone.
	base   func() time.Time
	skewMu sync.Mutex
	skew   time.Duration

	cfg       *config.Config
	publicURL string
	logger    *slog.Logger
}

// New builds the fakes, served under publicURL/sandbox/, with one fake
// sales unit per configured unit and the configured Kustom key.
// now is the clock underneath the sandbox's (nil: time.Now); the fakes
// read Now, and the service must too (main sets its clock to s.Now).
func New(cfg *config.Config, publicURL string, logger *slog.Logger, now func() time.Time) (*Sandbox, error) {
	s := &Sandbox{cfg: cfg, publicURL: strings.TrimRight(publicURL, "/"), logger: logger, base: now}
	if s.base == nil {
		s.base = time.Now
	}
	now = s.Now
	s.Vipps = vippstest.NewUnstartedHandler(vippstest.Options{Now: now, AllowInsecureLocalReturnURL: true}, s.VippsURL())
	for _, u := range cfg.Units {
		if u.Vipps.Partner != "" {
			continue
		}
		s.Vipps.AddSalesUnit(vippstest.SalesUnit{
			MSN: u.MSN, ClientID: u.Vipps.ClientID, ClientSecret: u.Vipps.ClientSecret,
			SubscriptionKey: u.Vipps.SubscriptionKey, Currency: u.Currency, Name: u.Name,
		})
	}
	addPartners(s.Vipps, cfg)
	s.Kustom = klarnatest.NewHandler(klarnatest.Options{
		Now:         now,
		Credentials: []klarnatest.Credential{{Username: cfg.Kustom.Username, APIKey: cfg.Kustom.APIKey}},
	}, s.KustomURL())
	return s, nil
}

// Now is the sandbox's one clock: the clock New was given, moved on by
// every NextDay. The fakes of Vipps and Kustom, the service and the demo
// shop's webhook receiver all read it.
func (s *Sandbox) Now() time.Time { return s.base().Add(s.Skew()) }

// Skew is how far NextDay has moved the sandbox's clock.
func (s *Sandbox) Skew() time.Duration {
	s.skewMu.Lock()
	defer s.skewMu.Unlock()
	return s.skew
}

// NextDay moves the sandbox's clock one day ahead, for the fakes and the
// service alike, which closes the current Vipps ledger day (its payout is
// scheduled) and settles the Kustom orders.
func (s *Sandbox) NextDay() {
	s.skewMu.Lock()
	s.skew += 24 * time.Hour
	s.skewMu.Unlock()
}

// VippsURL is the base URL of the fake Vipps.
func (s *Sandbox) VippsURL() string { return s.publicURL + "/sandbox/vipps" }

// KustomURL is the base URL of the fake Kustom.
func (s *Sandbox) KustomURL() string { return s.publicURL + "/sandbox/kustom" }

// ProviderHandler serves both fakes under /sandbox/.
func (s *Sandbox) ProviderHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/sandbox/vipps/", http.StripPrefix("/sandbox/vipps", s.Vipps.Handler()))
	mux.Handle("/sandbox/kustom/", http.StripPrefix("/sandbox/kustom", s.Kustom.Handler()))
	return mux
}

// Mount serves on mux everything the sandbox adds to the service: both fakes
// under /sandbox/, the demo shop under /shop/, the shop's notification
// receiver at HookPath (returned, so tests can read what it got), and / as
// a way into the shop.
func (s *Sandbox) Mount(mux *http.ServeMux, app App) (*HookReceiver, error) {
	shop, err := s.shopHandler(app)
	if err != nil {
		return nil, err
	}
	hooks := NewHookReceiver(app.WebhookSecret, s.logger, app.Now)
	mux.Handle("/sandbox/", s.ProviderHandler())
	mux.Handle("/shop/", shop)
	mux.Handle(HookPath, hooks)
	mux.Handle("/{$}", http.RedirectHandler("/shop/", http.StatusFound))
	return hooks, nil
}

// Close stops the fakes' background work.
func (s *Sandbox) Close() {
	s.Vipps.Close()
	s.Kustom.Close()
}
