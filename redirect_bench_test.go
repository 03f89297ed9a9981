package main

import (
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"vippskco/klarna"
)

// providerTimer is a transport that adds up the time spent waiting for the
// providers (here the in-process fakes), so the benchmark can tell the time
// our own code adds apart from the providers' time.
type providerTimer struct {
	next http.RoundTripper
	ns   atomic.Int64
}

func (p *providerTimer) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := p.next.RoundTrip(r)
	if err == nil {
		// The provider's time includes reading its body.
		b, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(&bodyReader{b: b})
		err = rerr
	}
	p.ns.Add(int64(time.Since(start)))
	return resp, err
}

type bodyReader struct{ b []byte }

func (r *bodyReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// BenchmarkRedirect measures the EPM redirect end to end: read the KCO
// order, check it, store the attempt, create the Vipps payment, store the
// result and answer 303, against the in-process fakes over loopback HTTP.
// It reports requests per second and how much of each request is our own
// code rather than waiting for the (fake) providers.
func BenchmarkRedirect(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		name := "serial"
		if parallel {
			name = "parallel"
		}
		b.Run(name, func(b *testing.B) {
			timer := &providerTimer{next: http.DefaultTransport}
			e := startMain(b, nil, func(m *Main) { m.Providers.HTTPClient = &http.Client{Transport: timer, Timeout: 15 * time.Second} })

			urls := make([]string, b.N)
			for i := range urls {
				o, err := e.m.Sandbox.Kustom.CreateOrder(benchOrder())
				if err != nil {
					b.Fatal(err)
				}
				urls[i] = e.redirectURL(o.OrderID)
			}
			client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			var next atomic.Int64
			do := func() {
				i := next.Add(1) - 1
				resp, err := client.Get(urls[i])
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusSeeOther {
					b.Errorf("status %d", resp.StatusCode)
				}
			}
			timer.ns.Store(0)
			b.ResetTimer()
			start := time.Now()
			if parallel {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						do()
					}
				})
			} else {
				for range b.N {
					do()
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
			provider := float64(timer.ns.Load()) / float64(b.N)
			b.ReportMetric(provider/1e6, "provider-ms/op")
			// In the parallel run requests overlap, so the per-request
			// figure is latency, not elapsed time divided by N.
			if !parallel {
				b.ReportMetric((float64(elapsed.Nanoseconds())/float64(b.N)-provider)/1e6, "ours-ms/op")
			}
		})
	}
}

func benchOrder() klarna.Order {
	return klarna.Order{
		PurchaseCountry: "NO", PurchaseCurrency: "NOK", Locale: "nb-NO",
		OrderAmount: 44700, OrderTaxAmount: 8940,
		OrderLines: []klarna.OrderLine{
			{Type: "physical", Reference: "termokopp", Name: "Termokopp", Quantity: 1, UnitPrice: 39800, TaxRate: 2500, TotalAmount: 39800, TotalTaxAmount: 7960},
			{Type: "shipping_fee", Reference: "frakt", Name: "Frakt", Quantity: 1, UnitPrice: 4900, TaxRate: 2500, TotalAmount: 4900, TotalTaxAmount: 980},
		},
		BillingAddress: &klarna.Address{Phone: "+47 912 34 567", Country: "NO"},
		MerchantURLs: &klarna.MerchantURLs{Terms: "https://shop.example/terms", Checkout: "https://shop.example/checkout",
			Confirmation: "https://shop.example/thanks", Push: "https://shop.example/push"},
	}
}
