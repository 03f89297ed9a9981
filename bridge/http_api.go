package bridge

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

func (h *HTTP) epm(c *gin.Context) {
	entry, err := h.Service.EPMEntry(c.Param("unit"), c.Query("kco_order_id"), c.Query("locale"))
	if err != nil {
		writeJSONError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"external_payment_methods": []any{entry}})
}

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

func paymentJSON(p *Payment, history []HistoryEntry, withOrder bool) PaymentJSON {
	out := PaymentJSON{
		Reference: p.Reference, Unit: p.Unit, KCOOrderID: p.KCOOrderID, Attempt: p.Attempt, State: p.State,
		Amount: p.Amount, PSPReference: p.PSPReference, FailureReason: p.FailureReason,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
		Aggregate: AggregateJSON{
			Authorized: p.Authorized, Captured: p.Captured, Refunded: p.Refunded, Cancelled: p.Cancelled,
			Capturable: max(0, p.Authorized-p.Captured-p.Cancelled), Refundable: max(0, p.Captured-p.Refunded),
		},
	}
	if withOrder {
		out.Order = p.Order
	}
	for _, e := range history {
		out.History = append(out.History, HistoryJSON{From: e.FromState, To: e.ToState, Source: e.Source, Detail: e.Detail, At: e.At})
	}
	return out
}

func (h *HTTP) listPayments(c *gin.Context) {
	id := c.Query("kco_order_id")
	if id == "" {
		writeJSONError(c, Errorf(ECodeInvalid, "missing_kco_order_id", "kco_order_id is required"))
		return
	}
	if !ValidKCOOrderID(id) {
		writeJSONError(c, Errorf(ECodeInvalid, "malformed_order_id", "kco_order_id %q is not a KCO order id", id))
		return
	}
	ps, err := h.Service.Store.PaymentsByOrder(c.Request.Context(), id)
	if err != nil {
		writeJSONError(c, err)
		return
	}
	out := make([]PaymentJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, paymentJSON(p, nil, false))
	}
	c.JSON(http.StatusOK, gin.H{"payments": out})
}

func (h *HTTP) getPayment(c *gin.Context) {
	ctx := c.Request.Context()
	p, err := h.Service.Store.Payment(ctx, c.Param("reference"))
	if err != nil {
		writeJSONError(c, notFoundAs(err, "payment %q", c.Param("reference")))
		return
	}
	hist, err := h.Service.Store.History(ctx, p.Reference)
	if err != nil {
		writeJSONError(c, err)
		return
	}
	out := paymentJSON(p, hist, true)
	events, err := h.Service.Store.PaymentEvents(ctx, p.Reference)
	if err != nil {
		writeJSONError(c, err)
		return
	}
	for _, e := range events {
		out.Events = append(out.Events, EventJSON{Name: e.Name, PSPReference: e.PSPReference, Amount: e.Amount, Success: e.Success, OccurredAt: e.OccurredAt})
	}
	ops, err := h.Service.Store.Operations(ctx, p.Reference)
	if err != nil {
		writeJSONError(c, err)
		return
	}
	for _, op := range ops {
		out.Operations = append(out.Operations, operationJSON(op))
	}
	c.JSON(http.StatusOK, out)
}

// ExchangeJSON is one provider request and response in a payment's log.
type ExchangeJSON struct {
	Provider        string    `json:"provider"`
	Operation       string    `json:"operation"`
	Method          string    `json:"method"`
	URL             string    `json:"url"`
	RequestHeaders  string    `json:"request_headers,omitempty"`
	RequestBody     string    `json:"request_body,omitempty"`
	StatusCode      int       `json:"status_code,omitempty"`
	ResponseHeaders string    `json:"response_headers,omitempty"`
	ResponseBody    string    `json:"response_body,omitempty"`
	Error           string    `json:"error,omitempty"`
	Attempt         int       `json:"attempt"`
	StartedAt       time.Time `json:"started_at"`
	DurationMS      int64     `json:"duration_ms"`
}

func (h *HTTP) paymentLog(c *gin.Context) {
	log, err := h.Service.PaymentLog(c.Request.Context(), c.Param("reference"))
	if err != nil {
		writeJSONError(c, notFoundAs(err, "payment %q", c.Param("reference")))
		return
	}
	out := make([]ExchangeJSON, 0, len(log))
	for _, e := range log {
		out = append(out, ExchangeJSON{
			Provider: e.Provider, Operation: e.Operation, Method: e.Method, URL: e.URL,
			RequestHeaders: e.RequestHeaders, RequestBody: e.RequestBody, StatusCode: e.StatusCode,
			ResponseHeaders: e.ResponseHeaders, ResponseBody: e.ResponseBody, Error: e.Error,
			Attempt: e.Attempt, StartedAt: e.StartedAt, DurationMS: e.Duration.Milliseconds(),
		})
	}
	c.JSON(http.StatusOK, gin.H{"reference": c.Param("reference"), "exchanges": out})
}

// notFoundAs turns a store's bare not-found into a message naming the thing.
func notFoundAs(err error, format string, args ...any) error {
	if ErrorCode(err) == ECodeNotFound {
		return Errorf(ECodeNotFound, "not_found", format+" not found", args...)
	}
	return err
}
