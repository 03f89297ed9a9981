package bridge

import (
	"context"
	"sort"
	"sync"
	"time"
)

type logKeyCtx struct{}

// withLogKey tells the provider observers which log a call belongs to, for
// calls whose URL does not say (the KCO order read happens before the Vipps
// reference exists).
func withLogKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, logKeyCtx{}, key)
}

// LogKey is the log a provider call belongs to when its URL does not say,
// or "".
func LogKey(ctx context.Context) string {
	k, _ := ctx.Value(logKeyCtx{}).(string)
	return k
}

// A redirect reads the KCO order, stores the attempt, sends the create and
// stores its answer. Each answer must be in the provider log before it is
// acted on; written alone, that was four commits a redirect, and the two
// log rows were half of them. So the one successful answer of the order
// read and of the create is held back and committed in the transaction
// that stores what it led to (the attempt, the payment CREATED): the same
// promise, two commits fewer. Everything else the call exchanges (a failed
// attempt the client then retries, the access token it fetches first) is
// stored at once, as before, since the client acts on it before the call
// returns. What is held but not committed with a step is written on its
// own (writeExchanges) before the caller acts on it or answers.

type exchangeHoldCtx struct{}

// exchangeHold keeps back the successful exchanges of one provider
// operation made with its context.
type exchangeHold struct {
	provider, op string

	mu  sync.Mutex
	exs []ProviderExchange
}

// Operations whose answer a redirect commits with its step, as the
// clients name them (klarna: the order read; vipps: the payment create).
const (
	kustomOrderRead = "read"
	vippsCreate     = "create"
)

// holdExchanges returns a context under which the successful exchanges of
// provider's operation op are kept in the returned hold instead of being
// stored.
func holdExchanges(ctx context.Context, provider, op string) (context.Context, *exchangeHold) {
	h := &exchangeHold{provider: provider, op: op}
	return context.WithValue(ctx, exchangeHoldCtx{}, h), h
}

// HoldExchange is for the provider log's recorder: when ex is an answer
// held under ctx (holdExchanges: the operation's, successful), it keeps ex
// there and reports true, and the recorder stores nothing.
func HoldExchange(ctx context.Context, ex *ProviderExchange) bool {
	h, _ := ctx.Value(exchangeHoldCtx{}).(*exchangeHold)
	if h == nil || ex.Provider != h.provider || ex.Operation != h.op ||
		ex.Error != "" || ex.StatusCode < 200 || ex.StatusCode > 299 {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.exs = append(h.exs, *ex)
	return true
}

// take returns what the hold has kept and empties it.
func (h *exchangeHold) take() []ProviderExchange {
	h.mu.Lock()
	defer h.mu.Unlock()
	exs := h.exs
	h.exs = nil
	return exs
}

// writeExchanges stores held exchanges that no transaction took. As with
// the recorder, a failure is logged, not returned: the log must not break a
// payment. The write does not inherit ctx's cancellation.
func (s *Service) writeExchanges(ctx context.Context, exs []ProviderExchange) {
	for i := range exs {
		if err := s.Store.AppendExchange(context.WithoutCancel(ctx), &exs[i]); err != nil {
			s.logger().ErrorContext(ctx, "storing provider exchange", "provider", exs[i].Provider, "op", exs[i].Operation, "err", err)
		}
	}
}

// KustomLogKey is the log key of calls about a KCO order; a payment's log
// shows them beside its own Vipps calls.
func KustomLogKey(kcoOrderID string) string { return "kco:" + kcoOrderID }

// PaymentLog returns every provider exchange about a payment, its own Vipps
// calls and the reads of its KCO order, in time order.
func (s *Service) PaymentLog(ctx context.Context, reference string) ([]ProviderExchange, error) {
	p, err := s.Store.Payment(ctx, reference)
	if err != nil {
		return nil, err
	}
	own, err := s.Store.Exchanges(ctx, p.Reference)
	if err != nil {
		return nil, err
	}
	order, err := s.Store.Exchanges(ctx, KustomLogKey(p.KCOOrderID))
	if err != nil {
		return nil, err
	}
	all := append(own, order...)
	sort.SliceStable(all, func(i, j int) bool { return all[i].StartedAt.Before(all[j].StartedAt) })
	return all, nil
}

// providerLogPurgeEvery is how often the background loop purges the
// provider log, and providerLogPurgeBatch how many rows one statement
// deletes, so no purge holds the log for long.
const (
	providerLogPurgeEvery = 10 * time.Minute
	providerLogPurgeBatch = 1000
)

// PurgeProviderLog deletes the provider exchanges older than
// ProviderLogRetention, in batches, and returns how many it deleted. With
// no retention set it deletes nothing.
func (s *Service) PurgeProviderLog(ctx context.Context) (int, error) {
	if s.ProviderLogRetention <= 0 {
		return 0, nil
	}
	before := s.now().Add(-s.ProviderLogRetention)
	total := 0
	for {
		n, err := s.Store.PurgeExchanges(ctx, before, providerLogPurgeBatch)
		total += n
		if err != nil {
			return total, err
		}
		if n < providerLogPurgeBatch || ctx.Err() != nil {
			if total > 0 {
				s.logger().InfoContext(ctx, "provider log purged", "exchanges", total, "before", before)
			}
			return total, ctx.Err()
		}
	}
}
