package bridge

import (
	"encoding/json"
	"time"
)

// PaymentState is our state of one Vipps payment (one attempt). It extends
// the ePayment states with the two that exist only on our side: PENDING, an
// attempt stored with its idempotency key but not yet confirmed created by
// Vipps, and FAILED, a create that Vipps rejected for good.
type PaymentState string

// Payment states.
const (
	StatePending    PaymentState = "PENDING"
	StateCreated    PaymentState = "CREATED"
	StateAuthorized PaymentState = "AUTHORIZED"
	StateAborted    PaymentState = "ABORTED"
	StateExpired    PaymentState = "EXPIRED"
	StateTerminated PaymentState = "TERMINATED"
	StateFailed     PaymentState = "FAILED"
)

// Final reports whether the state can no longer change. AUTHORIZED is final
// as a state; money still moves after it and shows in the aggregates.
func (s PaymentState) Final() bool {
	switch s {
	case StateAuthorized, StateAborted, StateExpired, StateTerminated, StateFailed:
		return true
	}
	return false
}

// Retryable reports whether the shopper may start a new attempt after this one.
func (s PaymentState) Retryable() bool {
	switch s {
	case StateAborted, StateExpired, StateTerminated, StateFailed:
		return true
	}
	return false
}

// The capture deadline notices, in the order they are sent.
const (
	CaptureDeadlineNear   = "near"
	CaptureDeadlinePassed = "passed"
)

// Payment is one Vipps payment: one attempt at paying one KCO order through
// one sales unit. Its Reference is the Vipps reference.
type Payment struct {
	Reference  string
	Unit       string
	KCOOrderID string
	Attempt    int
	Amount     Money
	State      PaymentState

	// CreateIdempotencyKey and CreateRequest are stored before the create
	// call so that a retry, even after a crash, sends the same key and the
	// same bytes.
	CreateIdempotencyKey string
	CreateRequest        json.RawMessage

	// RedirectURL is the Vipps landing page or app-switch URL.
	RedirectURL string
	// ReturnToken is the unguessable token in our returnUrl; it scopes the
	// shopper's return and status pages to this payment.
	ReturnToken  string
	PSPReference string

	Authorized int64
	Captured   int64
	Refunded   int64
	Cancelled  int64

	// Locale is the KCO order's locale, used to pick the page language.
	Locale string
	// Order is the KCO order as it was when the attempt was made.
	Order json.RawMessage
	// FailureReason says in words why a create failed or the payment ended
	// without authorization.
	FailureReason string

	// CaptureGuaranteedUntil is the reservation's capture deadline as Vipps
	// reports it (captureGuaranteedUntil), zero while unknown. Past it Vipps
	// cancels what is left uncaptured.
	CaptureGuaranteedUntil time.Time
	// CaptureDeadlineNotice is how far the merchant has been told about
	// that deadline: "", CaptureDeadlineNear or CaptureDeadlinePassed.
	CaptureDeadlineNotice string

	// NextPollAt is when the poller should next read this payment from
	// Vipps; zero means never. Stores keep it with the payment and hand out
	// due payments under a lease (Store.ClaimDuePolls).
	NextPollAt time.Time
	// ReadAskedBy is the channel (a webhook, a page) that asked for a read
	// of the payment that has not been made yet, or "": set by
	// Store.PollSoon, cleared by the read that answers it, and handed out
	// only by the poll claims, so that the read is booked as that
	// channel's. Updates of the payment do not write it.
	ReadAskedBy string

	CreatedAt time.Time
	UpdatedAt time.Time
	// Version increases on every update; stores reject an update whose
	// version is not the stored one.
	Version int64
}

// HistoryEntry is one change of a payment, with the channel that caused it.
type HistoryEntry struct {
	ID        int64
	Reference string
	// Source is where the change came from: redirect, return, status,
	// webhook, poller or merchant.
	Source    string
	FromState PaymentState
	ToState   PaymentState
	Detail    string
	At        time.Time
}

// ProviderExchange is one request to a provider and its answer, kept whole
// (secrets redacted) so a payment's log shows exactly what was said.
type ProviderExchange struct {
	ID              int64
	Reference       string
	Provider        string // vipps or kustom
	Operation       string
	Method          string
	URL             string
	RequestHeaders  string
	RequestBody     string
	StatusCode      int
	ResponseHeaders string
	ResponseBody    string
	Error           string
	Attempt         int
	StartedAt       time.Time
	Duration        time.Duration
}
