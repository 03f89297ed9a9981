package vipps

import "time"

// Currency is an ISO 4217 code that the ePayment API accepts.
type Currency string

// The currencies ePayment v1 accepts (EP-SPEC Currency enum).
const (
	NOK Currency = "NOK"
	DKK Currency = "DKK"
	EUR Currency = "EUR"
)

// Amount is money in integer minor units (øre, cents). The API rejects decimals.
type Amount struct {
	Currency Currency `json:"currency"`
	Value    int64    `json:"value"`
}

// State is the ePayment payment state. There is no CAPTURED, REFUNDED or
// CANCELLED state: after AUTHORIZED, money movement shows only in the
// aggregate and the event log.
type State string

// The ePayment states.
const (
	StateCreated    State = "CREATED"
	StateAuthorized State = "AUTHORIZED"
	StateAborted    State = "ABORTED"
	StateExpired    State = "EXPIRED"
	StateTerminated State = "TERMINATED"
)

// Final reports whether no further state change can happen.
func (s State) Final() bool { return s != StateCreated && s != "" }

// EventName is the name of an event in the payment's event log and in webhooks.
type EventName string

// The ePayment event names.
const (
	EventCreated    EventName = "CREATED"
	EventAuthorized EventName = "AUTHORIZED"
	EventAborted    EventName = "ABORTED"
	EventExpired    EventName = "EXPIRED"
	EventCancelled  EventName = "CANCELLED"
	EventCaptured   EventName = "CAPTURED"
	EventRefunded   EventName = "REFUNDED"
	EventTerminated EventName = "TERMINATED"
)

// UserFlow values for CreatePaymentRequest.UserFlow.
const (
	UserFlowWebRedirect    = "WEB_REDIRECT"
	UserFlowNativeRedirect = "NATIVE_REDIRECT"
	UserFlowPushMessage    = "PUSH_MESSAGE"
	UserFlowQR             = "QR"
)

// PaymentMethod selects the wallet or freestanding card entry.
type PaymentMethod struct {
	Type string `json:"type"` // WALLET or CARD
}

// Customer pre-fills the landing page; PhoneNumber is an MSISDN without "+".
type Customer struct {
	PhoneNumber string `json:"phoneNumber,omitempty"`
}

// CreatePaymentRequest is the body of POST /epayment/v1/payments.
type CreatePaymentRequest struct {
	Amount             Amount            `json:"amount"`
	PaymentMethod      PaymentMethod     `json:"paymentMethod"`
	Customer           *Customer         `json:"customer,omitempty"`
	Reference          string            `json:"reference"`
	UserFlow           string            `json:"userFlow"`
	ReturnURL          string            `json:"returnUrl,omitempty"`
	PaymentDescription string            `json:"paymentDescription,omitempty"`
	Receipt            *Receipt          `json:"receipt,omitempty"`
	Metadata           map[string]string `json:"metadata,omitempty"`
	// CustomerInteraction is CUSTOMER_NOT_PRESENT (the default) or
	// CUSTOMER_PRESENT.
	CustomerInteraction string `json:"customerInteraction,omitempty"`
	// Profile asks for profile sharing (Userinfo scopes such as "name
	// phoneNumber").
	Profile *ProfileRequest `json:"profile,omitempty"`
	// ReceiptURL is where the user can see the receipt (https or a custom
	// scheme).
	ReceiptURL string `json:"receiptUrl,omitempty"`
	// ExpiresAt (RFC 3339) makes a long-living payment; only with
	// PUSH_MESSAGE or QR, and Receipt is then required.
	ExpiresAt string `json:"expiresAt,omitempty"`
}

// ProfileRequest asks the user to share profile data with the payment.
type ProfileRequest struct {
	Scope string `json:"scope,omitempty"`
}

// ProfileResponse carries the Userinfo subject once the payment is
// AUTHORIZED, when a profile was requested.
type ProfileResponse struct {
	Sub string `json:"sub,omitempty"`
}

// CreatePaymentResponse is the 201 answer to a create.
type CreatePaymentResponse struct {
	Reference   string `json:"reference"`
	RedirectURL string `json:"redirectUrl,omitempty"`
}

// Receipt is the Order Management receipt sent with a create.
type Receipt struct {
	OrderLines []OrderLine `json:"orderLines"`
	BottomLine BottomLine  `json:"bottomLine"`
}

// OrderLine is one line of a Receipt. TaxRate is in hundredths of a
// percent, 0 to 10000 (2500 = 25 %, as KCO's tax_rate); the whole-percent
// taxPercentage is deprecated in Order Management and not sent. Amounts
// are never negative: TotalAmount is after the line's Discount, and a
// returned item is a line with IsReturn.
type OrderLine struct {
	Name                    string    `json:"name"`
	ID                      string    `json:"id"`
	TotalAmount             int64     `json:"totalAmount"`
	TotalAmountExcludingTax int64     `json:"totalAmountExcludingTax"`
	TotalTaxAmount          int64     `json:"totalTaxAmount"`
	TaxRate                 *int64    `json:"taxRate,omitempty"`
	UnitInfo                *UnitInfo `json:"unitInfo,omitempty"`
	Discount                *int64    `json:"discount,omitempty"`
	ProductURL              string    `json:"productUrl,omitempty"`
	IsReturn                *bool     `json:"isReturn,omitempty"`
	IsShipping              *bool     `json:"isShipping,omitempty"`
}

// UnitInfo describes the quantity of an OrderLine. Quantity is a decimal
// string (^\d+([.]\d{1,8})?$, at most 10 characters) and, like UnitPrice,
// required by Order Management whenever UnitInfo is sent.
type UnitInfo struct {
	UnitPrice    int64  `json:"unitPrice"`
	Quantity     string `json:"quantity"`
	QuantityUnit string `json:"quantityUnit,omitempty"` // PCS, KG, KM, MINUTE, LITRE, KWH
}

// BottomLine is the receipt summary.
type BottomLine struct {
	Currency      Currency `json:"currency"`
	ReceiptNumber string   `json:"receiptNumber,omitempty"`
}

// Aggregate sums the money movements of a payment.
type Aggregate struct {
	AuthorizedAmount Amount `json:"authorizedAmount"`
	CancelledAmount  Amount `json:"cancelledAmount"`
	CapturedAmount   Amount `json:"capturedAmount"`
	RefundedAmount   Amount `json:"refundedAmount"`
}

// PaymentMethodResponse tells how the user paid.
type PaymentMethodResponse struct {
	Type    string `json:"type"`
	CardBin string `json:"cardBin,omitempty"`
}

// Payment is the answer to GET /epayment/v1/payments/{reference}.
type Payment struct {
	Aggregate     Aggregate             `json:"aggregate"`
	Amount        Amount                `json:"amount"`
	State         State                 `json:"state"`
	PaymentMethod PaymentMethodResponse `json:"paymentMethod"`
	PSPReference  string                `json:"pspReference"`
	RedirectURL   string                `json:"redirectUrl,omitempty"`
	Reference     string                `json:"reference"`
	Metadata      map[string]string     `json:"metadata,omitempty"`
	Profile       ProfileResponse       `json:"profile"`
	// CaptureGuaranteedUntil is when the reservation can last be captured
	// (ePayment CHANGELOG, Aug 2026): 14 days after authorization for
	// MobilePay in Denmark and Finland by default, 180 in Norway, often
	// shorter where the card's guarantee is. Nil when Vipps does not say.
	CaptureGuaranteedUntil *time.Time `json:"captureGuaranteedUntil,omitempty"`
}

// PaymentEvent is one entry of GET /epayment/v1/payments/{reference}/events.
// Each event has its own PSPReference; partial captures and refunds share a
// Name but not a PSPReference.
type PaymentEvent struct {
	Reference      string    `json:"reference"`
	PSPReference   string    `json:"pspReference"`
	Name           EventName `json:"name"`
	Amount         Amount    `json:"amount"`
	Timestamp      time.Time `json:"timestamp"`
	IdempotencyKey *string   `json:"idempotencyKey"`
	Success        bool      `json:"success"`
}

// WebhookEvent is the body Vipps posts to a registered ePayment webhook.
type WebhookEvent struct {
	MSN            string    `json:"msn"`
	Reference      string    `json:"reference"`
	PSPReference   string    `json:"pspReference"`
	Name           EventName `json:"name"`
	Amount         Amount    `json:"amount"`
	Timestamp      time.Time `json:"timestamp"`
	IdempotencyKey *string   `json:"idempotencyKey"`
	Success        bool      `json:"success"`
}

// ModificationResponse is the 200 answer to capture, cancel and refund.
type ModificationResponse struct {
	Amount       Amount    `json:"amount"`
	State        State     `json:"state"`
	Aggregate    Aggregate `json:"aggregate"`
	PSPReference string    `json:"pspReference"`
	Reference    string    `json:"reference"`
}

// Webhook is a registration in the Webhooks API.
type Webhook struct {
	ID     string   `json:"id"`
	URL    string   `json:"url"`
	Events []string `json:"events"`
}

// RegisterWebhookResponse is the 201 answer to a registration; the secret is
// returned only here and must be stored.
type RegisterWebhookResponse struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

// The ePayment webhook event types.
var EPaymentWebhookEvents = []string{
	"epayments.payment.created.v1",
	"epayments.payment.aborted.v1",
	"epayments.payment.expired.v1",
	"epayments.payment.cancelled.v1",
	"epayments.payment.captured.v1",
	"epayments.payment.refunded.v1",
	"epayments.payment.authorized.v1",
	"epayments.payment.terminated.v1",
}
