package sqlite

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"vippskco/bridge"
)

// BenchmarkRedirectWrites is what a redirect writes, from 64 concurrent
// redirects, on a SQLite file: the attempt, then its move to CREATED with
// its history entry, and the two provider exchanges it made (the order
// read, about 3 KB masked; the create, about 1 KB each way), so the store's
// part of a redirect can be compared apart from the rest of the machine.
//
// "two commits" is how a redirect writes now: each exchange in the
// transaction of the step it led to. "four commits" is how it wrote before:
// each exchange committed on its own first.
//
//	go test -run '^$' -bench BenchmarkRedirectWrites -benchtime 5000x -count 5 ./bridge/sqlite/
func BenchmarkRedirectWrites(b *testing.B) {
	for _, mode := range []struct {
		name   string
		inStep bool
	}{{"two commits", true}, {"four commits", false}} {
		b.Run(mode.name, func(b *testing.B) {
			s := openTestStore(b)
			b.Cleanup(func() { s.Close() })
			ctx := b.Context()
			order := `{"order_id":"%s","status":"checkout_incomplete","order_lines":[` + strings.Repeat(`{"name":"Kopp","quantity":1,"unit_price":44700},`, 40) + `{}]}`
			create := `{"amount":{"currency":"NOK","value":44700},"reference":"%s","userFlow":"WEB_REDIRECT","returnUrl":"https://pay.example/return/` + strings.Repeat("t", 43) + `","paymentDescription":"` + strings.Repeat("x", 700) + `"}`
			var next atomic.Int64
			b.SetParallelism(32) // 64 goroutines on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := next.Add(1)
					kco := fmt.Sprintf("KCO-%d", n)
					p := payment(kco, 1)
					read := bridge.ProviderExchange{Reference: bridge.KustomLogKey(kco), Provider: "kustom", Operation: "read_order",
						Method: "GET", URL: "https://api.kustom.co/checkout/v3/orders/" + kco, StatusCode: 200,
						ResponseBody: fmt.Sprintf(order, kco), Attempt: 1, StartedAt: time.Now(), Duration: time.Millisecond}
					made := bridge.ProviderExchange{Reference: p.Reference, Provider: "vipps", Operation: "create", Method: "POST",
						URL: "https://apitest.vipps.no/epayment/v1/payments", RequestBody: fmt.Sprintf(create, p.Reference), StatusCode: 201,
						ResponseBody: `{"redirectUrl":"https://landing.vipps.no/?token=` + strings.Repeat("r", 200) + `","reference":"` + p.Reference + `"}`,
						Attempt:      1, StartedAt: time.Now(), Duration: time.Millisecond}
					var err error
					if mode.inStep {
						err = s.InsertPayment(ctx, p, read)
					} else if err = s.AppendExchange(ctx, &read); err == nil {
						err = s.InsertPayment(ctx, p)
					}
					if err != nil {
						b.Error(err)
						return
					}
					from := p.State
					p.State, p.RedirectURL = bridge.StateCreated, "https://landing.vipps.no/?token=r"
					c := &bridge.Change{Payment: p, History: []bridge.HistoryEntry{{Source: bridge.SourceRedirect, FromState: from, ToState: p.State}}}
					if mode.inStep {
						c.Exchanges = []bridge.ProviderExchange{made}
					} else if err = s.AppendExchange(ctx, &made); err != nil {
						b.Error(err)
						return
					}
					if err := s.Commit(ctx, c); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			reportOps(b)
		})
	}
}
