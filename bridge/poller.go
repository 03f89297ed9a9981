package bridge

import (
	"cmp"
	"context"
	"errors"
	"sync"
	"time"

	"vippskco/vipps"
)

// PollOnce reads every payment whose poll is due, as the Vipps checklist
// requires ("must not rely on returnUrl or webhooks alone"). Payments are
// leased, so replicas sharing a database never poll the same one at once,
// and the claim is the payment's last read, so that no channel makes a read
// of it due sooner than pollWhileWaiting after it (Store.PollSoon). It
// claims a batch at a time, reads its payments (at most pollConcurrency at
// once, started evenly at the read budget's pace) and releases the batch
// in one write, until nothing is due. A 429 pushes that
// payment's next poll back.
//
// Every poll is one GET of the payment at Vipps, and a poll that finds
// nothing new writes nothing but its batch's release: 2,000 shoppers
// waiting in the Vipps app are 1,000 reads a second, as the polling
// guidance asks (start after 5 s, then every 2 s).
//
// Those reads are bounded by PollReadsPerSecond: past it, every payment is
// read later, earliest due first, and the poller's share of the machine
// stays what the operator set. The reads a webhook or a shopper's page ask
// for (readSoon) are made apart from it, so a shopper looking at a payment
// never waits for the poller to catch up.
func (s *Service) PollOnce(ctx context.Context) (int, error) {
	total := 0
	for {
		want := pollBatch
		if s.PollReadsPerSecond > 0 {
			want = s.pollBudget.take(s.now(), s.PollReadsPerSecond, pollBatch)
			if want == 0 {
				return total, nil
			}
		}
		n, err := s.pollBatch(ctx, want)
		if s.PollReadsPerSecond > 0 {
			s.pollBudget.giveBack(want - n)
		}
		total += n
		if err != nil || n < want || ctx.Err() != nil {
			return total, err
		}
	}
}

// pollBudget is a token bucket of reads: rate a second, holding at most a
// second's worth.
type pollBudget struct {
	mu     sync.Mutex
	tokens float64
	at     time.Time
}

// take returns how many reads (at most max) may be made now, and spends
// them.
func (b *pollBudget) take(now time.Time, rate, max int) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.at.IsZero() {
		b.tokens = float64(rate)
	} else if d := now.Sub(b.at); d > 0 {
		b.tokens = min(float64(rate), b.tokens+d.Seconds()*float64(rate))
	}
	b.at = now
	n := min(int(b.tokens), max)
	b.tokens -= float64(n)
	return n
}

// giveBack returns reads taken but not made (nothing was due for them).
func (b *pollBudget) giveBack(n int) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	b.tokens += float64(n)
	b.mu.Unlock()
}

// pollBatch claims and reads one batch of at most limit due payments.
func (s *Service) pollBatch(ctx context.Context, limit int) (int, error) {
	due, err := s.Store.ClaimDuePolls(ctx, s.now(), s.owner(), pollLease, limit)
	if err != nil {
		return 0, err
	}
	// A few dozen at a time, each bounded well inside the lease, so one
	// slow or rate-limited payment cannot hold up the 2-second rhythm of
	// the shoppers who are waiting.
	releases := make([]PollRelease, len(due))
	// The batch ends before its lease does, so no other replica reads one
	// of its payments while it still may.
	bctx, cancel := context.WithTimeout(ctx, pollLease-pollLeaseMargin)
	defer cancel()
	sem := make(chan struct{}, pollConcurrency)
	var wg sync.WaitGroup
	// With a budget, the batch's reads start spread at its rate rather
	// than all at once: a batch of 256 fired together kept both cores busy
	// for a moment twice a second, and every shopper's request in that
	// moment waited (status reads paced at 5,000/s with 2,000 payments
	// waiting: p99 15 ms, against 2 ms with 100 waiting). Read i is due
	// i/rate after the batch began, rounded down to a pollPaceStep, so
	// the reads of a step start together: one read a millisecond woke the
	// process so often that its idle share of a core tripled. A batch
	// holds at most a second's budget, so it still ends well inside its
	// lease. If the batch's time runs out first, the reads not started
	// are not made: those payments are released as due as they were.
	rate := time.Duration(s.PollReadsPerSecond)
	began := time.Now()
	for i, p := range due {
		if rate > 0 && !waitUntil(bctx, began.Add((time.Duration(i)*time.Second/rate).Truncate(pollPaceStep))) {
			for j := i; j < len(due); j++ {
				releases[j] = PollRelease{Reference: due[j].Reference, Next: due[j].NextPollAt}
			}
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			pctx, cancel := context.WithTimeout(bctx, pollTimeout)
			// A read someone asked for (a webhook, a page) and the poller
			// made is theirs, not a catch-up of the poller's.
			releases[i] = s.readRelease(p, s.pollPayment(pctx, p, cmp.Or(p.ReadAskedBy, SourcePoller)))
			cancel()
		}()
	}
	wg.Wait()
	if err := s.Store.ReleasePolls(context.WithoutCancel(ctx), s.owner(), releases); err != nil {
		s.logger().ErrorContext(ctx, "releasing polls", "polls", len(releases), "err", err)
	}
	return len(due), nil
}

// waitUntil waits until t, or until ctx ends; it reports whether t came.
func waitUntil(ctx context.Context, t time.Time) bool {
	wait := time.Until(t)
	if wait <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

const (
	// pollBatch bounds one claim. A claim and its release are each one
	// write on the store's single writer (SQLite), and a claim of 256
	// payments held it for some 7 ms of CPU, which every redirect arriving
	// then waited out: 64 at a time, redirects paced at 250/s on SQLite
	// had an added p99 of 37 ms instead of 60 (median of three runs each,
	// 34-55 against 55-88).
	pollBatch       = 64
	pollConcurrency = 32
	// pollPaceStep is how often a batch's next reads start (see pollBatch).
	pollPaceStep = 20 * time.Millisecond
	pollTimeout  = 20 * time.Second
	// pollLease is how long a claim keeps other replicas off a payment. It
	// is short, because a replica that dies holding a batch leaves its
	// payments unread until their leases end, and their shoppers' pages
	// only show what has been read; the batch's reads are cut
	// pollLeaseMargin before it ends (a read cut short is read again).
	pollLease       = 10 * time.Second
	pollLeaseMargin = 2 * time.Second
)

// readSoon asks for a read of a payment from Vipps: at once, in the
// background, unless someone read it less than pollWhileWaiting ago, and
// then by the poller that long after that read. The ask is stored before
// it returns, so the read happens even if this process stops first, and
// whichever channel asks (a webhook, a page), on whichever replica, a
// payment is read at most once per pollWhileWaiting: a burst of webhooks
// for one payment costs one read.
func (s *Service) readSoon(ctx context.Context, reference, source string) error {
	if err := s.Store.PollSoon(ctx, reference, s.now(), pollWhileWaiting, source); err != nil {
		return err
	}
	s.readAsked(reference, source)
	return nil
}

// readAsked reads a payment whose read was asked for (readSoon's ask is
// stored), in the background: if the read is due, this replica claims
// and makes it; if not, or another replica has it, the poller reads it
// when it is due.
func (s *Service) readAsked(reference, source string) {
	s.goBackground(func(bg context.Context) {
		p, err := s.Store.ClaimDuePoll(bg, reference, s.now(), s.owner(), pollLease)
		if err != nil || p == nil {
			if err != nil {
				s.logger().WarnContext(bg, "claiming a read of the payment", "reference", reference, "err", err)
			}
			return // not due yet, or being read: the poller reads it
		}
		s.readClaimed(bg, p, source)
	})
}

// readForShopper reads a payment a shopper's page is waiting on. When its
// read is due (the poller is behind on it: its budget is spent), this
// replica claims it and reads it now, as the poller would, and no ask is
// stored: the page asks again at its next poll if this replica stops
// first. Otherwise (read less than pollWhileWaiting ago, being read, or
// scheduled far off) it asks as readSoon does.
func (s *Service) readForShopper(ctx context.Context, reference, source string) error {
	p, err := s.Store.ClaimDuePoll(ctx, reference, s.now(), s.owner(), pollLease)
	if err != nil {
		return err
	}
	if p == nil {
		return s.readSoon(ctx, reference, source)
	}
	s.readClaimed(ctx, p, source)
	return nil
}

// readClaimed reads a payment this replica has claimed and releases it
// with its next poll.
func (s *Service) readClaimed(ctx context.Context, p *Payment, source string) {
	pctx, cancel := context.WithTimeout(ctx, pollLease-pollLeaseMargin)
	release := s.readRelease(p, s.pollPayment(pctx, p, cmp.Or(p.ReadAskedBy, source)))
	cancel()
	if err := s.Store.ReleasePolls(context.WithoutCancel(ctx), s.owner(), []PollRelease{release}); err != nil {
		s.logger().WarnContext(ctx, "releasing a read of the payment", "reference", p.Reference, "err", err)
	}
}

// readRelease is the release of a payment just read, whose own schedule
// says next: no read of it is due less than pollWhileWaiting after this
// one was answered, neither by that schedule (a young payment's first
// poll, 5 s after its create, may follow a read a webhook asked for at
// 3.5 s) nor by an ask made meanwhile (PollRelease.Read).
func (s *Service) readRelease(p *Payment, next time.Time) PollRelease {
	read := s.now()
	if !next.IsZero() && next.Before(read.Add(pollWhileWaiting)) {
		next = read.Add(pollWhileWaiting)
	}
	return PollRelease{Reference: p.Reference, Next: next, Read: read, Gap: pollWhileWaiting}
}

// pollPayment syncs one payment and returns when to poll it next. source
// is the channel the read is for: the poller's own schedule, or the
// webhook or page that asked for it.
func (s *Service) pollPayment(ctx context.Context, p *Payment, source string) time.Time {
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
	fresh, behind, err := s.syncBehind(ctx, u, p, source)
	if err != nil {
		var verr *vipps.Error
		if errors.As(err, &verr) && verr.StatusCode == 429 {
			return s.now().Add(30 * time.Second)
		}
		if vipps.IsNotFound(err) && p.State == StatePending {
			return s.now().Add(pollWhileWaiting)
		}
		s.logger().WarnContext(ctx, "polling payment", "reference", p.Reference, "err", err)
		return afterPollError(p, s.now())
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

// afterPollError is when to read p again after a read that failed (Vipps
// or our store unavailable): pollAfterError later, but no later than its
// usual schedule while a shopper waits, every 2 s. A status read never
// reads Vipps itself, so a shopper waiting on a payment whose read failed
// during a short outage would otherwise wait for the back-off.
func afterPollError(p *Payment, now time.Time) time.Time {
	next := now.Add(pollAfterError)
	if np := nextPoll(p, now); !np.IsZero() && np.Before(next) {
		return np
	}
	return next
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
