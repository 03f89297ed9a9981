package bridge

import (
	"encoding/json"
	"time"
)

// The JSON views below are how a payment is published: in the merchant API
// and in the notifications we sign. They are one shape so that a merchant
// parses a payment the same way wherever it comes from.

// PaymentJSON is a payment as the merchant API shows it.
type PaymentJSON struct {
	Reference     string          `json:"reference"`
	Unit          string          `json:"unit"`
	KCOOrderID    string          `json:"kco_order_id"`
	Attempt       int             `json:"attempt"`
	State         PaymentState    `json:"state"`
	Amount        Money           `json:"amount"`
	Aggregate     AggregateJSON   `json:"aggregate"`
	PSPReference  string          `json:"psp_reference,omitempty"`
	FailureReason string          `json:"failure_reason,omitempty"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
	Order         json.RawMessage `json:"order,omitempty"`
	History       []HistoryJSON   `json:"history,omitempty"`
	Events        []EventJSON     `json:"events,omitempty"`
	Operations    []OperationJSON `json:"operations,omitempty"`

	// CaptureGuaranteedUntil is the reservation's capture deadline (Vipps'
	// captureGuaranteedUntil; 14 days for MobilePay in Denmark and
	// Finland), absent while unknown; CaptureDeadlineNotice is the last
	// notice sent about it ("near" or "passed").
	CaptureGuaranteedUntil *time.Time `json:"capture_guaranteed_until,omitempty"`
	CaptureDeadlineNotice  string     `json:"capture_deadline_notice,omitempty"`
}

// AggregateJSON holds a payment's money movements in minor units.
type AggregateJSON struct {
	Authorized int64 `json:"authorized"`
	Captured   int64 `json:"captured"`
	Refunded   int64 `json:"refunded"`
	Cancelled  int64 `json:"cancelled"`
	// Capturable is what can still be captured; Refundable what can still
	// be refunded.
	Capturable int64 `json:"capturable"`
	Refundable int64 `json:"refundable"`
}

// HistoryJSON is one state change.
type HistoryJSON struct {
	From   PaymentState `json:"from"`
	To     PaymentState `json:"to"`
	Source string       `json:"source"`
	Detail string       `json:"detail,omitempty"`
	At     time.Time    `json:"at"`
}

// PaymentView is p as published, with its history when given one and
// the KCO order snapshot when withOrder is set.
func PaymentView(p *Payment, history []HistoryEntry, withOrder bool) PaymentJSON {
	out := PaymentJSON{
		Reference: p.Reference, Unit: p.Unit, KCOOrderID: p.KCOOrderID, Attempt: p.Attempt, State: p.State,
		Amount: p.Amount, PSPReference: p.PSPReference, FailureReason: p.FailureReason,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
		Aggregate: AggregateJSON{
			Authorized: p.Authorized, Captured: p.Captured, Refunded: p.Refunded, Cancelled: p.Cancelled,
			Capturable: max(0, p.Authorized-p.Captured-p.Cancelled), Refundable: max(0, p.Captured-p.Refunded),
		},
	}
	if !p.CaptureGuaranteedUntil.IsZero() {
		t := p.CaptureGuaranteedUntil
		out.CaptureGuaranteedUntil = &t
	}
	out.CaptureDeadlineNotice = p.CaptureDeadlineNotice
	if withOrder {
		out.Order = p.Order
	}
	for _, e := range history {
		out.History = append(out.History, HistoryJSON{From: e.FromState, To: e.ToState, Source: e.Source, Detail: e.Detail, At: e.At})
	}
	return out
}

// OperationJSON is an operation as the API shows it.
type OperationJSON struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Amount    Money     `json:"amount"`
	State     string    `json:"state"`
	Source    string    `json:"source"`
	Error     string    `json:"error,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// OperationView is op as published.
func OperationView(op *Operation) OperationJSON {
	return OperationJSON{ID: op.ID, Kind: op.Kind, Amount: op.Amount, State: op.State, Source: op.Source, Error: op.Error, CreatedAt: op.CreatedAt}
}
