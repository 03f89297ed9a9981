package bridge

import (
	"encoding/json"
	"time"
)

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

// NotificationPayload is the body of a merchant webhook.
type NotificationPayload struct {
	ID        string      `json:"id"`
	Type      string      `json:"type"`
	CreatedAt time.Time   `json:"created_at"`
	Payment   PaymentJSON `json:"payment"`
	Event     *EventJSON  `json:"event,omitempty"`
	Detail    string      `json:"detail,omitempty"`
}

// EventJSON is a Vipps event as notifications and the API show it.
type EventJSON struct {
	Name         string    `json:"name"`
	PSPReference string    `json:"psp_reference"`
	Amount       Money     `json:"amount"`
	Success      bool      `json:"success"`
	OccurredAt   time.Time `json:"occurred_at"`
}
