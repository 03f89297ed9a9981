package web

import (
	"net/http"
	"time"

	"vippskco/bridge"

	"github.com/gin-gonic/gin"
)

// epm is GET /api/v1/epm/{unit}?kco_order_id=&locale=: the EPM entry for a
// KCO order, as the epm command prints it (bridge.MerchantEPM).
func (h *HTTP) epm(c *gin.Context) error {
	out, err := h.Service.MerchantEPM(c.Request.Context(), c.Param("unit"), bridge.MerchantEPMRequest{
		OrderID: c.Query("kco_order_id"), Locale: c.Query("locale"),
	})
	if err != nil {
		return err
	}
	// PureJSON: the redirect_url's & stays as it is, copyable, as the
	// command prints it.
	c.PureJSON(http.StatusOK, out)
	return nil
}

func (h *HTTP) listPayments(c *gin.Context) error {
	id := c.Query("kco_order_id")
	if id == "" {
		return bridge.Errorf(bridge.ECodeInvalid, "missing_kco_order_id", "kco_order_id is required")
	}
	if !bridge.ValidKCOOrderID(id) {
		return bridge.Errorf(bridge.ECodeInvalid, "malformed_order_id", "kco_order_id %s is not a KCO order id", bridge.Quote(id))
	}
	ps, err := h.Service.Store.PaymentsByOrder(c.Request.Context(), id)
	if err != nil {
		return err
	}
	out := make([]bridge.PaymentJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, bridge.PaymentView(p, nil, false))
	}
	c.JSON(http.StatusOK, gin.H{"payments": out})
	return nil
}

func (h *HTTP) getPayment(c *gin.Context) error {
	ctx := c.Request.Context()
	p, err := h.Service.Store.Payment(ctx, c.Param("reference"))
	if err != nil {
		return bridge.NotFoundAs(err, "payment %s", bridge.Quote(c.Param("reference")))
	}
	hist, err := h.Service.Store.History(ctx, p.Reference)
	if err != nil {
		return err
	}
	out := bridge.PaymentView(p, hist, true)
	events, err := h.Service.Store.PaymentEvents(ctx, p.Reference)
	if err != nil {
		return err
	}
	for _, e := range events {
		out.Events = append(out.Events, bridge.EventJSON{Name: e.Name, PSPReference: e.PSPReference, Amount: e.Amount, Success: e.Success, OccurredAt: e.OccurredAt})
	}
	ops, err := h.Service.Store.Operations(ctx, p.Reference)
	if err != nil {
		return err
	}
	for _, op := range ops {
		out.Operations = append(out.Operations, bridge.OperationView(op))
	}
	c.JSON(http.StatusOK, out)
	return nil
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

func (h *HTTP) paymentLog(c *gin.Context) error {
	log, err := h.Service.PaymentLog(c.Request.Context(), c.Param("reference"))
	if err != nil {
		return bridge.NotFoundAs(err, "payment %s", bridge.Quote(c.Param("reference")))
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
	return nil
}
