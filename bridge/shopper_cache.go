package bridge

import (
	"context"
	"sync"
	"time"
)

// The shopper's pages ask for a payment's status every 2 s while the
// shopper is in the Vipps app, and thousands may wait at once. They are
// served from what this replica already knows: the payment as it was last
// read from the store, kept per return token.
//
//   - A change this replica commits replaces the copy at once (commit).
//   - A copy younger than shopperFresh is served as it is.
//   - An older one is served too, and a read of the store refreshes it in
//     the background, once per token, many tokens in one read (a change
//     another replica made shows at the next status read after that,
//     within shopperFresh plus one poll of the page).
//   - A copy older than shopperStale, or none, is read from the store in
//     the request; so is a copy of a final state over shopperFresh old (the
//     page stops polling at a final state, so it must be the store's, and
//     FAILED can still move), and a PENDING one before a create is resent.
//   - Only tokens a page asked for are kept, and those unread for
//     shopperStale are swept every shopperSweep: the copies hold what the
//     pages of the shoppers waiting now need, no more.
//
// The copies are never changed in place: a refresh or a commit replaces
// the entry's pointer, and readers get a copy of their own.
const (
	shopperFresh = time.Second
	shopperStale = 10 * time.Second
	// shopperCacheMax bounds the tokens kept; past it the expired ones
	// are swept, and if that is not enough the cache starts again empty.
	shopperCacheMax = 100_000
	shopperSweep    = 30 * time.Second
)

type shopperCache struct {
	mu    sync.Mutex
	m     map[string]*shopperEntry
	swept time.Time

	// refresh reads the tokens whose copies are being refreshed, many in
	// one read of the store (the group commit's Batcher, used for reads).
	refreshOnce sync.Once
	refresh     Batcher[string]
}

type shopperEntry struct {
	p      *Payment
	readAt time.Time
	// refreshing is set while a background read of the store runs.
	refreshing bool
	// askedAt is when this replica last asked for a read of the payment
	// on a page's behalf (readSoon), so that a copy read before the
	// poller's last claim does not make every status read ask again.
	askedAt time.Time
}

// get returns the token's copy (a copy of it: the caller may change it),
// and whether the caller should start a background refresh (only one
// caller is told to).
func (c *shopperCache) get(token string, now time.Time) (p *Payment, refresh bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[token]
	if e == nil {
		return nil, false
	}
	age := now.Sub(e.readAt)
	if age >= shopperStale || age < 0 {
		return nil, false
	}
	if e.p.State.Final() && age >= shopperFresh {
		return nil, false
	}
	cp := *e.p
	if age < shopperFresh || e.refreshing {
		return &cp, false
	}
	e.refreshing = true
	return &cp, true
}

// put stores p as read from the store at readAt, unless the entry already
// holds a later version of it (a commit that raced with the read).
func (c *shopperCache) put(p *Payment, readAt time.Time) {
	c.store(p, readAt, true)
}

// update is put for a token a page has asked for; others are left out.
func (c *shopperCache) update(p *Payment, readAt time.Time) {
	c.store(p, readAt, false)
}

func (c *shopperCache) store(p *Payment, readAt time.Time, add bool) {
	if p == nil || p.ReturnToken == "" {
		return
	}
	cp := *p
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*shopperEntry{}
	}
	if readAt.Sub(c.swept) >= shopperSweep || len(c.m) >= shopperCacheMax {
		c.sweep(readAt)
	}
	e := c.m[p.ReturnToken]
	if e == nil {
		if add {
			c.m[p.ReturnToken] = &shopperEntry{p: &cp, readAt: readAt}
		}
		return
	}
	e.refreshing = false
	if e.p.Version > cp.Version {
		return
	}
	e.p, e.readAt = &cp, readAt
}

// done ends a background refresh that read nothing.
func (c *shopperCache) done(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[token]; e != nil {
		e.refreshing = false
	}
}

// forget drops a token's copy (the store no longer has the payment).
func (c *shopperCache) forget(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, token)
}

// ask reports whether a page's read of the payment may be asked for now,
// and records it: at most once per gap per token on this replica.
func (c *shopperCache) ask(token string, now time.Time, gap time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[token]
	if e == nil {
		return true
	}
	if !e.askedAt.IsZero() && now.Sub(e.askedAt) < gap && now.Sub(e.askedAt) >= 0 {
		return false
	}
	e.askedAt = now
	return true
}

// sweep drops the expired copies; called with mu held.
func (c *shopperCache) sweep(now time.Time) {
	c.swept = now
	for token, e := range c.m {
		if now.Sub(e.readAt) >= shopperStale && !e.refreshing {
			delete(c.m, token)
		}
	}
	if len(c.m) >= shopperCacheMax {
		c.m = map[string]*shopperEntry{}
	}
}

// paymentByToken is the payment behind a return token for the shopper's
// pages: from the cache above when it holds one, else from the store.
func (s *Service) paymentByToken(ctx context.Context, token string) (*Payment, error) {
	now := s.now()
	p, refresh := s.shoppers.get(token, now)
	if p != nil {
		if refresh {
			s.goBackground(func(bg context.Context) {
				if err := s.refresher().Add(bg, token); err != nil {
					s.shoppers.done(token)
					s.logger().WarnContext(bg, "refreshing a shopper's payment", "err", err)
				}
			})
		}
		return p, nil
	}
	p, err := s.Store.PaymentByToken(ctx, token)
	if err != nil {
		return nil, err
	}
	s.shoppers.put(p, now)
	return p, nil
}

// refresher reads the copies due for a refresh in batches: while one
// read runs, the tokens asked for meanwhile queue for the next.
func (s *Service) refresher() *Batcher[string] {
	c := &s.shoppers
	c.refreshOnce.Do(func() {
		c.refresh.Max = MaxTokensRead
		c.refresh.Write = func(ctx context.Context, tokens []string) error {
			readAt := s.now()
			ps, err := s.Store.PaymentsByTokens(ctx, tokens)
			if err != nil {
				return err
			}
			found := make(map[string]bool, len(ps))
			for _, p := range ps {
				found[p.ReturnToken] = true
				c.put(p, readAt)
			}
			for _, t := range tokens {
				if !found[t] {
					c.forget(t)
				}
			}
			return nil
		}
	})
	return &c.refresh
}

// commit commits a change of a payment and, once it is committed, makes
// it what the shopper's pages show (if a page is looking at it).
func (s *Service) commit(ctx context.Context, c *Change) error {
	if err := s.Store.Commit(ctx, c); err != nil {
		return err
	}
	if c.Payment != nil {
		s.shoppers.update(c.Payment, s.now())
	}
	return nil
}
