// Package bridge is the domain of the Vipps MobilePay external payment
// method for Kustom (Klarna) Checkout: payments and their state, the shopper
// path from the KCO redirect to the return page, and the HTTP surface. It
// declares the small interfaces it needs from the store and the providers;
// main wires the real clients, the tests and the sandbox wire the fakes.
package bridge

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"vippskco/bridge/i18n"
	"vippskco/klarna"
	"vippskco/vipps"
)

// VippsAPI is what the bridge uses of a Vipps sales unit's client.
type VippsAPI interface {
	CreatePayment(ctx context.Context, idempotencyKey string, req vipps.CreatePaymentRequest) (*vipps.CreatePaymentResponse, error)
	GetPayment(ctx context.Context, reference string) (*vipps.Payment, error)
	GetEvents(ctx context.Context, reference string) ([]vipps.PaymentEvent, error)
	Capture(ctx context.Context, reference, idempotencyKey string, amount vipps.Amount) (*vipps.ModificationResponse, error)
	Cancel(ctx context.Context, reference, idempotencyKey string, cancelTransactionOnly bool) (*vipps.ModificationResponse, error)
	Refund(ctx context.Context, reference, idempotencyKey string, amount vipps.Amount) (*vipps.ModificationResponse, error)
}

// KustomAPI is what the bridge uses of the Kustom Checkout client.
type KustomAPI interface {
	GetOrder(ctx context.Context, orderID string) (*klarna.Order, error)
}

// Unit is a configured Vipps MobilePay sales unit with its client.
type Unit struct {
	ID              string
	Name            string
	MSN             string
	Capture         string
	Currency        string
	Countries       []string
	ReferencePrefix string
	// ConfirmationURL and CheckoutURL may contain {kco_order_id} and
	// {reference}; they are where the shopper goes after success or failure.
	ConfirmationURL string
	CheckoutURL     string
	EPMName         string
	EPMImageURL     string
	Vipps           VippsAPI
	Webhooks        WebhookAPI
	// WebhookSecret is a secret configured for a webhook registered outside
	// this service; without one, EnsureWebhook registers and stores one.
	WebhookSecret string
}

// Brand is the payment method's name, colour and logo, as the EPM entry and
// our pages show it.
type Brand struct {
	Name  string
	Color string
	// Logo is the badge's file under /assets/ ("" for none).
	Logo string
}

// The brands: Vipps orange and MobilePay blue (MobilePay units are the
// Danish and Finnish ones; Vipps units the Norwegian ones).
var (
	VippsBrand     = Brand{Name: "Vipps", Color: "#FF5B24", Logo: "vipps.svg"}
	MobilePayBrand = Brand{Name: "MobilePay", Color: "#5A78FF", Logo: "mobilepay.svg"}
)

// Brand returns the unit's brand by its EPM name; a nil unit (a page shown
// before we know the unit) is Vipps.
func (u *Unit) Brand() Brand {
	if u != nil && u.EPMName == "MobilePay" {
		return MobilePayBrand
	}
	return VippsBrand
}

// Lang is the language of the unit's shoppers, from its first country;
// false for a nil unit or a country whose language we do not speak.
func (u *Unit) Lang() (i18n.Lang, bool) {
	if u == nil || len(u.Countries) == 0 {
		return "", false
	}
	return i18n.CountryLang(u.Countries[0])
}

// Service runs the shopper path and holds what the handlers need.
type Service struct {
	Store     Store
	Kustom    KustomAPI
	Units     map[string]*Unit
	PublicURL string
	Signer    *RedirectSigner
	Logger    *slog.Logger
	Now       func() time.Time
	// StatusCheckInterval is the least time between two reads of one
	// payment from Vipps on behalf of the return and status pages; the GET
	// limit is 120 a minute per reference.
	StatusCheckInterval time.Duration

	// PollReadsPerSecond bounds the poller's own reads on this replica
	// (zero: unbounded); see poller.go.
	PollReadsPerSecond int

	// MerchantWebhook is where notifications are delivered.
	MerchantWebhook MerchantWebhook
	// ProviderLogRetention is how long the provider log keeps an exchange
	// (it holds masked personal data, and support needs it for weeks, not
	// forever); zero keeps everything.
	ProviderLogRetention time.Duration

	// CaptureDeadlineWarning is how long before a reservation's capture
	// deadline the merchant is warned (zero: 48 hours); see
	// capture_deadline.go.
	CaptureDeadlineWarning time.Duration

	// Owner names this replica in the leases it takes (poller, operations,
	// outbox), so that replicas sharing one database never run the same
	// thing twice while a lease holds.
	Owner string

	// Metrics records what Prometheus scrapes at /metrics; nil records
	// nothing.
	Metrics Metrics

	checkMu    sync.Mutex
	lastChecks map[string]time.Time

	pollBudget pollBudget

	// shoppers holds what the shopper's pages show (shopper_cache.go).
	shoppers shopperCache
	// unknownRefs samples the log lines of webhooks for references we
	// never made (webhook_vipps.go).
	unknownRefs logSample

	life lifecycle
}

func (s *Service) owner() string {
	if s.Owner == "" {
		return "local"
	}
	return s.Owner
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// MerchantWebhook is the merchant's endpoint for our signed notifications.
// With no URL, notifications stay in the outbox, listed by the API.
type MerchantWebhook struct {
	URL    string
	Secret string
	Client *http.Client
	// GiveUpAfter bounds how long one notification is retried.
	GiveUpAfter time.Duration
}

// Unit returns a configured unit or a not_found error.
func (s *Service) Unit(id string) (*Unit, error) {
	u, ok := s.Units[id]
	if !ok {
		return nil, Errorf(ECodeNotFound, "unknown_unit", "there is no sales unit %s", Quote(id))
	}
	return u, nil
}

// ExpandURL fills the placeholders of a unit's confirmation or checkout URL.
func ExpandURL(tmpl string, p *Payment) string {
	r := strings.NewReplacer("{kco_order_id}", p.KCOOrderID, "{reference}", p.Reference)
	return r.Replace(tmpl)
}

// shouldCheck reports whether the page channel may read this payment from
// Vipps now, and records the read. It keeps a shopper's reloads and the
// status poll within the per-reference rate limit.
func (s *Service) shouldCheck(reference string) bool {
	interval := s.StatusCheckInterval
	if interval == 0 {
		interval = 2 * time.Second
	}
	now := s.now()
	s.checkMu.Lock()
	defer s.checkMu.Unlock()
	if s.lastChecks == nil {
		s.lastChecks = map[string]time.Time{}
	}
	if last, ok := s.lastChecks[reference]; ok && now.Sub(last) < interval {
		return false
	}
	s.lastChecks[reference] = now
	if len(s.lastChecks) > 10000 {
		for ref, at := range s.lastChecks {
			if now.Sub(at) > time.Minute {
				delete(s.lastChecks, ref)
			}
		}
	}
	return true
}
