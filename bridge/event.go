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
