package vippstest

import (
	"bytes"
	"fmt"
	"net/http"
)

// checkReference validates the {reference} path parameter.
func (c *call) checkReference(ref string) (response, bool) {
	if !referencePattern.MatchString(ref) {
		return c.invalid(field("reference", "The field reference must match the regular expression '^[a-zA-Z0-9-]{8,64}$'.")), false
	}
	return response{}, true
}

// lookup finds the reference among the caller's payments. Another unit's
// payment with the same reference is just as unknown: references are
// unique per MSN only.
func (c *call) lookup(ref string) (*payment, response, bool) {
	if resp, ok := c.checkReference(ref); !ok {
		return nil, resp, false
	}
	p, ok := c.s.payments[paymentKey{msn: c.unit.MSN, reference: ref}]
	if !ok {
		return nil, c.fail(errReferenceNotFound, "No payment with reference "+ref+" exists for this sales unit."), false
	}
	c.s.lapse(p)
	return p, response{}, true
}

// handleGet is GET /epayment/v1/payments/{reference}.
func (s *Server) handleGet(c *call) response {
	ref := c.r.PathValue("reference")
	p, resp, ok := c.lookup(ref)
	if !ok {
		return resp
	}
	return jsonResponse(http.StatusOK, p.toJSON())
}

// handleEvents is GET /epayment/v1/payments/{reference}/events.
func (s *Server) handleEvents(c *call) response {
	ref := c.r.PathValue("reference")
	p, resp, ok := c.lookup(ref)
	if !ok {
		return resp
	}
	out := make([]eventJSON, 0, len(p.events))
	for _, e := range p.events {
		out = append(out, e.toJSON())
	}
	return jsonResponse(http.StatusOK, out)
}

// modificationAmount reads {"modificationAmount":{currency,value}} and
// checks it against the payment's currency.
func (c *call) modificationAmount(p *payment) (Amount, response, bool) {
	o, ok := parseObject(c.body)
	if !ok {
		return Amount{}, c.invalid(field("body", "The request body must be a JSON object.")), false
	}
	var f fieldErrors
	a, _ := f.amount(o, "", "modificationAmount")
	if len(f) > 0 {
		return Amount{}, c.invalid(f...), false
	}
	if a.Currency != p.amount.Currency {
		return Amount{}, c.fail(errInvalidAmount, fmt.Sprintf("The currency %s does not match the payment currency %s.", a.Currency, p.amount.Currency)), false
	}
	if a.Value <= 0 {
		return Amount{}, c.fail(errInvalidAmount, "modificationAmount.value must be greater than 0."), false
	}
	return a, response{}, true
}

// handleCapture is POST /epayment/v1/payments/{reference}/capture.
func (s *Server) handleCapture(c *call) response {
	ref := c.r.PathValue("reference")
	key, resp, ok := c.idempotencyKey()
	if !ok {
		return resp
	}
	return c.idempotent(ref, key, errCaptureIdempotency, func() response {
		p, resp, ok := c.lookup(ref)
		if !ok {
			return resp
		}
		a, resp, ok := c.modificationAmount(p)
		if !ok {
			return resp
		}
		if s.pastCaptureDeadline(p) {
			return c.fail(errCapturePeriodExpired, "The capture deadline "+p.captureDeadline.Format(timestampFormat)+" has passed; the reservation was cancelled.")
		}
		switch p.state {
		case StateCreated:
			return c.fail(errCaptureBeforeReserve, "The payment is not authorized: the user has not approved it yet.")
		case StateAuthorized:
		default:
			return c.fail(errCannotCapture, "The payment is "+string(p.state)+" and cannot be captured.")
		}
		left := p.capturable()
		switch {
		case left == 0 && p.cancelled > 0:
			return c.fail(errCaptureCancelled, "The rest of the payment was cancelled; nothing is left to capture.")
		case left == 0:
			return c.fail(errAlreadyCaptured, "The whole authorized amount is already captured.")
		case a.Value > left:
			return c.fail(errCaptureTooHigh, fmt.Sprintf("Cannot capture %d: only %d of the authorized amount is left.", a.Value, left))
		}
		if c.unit.PartialCaptureNotAllowed && (a.Value != p.authorized || p.captured != 0) {
			return c.fail(errMustCaptureFull, fmt.Sprintf("This sales unit must capture the full amount %d at once.", p.authorized))
		}
		p.captured += a.Value
		s.emit(p, EventCaptured, a.Value, key, true, s.now())
		return jsonResponse(http.StatusOK, p.modification())
	})
}

// handleCancel is POST /epayment/v1/payments/{reference}/cancel.
//
// Cancel rules: before authorization the payment becomes TERMINATED. After
// authorization the state stays AUTHORIZED and the whole uncaptured rest is
// cancelled at once (also after a partial capture); with
// cancelTransactionOnly that is refused with 6060. A fully captured payment
// gives 6040 (refund instead). Cancelling again what is already cancelled
// or terminated answers 200 with no new event; ABORTED and EXPIRED
// payments give 6190.
func (s *Server) handleCancel(c *call) response {
	ref := c.r.PathValue("reference")
	key, resp, ok := c.idempotencyKey()
	if !ok {
		return resp
	}
	return c.idempotent(ref, key, errIdempotency, func() response {
		p, resp, ok := c.lookup(ref)
		if !ok {
			return resp
		}
		onlyTransaction := false
		if len(bytes.TrimSpace(c.body)) > 0 {
			o, ok := parseObject(c.body)
			if !ok {
				return c.invalid(field("body", "The request body must be a JSON object."))
			}
			var f fieldErrors
			onlyTransaction, _ = f.boolean(o, "", "cancelTransactionOnly", false)
			if len(f) > 0 {
				return c.invalid(f...)
			}
		}
		if s.pastCaptureDeadline(p) {
			return c.fail(errCancelPeriodExpired, "The capture deadline "+p.captureDeadline.Format(timestampFormat)+" has passed; the reservation was already cancelled.")
		}
		switch p.state {
		case StateCreated:
			p.state = StateTerminated
			s.emit(p, EventTerminated, p.amount.Value, key, true, s.now())
		case StateAuthorized:
			if onlyTransaction {
				return c.fail(errCannotCancelAuthorized, "The payment is authorized; cancelTransactionOnly cancels only payments that are not.")
			}
			left := p.capturable()
			switch {
			case left > 0:
				p.cancelled += left
				s.emit(p, EventCancelled, left, key, true, s.now())
			case p.cancelled == 0:
				return c.fail(errCannotCancelCaptured, "The whole amount is captured; refund it instead.")
			}
		case StateTerminated:
		default:
			return c.fail(errCannotCancel, "The payment is "+string(p.state)+" and cannot be cancelled.")
		}
		return jsonResponse(http.StatusOK, p.modification())
	})
}

// magicRefunds are the test environment's refund amounts that fail.
var magicRefunds = map[int64]errorCode{
	123: errRefundNotPossible,   // no receiving account
	124: errRefundPeriodExpired, // refund period expired
}

// handleRefund is POST /epayment/v1/payments/{reference}/refund.
func (s *Server) handleRefund(c *call) response {
	ref := c.r.PathValue("reference")
	key, resp, ok := c.idempotencyKey()
	if !ok {
		return resp
	}
	return c.idempotent(ref, key, errRefundIdempotency, func() response {
		p, resp, ok := c.lookup(ref)
		if !ok {
			return resp
		}
		a, resp, ok := c.modificationAmount(p)
		if !ok {
			return resp
		}
		switch p.state {
		case StateCreated:
			return c.fail(errRefundBeforeReserve, "The payment is not authorized; nothing can be refunded.")
		case StateAuthorized:
		default:
			return c.fail(errCannotRefund, "The payment is "+string(p.state)+" and cannot be refunded.")
		}
		if left := p.captured - p.refunded; a.Value > left {
			return c.fail(errNotEnoughRefundable, fmt.Sprintf("Cannot refund %d: only %d of the captured amount is not refunded.", a.Value, left))
		}
		if e, magic := magicRefunds[a.Value]; magic {
			return c.fail(e, fmt.Sprintf("Test amount %d: the refund fails in the test environment.", a.Value))
		}
		p.refunded += a.Value
		s.emit(p, EventRefunded, a.Value, key, true, s.now())
		return jsonResponse(http.StatusOK, p.modification())
	})
}
