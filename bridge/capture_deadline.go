package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// A reservation can be captured only until its capture deadline, which
// Vipps reports as captureGuaranteedUntil: 14 days after authorization for
// MobilePay in Denmark and Finland by default, 180 days in Norway, or the
// card's shorter guarantee. Past it Vipps cancels what is left uncaptured,
// and capture answers 6100 (notes/vipps.md §3.3). An order the merchant
// forgot to ship would so lose its money without a word, so the deadline
// watcher tells the merchant twice, through the signed outbox, once each:
//
//   - payment.capture_deadline_near, CaptureDeadlineWarning (default 48
//     hours) before the deadline, while something is left to capture;
//   - payment.capture_deadline_passed, once the deadline has passed with
//     something left: the payment is read from Vipps first, so that the
//     lapse (Vipps' cancellation of the rest) is booked by the state machine
//     and the notice carries the payment as it now is. The payment is
//     kept, marked (CaptureDeadlineNotice "passed"), never dropped.
const (
	defaultCaptureDeadlineWarning = 48 * time.Hour
	captureDeadlineEvery          = time.Minute
	captureDeadlineBatch          = 100
)

// The notification types of the capture deadline.
const (
	NotificationCaptureDeadlineNear   = "payment.capture_deadline_near"
	NotificationCaptureDeadlinePassed = "payment.capture_deadline_passed"
)

// watchCaptureDeadlines runs CheckCaptureDeadlines every d until ctx is
// done, the first time after d: deadlines are days away, and start-up has
// more urgent work.
func (s *Service) watchCaptureDeadlines(ctx context.Context, d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.CheckCaptureDeadlines(ctx); err != nil && ctx.Err() == nil {
			s.logger().ErrorContext(ctx, "capture deadline watch", "err", err)
		}
	}
}

func (s *Service) captureDeadlineWarning() time.Duration {
	if s.CaptureDeadlineWarning > 0 {
		return s.CaptureDeadlineWarning
	}
	return defaultCaptureDeadlineWarning
}

// CheckCaptureDeadlines sends the capture deadline notices that are due and
// reports how many it sent. A payment it could not handle (Vipps out of
// reach at the deadline) is left for the next round; the first such error
// is returned after the others are done.
func (s *Service) CheckCaptureDeadlines(ctx context.Context) (int, error) {
	now := s.now()
	ps, err := s.Store.CaptureDeadlinesDue(ctx, now.Add(s.captureDeadlineWarning()), now, captureDeadlineBatch)
	if err != nil {
		return 0, err
	}
	sent := 0
	var first error
	for _, p := range ps {
		ok, err := s.noticeCaptureDeadline(ctx, p, now)
		if err != nil {
			s.logger().WarnContext(ctx, "capture deadline notice", "reference", p.Reference, "err", err)
			if first == nil {
				first = err
			}
			continue
		}
		if ok {
			sent++
		}
	}
	return sent, first
}

// noticeCaptureDeadline commits the notice due for p, if another replica
// has not: the notice is part of the payment (its Version guards it), and
// the notification's id is derived from the payment and the notice, so it
// exists at most once.
func (s *Service) noticeCaptureDeadline(ctx context.Context, p *Payment, now time.Time) (bool, error) {
	deadline := p.CaptureGuaranteedUntil
	passed := !now.Before(deadline)
	// What was left to capture before the deadline, as we knew it.
	left := max(0, p.Authorized-p.Captured-p.Cancelled)
	notice, typ := CaptureDeadlineNear, NotificationCaptureDeadlineNear
	if passed {
		notice, typ = CaptureDeadlinePassed, NotificationCaptureDeadlinePassed
		u, err := s.Unit(p.Unit)
		if err != nil {
			return false, err
		}
		if p, err = s.sync(ctx, u, p, SourcePoller); err != nil {
			return false, fmt.Errorf("reading the payment at its capture deadline: %w", err)
		}
	}
	id := uuid.NewSHA1(uuid.NameSpaceURL, []byte("vippskco:"+typ+":"+p.Reference)).String()
	for range 8 {
		if p.CaptureDeadlineNotice == notice || p.CaptureDeadlineNotice == CaptureDeadlinePassed {
			return false, nil
		}
		q := *p
		q.CaptureDeadlineNotice = notice
		var detail string
		if passed {
			detail = fmt.Sprintf("the capture deadline %s has passed with %d %s uncaptured; Vipps cancels what is not captured by then (cancelled now: %d %s, captured: %d %s)",
				deadline.Format(time.RFC3339), left, q.Amount.Currency, q.Cancelled, q.Amount.Currency, q.Captured, q.Amount.Currency)
		} else {
			detail = fmt.Sprintf("%d %s is still uncaptured; capture it before %s, when Vipps cancels the rest of the reservation",
				left, q.Amount.Currency, deadline.Format(time.RFC3339))
		}
		c := &Change{Payment: &q, Notifications: []Notification{buildNotificationID(id, &q, typ, nil, detail, now)}}
		err := s.commit(ctx, c)
		if err == nil {
			s.logger().InfoContext(ctx, "capture deadline notice", "reference", q.Reference, "notice", notice, "deadline", deadline)
			return true, nil
		}
		if !errors.Is(err, ErrConflict) {
			return false, err
		}
		if p, err = s.Store.Payment(ctx, p.Reference); err != nil {
			return false, err
		}
	}
	return false, Errorf(ECodeConflict, "busy", "payment %s is being changed by others; try again", p.Reference)
}
