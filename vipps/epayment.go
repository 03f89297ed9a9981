package vipps

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

const paymentsPath = "/epayment/v1/payments"

// CreatePayment starts a payment (POST /epayment/v1/payments, 201). The
// idempotencyKey must be chosen and stored before the call and reused if the
// call is repeated; a retry inside the client sends it unchanged with the
// same body. An *OutcomeUnknownError means the payment may exist: read it
// back with GetPayment.
func (c *Client) CreatePayment(ctx context.Context, idempotencyKey string, req CreatePaymentRequest) (*CreatePaymentResponse, error) {
	if err := checkIdempotencyKey(idempotencyKey); err != nil {
		return nil, err
	}
	if !ValidReference(req.Reference) {
		return nil, fmt.Errorf("%w: reference %q: must match %s", ErrInvalidInput, req.Reference, referencePattern)
	}
	if err := checkAmount(req.Amount); err != nil {
		return nil, err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("vipps: encoding the create request: %w", err)
	}
	r := &request{
		op: "create", method: http.MethodPost, path: paymentsPath,
		reference: req.Reference, idempotencyKey: idempotencyKey, body: body,
		auth: true, resendable: true, change: true,
	}
	var out CreatePaymentResponse
	if err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetPayment reads a payment (GET /epayment/v1/payments/{reference}). The
// state stays AUTHORIZED after captures, cancels and refunds; the money
// movements show in Aggregate.
func (c *Client) GetPayment(ctx context.Context, reference string) (*Payment, error) {
	if err := checkPathReference(reference); err != nil {
		return nil, err
	}
	r := &request{
		op: "get", method: http.MethodGet, path: apiPath(paymentsPath, reference),
		reference: reference, auth: true, resendable: true,
	}
	var out Payment
	if err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetEvents reads the payment's event log
// (GET /epayment/v1/payments/{reference}/events), which Vipps calls the
// authoritative record. Each event has its own PSPReference.
func (c *Client) GetEvents(ctx context.Context, reference string) ([]PaymentEvent, error) {
	if err := checkPathReference(reference); err != nil {
		return nil, err
	}
	r := &request{
		op: "events", method: http.MethodGet, path: apiPath(paymentsPath, reference) + "/events",
		reference: reference, auth: true, resendable: true,
	}
	var out []PaymentEvent
	if err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// modificationRequest is the body of capture and refund.
type modificationRequest struct {
	ModificationAmount Amount `json:"modificationAmount"`
}

// Capture captures amount of an authorized payment
// (POST /epayment/v1/payments/{reference}/capture). Partial captures may be
// repeated, each with its own idempotency key, up to the authorized amount.
func (c *Client) Capture(ctx context.Context, reference, idempotencyKey string, amount Amount) (*ModificationResponse, error) {
	return c.modify(ctx, "capture", reference, idempotencyKey, &modificationRequest{ModificationAmount: amount}, amount)
}

// Refund refunds amount of a captured payment
// (POST /epayment/v1/payments/{reference}/refund), up to the captured amount.
func (c *Client) Refund(ctx context.Context, reference, idempotencyKey string, amount Amount) (*ModificationResponse, error) {
	return c.modify(ctx, "refund", reference, idempotencyKey, &modificationRequest{ModificationAmount: amount}, amount)
}

// Cancel cancels what is left of a payment
// (POST /epayment/v1/payments/{reference}/cancel). Before authorization the
// payment becomes TERMINATED; after it, the state stays AUTHORIZED and the
// whole uncaptured remainder moves to CancelledAmount. With
// cancelTransactionOnly Vipps cancels only a payment that is not yet
// authorized (error 6060 otherwise); the body is sent only then.
func (c *Client) Cancel(ctx context.Context, reference, idempotencyKey string, cancelTransactionOnly bool) (*ModificationResponse, error) {
	var body any
	if cancelTransactionOnly {
		body = struct {
			CancelTransactionOnly bool `json:"cancelTransactionOnly"`
		}{true}
	}
	return c.modify(ctx, "cancel", reference, idempotencyKey, body, Amount{})
}

func (c *Client) modify(ctx context.Context, op, reference, idempotencyKey string, body any, amount Amount) (*ModificationResponse, error) {
	if err := checkPathReference(reference); err != nil {
		return nil, err
	}
	if err := checkIdempotencyKey(idempotencyKey); err != nil {
		return nil, err
	}
	if op != "cancel" {
		if err := checkAmount(amount); err != nil {
			return nil, err
		}
	}
	r := &request{
		op: op, method: http.MethodPost, path: apiPath(paymentsPath, reference) + "/" + op,
		reference: reference, idempotencyKey: idempotencyKey,
		auth: true, resendable: true, change: true,
	}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("vipps: encoding the %s request: %w", op, err)
		}
		r.body = b
	}
	var out ModificationResponse
	if err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ForceApprove approves a payment as the test user with phoneNumber (an
// MSISDN such as 4791234567) would in the app
// (POST /epayment/v1/test/payments/{reference}/approve). It exists only in
// the test environment, and the test user must have approved one payment
// in the app first. It carries no idempotency key, so it is not repeated
// after an attempt that may have arrived.
func (c *Client) ForceApprove(ctx context.Context, reference string, phoneNumber string) error {
	if err := checkPathReference(reference); err != nil {
		return err
	}
	if phoneNumber == "" {
		return fmt.Errorf("%w: force approve needs the test user's phone number", ErrInvalidInput)
	}
	body, err := json.Marshal(struct {
		Customer Customer `json:"customer"`
	}{Customer{PhoneNumber: phoneNumber}})
	if err != nil {
		return fmt.Errorf("vipps: encoding the force approve request: %w", err)
	}
	r := &request{
		op: "force-approve", method: http.MethodPost, path: apiPath("/epayment/v1/test/payments", reference) + "/approve",
		reference: reference, body: body, auth: true, change: true,
	}
	_, err = c.do(ctx, r)
	return err
}

// call runs r and decodes the 2xx answer into out.
func (c *Client) call(ctx context.Context, r *request, out any) error {
	res, err := c.do(ctx, r)
	if err != nil {
		return err
	}
	return c.decodeJSON(r, res, out)
}

// checkPathReference rejects an empty reference, which would address a
// different endpoint. Other values are sent path-escaped and left for Vipps
// to judge: payments created with the eCom API (orderId, 1 to 50
// characters) can be read and changed through ePayment too.
func checkPathReference(reference string) error {
	if reference == "" {
		return fmt.Errorf("%w: a payment reference is required", ErrInvalidInput)
	}
	return nil
}

// checkAmount rejects amounts Vipps always refuses. Amounts are integer
// minor units.
func checkAmount(a Amount) error {
	switch {
	case a.Currency == "":
		return fmt.Errorf("%w: amount %d has no currency", ErrInvalidInput, a.Value)
	case a.Value <= 0:
		return fmt.Errorf("%w: amount %d %s: must be positive (minor units)", ErrInvalidInput, a.Value, a.Currency)
	}
	return nil
}
