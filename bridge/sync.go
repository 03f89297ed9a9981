package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"vippskco/vipps"
)

// Polling guideline (notes/vipps.md §6): start 5 s after create, every 2 s
// while the shopper waits (a payment request lives 10 minutes), then a
// slower sweep until a final state. Authorized payments are re-read now and
// then while money can still move, which is also when the double-payment
// guard re-reads the KCO order.
const (
	pollFirstDelay     = 5 * time.Second
	pollWhileWaiting   = 2 * time.Second
	shopperWaitWindow  = 11 * time.Minute
	pollSlowSweep      = time.Minute
	pollAuthorized     = 10 * time.Minute
	authorizedWatchFor = 48 * time.Hour
	pollAfterError     = 15 * time.Second
)

// nextPoll decides when the poller should next read p.
func nextPoll(p *Payment, now time.Time) time.Time {
	age := now.Sub(p.CreatedAt)
	switch {
	case p.State == StatePending || p.State == StateCreated:
		if age < pollFirstDelay {
			return p.CreatedAt.Add(pollFirstDelay)
		}
		if age < shopperWaitWindow {
			return now.Add(pollWhileWaiting)
		}
		return now.Add(pollSlowSweep)
	case p.State == StateAuthorized && age < authorizedWatchFor:
		// Kept up for the KCO order's 48 hours whatever is left to
		// capture: the shopper could still complete it with Klarna.
		return now.Add(pollAuthorized)
	}
	return time.Time{}
}

// Sync reads a payment from Vipps and feeds what it says into the state
// machine. Every channel ends here: webhooks (which are only signals), the
// poller, the return and status pages, and the merchant operations. It is
// idempotent: reading the same thing twice changes nothing the second time.
func (s *Service) Sync(ctx context.Context, reference, source string) (*Payment, error) {
	p, err := s.Store.Payment(ctx, reference)
	if err != nil {
		return nil, err
	}
	u, err := s.Unit(p.Unit)
	if err != nil {
		return nil, err
	}
	return s.sync(ctx, u, p, source)
}

func (s *Service) sync(ctx context.Context, u *Unit, p *Payment, source string) (*Payment, error) {
	p, _, err := s.syncBehind(ctx, u, p, source)
	return p, err
}

// syncBehind is sync that also reports whether Vipps shows money the event
// log has not explained to us yet, so the caller reads again soon.
func (s *Service) syncBehind(ctx context.Context, u *Unit, p *Payment, source string) (*Payment, bool, error) {
	vp, err := u.Vipps.GetPayment(ctx, p.Reference)
	if err != nil {
		return p, false, err
	}
	// The event log is read only when Vipps shows something we have not
	// booked: it is what names each capture and refund, and what a
	// recovered operation is found by.
	var events []vipps.PaymentEvent
	var eventsErr error
	if differs(p, vp) {
		events, eventsErr = u.Vipps.GetEvents(ctx, p.Reference)
		if eventsErr != nil {
			s.logger().WarnContext(ctx, "reading the Vipps event log", "reference", p.Reference, "err", eventsErr)
		}
	}
	for range 8 {
		c, ops, behind, err := s.plan(ctx, u, p, vp, events, eventsErr != nil, source)
		if err != nil {
			return p, false, err
		}
		if c == nil {
			return p, behind, nil
		}
		err = s.commit(ctx, c)
		if err == nil {
			s.afterCommit(ctx, c, ops)
			return c.Payment, behind, nil
		}
		if !errors.Is(err, ErrConflict) {
			return p, false, err
		}
		if p, err = s.Store.Payment(ctx, p.Reference); err != nil {
			return nil, false, err
		}
	}
	return p, false, Errorf(ECodeConflict, "busy", "payment %s is being changed by others; try again", p.Reference)
}

// differs reports whether Vipps shows a state or amounts we have not stored.
func differs(p *Payment, vp *vipps.Payment) bool {
	to, _ := fromVipps(vp.State)
	if to != p.State && canMove(p.State, to) {
		return true
	}
	a := vp.Aggregate
	return a.AuthorizedAmount.Value != p.Authorized || a.CapturedAmount.Value != p.Captured ||
		a.RefundedAmount.Value != p.Refunded || a.CancelledAmount.Value != p.Cancelled
}

// plan works out the Change that a Vipps reading makes to p, or nil when it
// makes none. It does not write. Money is booked only as far as the event
// log explains it (each aggregate is the smaller of what Vipps shows and
// the sum of the events that name it), so every capture, refund and cancel
// gets its own event and notification; behind says Vipps shows more than
// that, and the payment is read again soon.
func (s *Service) plan(ctx context.Context, u *Unit, stored *Payment, vp *vipps.Payment, events []vipps.PaymentEvent, noEvents bool, source string) (*Change, []Operation, bool, error) {
	now := s.now()
	p := *stored
	from := p.State
	c := &Change{Payment: &p}

	to, ok := fromVipps(vp.State)
	if !ok {
		return nil, nil, false, fmt.Errorf("vipps reported unknown state %q for %s", vp.State, p.Reference)
	}
	moved := false
	if canMove(p.State, to) {
		p.State = to
		moved = true
		c.History = append(c.History, HistoryEntry{Source: source, FromState: from, ToState: to})
	}
	changed := moved
	if vp.RedirectURL != "" && p.RedirectURL == "" {
		p.RedirectURL, changed = vp.RedirectURL, true
	}
	if vp.PSPReference != "" && p.PSPReference == "" {
		p.PSPReference, changed = vp.PSPReference, true
	}
	// Kept to the microsecond, as both stores keep times.
	if g := vp.CaptureGuaranteedUntil; g != nil && !g.IsZero() && !g.UTC().Truncate(time.Microsecond).Equal(p.CaptureGuaranteedUntil) {
		p.CaptureGuaranteedUntil, changed = g.UTC().Truncate(time.Microsecond), true
	}

	behind := differs(&p, vp)
	if !noEvents && len(events) > 0 {
		known, err := s.Store.PaymentEvents(ctx, p.Reference)
		if err != nil && ErrorCode(err) != ECodeNotFound {
			return nil, nil, false, err
		}
		seen := map[string]bool{}
		sums := map[vipps.EventName]int64{}
		for _, e := range known {
			seen[e.Name+"\x00"+e.PSPReference] = true
			if e.Success {
				sums[vipps.EventName(e.Name)] += e.Amount.Value
			}
		}
		for _, e := range events {
			if seen[string(e.Name)+"\x00"+e.PSPReference] {
				continue
			}
			seen[string(e.Name)+"\x00"+e.PSPReference] = true
			pe := PaymentEvent{
				Reference: p.Reference, Name: string(e.Name), PSPReference: e.PSPReference,
				Amount: Money{Value: e.Amount.Value, Currency: string(e.Amount.Currency)}, Success: e.Success,
				OccurredAt: e.Timestamp.UTC(), Source: source, RecordedAt: now,
			}
			if e.IdempotencyKey != nil {
				pe.IdempotencyKey = *e.IdempotencyKey
			}
			c.Events = append(c.Events, pe)
			if e.Success {
				sums[e.Name] += e.Amount.Value
			}
		}
		a := vp.Aggregate
		for _, f := range []struct {
			dst    *int64
			shown  int64
			logged int64
		}{
			{&p.Authorized, a.AuthorizedAmount.Value, sums[vipps.EventAuthorized]},
			{&p.Captured, a.CapturedAmount.Value, sums[vipps.EventCaptured]},
			{&p.Refunded, a.RefundedAmount.Value, sums[vipps.EventRefunded]},
			{&p.Cancelled, a.CancelledAmount.Value, sums[vipps.EventCancelled]},
		} {
			if v := min(f.shown, f.logged); v > *f.dst {
				*f.dst, changed = v, true
			}
		}
		behind = differs(&p, vp)
		// Notifications carry the payment as it is after this change.
		for i := range c.Events {
			if n, ok := moneyNotification(&p, &c.Events[i], now); ok {
				c.Notifications = append(c.Notifications, n)
			}
		}
		if len(c.Events) > 0 {
			changed = true
		}
	}

	var ops []Operation
	if moved && p.State != StateCreated {
		c.Notifications = append(c.Notifications, s.notification(&p, "payment."+strings.ToLower(string(p.State)), nil, ""))
	}
	if p.State == StateAuthorized {
		guard, notes, surplus, err := s.guardSecondAuthorization(ctx, &p, c.Events)
		if err != nil {
			return nil, nil, false, err
		}
		ops = append(ops, guard...)
		c.Notifications = append(c.Notifications, notes...)
		if len(guard)+len(notes) > 0 {
			changed = true
		}
		if moved && u.Capture == "direct" && !surplus {
			// Direct capture: the key is derived from the reference, so
			// however many channels report the authorization, at most one
			// capture operation can ever exist. A surplus authorization (the
			// order is paid by another attempt) is never captured.
			ops = append(ops, s.newOperation(&p, OpCapture, "direct-capture-"+p.Reference, SourceDirectCapture, Money{Value: vp.Aggregate.AuthorizedAmount.Value, Currency: p.Amount.Currency}))
		}
	}
	np := nextPoll(&p, now)
	if behind || noEvents && differs(&p, vp) {
		np = now.Add(pollWhileWaiting)
	}
	if !np.Equal(p.NextPollAt) && (changed || p.NextPollAt.IsZero() != np.IsZero() || behind) {
		p.NextPollAt, changed = np, true
	}
	if !changed {
		return nil, nil, behind, nil
	}
	c.Operations = ops
	return c, ops, behind, nil
}

// afterCommit starts the operations a change created. They are already
// stored, so if this process dies first the operation sweep runs them.
func (s *Service) afterCommit(ctx context.Context, c *Change, ops []Operation) {
	for _, h := range c.History {
		s.logger().InfoContext(ctx, "payment state changed", "reference", c.Payment.Reference, "from", h.FromState, "to", h.ToState, "source", h.Source)
		s.metrics().PaymentTransition(c.Payment.Unit, h.FromState, h.ToState, h.Source, c.Payment.CreatedAt, s.now())
		if h.Source == SourcePoller {
			// Vipps reports every state by webhook: the poller found
			// this one first, so the webhook was missed or late.
			s.metrics().PollerCatchup(c.Payment.Unit, h.ToState)
		}
	}
	for i := range ops {
		op := ops[i]
		s.goRun(op.ID)
	}
	for _, h := range c.History {
		if h.ToState == StateAuthorized {
			// Two attempts of one order may authorize at the same moment,
			// each seeing the other not yet authorized. Looking again after
			// our commit closes that gap: the later commit sees both.
			s.goBackground(func(bg context.Context) {
				if err := s.recheckGuard(bg, c.Payment.Reference); err != nil {
					s.logger().WarnContext(ctx, "double-payment guard after authorization", "reference", c.Payment.Reference, "err", err)
				}
			})
		}
	}
}

// moneyNotification turns a newly learned money event into a notification.
// CREATED and the state events are reported by the state change itself.
func moneyNotification(p *Payment, e *PaymentEvent, now time.Time) (Notification, bool) {
	if !e.Success {
		return Notification{}, false
	}
	switch vipps.EventName(e.Name) {
	case vipps.EventCaptured, vipps.EventRefunded:
	case vipps.EventCancelled:
		if e.Amount.Value == 0 {
			return Notification{}, false
		}
	default:
		return Notification{}, false
	}
	return buildNotification(p, "payment."+strings.ToLower(e.Name), e, "", now), true
}

func (s *Service) notification(p *Payment, typ string, e *PaymentEvent, detail string) Notification {
	return buildNotification(p, typ, e, detail, s.now())
}

// buildNotification makes the outbox row for one change, carrying the
// payment as it is after the change and its KCO order snapshot, so the
// merchant can create its order from the notification alone.
func buildNotification(p *Payment, typ string, e *PaymentEvent, detail string, now time.Time) Notification {
	return buildNotificationID(uuid.NewString(), p, typ, e, detail, now)
}

// buildNotificationID is buildNotification with the notification's id
// given: a notification that must exist at most once for its cause (an
// operation's failure) takes an id derived from that cause.
func buildNotificationID(id string, p *Payment, typ string, e *PaymentEvent, detail string, now time.Time) Notification {
	body := NotificationPayload{ID: id, Type: typ, CreatedAt: now, Payment: PaymentView(p, nil, true), Detail: detail}
	if e != nil {
		body.Event = &EventJSON{Name: e.Name, PSPReference: e.PSPReference, Amount: e.Amount, Success: e.Success, OccurredAt: e.OccurredAt}
	}
	raw, _ := json.Marshal(body)
	return Notification{ID: id, Reference: p.Reference, Type: typ, Payload: raw, CreatedAt: now, NextAttemptAt: now}
}
