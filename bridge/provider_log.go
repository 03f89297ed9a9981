package bridge

import (
	"context"
	"sort"
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
