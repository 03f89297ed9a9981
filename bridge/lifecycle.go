package bridge

import (
	"encoding/json"
	"time"
)

// RawEvent is one input exactly as it arrived: a webhook body, or what a
// poll or a page read returned. Every one is kept, with where it came from,
// whether or not it changed anything.
type RawEvent struct {
	ID        int64
	Reference string
	Unit      string
	// Source is webhook, poller, return, status, redirect or merchant.
	Source string
	// Name is the Vipps event name for webhooks, the state read for polls.
	Name       string
	Body       json.RawMessage
	ReceivedAt time.Time
}

// PaymentEvent is one entry of a payment's Vipps event log, as the state
// machine has applied it. Partial captures and refunds share a Name but not
// a PSPReference, so (Reference, Name, PSPReference) is the key.
type PaymentEvent struct {
	ID           int64
	Reference    string
	Name         string
	PSPReference string
	Amount       Money
	Success      bool
	// IdempotencyKey is the key of the operation that caused it, when Vipps
	// reports one; it is how a recovered operation finds its outcome.
	IdempotencyKey string
	OccurredAt     time.Time
	// Source is the channel through which we first learned of it.
	Source     string
	RecordedAt time.Time
}

// Notification is one signed webhook to the merchant, written to the outbox
// in the same transaction as the change it reports and delivered at least
// once. ID is unique and stable across retries, so the merchant can dedupe.
type Notification struct {
	ID        string
	Reference string
	Type      string
	Payload   json.RawMessage
	CreatedAt time.Time

	Attempts      int
	NextAttemptAt time.Time
	LastAttemptAt time.Time
	LastStatus    int
	LastError     string
	DeliveredAt   time.Time
	GaveUpAt      time.Time

	// LeaseOwner and LeaseUntil let several replicas share the outbox: a
	// claimed row is not claimed again until its lease runs out.
	LeaseOwner string
	LeaseUntil time.Time
	Version    int64
}

// Notification states, derived from the timestamps.
const (
	NotificationPending   = "pending"
	NotificationDelivered = "delivered"
	NotificationFailed    = "failed"
)

// State says where the notification is.
func (n *Notification) State() string {
	switch {
	case !n.DeliveredAt.IsZero():
		return NotificationDelivered
	case !n.GaveUpAt.IsZero():
		return NotificationFailed
	}
	return NotificationPending
}

// Operation kinds.
const (
	OpCapture = "capture"
	OpCancel  = "cancel"
	OpRefund  = "refund"
)

// Operation states. An operation is pending from the moment it is stored
// (before Vipps is called) until its outcome is known; a pending operation
// whose lease has run out is one whose runner died, and recovery finishes it
// by reading the payment's event log, or by resending with the same key.
const (
	OperationPending   = "pending"
	OperationSucceeded = "succeeded"
	OperationFailed    = "failed"
)

// Operation is a capture, cancel or refund: asked for by the merchant, by
// the direct-capture policy, or by the double-payment guard.
type Operation struct {
	ID        string
	Reference string
	Kind      string
	// IdempotencyKey is the caller's key; it is unique. Internal operations
	// get deterministic keys (direct-capture-<reference>), which is what
	// makes them happen exactly once.
	IdempotencyKey string
	// RequestHash identifies the request body the key was first used with.
	RequestHash string
	Amount      Money
	// VippsIdempotencyKey is sent to Vipps on every try of this operation.
	VippsIdempotencyKey string
	// Source is merchant, direct-capture or guard.
	Source string
	State  string
	// ResponseStatus and ResponseBody are what the merchant API answered,
	// replayed for a repeated request with the same key.
	ResponseStatus int
	ResponseBody   json.RawMessage
	// Error says in words why it failed, with the provider's error code.
	Error    string
	Attempts int

	LeaseOwner string
	LeaseUntil time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
	Version    int64
}

// Change is everything one step of the state machine writes, in one
// transaction guarded by Payment.Version: the payment, its history, the
// Vipps events newly learned, the notifications they cause and the
// operations they start. Either all of it is stored or none.
type Change struct {
	Payment       *Payment
	History       []HistoryEntry
	Events        []PaymentEvent
	Notifications []Notification
	Operations    []Operation
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
