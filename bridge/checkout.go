package bridge

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"vippskco/klarna"
	"vippskco/vipps"
)

// maxAttempts bounds the Vipps attempts for one KCO order; a shopper who
// needs more has a problem a new attempt will not solve.
const maxAttempts = 20

// StartCheckout is the EPM redirect: it reads the KCO order server-side,
// checks it, and returns the attempt whose Vipps page the shopper should go
// to — a reused CREATED attempt on a reload, a new one after ABORTED,
// EXPIRED or TERMINATED, or the AUTHORIZED one if the order is already paid
// (the caller then sends the shopper to the return page, never to Vipps).
func (s *Service) StartCheckout(ctx context.Context, unitID, kcoOrderID, sig string) (*Payment, error) {
	u, err := s.Unit(unitID)
	if err != nil {
		return nil, err
	}
	if !ValidKCOOrderID(kcoOrderID) {
		return nil, Errorf(ECodeInvalid, "malformed_order_id", "kco_order_id %s is not a KCO order id", Quote(kcoOrderID))
	}
	if s.Signer.Enabled() {
		if err := s.Signer.Verify(unitID, kcoOrderID, sig, s.now()); err != nil {
			return nil, err
		}
	}
	// The read's answer goes into the provider log with the attempt it
	// leads to, or on its own before anything else is done with it (and,
	// should the read panic, whatever it held is written on the way out).
	hctx, hold := holdExchanges(withLogKey(ctx, KustomLogKey(kcoOrderID)), "kustom", kustomOrderRead)
	var orderLog []ProviderExchange
	writeOrderLog := func() {
		s.writeExchanges(ctx, append(orderLog, hold.take()...))
		orderLog = nil
	}
	defer writeOrderLog()
	order, err := s.Kustom.GetOrder(hctx, kcoOrderID)
	orderLog = hold.take()
	if err != nil {
		if klarna.IsNotFound(err) {
			return nil, &Error{Code: ECodeNotFound, Reason: "order_not_found", Message: fmt.Sprintf("Kustom has no checkout order %s (unknown or expired)", kcoOrderID), Err: err}
		}
		return nil, &Error{Code: ECodeUnavailable, Reason: "kustom_unavailable", Message: "could not read the order from Kustom", Err: err}
	}
	if order.OrderID != "" && order.OrderID != kcoOrderID {
		return nil, Errorf(ECodeInvalid, "order_mismatch", "Kustom returned order %s for %s", order.OrderID, kcoOrderID)
	}
	order.OrderID = kcoOrderID

	attempts, err := s.Store.PaymentsByOrder(ctx, kcoOrderID)
	if err != nil {
		return nil, err
	}
	// An order already paid through us goes to its return page whatever
	// Kustom says now; this is what stops a reload from charging twice.
	for _, p := range attempts {
		if p.State == StateAuthorized {
			if p.Unit != u.ID {
				return nil, Errorf(ECodeConflict, "order_already_paid", "KCO order %s is already paid through %s", kcoOrderID, p.Unit)
			}
			return p, nil
		}
	}
	if err := CheckOrder(u, order); err != nil {
		return nil, err
	}

	last := lastOfUnit(attempts, u.ID)
	if last != nil {
		writeOrderLog()
		p, reuse, err := s.reuseAttempt(ctx, u, last, order)
		if err != nil || reuse {
			return p, err
		}
	}
	next := 1
	if last != nil {
		next = last.Attempt + 1
	}
	if next > maxAttempts {
		return nil, Errorf(ECodeConflict, "too_many_attempts", "KCO order %s has had %d Vipps attempts; start a new checkout", kcoOrderID, maxAttempts)
	}
	p, err := s.newAttempt(ctx, u, order, next, orderLog)
	if err == nil {
		orderLog = nil // committed with the attempt
	}
	if errors.Is(err, ErrConflict) {
		// A concurrent redirect for the same order created this attempt
		// first: use it instead of making another.
		writeOrderLog()
		p, err = s.latestAttempt(ctx, u, kcoOrderID)
		if err != nil {
			return nil, err
		}
		if p.State == StatePending {
			return s.sendCreate(ctx, u, p)
		}
		return p, nil
	}
	if err != nil {
		return nil, err
	}
	return s.sendCreate(ctx, u, p)
}

// reuseAttempt decides what to do with the latest attempt of an order. It
// returns reuse=true with the payment to use, or reuse=false when a new
// attempt must be made.
func (s *Service) reuseAttempt(ctx context.Context, u *Unit, last *Payment, order *klarna.Order) (*Payment, bool, error) {
	switch last.State {
	case StatePending:
		// The create may or may not have reached Vipps: resend it with the
		// stored key and body; Vipps answers the same either way.
		p, err := s.sendCreate(ctx, u, last)
		return p, true, err
	case StateCreated:
		p, err := s.sync(ctx, u, last, SourceRedirect)
		if err != nil {
			return nil, true, &Error{Code: ECodeUnavailable, Reason: "vipps_unavailable", Message: "could not read the payment from Vipps", Err: err}
		}
		switch {
		case p.State == StateAuthorized:
			return p, true, nil
		case p.State.Retryable():
			return nil, false, nil
		case orderChanged(p, order):
			// The cart, the addresses or the references changed since this
			// attempt: end it at Vipps so it cannot be paid, then make a new
			// one with the order as it is now, so the merchant never ships
			// what was not paid for, or to where it was not meant to go.
			p, err := s.terminate(ctx, u, p)
			if err != nil {
				return nil, true, err
			}
			if p.State == StateAuthorized {
				// The shopper approved the old amount just before the
				// cancel: that payment stands, and the merchant sees the
				// order as it was paid in its snapshot.
				return p, true, nil
			}
			return nil, false, nil
		}
		return p, true, nil
	}
	if last.State.Retryable() {
		return nil, false, nil
	}
	return last, true, nil
}

// terminate cancels a CREATED attempt at Vipps before the shopper can approve
// it, and records the outcome.
func (s *Service) terminate(ctx context.Context, u *Unit, p *Payment) (*Payment, error) {
	// Vipps idempotency keys are at most 50 characters; the reference alone
	// can be 50, so the key is a UUID derived from it.
	key := uuid.NewSHA1(uuid.NameSpaceURL, []byte("terminate/"+p.Reference)).String()
	if _, err := u.Vipps.Cancel(ctx, p.Reference, key, true); err != nil {
		// It may have been approved or ended meanwhile: read it back and
		// let the state decide.
		if fresh, rerr := s.sync(ctx, u, p, SourceRedirect); rerr == nil && fresh.State.Final() {
			return fresh, nil
		}
		return nil, &Error{Code: ECodeUnavailable, Reason: "vipps_unavailable", Message: "could not replace the earlier Vipps payment for this order", Err: err}
	}
	// Vipps now says TERMINATED; the state machine records it like any
	// other report.
	return s.sync(ctx, u, p, SourceRedirect)
}

// orderChanged reports whether the KCO order differs from the snapshot an
// attempt was made with, in anything that matters to what is paid and
// shipped: amount, lines, addresses and the merchant's references.
func orderChanged(p *Payment, now *klarna.Order) bool {
	var then klarna.Order
	if err := json.Unmarshal(p.Order, &then); err != nil {
		return true
	}
	return p.Amount.Value != now.OrderAmount || orderFingerprint(&then) != orderFingerprint(now)
}

func orderFingerprint(o *klarna.Order) string {
	b, _ := json.Marshal(struct {
		Amount, Tax       int64
		Currency, Country string
		Lines             []klarna.OrderLine
		Billing, Shipping *klarna.Address
		Ref1, Ref2        string
	}{o.OrderAmount, o.OrderTaxAmount, o.PurchaseCurrency, o.PurchaseCountry, o.OrderLines, o.BillingAddress, o.ShippingAddress, o.MerchantReference1, o.MerchantReference2})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (s *Service) latestAttempt(ctx context.Context, u *Unit, kcoOrderID string) (*Payment, error) {
	attempts, err := s.Store.PaymentsByOrder(ctx, kcoOrderID)
	if err != nil {
		return nil, err
	}
	if last := lastOfUnit(attempts, u.ID); last != nil {
		return last, nil
	}
	return nil, ErrNotFound
}

// lastOfUnit is the latest of an order's attempts (oldest first) made
// through one unit, or nil.
func lastOfUnit(attempts []*Payment, unit string) *Payment {
	for i := len(attempts) - 1; i >= 0; i-- {
		if attempts[i].Unit == unit {
			return attempts[i]
		}
	}
	return nil
}

// newAttempt stores attempt n, with its idempotency key and the exact create
// body, before anything is sent to Vipps, and in the same transaction the
// exchanges of the order read it was made from.
func (s *Service) newAttempt(ctx context.Context, u *Unit, order *klarna.Order, n int, orderLog []ProviderExchange) (*Payment, error) {
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	ref := Reference(u.ReferencePrefix, order.OrderID, n)
	req := paymentRequest(u, order, ref, s.PublicURL+"/return/"+token)
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	snapshot := *order
	snapshot.HTMLSnippet = ""
	orderJSON, err := json.Marshal(snapshot)
	if err != nil {
		return nil, err
	}
	p := &Payment{
		Reference:            ref,
		Unit:                 u.ID,
		KCOOrderID:           order.OrderID,
		Attempt:              n,
		Amount:               Money{Value: order.OrderAmount, Currency: u.Currency},
		State:                StatePending,
		CreateIdempotencyKey: uuid.NewString(),
		CreateRequest:        body,
		ReturnToken:          token,
		NextPollAt:           s.now().Add(pollFirstDelay),
		Locale:               order.Locale,
		Order:                orderJSON,
	}
	if err := s.Store.InsertPayment(ctx, p, orderLog...); err != nil {
		return nil, err
	}
	s.metrics().PaymentStored(u.ID)
	s.logger().InfoContext(ctx, "payment attempt stored", "reference", ref, "unit", u.ID, "attempt", n, "amount", p.Amount.String())
	return p, nil
}

// sendCreate sends (or resends) the stored create of a PENDING attempt.
func (s *Service) sendCreate(ctx context.Context, u *Unit, p *Payment) (*Payment, error) {
	var req vipps.CreatePaymentRequest
	if err := json.Unmarshal(p.CreateRequest, &req); err != nil {
		return nil, fmt.Errorf("stored create request of %s: %w", p.Reference, err)
	}
	// A created payment's answer is committed with its new state; any
	// other outcome's exchanges are stored before it is acted on.
	hctx, hold := holdExchanges(ctx, "vipps", vippsCreate)
	defer func() { s.writeExchanges(ctx, hold.take()) }() // a panic's
	resp, err := u.Vipps.CreatePayment(hctx, p.CreateIdempotencyKey, req)
	createLog := hold.take()
	if err == nil {
		return s.storeLogged(ctx, p, SourceRedirect, createLog, func(p *Payment) (bool, PaymentState, error) {
			from := p.State
			changed := false
			if canMove(p.State, StateCreated) {
				p.State = StateCreated
				changed = true
			}
			if p.RedirectURL == "" && resp.RedirectURL != "" {
				p.RedirectURL = resp.RedirectURL
				changed = true
			}
			return changed, from, nil
		})
	}
	s.writeExchanges(ctx, createLog)
	var verr *vipps.Error
	if req.Receipt != nil && !errors.Is(err, vipps.ErrOutcomeUnknown) && errors.As(err, &verr) && receiptRefused(verr) {
		// The receipt is a courtesy to the shopper; the payment does not
		// need it. Send the create again without it, under a fresh key
		// (a key stands for one body), both stored before the call.
		p, derr := s.dropReceipt(ctx, p, req, verr)
		if derr != nil {
			return nil, derr
		}
		return s.sendCreate(ctx, u, p)
	}
	if !errors.Is(err, vipps.ErrOutcomeUnknown) && errors.As(err, &verr) && verr.StatusCode >= 400 && verr.StatusCode < 500 && verr.StatusCode != 429 && verr.StatusCode != 401 {
		// Vipps refused this request for good; a retry with the same key
		// gets the same answer. The shopper can go back and try again.
		reason := fmt.Sprintf("Vipps refused the payment (HTTP %d, code %s): %s", verr.StatusCode, verr.ErrorCode, cmp.Or(verr.Detail, verr.Title))
		p, serr := s.store(ctx, p, SourceRedirect, func(p *Payment) (bool, PaymentState, error) {
			from := p.State
			if !canMove(p.State, StateFailed) {
				return false, from, nil
			}
			p.State = StateFailed
			p.FailureReason = reason
			return true, from, nil
		})
		if serr != nil {
			return nil, serr
		}
		return p, &Error{Code: ECodeUnavailable, Reason: "vipps_refused", Message: reason, Err: err}
	}
	// The outcome is unknown (timeout, 5xx after retries): read the payment
	// back. If Vipps has it, carry on with it; if not, the attempt stays
	// PENDING and the next redirect resends the same create.
	if p2, rerr := s.sync(ctx, u, p, SourceRedirect); rerr == nil && p2.State != StatePending {
		return p2, nil
	}
	return p, &Error{Code: ECodeUnavailable, Reason: "vipps_unavailable", Message: "Vipps did not answer; the payment was not started", Err: err}
}

// receiptRefused reports whether Vipps refused a create for its receipt: a
// validation error (400) naming only receipt fields.
func receiptRefused(e *vipps.Error) bool {
	if e.StatusCode != http.StatusBadRequest {
		return false
	}
	named := false
	for _, d := range e.ExtraDetails {
		if d.Name == "ErrorCode" {
			continue
		}
		n := strings.ToLower(d.Name)
		if n != "receipt" && !strings.HasPrefix(n, "receipt.") && !strings.HasPrefix(n, "receipt[") {
			return false
		}
		named = true
	}
	return named
}

// dropReceipt stores, for a PENDING attempt whose receipt Vipps refused,
// the create body without the receipt and a new idempotency key, with the
// reason in the payment's history, before that body is sent. The
// reference, and so the payment, stay the same.
func (s *Service) dropReceipt(ctx context.Context, p *Payment, req vipps.CreatePaymentRequest, verr *vipps.Error) (*Payment, error) {
	req.Receipt = nil
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	details := make([]string, 0, len(verr.ExtraDetails))
	for _, d := range verr.ExtraDetails {
		details = append(details, d.Name+": "+d.Reason)
	}
	reason := "Vipps refused the receipt (HTTP 400: " + strings.Join(details, "; ") + "); the payment is created without it"
	next := *p
	next.CreateRequest = body
	next.CreateIdempotencyKey = uuid.NewString()
	c := &Change{Payment: &next, History: []HistoryEntry{{Source: SourceRedirect, FromState: p.State, ToState: p.State, Detail: reason}}}
	if p.State != StatePending {
		return nil, Errorf(ECodeConflict, "busy", "payment %s changed while it was being created; try again", p.Reference)
	}
	if err := s.commit(ctx, c); err != nil {
		if errors.Is(err, ErrConflict) {
			return nil, Errorf(ECodeConflict, "busy", "payment %s is being changed by another request; try again", p.Reference)
		}
		return nil, err
	}
	s.logger().WarnContext(ctx, "receipt refused by Vipps, creating the payment without it", "reference", p.Reference, "reason", reason)
	return &next, nil
}

// newToken returns 256 random bits, URL-safe: the shopper's key to the
// return and status pages of one payment.
func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
