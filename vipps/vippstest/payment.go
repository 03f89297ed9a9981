package vippstest

import (
	"container/heap"
	"strings"
	"time"
)

// The fake declares its own small wire types instead of importing the
// client package: the client's tests use this fake, and the fake must not
// share the client's assumptions about the wire format.

// Amount is money in integer minor units.
type Amount struct {
	Currency string `json:"currency"`
	Value    int64  `json:"value"`
}

// State is an ePayment payment state. After AUTHORIZED the state no longer
// changes; captures, cancels and refunds show only in the aggregate.
type State string

// The ePayment states.
const (
	StateCreated    State = "CREATED"
	StateAuthorized State = "AUTHORIZED"
	StateAborted    State = "ABORTED"
	StateExpired    State = "EXPIRED"
	StateTerminated State = "TERMINATED"
)

// EventName names an entry of the event log and of a webhook.
type EventName string

// The ePayment event names.
const (
	EventCreated    EventName = "CREATED"
	EventAuthorized EventName = "AUTHORIZED"
	EventAborted    EventName = "ABORTED"
	EventExpired    EventName = "EXPIRED"
	EventCancelled  EventName = "CANCELLED"
	EventCaptured   EventName = "CAPTURED"
	EventRefunded   EventName = "REFUNDED"
	EventTerminated EventName = "TERMINATED"
)

// webhookEventType is the Webhooks API event type of an ePayment event,
// e.g. "epayments.payment.authorized.v1".
func webhookEventType(n EventName) string {
	return "epayments.payment." + strings.ToLower(string(n)) + ".v1"
}

// Event is one entry of a payment's event log.
type Event struct {
	Reference    string
	PSPReference string // the CREATED event's is a UUID, the others numeric strings
	Name         EventName
	Amount       Amount
	Timestamp    time.Time
	// IdempotencyKey is the key of the request that caused the event, ""
	// when there was none (sent as JSON null).
	IdempotencyKey string
	Success        bool
}

// PaymentSnapshot is a copy of a payment's state for test assertions.
type PaymentSnapshot struct {
	MSN          string
	Reference    string
	PSPReference string // the CREATED event's, as in API responses
	State        State
	Amount       Amount
	Authorized   int64
	Captured     int64
	Cancelled    int64
	Refunded     int64
	UserFlow     string
	ReturnURL    string
	RedirectURL  string
	// LandingToken is the token in RedirectURL, accepted by force approve.
	LandingToken string
	PhoneNumber  string // customer.phoneNumber from the create request
	Description  string
	Metadata     map[string]string
	CreatedAt    time.Time
	ExpiresAt    time.Time
	// ApprovedBy is the phone number that approved the payment.
	ApprovedBy string
	// RefusalReason is set when a magic test amount made the approval fail.
	RefusalReason string
	Events        []Event

	// CaptureGuaranteedUntil is the reservation's capture deadline, zero
	// before authorization.
	CaptureGuaranteedUntil time.Time
}

type paymentKey struct{ msn, reference string }

type payment struct {
	msn          string
	reference    string
	amount       Amount
	state        State
	userFlow     string
	returnURL    string
	phone        string
	description  string
	metadata     map[string]string
	pspReference string
	token        string
	redirectURL  string
	createdAt    time.Time
	expiresAt    time.Time
	approvedBy   string
	refusal      string

	authorized, captured, cancelled, refunded int64

	// captureDeadline is when the reservation lapses, set at
	// authorization; it is also the captureGuaranteedUntil GET answers.
	captureDeadline time.Time

	events []Event

	// ecom is set for a payment initiated through the eCom API (ecom.go).
	ecom *ecomInfo
}

func (p *payment) amountOf(v int64) Amount { return Amount{Currency: p.amount.Currency, Value: v} }

// capturable is what may still be captured or cancelled.
func (p *payment) capturable() int64 { return p.authorized - p.captured - p.cancelled }

func (p *payment) snapshot() PaymentSnapshot {
	snap := PaymentSnapshot{
		MSN:           p.msn,
		Reference:     p.reference,
		PSPReference:  p.pspReference,
		State:         p.state,
		Amount:        p.amount,
		Authorized:    p.authorized,
		Captured:      p.captured,
		Cancelled:     p.cancelled,
		Refunded:      p.refunded,
		UserFlow:      p.userFlow,
		ReturnURL:     p.returnURL,
		RedirectURL:   p.redirectURL,
		LandingToken:  p.token,
		PhoneNumber:   p.phone,
		Description:   p.description,
		CreatedAt:     p.createdAt,
		ExpiresAt:     p.expiresAt,
		ApprovedBy:    p.approvedBy,
		RefusalReason: p.refusal,
		Events:        append([]Event(nil), p.events...),
	}
	snap.CaptureGuaranteedUntil = p.captureDeadline
	if p.metadata != nil {
		snap.Metadata = make(map[string]string, len(p.metadata))
		for k, v := range p.metadata {
			snap.Metadata[k] = v
		}
	}
	return snap
}

// emit appends an event to the payment's log and queues its webhooks. The
// CREATED event carries the payment's pspReference; every other event gets
// its own.
func (s *Server) emit(p *payment, name EventName, value int64, idempotencyKey string, success bool, at time.Time) {
	psp := p.pspReference
	if name != EventCreated {
		psp = s.newPSPReference()
	}
	ev := Event{
		Reference:      p.reference,
		PSPReference:   psp,
		Name:           name,
		Amount:         p.amountOf(value),
		Timestamp:      at,
		IdempotencyKey: idempotencyKey,
		Success:        success,
	}
	p.events = append(p.events, ev)
	s.bookMovement(p, ev) // captures and refunds reach the Report API's ledger
	if p.ecom != nil {
		s.ecomEvent(p, ev) // eCom payments get the callback, never ePayment webhooks
		return
	}
	s.queueWebhooks(p.msn, ev)
}

// lapse cancels what is left of a reservation whose capture deadline has
// passed, as Vipps does, with the CANCELLED event dated at the deadline.
// The fake applies it when the payment is next looked at.
func (s *Server) lapse(p *payment) {
	if p.state != StateAuthorized || p.captureDeadline.IsZero() || s.now().Before(p.captureDeadline) {
		return
	}
	if left := p.capturable(); left > 0 {
		p.cancelled += left
		s.emit(p, EventCancelled, left, "", true, p.captureDeadline)
	}
}

// pastCaptureDeadline reports whether the reservation can no longer be
// captured or cancelled.
func (s *Server) pastCaptureDeadline(p *payment) bool {
	return p.state == StateAuthorized && !p.captureDeadline.IsZero() && !s.now().Before(p.captureDeadline)
}

// advance applies the transitions that are due by the clock: a payment
// still CREATED at its expiry time becomes EXPIRED, with the event dated at
// that time rather than when the fake noticed.
func (s *Server) advance() {
	now := s.now()
	for s.open.Len() > 0 {
		k := s.open.entries[0].key
		p := s.payments[k]
		switch {
		case p.state != StateCreated:
		case !now.Before(p.expiresAt):
			p.state = StateExpired
			s.emit(p, EventExpired, p.amount.Value, "", true, p.expiresAt)
		default:
			return // the rest expire later
		}
		heap.Pop(&s.open)
	}
}

// openPayments are the payments that may still expire, a heap by expiry
// (then creation order), so that advance, which runs on every request,
// looks at the ones due and not at every payment waiting.
type openPayments struct {
	entries []openPayment
	seq     uint64
}

type openPayment struct {
	expires time.Time
	seq     uint64
	key     paymentKey
}

func (o *openPayments) add(k paymentKey, expires time.Time) {
	o.seq++
	heap.Push(o, openPayment{expires: expires, seq: o.seq, key: k})
}

func (o *openPayments) Len() int { return len(o.entries) }
func (o *openPayments) Less(i, j int) bool {
	a, b := o.entries[i], o.entries[j]
	if !a.expires.Equal(b.expires) {
		return a.expires.Before(b.expires)
	}
	return a.seq < b.seq
}
func (o *openPayments) Swap(i, j int) { o.entries[i], o.entries[j] = o.entries[j], o.entries[i] }
func (o *openPayments) Push(x any)    { o.entries = append(o.entries, x.(openPayment)) }
func (o *openPayments) Pop() any {
	n := len(o.entries) - 1
	x := o.entries[n]
	o.entries = o.entries[:n]
	return x
}

// findPayment looks a reference up across sales units; it fails when the
// reference is unknown or used by several units.
func (s *Server) findPayment(reference string) (*payment, bool) {
	var found *payment
	for _, k := range s.order {
		if k.reference == reference {
			if found != nil {
				return nil, false
			}
			found = s.payments[k]
		}
	}
	return found, found != nil
}

// Wire formats.

type aggregateJSON struct {
	AuthorizedAmount Amount `json:"authorizedAmount"`
	CancelledAmount  Amount `json:"cancelledAmount"`
	CapturedAmount   Amount `json:"capturedAmount"`
	RefundedAmount   Amount `json:"refundedAmount"`
}

func (p *payment) aggregate() aggregateJSON {
	return aggregateJSON{
		AuthorizedAmount: p.amountOf(p.authorized),
		CancelledAmount:  p.amountOf(p.cancelled),
		CapturedAmount:   p.amountOf(p.captured),
		RefundedAmount:   p.amountOf(p.refunded),
	}
}

type paymentMethodJSON struct {
	Type string `json:"type"`
}

type profileJSON struct {
	Sub string `json:"sub,omitempty"`
}

type paymentJSON struct {
	Aggregate     aggregateJSON     `json:"aggregate"`
	Amount        Amount            `json:"amount"`
	State         State             `json:"state"`
	PaymentMethod paymentMethodJSON `json:"paymentMethod"`
	Profile       profileJSON       `json:"profile"`
	PSPReference  string            `json:"pspReference"`
	RedirectURL   string            `json:"redirectUrl,omitempty"`
	Reference     string            `json:"reference"`
	Metadata      map[string]string `json:"metadata,omitempty"`

	// CaptureGuaranteedUntil is set once the payment is authorized (ePayment
	// CHANGELOG, Aug 2026; notes/vipps.md §3.2).
	CaptureGuaranteedUntil string `json:"captureGuaranteedUntil,omitempty"`
}

func (p *payment) toJSON() paymentJSON {
	out := paymentJSON{
		Aggregate:     p.aggregate(),
		Amount:        p.amount,
		State:         p.state,
		PaymentMethod: paymentMethodJSON{Type: "WALLET"},
		PSPReference:  p.pspReference,
		RedirectURL:   p.redirectURL,
		Reference:     p.reference,
		Metadata:      p.metadata,
	}
	if !p.captureDeadline.IsZero() {
		out.CaptureGuaranteedUntil = p.captureDeadline.UTC().Format(timestampFormat)
	}
	return out
}

type modificationJSON struct {
	Amount       Amount        `json:"amount"`
	State        State         `json:"state"`
	Aggregate    aggregateJSON `json:"aggregate"`
	PSPReference string        `json:"pspReference"`
	Reference    string        `json:"reference"`
}

func (p *payment) modification() modificationJSON {
	return modificationJSON{
		Amount:       p.amount,
		State:        p.state,
		Aggregate:    p.aggregate(),
		PSPReference: p.pspReference,
		Reference:    p.reference,
	}
}

// timestampFormat is how Vipps writes event times: UTC with milliseconds.
const timestampFormat = "2006-01-02T15:04:05.000Z"

type eventJSON struct {
	Reference      string    `json:"reference"`
	PSPReference   string    `json:"pspReference"`
	Name           EventName `json:"name"`
	Amount         Amount    `json:"amount"`
	Timestamp      string    `json:"timestamp"`
	IdempotencyKey *string   `json:"idempotencyKey"`
	Success        bool      `json:"success"`
}

func (e Event) toJSON() eventJSON {
	out := eventJSON{
		Reference:    e.Reference,
		PSPReference: e.PSPReference,
		Name:         e.Name,
		Amount:       e.Amount,
		Timestamp:    e.Timestamp.UTC().Format(timestampFormat),
		Success:      e.Success,
	}
	if e.IdempotencyKey != "" {
		k := e.IdempotencyKey
		out.IdempotencyKey = &k
	}
	return out
}

// webhookEventJSON is the body of an ePayment webhook.
type webhookEventJSON struct {
	MSN            string    `json:"msn"`
	Reference      string    `json:"reference"`
	PSPReference   string    `json:"pspReference"`
	Name           EventName `json:"name"`
	Amount         Amount    `json:"amount"`
	Timestamp      string    `json:"timestamp"`
	IdempotencyKey *string   `json:"idempotencyKey"`
	Success        bool      `json:"success"`
}

func webhookBody(msn string, e Event) []byte {
	j := e.toJSON()
	return marshalJSON(webhookEventJSON{
		MSN:            msn,
		Reference:      j.Reference,
		PSPReference:   j.PSPReference,
		Name:           j.Name,
		Amount:         j.Amount,
		Timestamp:      j.Timestamp,
		IdempotencyKey: j.IdempotencyKey,
		Success:        j.Success,
	})
}
