// Package klarnatest is a strict, stateful fake of the Kustom (formerly
// Klarna) Checkout API v3, in the spirit of net/http/httptest. It keeps
// orders in memory, validates requests the way the spec describes them,
// answers errors in the documented shape ({"error_code", "error_messages",
// "correlation_id"}), expires orders 48 hours after the last merchant update
// or client interaction by an injected clock, and serves a stand-in for the
// checkout iframe so that a person can try the whole flow in a sandbox.
//
// Where the real API is undocumented or the sandbox needs it, the fake
// chooses, and says so here:
//   - 404 answers carry error_code NOT_FOUND and 401 answers UNAUTHORIZED;
//     the spec gives no code for them.
//   - An order needs at least one line, every line must add up
//     (quantity×unit_price−total_discount_amount, tax within 1 of the rate),
//     and order_amount and order_tax_amount must be the sums of the lines.
//   - Where the spec says "must be https" (EPM redirect_url and image_url,
//     callback URLs) plain http to localhost, 127.0.0.1 or ::1 is accepted,
//     because the sandbox runs on http://localhost. The real API refuses it.
//   - Create and update require Content-Type application/json (415 else).
//   - Abort keeps the status (no value for "aborted" is documented) and makes
//     the order read-only and unpayable; Server.Aborted tells.
package klarnatest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"vippskco/klarna"
)

// DefaultAPIKey is the credential the fake accepts when Options.Credentials
// is empty.
const DefaultAPIKey = "kco_test_api_sandbox"

// orderLifetime is how long an order stays readable after the last merchant
// update or client interaction; after that Kustom answers 404.
const orderLifetime = 48 * time.Hour

// Credential is one accepted API credential. With a Username, both
// "Basic <APIKey>" and HTTP Basic base64(Username:APIKey) are accepted;
// without one, only "Basic <APIKey>".
type Credential struct {
	Username string
	APIKey   string
}

// Options configure a Server.
type Options struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Credentials accepted; {APIKey: DefaultAPIKey} when empty.
	Credentials []Credential
	// MerchantName is returned as the order's read-only name;
	// "Sandbox Merchant" when empty.
	MerchantName string
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	now          func() time.Time
	credentials  []Credential
	merchantName string
	base         string // URL the fake is reached at, no trailing slash
	ts           *httptest.Server
	handler      http.Handler

	mu     sync.Mutex
	orders map[string]*record
	calls  map[string]int
	// settlements holds the Settlements API's state (settlements.go).
	settlements *settlementBook
}

// record is one stored order and what the API does not show of it.
type record struct {
	order klarna.Order
	// touchedAt is the last merchant update or client interaction; the
	// order expires orderLifetime after it.
	touchedAt time.Time
	// aborted is kept beside the status because the API documents abort
	// only as "mark an order as aborted" and no status value for it; the
	// fake keeps the status as it was and makes the order read-only.
	aborted bool
}

// NewServer starts a fake on a local port. Close it when done.
func NewServer(opts Options) *Server {
	s := newServer(opts)
	s.ts = httptest.NewUnstartedServer(s.handler)
	s.base = "http://" + s.ts.Listener.Addr().String()
	s.ts.Start()
	return s
}

// NewHandler returns a fake that someone else serves. baseURL is the
// absolute URL it is reached at, e.g. "http://127.0.0.1:8080/sandbox/kustom";
// mount Handler under that path with http.StripPrefix. The fake uses baseURL
// for the Location header, the html_snippet and the checkout page's links.
func NewHandler(opts Options, baseURL string) *Server {
	s := newServer(opts)
	s.base = strings.TrimRight(baseURL, "/")
	return s
}

func newServer(opts Options) *Server {
	s := &Server{
		now:          opts.Now,
		credentials:  opts.Credentials,
		merchantName: opts.MerchantName,
		orders:       make(map[string]*record),
		calls:        make(map[string]int),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if len(s.credentials) == 0 {
		s.credentials = []Credential{{APIKey: DefaultAPIKey}}
	}
	if s.merchantName == "" {
		s.merchantName = "Sandbox Merchant"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /checkout/v3/orders", s.handleCreate)
	mux.HandleFunc("GET /checkout/v3/orders/{id}", s.handleRead)
	mux.HandleFunc("POST /checkout/v3/orders/{id}", s.handleUpdate)
	mux.HandleFunc("POST /checkout/v3/orders/{id}/abort", s.handleAbort)
	mux.HandleFunc("GET /checkout-page/{id}", s.handlePage)
	mux.HandleFunc("POST /checkout-page/{id}/klarna", s.handlePageKlarna)
	mux.HandleFunc("POST /checkout-page/{id}/address", s.handlePageAddress)
	s.registerSettlementRoutes(mux)
	s.handler = mux
	return s
}

// URL is the base URL of the fake's API, without a trailing slash.
func (s *Server) URL() string { return s.base }

// Handler serves the API and the checkout page.
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops a server started by NewServer; for NewHandler it does nothing.
func (s *Server) Close() {
	if s.ts != nil {
		s.ts.Close()
	}
}

// CheckoutPageURL is the stand-in checkout page of an order, the page that
// the order's html_snippet frames.
func (s *Server) CheckoutPageURL(orderID string) string {
	return s.base + "/checkout-page/" + url.PathEscape(orderID)
}

// CreateOrder stores an order directly, without HTTP and without counting a
// call, after the same validation as POST /checkout/v3/orders. It returns
// the order as stored.
func (s *Server) CreateOrder(o klarna.Order) (klarna.Order, error) {
	body, err := json.Marshal(o)
	if err != nil {
		return klarna.Order{}, fmt.Errorf("klarnatest: CreateOrder: %w", err)
	}
	created, msgs := s.create(body)
	if msgs != nil {
		return klarna.Order{}, fmt.Errorf("klarnatest: CreateOrder: %s: %s", klarna.CodeBadValue, strings.Join(msgs, "; "))
	}
	return created, nil
}

// Order returns the stored order, expired or not.
func (s *Server) Order(id string) (klarna.Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.orders[id]
	if !ok {
		return klarna.Order{}, false
	}
	return cloneOrder(rec.order), true
}

// Aborted reports whether the order was aborted through the API.
func (s *Server) Aborted(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.orders[id]
	return ok && rec.aborted
}

// Complete does what a shopper who pays with Klarna does: the order becomes
// checkout_complete with completed_at set. It fails for an unknown, expired,
// aborted or already completed order, as the real checkout would not let the
// shopper pay then.
func (s *Server) Complete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.completeLocked(id)
}

func (s *Server) completeLocked(id string) error {
	rec, err := s.liveLocked(id)
	if err != nil {
		return err
	}
	if rec.aborted {
		return fmt.Errorf("klarnatest: order %s is aborted", id)
	}
	if rec.order.Status != klarna.StatusCheckoutIncomplete {
		return fmt.Errorf("klarnatest: order %s is %s, not %s", id, rec.order.Status, klarna.StatusCheckoutIncomplete)
	}
	now := s.now()
	ts := stamp(now)
	rec.order.Status = klarna.StatusCheckoutComplete
	rec.order.CompletedAt = &ts
	rec.order.LastModifiedAt = &ts
	rec.touchedAt = now
	s.recordKlarnaCaptureLocked(rec.order, now)
	return nil
}

// SetStatus puts an order in any status, bypassing the rules, to test how a
// client copes. Setting checkout_complete also sets completed_at when unset.
func (s *Server) SetStatus(id, status string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.orders[id]
	if !ok {
		return fmt.Errorf("klarnatest: no order %s", id)
	}
	rec.order.Status = status
	if status == klarna.StatusCheckoutComplete && rec.order.CompletedAt == nil {
		ts := stamp(s.now())
		rec.order.CompletedAt = &ts
	}
	return nil
}

// MutateOrder changes a stored order in place, bypassing every validation,
// so tests can see how a client copes with an order the real API should
// never return (lines that do not add up to order_amount, say).
func (s *Server) MutateOrder(id string, change func(*klarna.Order)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.orders[id]
	if !ok {
		return fmt.Errorf("klarnatest: no order %s", id)
	}
	change(&rec.order)
	return nil
}

// Touch records a client interaction (the shopper doing something in the
// checkout), which keeps the order alive for another 48 hours. It fails for
// an unknown or already expired order.
func (s *Server) Touch(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, err := s.liveLocked(id)
	if err != nil {
		return err
	}
	rec.touchedAt = s.now()
	return nil
}

// Calls counts the API requests for op ("create", "read", "update" or
// "abort") that reached the handler, rejected ones included.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

var errExpired = errors.New("klarnatest: order expired")

// liveLocked returns the order if it exists and has not expired.
func (s *Server) liveLocked(id string) (*record, error) {
	rec, ok := s.orders[id]
	if !ok {
		return nil, fmt.Errorf("klarnatest: no order %s", id)
	}
	if s.now().Sub(rec.touchedAt) > orderLifetime {
		return nil, fmt.Errorf("%w: %s", errExpired, id)
	}
	return rec, nil
}

// stamp is a timestamp as the API shows it: UTC, whole seconds.
func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

// cloneOrder deep-copies an order so that callers cannot reach the stored
// one through its slices and pointers.
func cloneOrder(o klarna.Order) klarna.Order {
	b, err := json.Marshal(o)
	if err != nil {
		panic(fmt.Sprintf("klarnatest: marshal stored order: %v", err))
	}
	var c klarna.Order
	if err := json.Unmarshal(b, &c); err != nil {
		panic(fmt.Sprintf("klarnatest: unmarshal stored order: %v", err))
	}
	return c
}

func newOrderID() string { return uuid.NewString() }
