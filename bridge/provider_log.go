package bridge

import (
	"context"
	"sort"
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
