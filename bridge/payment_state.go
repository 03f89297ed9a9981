package bridge

import (
	"context"
	"errors"
	"fmt"

	"vippskco/vipps"
)

// Sources of a payment change, recorded in its history.
const (
	SourceRedirect = "redirect"
	SourceReturn   = "return"
	SourceStatus   = "status"
	SourceWebhook  = "webhook"
	SourcePoller   = "poller"
	SourceMerchant = "merchant"
)

// fromVipps maps an ePayment state to ours.
func fromVipps(s vipps.State) (PaymentState, bool) {
	switch s {
	case vipps.StateCreated:
		return StateCreated, true
	case vipps.StateAuthorized:
		return StateAuthorized, true
	case vipps.StateAborted:
		return StateAborted, true
	case vipps.StateExpired:
		return StateExpired, true
	case vipps.StateTerminated:
		return StateTerminated, true
	}
	return "", false
}

// canMove reports whether a payment may go from one state to another. States
// only move forward: PENDING to CREATED to one final state. A final state
// never changes, so a late or duplicated report cannot undo an outcome.
func canMove(from, to PaymentState) bool {
	if from == to {
		return false
	}
	switch from {
	case StatePending:
		return to != StatePending
	case StateCreated:
		return to.Final()
	}
	return false
}

// applyVipps folds what Vipps says about a payment into p: the state if it
// may move, and the aggregates, which only grow. It reports whether anything
// changed. It does not write.
func applyVipps(p *Payment, vp *vipps.Payment) (changed bool, from PaymentState, err error) {
	from = p.State
	to, ok := fromVipps(vp.State)
	if !ok {
		return false, from, fmt.Errorf("vipps reported unknown state %q for %s", vp.State, p.Reference)
	}
	if canMove(p.State, to) {
		p.State = to
		changed = true
	}
	if vp.RedirectURL != "" && p.RedirectURL == "" {
		p.RedirectURL = vp.RedirectURL
		changed = true
	}
	if vp.PSPReference != "" && p.PSPReference == "" {
		p.PSPReference = vp.PSPReference
		changed = true
	}
	agg := vp.Aggregate
	for _, f := range []struct {
		dst *int64
		v   int64
	}{
		{&p.Authorized, agg.AuthorizedAmount.Value},
		{&p.Captured, agg.CapturedAmount.Value},
		{&p.Refunded, agg.RefundedAmount.Value},
		{&p.Cancelled, agg.CancelledAmount.Value},
	} {
		if f.v > *f.dst {
			*f.dst = f.v
			changed = true
		}
	}
	return changed, from, nil
}

// refresh reads p from Vipps and stores what changed, with the source in the
// history. It returns the stored payment. A lost update race is retried on a
// fresh copy, so concurrent channels never overwrite each other.
func (s *Service) refresh(ctx context.Context, u *Unit, p *Payment, source string) (*Payment, error) {
	vp, err := u.Vipps.GetPayment(ctx, p.Reference)
	if err != nil {
		return p, err
	}
	return s.store(ctx, p, source, func(p *Payment) (bool, PaymentState, error) { return applyVipps(p, vp) })
}

// store applies change to p and writes it with a history entry, retrying on
// a version conflict with the stored copy.
func (s *Service) store(ctx context.Context, p *Payment, source string, change func(*Payment) (bool, PaymentState, error)) (*Payment, error) {
	for range 5 {
		changed, from, err := change(p)
		if err != nil {
			return p, err
		}
		if !changed {
			return p, nil
		}
		var entry *HistoryEntry
		if from != p.State {
			entry = &HistoryEntry{Source: source, FromState: from, ToState: p.State, Detail: p.FailureReason}
		}
		err = s.Store.UpdatePayment(ctx, p, entry)
		if err == nil {
			if entry != nil {
				s.logger().Info("payment state changed", "reference", p.Reference, "from", from, "to", p.State, "source", source)
			}
			return p, nil
		}
		if !errors.Is(err, ErrConflict) {
			return p, err
		}
		fresh, gerr := s.Store.Payment(ctx, p.Reference)
		if gerr != nil {
			return p, gerr
		}
		p = fresh
	}
	return p, Errorf(ECodeConflict, "busy", "payment %s is being changed by another request; try again", p.Reference)
}
