package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"vippskco/bridge"

	"github.com/gin-gonic/gin"
)

// maxBody bounds request bodies we accept.
const maxBody = 64 << 10

// operationRequest is the body of capture and refund: an amount in minor
// units, in the payment's currency.
type operationRequest struct {
	Amount *struct {
		Value    *int64 `json:"value"`
		Currency string `json:"currency"`
	} `json:"amount"`
}

func (h *HTTP) operation(kind string) apiHandler {
	return func(c *gin.Context) error {
		var amount bridge.Money
		if kind != bridge.OpCancel {
			var req operationRequest
			dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				return bridge.Errorf(bridge.ECodeInvalid, "body_invalid", "the body must be {\"amount\": {\"value\": <minor units>, \"currency\": \"NOK\"}}: %v", err)
			}
			if dec.More() {
				return bridge.Errorf(bridge.ECodeInvalid, "body_invalid", "the body must hold one JSON object")
			}
			if req.Amount == nil || req.Amount.Value == nil {
				return bridge.Errorf(bridge.ECodeInvalid, "amount_missing", "amount.value (integer minor units) is required")
			}
			amount = bridge.Money{Value: *req.Amount.Value, Currency: req.Amount.Currency}
		} else if _, err := io.Copy(io.Discard, http.MaxBytesReader(c.Writer, c.Request.Body, maxBody)); err != nil {
			return bridge.Errorf(bridge.ECodeInvalid, "body_invalid", "the body is too large")
		}
		res, err := h.Service.RequestOperation(c.Request.Context(), kind, c.Param("reference"), c.GetHeader("Idempotency-Key"), amount)
		if err != nil {
			return err
		}
		if res.Status == http.StatusConflict {
			c.Header("Retry-After", "2")
		}
		c.Data(res.Status, "application/json; charset=utf-8", res.Body)
		return nil
	}
}

func (h *HTTP) vippsWebhook(c *gin.Context) error {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return bridge.Errorf(bridge.ECodeInvalid, "body_too_large", "the webhook body is too large")
		}
		return bridge.Errorf(bridge.ECodeInvalid, "body_unreadable", "the webhook body could not be read in time")
	}
	status, err := h.Service.HandleVippsWebhook(c.Request.Context(), c.Param("unit"), c.Request.Header, body)
	if err != nil {
		h.logger().WarnContext(c.Request.Context(), "vipps webhook rejected", "unit", bridge.Quote(c.Param("unit")), "reason", bridge.ErrorReason(err), "err", err)
		return err
	}
	c.JSON(http.StatusOK, gin.H{"status": status})
	return nil
}
