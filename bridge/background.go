package bridge

import (
	"context"
	"sync"
	"time"
)

// closeTimeout bounds how long Close waits for background work. Leases make
// abandoning work safe: an operation, a poll or a delivery left half-done is
// taken up again by the sweep, here after a restart or on another replica.
const closeTimeout = 10 * time.Second

// lifecycle owns every goroutine the service starts: they run under one
// context that Close cancels, and a WaitGroup that Close waits on. It also
// counts the work in flight, so that tests can wait until the service is
// idle before they move their clock.
type lifecycle struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	idle    *sync.Cond
	running int
	closed  bool
}

func (l *lifecycle) init() {
	l.once.Do(func() {
		l.ctx, l.cancel = context.WithCancel(context.Background())
		l.idle = sync.NewCond(&l.mu)
	})
}

// context is the service's own context: done once Close is called.
func (s *Service) context() context.Context {
	s.life.init()
	return s.life.ctx
}

// goBackground runs f in a goroutine owned by the service, with the
// service's context. After Close it runs nothing.
func (s *Service) goBackground(f func(ctx context.Context)) {
	l := &s.life
	l.init()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.running++
	l.wg.Add(1)
	l.mu.Unlock()
	go func() {
		defer func() {
			l.mu.Lock()
			l.running--
			if l.running == 0 {
				l.idle.Broadcast()
			}
			l.mu.Unlock()
			l.wg.Done()
		}()
		f(l.ctx)
	}()
}

// Start runs the service's loops until Close: the poller and the operation
// sweep every interval (zero: 500 ms), and the outbox in a loop of its own,
// so that a slow merchant endpoint never holds up the poller; with a
// provider log retention, its purge every providerLogPurgeEvery; and the
// capture deadline watch (capture_deadline.go) every minute.
func (s *Service) Start(every time.Duration) {
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	s.life.init()
	s.life.mu.Lock()
	defer s.life.mu.Unlock()
	if s.life.closed {
		return
	}
	ctx := s.life.ctx
	s.life.wg.Add(3)
	go func() {
		defer s.life.wg.Done()
		s.every(ctx, 4*every, "operation sweep", func() error { return s.SweepOperations(ctx) })
	}()
	go func() {
		defer s.life.wg.Done()
		s.every(ctx, every, "poller", func() error { _, err := s.PollOnce(ctx); return err })
	}()
	go func() {
		defer s.life.wg.Done()
		s.runOutbox(ctx, every)
	}()
	if s.ProviderLogRetention > 0 {
		s.life.wg.Add(1)
		go func() {
			defer s.life.wg.Done()
			s.every(ctx, providerLogPurgeEvery, "provider log purge", func() error { _, err := s.PurgeProviderLog(ctx); return err })
		}()
	}
	s.life.wg.Add(1)
	go func() {
		defer s.life.wg.Done()
		s.watchCaptureDeadlines(ctx, min(captureDeadlineEvery, 120*every))
	}()
}

// Wait blocks until no background work started with goBackground (an
// operation, a read after a webhook, a guard check) is running. Unlike
// Close it stops nothing, and may be called while new work keeps being
// started; the loops of Start are not counted.
func (s *Service) Wait() {
	l := &s.life
	l.init()
	l.mu.Lock()
	for l.running > 0 {
		l.idle.Wait()
	}
	l.mu.Unlock()
}

// Close cancels the service's context, so that provider calls in flight
// return, and waits for every goroutine the service started, at most
// closeTimeout. It reports the work it had to abandon.
func (s *Service) Close() error {
	l := &s.life
	l.init()
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.cancel()
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(closeTimeout):
		return Errorf(ECodeInternal, "close_timeout", "background work still running after %s; its leases will let it be taken up again", closeTimeout)
	}
}
