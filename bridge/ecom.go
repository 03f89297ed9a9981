package bridge

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"vippskco/vipps"
)

// EcomClient is what the bridge uses of the eCom API v2.
type EcomClient interface {
	EcomInitiatePayment(ctx context.Context, req vipps.EcomInitiateRequest) (*vipps.EcomInitiateResponse, error)
	EcomGetDetails(ctx context.Context, orderID string) (*vipps.EcomDetails, error)
	EcomCapture(ctx context.Context, orderID, requestID string, amount int64, text string) (*vipps.EcomActionResponse, error)
	EcomRefund(ctx context.Context, orderID, requestID string, amount int64, text string) (*vipps.EcomActionResponse, error)
	EcomCancel(ctx context.Context, orderID, text string, releaseRemaining bool) (*vipps.EcomActionResponse, error)
}

// EcomVipps lets a sales unit set up for the eCom API v2 (api: ecom) speak
// to the one state machine through VippsAPI, so the guard, the outbox, the
// merchant API and reconciliation see what they see for ePayment units.
//
// Which calls go where, and why:
//   - create: eCom initiate. A unit Vipps set up for eCom (above all direct
//     capture, SALE) takes its payments there. Initiate is not idempotent,
//     so a resend first reads /details and initiates only if Vipps has no
//     payment with the orderId.
//   - read: eCom /details, translated. It is the eCom record (it says
//     SALE), eCom has no events endpoint, and ePayment webhooks never fire
//     for eCom payments, so polling /details and the callback are the only
//     channels.
//   - capture and refund: eCom, with the operation's key as X-Request-Id
//     (a UUID, within the 40-character limit), which /details logs as
//     requestId, so an earlier try is recognised.
//   - cancel of a reservation: eCom PUT cancel with
//     shouldReleaseRemainingFunds, so the rest after a partial capture is
//     released too.
//   - cancel of a payment not yet approved (cancelTransactionOnly, when an
//     attempt is replaced): ePayment cancel. eCom cancel would also void a
//     reservation made a moment earlier; ePayment's cancelTransactionOnly
//     refuses that (6060). Payments initiated with eCom can be captured,
//     refunded, cancelled and read through ePayment, not the other way
//     round [EP-DOC migration.md, faq.md; notes/vipps.md §4 "Interop"].
type EcomVipps struct {
	Ecom EcomClient
	// EPayment is the same unit's ePayment client (same keys and MSN).
	EPayment VippsAPI
	// CallbackPrefix is our callbackPrefix; Vipps appends /v2/payments/{orderId}.
	CallbackPrefix string
	// CallbackKey derives each payment's authToken (see CallbackToken).
	CallbackKey []byte
}

// NewEcomVipps is the eCom side of a unit: its callbackPrefix under
// publicURL, and the key of its authTokens derived from the unit's client
// secret (so a key rotation only makes callbacks in flight fail, which
// polling covers).
func NewEcomVipps(ecom EcomClient, epayment VippsAPI, publicURL, unitID, clientSecret string) *EcomVipps {
	// The unit id is in the key: units on one partner's keys still get
	// tokens of their own.
	key := sha256.Sum256([]byte("ecom-callback-key\x00" + unitID + "\x00" + clientSecret))
	return &EcomVipps{
		Ecom: ecom, EPayment: epayment,
		CallbackPrefix: publicURL + "/callbacks/vipps-ecom/" + url.PathEscape(unitID),
		CallbackKey:    key[:],
	}
}

// CallbackToken is the authToken of one payment: an HMAC of its reference
// under the unit's key. It is unguessable for anyone without the key, is
// bound to one payment, and is derived again (not looked up) when the
// callback arrives, so nothing stored can lose it.
func (e *EcomVipps) CallbackToken(reference string) string {
	m := hmac.New(sha256.New, e.CallbackKey)
	m.Write([]byte("ecom-callback\x00" + reference))
	return "Ecom " + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// ecomText is the transactionText of an initiate (1 to 100 characters).
func ecomText(desc, reference string) string {
	if desc == "" {
		desc = "Order " + reference
	}
	if r := []rune(desc); len(r) > 100 {
		desc = string(r[:100])
	}
	return desc
}

// CreatePayment initiates the payment through eCom (see EcomVipps).
func (e *EcomVipps) CreatePayment(ctx context.Context, _ string, req vipps.CreatePaymentRequest) (*vipps.CreatePaymentResponse, error) {
	if req.Amount.Currency != vipps.NOK {
		return nil, &vipps.Error{StatusCode: http.StatusBadRequest, Title: "eCom payments are in NOK only, not " + string(req.Amount.Currency)}
	}
	// A resend after an unanswered initiate: never initiate twice.
	if _, err := e.Ecom.EcomGetDetails(ctx, req.Reference); err == nil {
		return &vipps.CreatePaymentResponse{Reference: req.Reference}, nil
	} else if !ecomNotFound(err) {
		return nil, err
	}
	in := vipps.EcomInitiateRequest{
		MerchantInfo: vipps.EcomMerchantInfo{
			CallbackPrefix: e.CallbackPrefix, FallBack: req.ReturnURL,
			AuthToken: e.CallbackToken(req.Reference), PaymentType: "eComm Regular Payment",
		},
		Transaction: vipps.EcomInitiateTransaction{
			OrderID: req.Reference, Amount: req.Amount.Value,
			TransactionText: ecomText(req.PaymentDescription, req.Reference),
		},
	}
	if req.Customer != nil && len(req.Customer.PhoneNumber) == 10 && req.Customer.PhoneNumber[:2] == "47" {
		in.CustomerInfo.MobileNumber = req.Customer.PhoneNumber[2:] // eCom: 8 digits, no country code
	}
	resp, err := e.Ecom.EcomInitiatePayment(ctx, in)
	if err != nil {
		return nil, err
	}
	return &vipps.CreatePaymentResponse{Reference: resp.OrderID, RedirectURL: resp.URL}, nil
}

// ecomNotFound reports eCom error 35, "Requested Order not found".
func ecomNotFound(err error) bool {
	return vipps.ErrorCodeOf(err) == "35" || vipps.IsNotFound(err)
}

// details reads /details; error 35 is returned as a 404 (the body kept
// whole), which is how the state machine knows "Vipps has no such payment".
func (e *EcomVipps) details(ctx context.Context, reference string) (*vipps.EcomDetails, error) {
	d, err := e.Ecom.EcomGetDetails(ctx, reference)
	var verr *vipps.Error
	if err != nil && vipps.ErrorCodeOf(err) == "35" && errors.As(err, &verr) {
		nf := *verr
		nf.StatusCode = http.StatusNotFound
		return nil, &nf
	}
	return d, err
}

// GetPayment reads /details as an ePayment payment: reserved or sold is
// AUTHORIZED (a SALE with the whole amount captured), a cancel before that
// is ABORTED, anything else CREATED.
func (e *EcomVipps) GetPayment(ctx context.Context, reference string) (*vipps.Payment, error) {
	d, err := e.details(ctx, reference)
	if err != nil {
		return nil, err
	}
	nok := func(v int64) vipps.Amount { return vipps.Amount{Currency: vipps.NOK, Value: v} }
	p := &vipps.Payment{Reference: reference, State: vipps.StateCreated, PaymentMethod: vipps.PaymentMethodResponse{Type: "WALLET"}}
	var authorized, initiated int64
	cancelledBefore := false
	for _, l := range d.TransactionLogHistory {
		p.PSPReference = l.TransactionID
		switch {
		case l.Operation == vipps.EcomInitiate:
			initiated = l.Amount
		case !l.OperationSuccess:
		case l.Operation == vipps.EcomReserve || l.Operation == vipps.EcomSale:
			authorized = l.Amount
		case l.Operation == vipps.EcomCancel:
			cancelledBefore = true
		}
	}
	p.Amount = nok(initiated)
	switch {
	case authorized > 0:
		p.State = vipps.StateAuthorized
	case cancelledBefore:
		p.State = vipps.StateAborted
	}
	p.Aggregate = vipps.Aggregate{AuthorizedAmount: nok(authorized), CapturedAmount: nok(0), RefundedAmount: nok(0), CancelledAmount: nok(0)}
	if s := d.TransactionSummary; s != nil && authorized > 0 {
		p.Aggregate.CapturedAmount = nok(s.CapturedAmount)
		p.Aggregate.RefundedAmount = nok(s.RefundedAmount)
		p.Aggregate.CancelledAmount = nok(authorized - s.CapturedAmount - s.RemainingAmountToCapture)
	}
	return p, nil
}

// GetEvents translates the transaction log (oldest first) into events. A
// SALE is an authorization and a capture of the whole amount; requestId
// (our X-Request-Id) is the event's idempotency key. Each entry's
// pspReference is the transactionId and its place in the log, which does
// not change as the log grows.
func (e *EcomVipps) GetEvents(ctx context.Context, reference string) ([]vipps.PaymentEvent, error) {
	d, err := e.details(ctx, reference)
	if err != nil {
		return nil, err
	}
	var out []vipps.PaymentEvent
	log := d.TransactionLogHistory
	for i := len(log) - 1; i >= 0; i-- {
		l := log[i]
		n := len(log) - 1 - i
		ev := func(name vipps.EventName, suffix string) vipps.PaymentEvent {
			pe := vipps.PaymentEvent{
				Reference: reference, PSPReference: l.TransactionID + "-" + strconv.Itoa(n) + suffix, Name: name,
				Amount: vipps.Amount{Currency: vipps.NOK, Value: l.Amount}, Timestamp: l.TimeStamp, Success: l.OperationSuccess,
			}
			if l.RequestID != "" {
				k := l.RequestID
				pe.IdempotencyKey = &k
			}
			return pe
		}
		switch l.Operation {
		case vipps.EcomInitiate:
			out = append(out, ev(vipps.EventCreated, ""))
		case vipps.EcomReserve:
			out = append(out, ev(vipps.EventAuthorized, ""))
		case vipps.EcomSale:
			out = append(out, ev(vipps.EventAuthorized, ""), ev(vipps.EventCaptured, "-sale"))
		case vipps.EcomCapture:
			out = append(out, ev(vipps.EventCaptured, ""))
		case vipps.EcomRefund:
			out = append(out, ev(vipps.EventRefunded, ""))
		case vipps.EcomVoid:
			out = append(out, ev(vipps.EventCancelled, ""))
		case vipps.EcomCancel:
			out = append(out, ev(vipps.EventAborted, ""))
		}
	}
	return out, nil
}

// Capture captures through eCom with idempotencyKey as X-Request-Id.
func (e *EcomVipps) Capture(ctx context.Context, reference, idempotencyKey string, amount vipps.Amount) (*vipps.ModificationResponse, error) {
	if _, err := e.Ecom.EcomCapture(ctx, reference, idempotencyKey, amount.Value, "Capture of "+reference); err != nil {
		return nil, err
	}
	return &vipps.ModificationResponse{Reference: reference}, nil
}

// Refund refunds through eCom with idempotencyKey as X-Request-Id.
func (e *EcomVipps) Refund(ctx context.Context, reference, idempotencyKey string, amount vipps.Amount) (*vipps.ModificationResponse, error) {
	if _, err := e.Ecom.EcomRefund(ctx, reference, idempotencyKey, amount.Value, "Refund of "+reference); err != nil {
		return nil, err
	}
	return &vipps.ModificationResponse{Reference: reference}, nil
}

// Cancel: see EcomVipps for why cancelTransactionOnly goes to ePayment.
func (e *EcomVipps) Cancel(ctx context.Context, reference, idempotencyKey string, cancelTransactionOnly bool) (*vipps.ModificationResponse, error) {
	if cancelTransactionOnly {
		return e.EPayment.Cancel(ctx, reference, idempotencyKey, true)
	}
	if _, err := e.Ecom.EcomCancel(ctx, reference, "Cancel of "+reference, true); err != nil {
		return nil, err
	}
	return &vipps.ModificationResponse{Reference: reference}, nil
}

// EcomCallbackURL is a unit's callbackPrefix.
func (s *Service) EcomCallbackURL(unitID string) string {
	return s.PublicURL + "/callbacks/vipps-ecom/" + url.PathEscape(unitID)
}

// HandleEcomCallback takes one eCom callback. Vipps tries once and gives us
// 3 s, and the body is not signed, so it is only a signal: the
// Authorization header must be the payment's authToken (compared in
// constant time), and then the payment is read back from /details in the
// background and fed to the state machine; nothing in the body is booked.
func (s *Service) HandleEcomCallback(ctx context.Context, unitID, orderID, authorization string, body []byte) error {
	u, err := s.Unit(unitID)
	if err != nil {
		return err
	}
	ev, ok := u.Vipps.(*EcomVipps)
	if !ok {
		return Errorf(ECodeNotFound, "not_ecom", "unit %s does not use the eCom API", unitID)
	}
	if subtle.ConstantTimeCompare([]byte(authorization), []byte(ev.CallbackToken(orderID))) != 1 {
		return Errorf(ECodeUnauthorized, "ecom_callback_auth", "the callback's Authorization is not this payment's authToken")
	}
	var cb vipps.EcomCallback
	if err := json.Unmarshal(body, &cb); err != nil || cb.OrderID != orderID {
		return Errorf(ECodeInvalid, RejectMalformed, "the callback body is not an eCom callback for order %s", orderID)
	}
	p, err := s.Store.Payment(ctx, orderID)
	if err != nil {
		return err
	}
	if p.Unit != unitID {
		return Errorf(ECodeNotFound, "unknown_payment", "payment %s is not of unit %s", orderID, unitID)
	}
	s.logger().InfoContext(ctx, "eCom callback", "reference", orderID, "unit", unitID, "status", cb.TransactionInfo.Status)
	return s.readSoon(ctx, orderID, SourceWebhook)
}
