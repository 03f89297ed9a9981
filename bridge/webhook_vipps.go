package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"vippskco/vipps"
)

// WebhookAPI is what the bridge uses of the Vipps Webhooks API.
type WebhookAPI interface {
	RegisterWebhook(ctx context.Context, url string, events []string) (*vipps.RegisterWebhookResponse, error)
	ListWebhooks(ctx context.Context) ([]vipps.Webhook, error)
	DeleteWebhook(ctx context.Context, id string) error
}

// webhookMaxSkew is how far x-ms-date may be from our clock. Vipps signs
// each delivery when it sends it, retries included.
const webhookMaxSkew = 5 * time.Minute

// WebhookURL is where Vipps delivers a unit's ePayment webhooks.
func (s *Service) WebhookURL(unitID string) string {
	return s.PublicURL + "/webhooks/vipps/" + url.PathEscape(unitID)
}

// webhookSecret is the unit's configured secret, or the one Vipps gave us
// when we registered.
func (s *Service) webhookSecret(ctx context.Context, u *Unit) (string, error) {
	if u.WebhookSecret != "" {
		return u.WebhookSecret, nil
	}
	reg, err := s.Store.WebhookRegistration(ctx, u.ID)
	if err != nil {
		if ErrorCode(err) == ECodeNotFound {
			return "", Errorf(ECodeUnauthorized, "no_webhook_secret", "no webhook is registered for unit %s", u.ID)
		}
		return "", err
	}
	return reg.Secret, nil
}

// WebhookRejection reasons, for logs and metrics.
const (
	RejectMissingHeader = "missing_header"
	RejectBodyHash      = "body_hash"
	RejectSignature     = "signature"
	RejectStale         = "stale"
	RejectMalformed     = "malformed"
)

// WebhookDuplicate is the status answered for a delivery seen before.
const WebhookDuplicate = "duplicate"

// Why a verified webhook was acknowledged without effect, for metrics.
const (
	IgnoreDuplicate        = WebhookDuplicate
	IgnoreUnknownReference = "unknown_reference"
	// IgnoreOwnUnknownReference: a reference with one of our units'
	// prefixes, which we have no payment for.
	IgnoreOwnUnknownReference = "unknown_own_reference"
	IgnoreOtherUnit           = "other_unit"
)

// unknownRefLogEvery is how often a webhook for a reference we never made
// (one without any of our units' prefixes) is logged. Vipps sends a merchant serial number's webhooks for all its
// payments, so a shop that shares its MSN with a till or another web shop
// gets all of theirs: one line each would bury every other line. The line
// says how many it stands for; vippskco_webhooks_ignored_total counts them
// all.
const unknownRefLogEvery = time.Minute

// HandleVippsWebhook verifies and applies one ePayment webhook. The
// signature is checked exactly as Vipps specifies, against the URL we
// registered, in constant time; stale dates are refused. A delivery seen
// before (the same signature) is answered "duplicate" with a 2xx and
// changes nothing: Vipps says duplicates happen and are to be handled
// idempotently, and it retries any 4xx for days.
// The event itself is only a signal: it is kept as it arrived, and the
// payment is read back from Vipps before anything is booked. Unknown
// references are acknowledged and ignored, so Vipps stops retrying them.
func (s *Service) HandleVippsWebhook(ctx context.Context, unitID string, header http.Header, body []byte) (string, error) {
	result, err := s.handleVippsWebhook(ctx, unitID, header, body)
	if _, uerr := s.Unit(unitID); uerr == nil {
		// Only configured units are counted: the path is the sender's.
		s.metrics().WebhookReceived(unitID)
		if code := ErrorCode(err); code == ECodeUnauthorized || code == ECodeInvalid {
			s.metrics().WebhookRejected(unitID, ErrorReason(err))
		}
	}
	return result, err
}

func (s *Service) handleVippsWebhook(ctx context.Context, unitID string, header http.Header, body []byte) (string, error) {
	u, err := s.Unit(unitID)
	if err != nil {
		return "", err
	}
	secret, err := s.webhookSecret(ctx, u)
	if err != nil {
		return "", err
	}
	target, err := url.Parse(s.WebhookURL(u.ID))
	if err != nil {
		return "", err
	}
	pathAndQuery := target.EscapedPath()
	if target.RawQuery != "" {
		pathAndQuery += "?" + target.RawQuery
	}
	if err := vipps.VerifyWebhook(secret, http.MethodPost, pathAndQuery, target.Host, header, body, s.now(), webhookMaxSkew); err != nil {
		reason := RejectSignature
		switch {
		case errors.Is(err, vipps.ErrWebhookMissingHeader):
			reason = RejectMissingHeader
		case errors.Is(err, vipps.ErrWebhookBodyHash):
			reason = RejectBodyHash
		case errors.Is(err, vipps.ErrWebhookStale):
			reason = RejectStale
		}
		return "", &Error{Code: ECodeUnauthorized, Reason: reason, Message: "webhook verification failed", Err: err}
	}
	var ev vipps.WebhookEvent
	if err := json.Unmarshal(body, &ev); err != nil || ev.Reference == "" || ev.Name == "" {
		return "", Errorf(ECodeInvalid, RejectMalformed, "the webhook body is not an ePayment event")
	}
	// The event is only a signal: the payment is read back from Vipps
	// after answering (Vipps wants an answer within 10 seconds), at once
	// unless it was read less than pollWhileWaiting ago. The ask for that
	// read is stored in the same write as the webhook. A burst of events
	// for one payment, on any replica, costs one read. CREATED asks for
	// nothing: we learn of a created payment from the create call's own
	// answer (or, when that is lost, by reading it back, as the poller
	// does with every PENDING attempt), and reading it now would spend the
	// payment's read.
	var ask *ReadAsk
	if units := s.unitsOfMSN(ev.MSN); ev.Name != vipps.EventCreated && len(units) > 0 {
		ask = &ReadAsk{Units: units, At: s.now(), Gap: pollWhileWaiting, By: SourceWebhook}
	}
	rec, err := s.Store.RecordWebhook(ctx, header.Get("Authorization"), s.now().Add(2*webhookMaxSkew), &RawEvent{
		Reference: ev.Reference, Unit: u.ID, Source: SourceWebhook, Name: string(ev.Name), Body: body, ReceivedAt: s.now(),
	}, ask)
	if err != nil {
		return "", err
	}
	if rec.Seen {
		// The same signed request again, inside the date window: a
		// duplicate (Vipps documents that they happen) or a replay by
		// someone who saw it. Either way it was applied once already, so it
		// is acknowledged and changes nothing: no raw event, no read, no
		// notification. A 4xx would make Vipps retry it for up to 7 days
		// and could hold back the payment's later events.
		s.logger().InfoContext(ctx, "webhook delivery seen before, acknowledged", "unit", u.ID, "reference", ev.Reference, "event", ev.Name)
		s.metrics().WebhookIgnored(u.ID, IgnoreDuplicate)
		return WebhookDuplicate, nil
	}
	if rec.PaymentUnit == "" {
		if own := s.unitOfReference(ev.Reference); own != nil {
			// Our prefix, but no payment: we store every attempt before
			// Vipps hears of it, so this is a payment whose record we lost
			// (a database restored from an older backup, a second
			// deployment on another database). A shopper may have paid for
			// an order we do not know: every one is said, loudly.
			s.metrics().WebhookIgnored(u.ID, IgnoreOwnUnknownReference)
			s.logger().WarnContext(ctx, "webhook for a reference of ours that we have no payment for: was the database restored or shared?",
				"unit", u.ID, "reference", ev.Reference, "event", ev.Name, "prefix_of", own.ID)
			return "ignored", nil
		}
		s.metrics().WebhookIgnored(u.ID, IgnoreUnknownReference)
		if log, held := s.unknownRefs.allow(s.now(), unknownRefLogEvery); log {
			s.logger().InfoContext(ctx, "webhook for an unknown reference", "unit", u.ID, "reference", ev.Reference, "event", ev.Name,
				"unlogged_since_last_line", held)
		}
		return "ignored", nil
	}
	pu, err := s.Unit(rec.PaymentUnit)
	if err != nil || pu.MSN != ev.MSN {
		s.metrics().WebhookIgnored(u.ID, IgnoreOtherUnit)
		s.logger().WarnContext(ctx, "webhook for a payment of another sales unit", "unit", u.ID, "reference", ev.Reference, "msn", ev.MSN)
		return "ignored", nil
	}
	if ev.Name == vipps.EventCreated {
		return "accepted", nil
	}
	if rec.ReadAsked {
		s.readAsked(ev.Reference, SourceWebhook)
		return "accepted", nil
	}
	if err := s.readSoon(ctx, ev.Reference, SourceWebhook); err != nil {
		return "", err
	}
	return "accepted", nil
}

// unitOfReference is the unit whose reference prefix ref carries, or nil.
func (s *Service) unitOfReference(ref string) *Unit {
	for _, u := range s.Units {
		if u.ReferencePrefix != "" && strings.HasPrefix(ref, u.ReferencePrefix+"-") {
			return u
		}
	}
	return nil
}

// unitsOfMSN are the sales units of a merchant serial number, by ID.
func (s *Service) unitsOfMSN(msn string) []string {
	var ids []string
	for id, u := range s.Units {
		if u.MSN == msn {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// EnsureWebhook makes sure Vipps delivers the unit's ePayment events to us
// and that we hold the secret to verify them. A registration for our URL
// whose secret we do not have is replaced, because Vipps returns the secret
// only once.
func (s *Service) EnsureWebhook(ctx context.Context, unitID string) (*WebhookRegistration, error) {
	u, err := s.Unit(unitID)
	if err != nil {
		return nil, err
	}
	if u.Webhooks == nil {
		return nil, fmt.Errorf("unit %s has no webhooks client", u.ID)
	}
	want := s.WebhookURL(u.ID)
	listed, err := u.Webhooks.ListWebhooks(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing webhooks of unit %s: %w", u.ID, err)
	}
	reg, err := s.Store.WebhookRegistration(ctx, u.ID)
	if err != nil && ErrorCode(err) != ECodeNotFound {
		return nil, err
	}
	for _, w := range listed {
		if w.URL != want {
			continue
		}
		if reg != nil && reg.ID == w.ID && reg.URL == want {
			return reg, nil
		}
		if err := u.Webhooks.DeleteWebhook(ctx, w.ID); err != nil && !vipps.IsNotFound(err) {
			return nil, fmt.Errorf("deleting webhook %s of unit %s: %w", w.ID, u.ID, err)
		}
	}
	created, err := u.Webhooks.RegisterWebhook(ctx, want, vipps.EPaymentWebhookEvents)
	if err != nil {
		return nil, fmt.Errorf("registering webhook of unit %s: %w", u.ID, err)
	}
	reg = &WebhookRegistration{Unit: u.ID, ID: created.ID, URL: want, Secret: created.Secret, Events: vipps.EPaymentWebhookEvents, CreatedAt: s.now()}
	if err := s.Store.SaveWebhookRegistration(ctx, reg); err != nil {
		return nil, err
	}
	s.logger().InfoContext(ctx, "webhook registered", "unit", u.ID, "id", reg.ID, "url", want)
	return reg, nil
}

// WebhookRegistration is our webhook at Vipps for one sales unit, with the
// secret Vipps returned when it was made.
type WebhookRegistration struct {
	Unit      string
	ID        string
	URL       string
	Secret    string
	Events    []string
	CreatedAt time.Time
}
