package bridge

import (
	"context"
	"errors"
	"strings"

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
// only move forward: PENDING to CREATED to one final state. A final Vipps
// state never changes, so a late or duplicated report cannot undo an
// outcome.
func canMove(from, to PaymentState) bool {
	if from == to {
		return false
	}
	switch from {
	case StatePending:
		return to != StatePending
	case StateCreated:
		return to.Final()
	case StateFailed:
		// FAILED is our verdict on a create we could not confirm, not a
		// Vipps state: if Vipps later shows the payment after all (a resent
		// create landed), what Vipps says wins.
		return to != StatePending && to != StateFailed
	}
	return false
}

// store applies change to p and commits it with a history entry (and a
// notification when the state became final), retrying on a version conflict
// with the stored copy. It is for our own steps (the create); what Vipps
// reports goes through sync.
func (s *Service) store(ctx context.Context, p *Payment, source string, change func(*Payment) (bool, PaymentState, error)) (*Payment, error) {
	return s.storeLogged(ctx, p, source, nil, change)
}

// storeLogged is store, with the provider exchanges (held, see
// holdExchanges) whose answer the change acts on committed in its
// transaction. If no commit takes them (nothing changed, or the commit
// failed) they are written on their own before it returns.
//
// Should a database's answer to a commit be lost after it committed, the
// retry finds the step done and writes them again: the log may then show
// an exchange twice, never lose one.
func (s *Service) storeLogged(ctx context.Context, p *Payment, source string, log []ProviderExchange, change func(*Payment) (bool, PaymentState, error)) (*Payment, error) {
	defer func() { s.writeExchanges(ctx, log) }()
	for range 5 {
		changed, from, err := change(p)
		if err != nil {
			return p, err
		}
		if !changed {
			return p, nil
		}
		c := &Change{Payment: p, Exchanges: log}
		p.NextPollAt = nextPoll(p, s.now())
		if from != p.State {
			c.History = []HistoryEntry{{Source: source, FromState: from, ToState: p.State, Detail: p.FailureReason}}
			if p.State.Final() {
				c.Notifications = []Notification{s.notification(p, "payment."+strings.ToLower(string(p.State)), nil, p.FailureReason)}
			}
		}
		err = s.commit(ctx, c)
		if err == nil {
			log = nil // committed with the change
			if from != p.State {
				s.logger().InfoContext(ctx, "payment state changed", "reference", p.Reference, "from", from, "to", p.State, "source", source)
				s.metrics().PaymentTransition(p.Unit, from, p.State, source, p.CreatedAt, s.now())
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
