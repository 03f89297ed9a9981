package bridge

import (
	"context"
	"net/url"
)

// ShopperView is what the return page and the status JSON show for a payment.
type ShopperView struct {
	Payment *Payment
	Unit    *Unit
	// Next is where the shopper goes when the state is final: the merchant's
	// confirmation page, or our own page for this payment.
	Next  string
	Final bool
}

// PaymentForShopper finds the payment behind a return token. It never
// waits for Vipps: the poller reads a waiting payment every 2 s and a
// webhook wakes it, so the page never depends on a webhook that may not
// come, and the status is what we know now.
func (s *Service) PaymentForShopper(ctx context.Context, token, source string) (*ShopperView, error) {
	if len(token) < 16 || len(token) > 128 {
		return nil, Errorf(ECodeNotFound, "not_found", "no payment for this link")
	}
	p, err := s.paymentByToken(ctx, token)
	if err != nil {
		if ErrorCode(err) == ECodeNotFound {
			return nil, Errorf(ECodeNotFound, "not_found", "no payment for this link")
		}
		return nil, err
	}
	u, err := s.Unit(p.Unit)
	if err != nil {
		return nil, err
	}
	switch {
	case p.State == StatePending && s.shouldCheck(p.Reference):
		// A create whose outcome is unknown: sending it again (same key,
		// same body) is what starts the payment the shopper is waiting for.
		// Only as the store has it now, never from a copy: another
		// replica may have given the attempt up meanwhile.
		stored, err := s.Store.PaymentByToken(ctx, token)
		if err != nil {
			return nil, err
		}
		s.shoppers.put(stored, s.now())
		p = stored
		if p.State == StatePending {
			if fresh, err := s.sendCreate(ctx, u, p); err == nil {
				p = fresh
			}
		}
	case !p.State.Final() && (p.NextPollAt.IsZero() || p.NextPollAt.After(s.now().Add(pollWhileWaiting)) ||
		p.NextPollAt.Before(s.now().Add(-pollWhileWaiting))) && s.shoppers.ask(token, s.now(), pollWhileWaiting):
		// Someone is looking at a payment the poller reads only now and
		// then, or one it is behind on (its read budget is spent): have it
		// read soon. While the shopper is in the Vipps app the poller
		// reads it every 2 s anyway, and webhooks wake it, so a status
		// read is served from what we know and never calls Vipps. The
		// copy the page is served from may be a second old, so this
		// replica asks at most once per 2 s per payment. The page does
		// not wait for the read: it shows what we know either way, and
		// its next poll shows what the read found.
		ref := p.Reference
		s.goBackground(func(bg context.Context) {
			if err := s.readForShopper(bg, ref, source); err != nil {
				s.logger().WarnContext(bg, "asking for a read of the payment", "reference", ref, "err", err)
			}
		})
	}
	return s.view(u, p, token), nil
}

func (s *Service) view(u *Unit, p *Payment, token string) *ShopperView {
	v := &ShopperView{Payment: p, Unit: u, Final: p.State.Final()}
	own := s.PublicURL + "/return/" + url.PathEscape(token)
	switch {
	case p.State == StateAuthorized:
		v.Next = own
		if u.ConfirmationURL != "" {
			v.Next = ExpandURL(u.ConfirmationURL, p)
		}
	case p.State.Final():
		v.Next = own
	}
	return v
}

// RetryURL is our redirect URL for the same order, signed when signing is
// on, so a shopper whose attempt failed can start a new one in one click.
func (s *Service) RetryURL(u *Unit, kcoOrderID string) string {
	q := url.Values{"kco_order_id": {kcoOrderID}}
	if s.Signer.Enabled() {
		q.Set("sig", s.Signer.Sign(u.ID, kcoOrderID, s.now()))
	}
	return s.PublicURL + "/checkout/" + url.PathEscape(u.ID) + "/vipps?" + q.Encode()
}
