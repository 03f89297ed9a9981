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

// PaymentForShopper finds the payment behind a return token and, when its
// state is not final, asks Vipps (at most once per StatusCheckInterval) so
// the page never waits on a webhook that may not come.
func (s *Service) PaymentForShopper(ctx context.Context, token, source string) (*ShopperView, error) {
	if len(token) < 16 || len(token) > 128 {
		return nil, Errorf(ECodeNotFound, "not_found", "no payment for this link")
	}
	p, err := s.Store.PaymentByToken(ctx, token)
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
	if !p.State.Final() && s.shouldCheck(p.Reference) {
		if p.State == StatePending {
			if fresh, err := s.sendCreate(ctx, u, p); err == nil {
				p = fresh
			}
		} else if fresh, err := s.sync(ctx, u, p, source); err == nil {
			p = fresh
		} else {
			s.logger().WarnContext(ctx, "reading payment for the shopper", "reference", p.Reference, "err", err)
		}
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
