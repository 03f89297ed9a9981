package bridge

import (
	"context"
	"errors"
	"sync"
	"time"

	"vippskco/vipps"
)

// PollOnce reads every payment whose poll is due, as the Vipps checklist
// requires ("must not rely on returnUrl or webhooks alone"). Payments are
// leased, so replicas sharing a database never poll the same one at once.
// A 429 pushes that payment's next poll back by Retry-After.
func (s *Service) PollOnce(ctx context.Context) (int, error) {
	now := s.now()
	due, err := s.Store.ClaimDuePolls(ctx, now, s.owner(), time.Minute, 50)
	if err != nil {
		return 0, err
	}
	// A few at a time, each bounded well inside the lease, so one slow or
	// rate-limited payment cannot hold up the 2-second rhythm of the
	// shoppers who are waiting.
	sem := make(chan struct{}, pollConcurrency)
	var wg sync.WaitGroup
	for _, p := range due {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			pctx, cancel := context.WithTimeout(ctx, pollTimeout)
			next := s.pollPayment(pctx, p)
			cancel()
			if err := s.Store.ReleasePoll(context.WithoutCancel(ctx), p.Reference, s.owner(), next); err != nil {
				s.logger().ErrorContext(ctx, "releasing poll", "reference", p.Reference, "err", err)
			}
		}()
	}
	wg.Wait()
	return len(due), nil
}

const (
	pollConcurrency = 8
	pollTimeout     = 20 * time.Second
)

// pollPayment syncs one payment and returns when to poll it next.
func (s *Service) pollPayment(ctx context.Context, p *Payment) time.Time {
	u, err := s.Unit(p.Unit)
	if err != nil {
		return time.Time{}
	}
	if p.State == StatePending {
		// A create whose outcome we never learned: the shopper's reload
		// resends it, and a read tells whether it landed.
		if s.now().Sub(p.CreatedAt) > shopperWaitWindow {
			return s.abandonPending(ctx, u, p)
		}
	}
	fresh, behind, err := s.syncBehind(ctx, u, p, SourcePoller)
	if err != nil {
		var verr *vipps.Error
		if errors.As(err, &verr) && verr.StatusCode == 429 {
			return s.now().Add(30 * time.Second)
		}
		if vipps.IsNotFound(err) && p.State == StatePending {
			return s.now().Add(pollWhileWaiting)
		}
		s.logger().WarnContext(ctx, "polling payment", "reference", p.Reference, "err", err)
		return s.now().Add(pollAfterError)
	}
	if fresh.State == StateAuthorized {
		if err := s.guardKlarnaPayment(ctx, u, fresh); err != nil {
			s.logger().WarnContext(ctx, "double-payment guard", "reference", p.Reference, "err", err)
		}
	}
	if behind {
		// Vipps shows money its event log has not explained yet.
		return s.now().Add(pollWhileWaiting)
	}
	return nextPoll(fresh, s.now())
}

// abandonPending ends an attempt whose create never reached Vipps within the
// shopper's window: Vipps does not know it, so nobody can pay it, and the
// shopper's next try makes a new attempt.
func (s *Service) abandonPending(ctx context.Context, u *Unit, p *Payment) time.Time {
	fresh, err := s.sync(ctx, u, p, SourcePoller)
	if err == nil && fresh.State != StatePending {
		return nextPoll(fresh, s.now())
	}
	if err != nil && !vipps.IsNotFound(err) {
		return s.now().Add(pollAfterError)
	}
	if _, err := s.store(ctx, p, SourcePoller, func(p *Payment) (bool, PaymentState, error) {
		from := p.State
		if !canMove(from, StateFailed) {
			return false, from, nil
		}
		p.State, p.FailureReason, p.NextPollAt = StateFailed, "the payment was never created at Vipps", time.Time{}
		return true, from, nil
	}); err != nil {
		return s.now().Add(pollAfterError)
	}
	return time.Time{}
}

// every runs f now and then every d until ctx ends, logging its errors.
func (s *Service) every(ctx context.Context, d time.Duration, what string, f func() error) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		if err := f(); err != nil && ctx.Err() == nil {
			s.logger().ErrorContext(ctx, what, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
