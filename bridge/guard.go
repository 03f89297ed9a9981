package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"vippskco/klarna"
	"vippskco/vipps"
)

// guardSecondAuthorization is the double-payment guard for two authorized
// Vipps attempts of one KCO order. The attempt to keep is the one Vipps
// authorized first (by its AUTHORIZED event; the order it was made in breaks
// a tie), chosen the same way by every replica and channel, so whichever
// one sees the pair cancels the same surplus reservation, and the
// deterministic key makes that cancel happen once. It reports whether p is
// the surplus. Money already captured on the surplus cannot be cancelled; it
// is flagged for refund instead.
func (s *Service) guardSecondAuthorization(ctx context.Context, p *Payment, newEvents []PaymentEvent) ([]Operation, []Notification, bool, error) {
	attempts, err := s.Store.PaymentsByOrder(ctx, p.KCOOrderID)
	if err != nil {
		return nil, nil, false, err
	}
	var keep *Payment
	var keepAt time.Time
	for _, o := range attempts {
		var fresh []PaymentEvent
		if o.Reference == p.Reference {
			o, fresh = p, newEvents // as it is in this change, not as stored
		}
		if o.State != StateAuthorized {
			continue
		}
		at, err := s.authorizedAt(ctx, o, fresh)
		if err != nil {
			return nil, nil, false, err
		}
		if keep == nil || at.Before(keepAt) || (at.Equal(keepAt) && (o.CreatedAt.Before(keep.CreatedAt) ||
			(o.CreatedAt.Equal(keep.CreatedAt) && o.Reference < keep.Reference))) {
			keep, keepAt = o, at
		}
	}
	if keep == nil || keep.Reference == p.Reference {
		return nil, nil, false, nil
	}
	key := "guard-cancel-" + p.Reference
	if _, err := s.Store.OperationByKey(ctx, key); err == nil {
		return nil, nil, true, nil
	} else if ErrorCode(err) != ECodeNotFound {
		return nil, nil, true, err
	}
	detail := fmt.Sprintf("KCO order %s is already paid by %s; this second authorization is surplus", p.KCOOrderID, keep.Reference)
	ops := []Operation{s.newOperation(p, OpCancel, key, SourceGuard, Money{Currency: p.Amount.Currency})}
	notes := []Notification{s.notification(p, "payment.duplicate", nil, detail+"; its reservation is being cancelled")}
	if p.Captured-p.Refunded > 0 {
		notes = append(notes, s.notification(p, "payment.refund_required", nil,
			fmt.Sprintf("%s; %d %s minor units were already captured and must be refunded", detail, p.Captured-p.Refunded, p.Amount.Currency)))
	}
	s.logger().WarnContext(ctx, "double payment: second authorization", "reference", p.Reference, "kept", keep.Reference, "kco_order_id", p.KCOOrderID)
	return ops, notes, true, nil
}

// authorizedAt is when Vipps authorized p, by its AUTHORIZED event, or its
// creation time while the event log has not been read.
func (s *Service) authorizedAt(ctx context.Context, p *Payment, fresh []PaymentEvent) (time.Time, error) {
	for _, e := range fresh {
		if e.Name == string(vipps.EventAuthorized) && e.Success {
			return e.OccurredAt, nil
		}
	}
	events, err := s.Store.PaymentEvents(ctx, p.Reference)
	if err != nil && ErrorCode(err) != ECodeNotFound {
		return time.Time{}, err
	}
	for _, e := range events {
		if e.Name == string(vipps.EventAuthorized) && e.Success {
			return e.OccurredAt, nil
		}
	}
	return p.CreatedAt, nil
}

// surplus reports whether another authorized attempt of p's KCO order is
// the one to keep, for a runner about to capture p.
func (s *Service) surplus(ctx context.Context, p *Payment) (bool, error) {
	_, _, surplus, err := s.guardSecondAuthorization(ctx, p, nil)
	return surplus, err
}

// recheckGuard runs the second-authorization guard on every authorized
// attempt of a payment's KCO order, as stored, and commits what it decides.
// It runs after an authorization is committed: two attempts authorized at
// the same moment each saw the other not yet authorized, and the later
// commit's recheck sees both.
func (s *Service) recheckGuard(ctx context.Context, reference string) error {
	p, err := s.Store.Payment(ctx, reference)
	if err != nil {
		return err
	}
	attempts, err := s.Store.PaymentsByOrder(ctx, p.KCOOrderID)
	if err != nil {
		return err
	}
	var errs []error
	for _, o := range attempts {
		if o.State == StateAuthorized {
			errs = append(errs, s.guardOne(ctx, o.Reference))
		}
	}
	return errors.Join(errs...)
}

func (s *Service) guardOne(ctx context.Context, reference string) error {
	for range 5 {
		p, err := s.Store.Payment(ctx, reference)
		if err != nil {
			return err
		}
		ops, notes, _, err := s.guardSecondAuthorization(ctx, p, nil)
		if err != nil || len(ops)+len(notes) == 0 {
			return err
		}
		err = s.commit(ctx, &Change{Payment: p, Operations: ops, Notifications: notes})
		if err == nil {
			for _, op := range ops {
				s.goRun(op.ID)
			}
			return nil
		}
		if ErrorCode(err) != ECodeConflict {
			return err
		}
	}
	return Errorf(ECodeConflict, "busy", "payment %s is busy", reference)
}

// guardKlarnaPayment is the double-payment guard against the same KCO order
// being completed with Klarna while we hold a Vipps reservation: it reads
// the order, and if Kustom says checkout_complete it cancels what is left
// of ours and tells the merchant (with a refund flag for money already
// captured). It records the finding once.
func (s *Service) guardKlarnaPayment(ctx context.Context, u *Unit, p *Payment) error {
	if p.State != StateAuthorized {
		return nil
	}
	key := "guard-klarna-" + p.Reference
	if _, err := s.Store.OperationByKey(ctx, key); err == nil {
		return nil
	} else if ErrorCode(err) != ECodeNotFound {
		return err
	}
	o, err := s.Kustom.GetOrder(withLogKey(ctx, KustomLogKey(p.KCOOrderID)), p.KCOOrderID)
	if err != nil {
		if klarna.IsNotFound(err) {
			return nil // expired at Kustom: it can no longer be paid there
		}
		return err
	}
	if !strings.EqualFold(o.Status, klarna.StatusCheckoutComplete) {
		return nil
	}
	for range 5 {
		detail := fmt.Sprintf("KCO order %s was also completed with Klarna; the Vipps payment %s is surplus", p.KCOOrderID, p.Reference)
		op := s.newOperation(p, OpCancel, key, SourceGuard, Money{Currency: p.Amount.Currency})
		c := &Change{Payment: p, Notifications: []Notification{s.notification(p, "payment.paid_twice", nil, detail)}}
		if p.Authorized-p.Captured-p.Cancelled > 0 {
			c.Operations = []Operation{op}
		} else {
			// Nothing left to cancel: record the finding with a failed
			// operation so it is reported once, and flag the refund.
			op.State, op.Error = OperationFailed, "nothing left to cancel"
			c.Operations = []Operation{op}
		}
		if p.Captured-p.Refunded > 0 {
			c.Notifications = append(c.Notifications, s.notification(p, "payment.refund_required", nil,
				fmt.Sprintf("%s; %d %s minor units were captured and must be refunded", detail, p.Captured-p.Refunded, p.Amount.Currency)))
		}
		err := s.commit(ctx, c)
		if err == nil {
			s.logger().WarnContext(ctx, "double payment: KCO order completed with Klarna", "reference", p.Reference, "kco_order_id", p.KCOOrderID)
			if op.State == OperationPending {
				s.goRun(op.ID)
			}
			return nil
		}
		if ErrorCode(err) != ECodeConflict {
			return err
		}
		if _, err := s.Store.OperationByKey(ctx, key); err == nil {
			return nil
		}
		if p, err = s.Store.Payment(ctx, p.Reference); err != nil {
			return err
		}
	}
	return Errorf(ECodeConflict, "busy", "payment %s is busy", p.Reference)
}
