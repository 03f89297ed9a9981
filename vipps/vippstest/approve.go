package vippstest

import (
	"fmt"
	"net/http"
	"strings"
)

// magicRefusals are the test environment's payment amounts (minor units)
// whose approval by the user fails.
var magicRefusals = map[int64]string{
	151: "Insufficient funds",
	182: "Refused by issuer",
	183: "Suspected fraud",
	184: "Withdrawal limit exceeded",
	186: "Expired card",
	187: "Invalid card",
	197: "3-D Secure denied",
}

// defaultTestUser approves when the payment carried no phone number.
const defaultTestUser = "4712345678"

// RefusedError is returned by Approve when a magic test amount made the
// user's approval fail.
type RefusedError struct {
	Reference string
	Amount    Amount
	Reason    string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("vippstest: approval of %s refused: %s (test amount %d)", e.Reference, e.Reason, e.Amount.Value)
}

// authorize applies the user's approval.
//
// Magic amounts are modelled like this: the user's approval (landing page
// or Approve) is refused, which the event log and webhooks show as an
// AUTHORIZED event with success=false; the user then gives up, so the
// payment becomes ABORTED (an ABORTED event with success=true). The
// landing page shows the reason. Real Vipps keeps the payment open while
// the user may try another card; ending it at once keeps tests fast and
// makes the client prove it checks "success" instead of trusting the
// event name. Force approve does not honour magic amounts, as at Vipps.
func (s *Server) authorize(p *payment, phone string, honourMagic bool) error {
	now := s.now()
	if reason, magic := magicRefusals[p.amount.Value]; honourMagic && magic {
		p.refusal = reason
		s.emit(p, EventAuthorized, p.amount.Value, "", false, now)
		p.state = StateAborted
		s.emit(p, EventAborted, p.amount.Value, "", true, now)
		return &RefusedError{Reference: p.reference, Amount: p.amount, Reason: reason}
	}
	p.state = StateAuthorized
	p.authorized = p.amount.Value
	p.approvedBy = phone
	if u := s.units[p.msn]; u != nil {
		p.captureDeadline = now.Add(u.captureDeadline())
	}
	s.emit(p, EventAuthorized, p.amount.Value, "", true, now)
	return nil
}

// abort is the user cancelling on the landing page or in the app.
func (s *Server) abort(p *payment) {
	p.state = StateAborted
	s.emit(p, EventAborted, p.amount.Value, "", true, s.now())
}

// handleForceApprove is the test-only POST …/approve with a body of either
// {"customer":{"phoneNumber":…}} or {"token":…}.
func (s *Server) handleForceApprove(c *call) response {
	ref := c.r.PathValue("reference")
	p, resp, ok := c.lookup(ref)
	if !ok {
		return resp
	}
	o, ok := parseObject(c.body)
	if !ok {
		return c.invalid(field("body", "The request body must be a JSON object."))
	}
	var f fieldErrors
	cust, hasCustomer := f.object(o, "", "customer", false)
	token, hasToken := f.str(o, "", "token", false)
	var phone string
	var hasPhone bool
	if hasCustomer {
		phone, hasPhone = f.str(cust, "customer", "phoneNumber", true)
	}
	if len(f) == 0 && hasCustomer == hasToken {
		f.add("body", "Specify either customer or token.")
	}
	if len(f) > 0 {
		return c.invalid(f...)
	}
	if hasPhone && !phonePattern.MatchString(phone) {
		return c.fail(errInvalidPhone, "customer.phoneNumber must be an MSISDN: country code and number, digits only.")
	}
	if hasToken && (p.token == "" || token != p.token) {
		return c.fail(errApproveFailed, "The token does not belong to this payment.")
	}
	switch p.state {
	case StateCreated:
	case StateAuthorized:
		return c.fail(errAlreadyReserved, "The payment is already authorized.")
	default:
		return c.fail(errApproveNotAllowed, "The payment is "+string(p.state)+" and cannot be approved.")
	}
	if !hasPhone {
		phone = p.phone
		if phone == "" {
			phone = defaultTestUser
		}
	}
	_ = s.authorize(p, phone, false) // force approve ignores magic amounts, so it cannot be refused
	return response{status: http.StatusOK, header: http.Header{}}
}

// Approve approves the payment as its user would in the app: magic test
// amounts are refused (a *RefusedError; the payment is then ABORTED). It
// fails when the reference is unknown, ambiguous between sales units, or
// no longer CREATED.
func (s *Server) Approve(reference string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	p, err := s.createdPayment(reference)
	if err != nil {
		return err
	}
	phone := p.phone
	if phone == "" {
		phone = defaultTestUser
	}
	return s.authorize(p, phone, true)
}

// Reject cancels the payment as its user would: it becomes ABORTED.
func (s *Server) Reject(reference string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	p, err := s.createdPayment(reference)
	if err != nil {
		return err
	}
	s.abort(p)
	return nil
}

func (s *Server) createdPayment(reference string) (*payment, error) {
	p, ok := s.findPayment(reference)
	if !ok {
		return nil, fmt.Errorf("vippstest: no single payment with reference %q", reference)
	}
	if p.state != StateCreated {
		return nil, fmt.Errorf("vippstest: payment %s is %s, not CREATED", reference, strings.ToLower(string(p.state)))
	}
	return p, nil
}
