package vipps

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"time"
)

// The eCom API v2 (legacy, still supported) is what sales units set up for
// it by Vipps speak, above all units with direct capture (SALE), which
// ePayment does not have. Amounts are NOK øre; errors come as the eCom
// array [{errorGroup, errorCode, errorMessage, contextId}], which newError
// already reads into *Error. Rate limits: initiate 2 a minute per orderId,
// capture, cancel and refund 5 a minute, details 120 a minute; a 429 is
// retried by the client as for ePayment.

const ecomPaymentsPath = "/ecomm/v2/payments"

// maxRequestIDLen is the eCom limit on X-Request-Id.
const maxRequestIDLen = 40

var orderIDPattern = regexp.MustCompile(`^[a-zA-Z0-9-]{1,50}$`)

// EcomMerchantInfo is merchantInfo of an eCom initiate.
type EcomMerchantInfo struct {
	MerchantSerialNumber string `json:"merchantSerialNumber"`
	CallbackPrefix       string `json:"callbackPrefix"`
	// FallBack (capital B, as the API spells it) is where the user returns
	// after success and failure alike.
	FallBack string `json:"fallBack"`
	// AuthToken is sent back as the Authorization header of the callback.
	AuthToken   string `json:"authToken,omitempty"`
	IsApp       bool   `json:"isApp"`
	PaymentType string `json:"paymentType,omitempty"`
}

// EcomCustomerInfo is customerInfo; MobileNumber is 8 digits, no country code.
type EcomCustomerInfo struct {
	MobileNumber string `json:"mobileNumber,omitempty"`
}

// EcomInitiateTransaction is transaction of an eCom initiate.
type EcomInitiateTransaction struct {
	OrderID         string `json:"orderId"`
	Amount          int64  `json:"amount"` // øre, at least 100
	TransactionText string `json:"transactionText"`
	SkipLandingPage bool   `json:"skipLandingPage,omitempty"`
}

// EcomInitiateRequest is the body of POST /ecomm/v2/payments.
type EcomInitiateRequest struct {
	CustomerInfo EcomCustomerInfo        `json:"customerInfo"`
	MerchantInfo EcomMerchantInfo        `json:"merchantInfo"`
	Transaction  EcomInitiateTransaction `json:"transaction"`
}

// EcomInitiateResponse is the 200 answer to an initiate.
type EcomInitiateResponse struct {
	OrderID string `json:"orderId"`
	URL     string `json:"url"`
}

// The operations of an eCom transaction log entry.
const (
	EcomInitiate = "INITIATE"
	EcomReserve  = "RESERVE"
	EcomSale     = "SALE"
	EcomCapture  = "CAPTURE"
	EcomRefund   = "REFUND"
	EcomCancel   = "CANCEL" // by the user, or by the merchant before reservation
	EcomVoid     = "VOID"   // the merchant cancelling a reservation
)

// EcomLogEntry is one entry of transactionLogHistory (newest first).
type EcomLogEntry struct {
	Amount           int64     `json:"amount"`
	Operation        string    `json:"operation"`
	OperationSuccess bool      `json:"operationSuccess"`
	RequestID        string    `json:"requestId,omitempty"`
	TimeStamp        time.Time `json:"timeStamp"`
	TransactionID    string    `json:"transactionId"`
	TransactionText  string    `json:"transactionText"`
}

// EcomSummary is transactionSummary; it is absent until the user acted.
type EcomSummary struct {
	CapturedAmount           int64 `json:"capturedAmount"`
	RemainingAmountToCapture int64 `json:"remainingAmountToCapture"`
	RefundedAmount           int64 `json:"refundedAmount"`
	RemainingAmountToRefund  int64 `json:"remainingAmountToRefund"`
}

// EcomDetails is the answer of GET /ecomm/v2/payments/{orderId}/details.
type EcomDetails struct {
	OrderID               string         `json:"orderId"`
	TransactionSummary    *EcomSummary   `json:"transactionSummary,omitempty"`
	TransactionLogHistory []EcomLogEntry `json:"transactionLogHistory"`
}

// EcomCallback is the body Vipps posts to {callbackPrefix}/v2/payments/{orderId}.
// It is unsigned: only the Authorization header (our authToken) vouches
// for it, so it is a signal to read /details, never a record.
type EcomCallback struct {
	MerchantSerialNumber json.Number `json:"merchantSerialNumber"`
	OrderID              string      `json:"orderId"`
	TransactionInfo      struct {
		Amount        int64  `json:"amount"`
		Status        string `json:"status"` // RESERVED, SALE, CANCELLED, REJECTED, RESERVE_FAILED, SALE_FAILED
		TimeStamp     string `json:"timeStamp"`
		TransactionID string `json:"transactionId"`
	} `json:"transactionInfo"`
}

type ecomMerchantRef struct {
	MerchantSerialNumber string `json:"merchantSerialNumber"`
}

type ecomActionTransaction struct {
	Amount          int64  `json:"amount,omitempty"`
	TransactionText string `json:"transactionText"`
}

type ecomActionRequest struct {
	MerchantInfo                ecomMerchantRef       `json:"merchantInfo"`
	Transaction                 ecomActionTransaction `json:"transaction"`
	ShouldReleaseRemainingFunds *bool                 `json:"shouldReleaseRemainingFunds,omitempty"`
}

// EcomActionResponse is the answer to capture, cancel and refund.
type EcomActionResponse struct {
	OrderID            string       `json:"orderId"`
	TransactionSummary *EcomSummary `json:"transactionSummary,omitempty"`
}

// EcomInitiatePayment starts an eCom payment (POST /ecomm/v2/payments). It
// is NOT idempotent: the client never repeats it after an attempt that may
// have arrived, and an *OutcomeUnknownError must be resolved by reading
// EcomGetDetails, never by initiating again (a second initiate of the same
// orderId is refused with error 34).
func (c *Client) EcomInitiatePayment(ctx context.Context, req EcomInitiateRequest) (*EcomInitiateResponse, error) {
	t := req.Transaction
	switch {
	case !orderIDPattern.MatchString(t.OrderID):
		return nil, fmt.Errorf("%w: orderId %q: must match %s", ErrInvalidInput, t.OrderID, orderIDPattern)
	case t.Amount < 100:
		return nil, fmt.Errorf("%w: amount %d øre: eCom needs at least 100 (1 NOK)", ErrInvalidInput, t.Amount)
	case t.TransactionText == "" || len([]rune(t.TransactionText)) > 100:
		return nil, fmt.Errorf("%w: transactionText must be 1 to 100 characters", ErrInvalidInput)
	case req.MerchantInfo.CallbackPrefix == "" || req.MerchantInfo.FallBack == "":
		return nil, fmt.Errorf("%w: merchantInfo.callbackPrefix and merchantInfo.fallBack are required", ErrInvalidInput)
	case len(req.MerchantInfo.AuthToken) > 255:
		return nil, fmt.Errorf("%w: merchantInfo.authToken is longer than 255 characters", ErrInvalidInput)
	}
	req.MerchantInfo.MerchantSerialNumber = c.creds.MSN
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("vipps: encoding the eCom initiate: %w", err)
	}
	r := &request{
		op: "ecom-initiate", method: http.MethodPost, path: ecomPaymentsPath,
		reference: t.OrderID, body: body, auth: true, change: true,
	}
	var out EcomInitiateResponse
	if err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// EcomGetDetails reads an eCom payment with its whole transaction log
// (GET /ecomm/v2/payments/{orderId}/details).
func (c *Client) EcomGetDetails(ctx context.Context, orderID string) (*EcomDetails, error) {
	if !orderIDPattern.MatchString(orderID) {
		return nil, fmt.Errorf("%w: orderId %q: must match %s", ErrInvalidInput, orderID, orderIDPattern)
	}
	r := &request{
		op: "ecom-details", method: http.MethodGet, path: apiPath(ecomPaymentsPath, orderID) + "/details",
		reference: orderID, auth: true, resendable: true,
	}
	var out EcomDetails
	if err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// EcomCapture captures amount øre (POST …/{orderId}/capture) under
// requestID (X-Request-Id, at most 40 characters, chosen and stored by the
// caller before the call), so that a repeat is answered, not redone.
func (c *Client) EcomCapture(ctx context.Context, orderID, requestID string, amount int64, text string) (*EcomActionResponse, error) {
	return c.ecomAction(ctx, "ecom-capture", http.MethodPost, orderID, requestID, amount, text, nil)
}

// EcomRefund refunds amount øre of what was captured (POST …/{orderId}/refund).
func (c *Client) EcomRefund(ctx context.Context, orderID, requestID string, amount int64, text string) (*EcomActionResponse, error) {
	return c.ecomAction(ctx, "ecom-refund", http.MethodPost, orderID, requestID, amount, text, nil)
}

// EcomCancel cancels the payment (PUT …/{orderId}/cancel). With
// releaseRemaining (shouldReleaseRemainingFunds) the rest after a partial
// capture is released too; without it a cancel after any capture is
// refused. eCom cancel carries no X-Request-Id, so it is never repeated
// after an attempt that may have arrived.
func (c *Client) EcomCancel(ctx context.Context, orderID, text string, releaseRemaining bool) (*EcomActionResponse, error) {
	var rel *bool
	if releaseRemaining {
		rel = &releaseRemaining
	}
	return c.ecomAction(ctx, "ecom-cancel", http.MethodPut, orderID, "", 0, text, rel)
}

func (c *Client) ecomAction(ctx context.Context, op, method, orderID, requestID string, amount int64, text string, release *bool) (*EcomActionResponse, error) {
	if !orderIDPattern.MatchString(orderID) {
		return nil, fmt.Errorf("%w: orderId %q: must match %s", ErrInvalidInput, orderID, orderIDPattern)
	}
	if op != "ecom-cancel" {
		switch {
		case requestID == "" || len(requestID) > maxRequestIDLen || !headerSafe(requestID):
			return nil, fmt.Errorf("%w: X-Request-Id %q: 1 to %d printable ASCII characters are required", ErrInvalidInput, requestID, maxRequestIDLen)
		case amount <= 0:
			return nil, fmt.Errorf("%w: amount %d øre: must be positive", ErrInvalidInput, amount)
		}
	}
	if text == "" || len([]rune(text)) > 100 {
		return nil, fmt.Errorf("%w: transactionText must be 1 to 100 characters", ErrInvalidInput)
	}
	body, err := json.Marshal(ecomActionRequest{
		MerchantInfo:                ecomMerchantRef{MerchantSerialNumber: c.creds.MSN},
		Transaction:                 ecomActionTransaction{Amount: amount, TransactionText: text},
		ShouldReleaseRemainingFunds: release,
	})
	if err != nil {
		return nil, fmt.Errorf("vipps: encoding the %s request: %w", op, err)
	}
	path := apiPath(ecomPaymentsPath, orderID) + "/" + op[len("ecom-"):]
	r := &request{
		op: op, method: method, path: path, reference: orderID, body: body,
		auth: true, change: true, resendable: requestID != "",
	}
	if requestID != "" {
		r.header = http.Header{"X-Request-Id": {requestID}}
	}
	var out EcomActionResponse
	if err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// EcomForceApprove approves an eCom payment as the test user with an
// 8-digit phone number would (test environment only).
func (c *Client) EcomForceApprove(ctx context.Context, orderID, phone8 string) error {
	if !orderIDPattern.MatchString(orderID) {
		return fmt.Errorf("%w: orderId %q: must match %s", ErrInvalidInput, orderID, orderIDPattern)
	}
	body, err := json.Marshal(struct {
		CustomerPhoneNumber string `json:"customerPhoneNumber"`
	}{phone8})
	if err != nil {
		return err
	}
	r := &request{
		op: "ecom-force-approve", method: http.MethodPost,
		path:      apiPath("/ecomm/v2/integration-test/payments", orderID) + "/approve",
		reference: orderID, body: body, auth: true, change: true,
	}
	_, err = c.do(ctx, r)
	return err
}
