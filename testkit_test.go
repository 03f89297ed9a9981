package main

import (
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"vippskco/bridge/config"
	"vippskco/klarna"
)

// The tests build their configuration on the typed config.yaml, never by
// editing its text: a renamed key then fails to compile instead of leaving
// a test quietly running on the shipped settings.

// noEnv is the environment of a test: no variables, so sandbox secrets
// take their development values.
func noEnv(string) string { return "" }

// testConfigRaw is the shipped config.yaml, decoded but not resolved, set
// for a test: on a free loopback port, with a database in the test's
// temporary folder and no shopper rate limit (tests drive many shoppers
// from one address; the limit has its own test). edits change it further.
func testConfigRaw(t testing.TB, edits ...func(*config.Config)) *config.Config {
	t.Helper()
	raw, err := os.ReadFile("config.yaml")
	require.NoError(t, err)
	cfg, err := config.Decode(raw)
	require.NoError(t, err)
	cfg.Server.Addr = "127.0.0.1:0"
	cfg.Storage.DSN = "file:" + filepath.Join(t.TempDir(), "bridge.db")
	cfg.Server.ShopperRateLimit = config.RateLimit{}
	for _, edit := range edits {
		if edit != nil {
			edit(cfg)
		}
	}
	return cfg
}

// testConfig is testConfigRaw, resolved and validated as start-up would.
func testConfig(t testing.TB, edits ...func(*config.Config)) *config.Config {
	t.Helper()
	cfg := testConfigRaw(t, edits...)
	require.NoError(t, cfg.Resolve(noEnv))
	return cfg
}

// testConfigFile writes testConfigRaw to a file, for tests of the command
// line, and checks that the file loads.
func testConfigFile(t testing.TB, edits ...func(*config.Config)) string {
	t.Helper()
	b, err := yaml.Marshal(testConfigRaw(t, edits...))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	_, err = config.Load(path, noEnv)
	require.NoError(t, err, "the written configuration loads")
	return path
}

// onPostgres stores in PostgreSQL at dsn.
func onPostgres(dsn string) func(*config.Config) {
	return func(c *config.Config) { c.Storage.Driver, c.Storage.DSN = "postgres", dsn }
}

// withUnit adds a sales unit made from the first one (the same keys), with
// its own id and reference prefix; edit changes it further.
func withUnit(id, prefix string, edit func(*config.Unit)) func(*config.Config) {
	return func(c *config.Config) {
		u := c.Units[0]
		u.Countries = append([]string(nil), u.Countries...)
		u.ID, u.ReferencePrefix = id, prefix
		if edit != nil {
			edit(&u)
		}
		c.Units = append(c.Units, u)
	}
}

// freeAddr is a loopback address with a port that was free a moment ago.
// A Main that must keep a configured public_url (one behind a load
// balancer or a test's gate) listens on it: in sandbox mode, port 0 makes
// the public URL wherever the service really listens.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// cart is the demo shop's KCO order: cups of coffee (termokopp) and the
// shipping, for Kari Nordmann, with merchant reference ref. Tests that need
// other orders edit what it returns.
func cart(cups int64, ref string) klarna.Order {
	return klarna.Order{
		PurchaseCountry: "NO", PurchaseCurrency: "NOK", Locale: "nb-NO",
		OrderAmount: 39800*cups + 4900, OrderTaxAmount: 7960*cups + 980,
		OrderLines: []klarna.OrderLine{
			{Type: "physical", Reference: "termokopp", Name: "Termokopp", Quantity: cups, QuantityUnit: "pcs", UnitPrice: 39800, TaxRate: 2500, TotalAmount: 39800 * cups, TotalTaxAmount: 7960 * cups},
			{Type: "shipping_fee", Reference: "frakt", Name: "Frakt", Quantity: 1, UnitPrice: 4900, TaxRate: 2500, TotalAmount: 4900, TotalTaxAmount: 980},
		},
		MerchantReference1: ref,
		BillingAddress:     &klarna.Address{GivenName: "Kari", FamilyName: "Nordmann", Phone: "+47 912 34 567", Country: "NO"},
		MerchantURLs: &klarna.MerchantURLs{Terms: "https://shop.example/terms", Checkout: "https://shop.example/checkout",
			Confirmation: "https://shop.example/thanks", Push: "https://shop.example/push"},
	}
}

// pool runs f(0..n-1) on a bounded number of workers.
func pool(n, workers int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}

// osloDay is the ledger date of t: a reconciliation period is made of
// Europe/Oslo days, as Vipps's ledgers are, whatever zone the machine is in.
func osloDay(t time.Time) string {
	loc, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		panic(err)
	}
	return t.In(loc).Format("2006-01-02")
}
