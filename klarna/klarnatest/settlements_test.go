package klarnatest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"vippskco/klarna"
)

func settlementFake(t *testing.T) (*Server, *testClock) {
	t.Helper()
	clk := &testClock{t: time.Date(2026, 5, 4, 22, 30, 0, 0, time.UTC)}
	s := NewServer(Options{Now: clk.Now})
	t.Cleanup(s.Close)
	return s, clk
}

// paid creates an order of amount in currency and completes it with Klarna.
func paid(t *testing.T, s *Server, amount int64, currency string) klarna.Order {
	t.Helper()
	f := validOrder()
	f["purchase_currency"] = currency
	f["order_amount"], f["order_tax_amount"] = amount, amount/5
	f["order_lines"] = []any{map[string]any{"type": "physical", "name": "Vare", "quantity": 1, "unit_price": amount,
		"tax_rate": 2500, "total_amount": amount, "total_tax_amount": amount / 5}}
	f["merchant_reference1"] = "ws-" + currency
	o, err := s.CreateOrder(mustOrder(t, f))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(o.OrderID); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Order(o.OrderID)
	return got
}

func decode[T any](t *testing.T, a answer) T {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	var v T
	if err := json.Unmarshal(a.body, &v); err != nil {
		t.Fatalf("%s: %v", a.body, err)
	}
	return v
}

func TestSettlementPayoutTiming(t *testing.T) {
	s, clk := settlementFake(t)
	o := paid(t, s, 100000, "NOK")

	settled, pending := s.SettlementTransactions()
	if len(settled) != 0 || len(pending) != 3 {
		t.Fatalf("settled %d, pending %+v", len(settled), pending)
	}
	sale := pending[0]
	if sale.Type != "SALE" || sale.Amount != 100000 || sale.OrderID != o.OrderID || sale.CaptureID == "" ||
		sale.MerchantReference1 != "ws-NOK" || sale.ShortOrderID == "" || !sale.CaptureDate.Equal(*o.CompletedAt) || sale.PurchaseCountry != "NO" {
		t.Errorf("sale: %+v", sale)
	}
	if f := pending[1]; f.Type != "FEE" || f.Amount != 1990 || f.DetailedType != "PURCHASE_FEE_PERCENTAGE" || f.CaptureID != sale.CaptureID {
		t.Errorf("percentage fee: %+v", f)
	}
	if f := pending[2]; f.Type != "FEE" || f.Amount != DefaultFeeFixed || f.DetailedType != "PURCHASE_FEE_FIXED" {
		t.Errorf("fixed fee: %+v", f)
	}

	// 22:30 + 1h29m59s is still the capture day.
	clk.Advance(time.Hour + 29*time.Minute + 59*time.Second)
	if p := decode[klarna.PayoutPage](t, call(t, s, "GET", "/settlements/v1/payouts", nil, auth)); len(p.Payouts) != 0 {
		t.Fatalf("paid out before midnight: %+v", p)
	}
	if tp := decode[klarna.TransactionPage](t, call(t, s, "GET", "/settlements/v1/transactions", nil, auth)); len(tp.Transactions) != 0 || tp.Transactions == nil {
		t.Fatalf("transactions before the payout: %+v", tp.Transactions)
	}
	clk.Advance(time.Second)
	page := decode[klarna.PayoutPage](t, call(t, s, "GET", "/settlements/v1/payouts", nil, auth))
	if len(page.Payouts) != 1 {
		t.Fatalf("payouts at midnight: %+v", page)
	}
	p := page.Payouts[0]
	if !p.PayoutDate.Equal(time.Date(2026, 5, 5, 0, 0, 0, 0, time.UTC)) || p.Totals.SaleAmount != 100000 || p.Totals.FeeAmount != 2090 ||
		p.Totals.SettlementAmount != 97910 || p.MerchantID != SettlementMerchantID || p.TransactionsURL != s.URL()+"/settlements/v1/transactions?payment_reference="+p.PaymentReference {
		t.Errorf("payout: %+v", p)
	}
	if err := p.Check(); err != nil {
		t.Error(err)
	}
	tp := decode[klarna.TransactionPage](t, call(t, s, "GET", "/settlements/v1/transactions?payment_reference="+p.PaymentReference, nil, auth))
	if len(tp.Transactions) != 3 || tp.Transactions[0].PaymentReference != p.PaymentReference || tp.Transactions[0].PayoutURL != s.URL()+"/settlements/v1/payouts/"+p.PaymentReference {
		t.Errorf("transactions: %+v", tp.Transactions)
	}
	// The raw JSON carries the required fields even when empty.
	raw := call(t, s, "GET", "/settlements/v1/transactions", nil, auth)
	for _, f := range []string{`"amount":`, `"sale_date":`, `"capture_date":`, `"purchase_country":`, `"pagination":{"count":3,"total":3`} {
		if !strings.Contains(string(raw.body), f) {
			t.Errorf("no %s in %s", f, raw.body)
		}
	}
	// Paying out again changes nothing.
	if again := s.Payouts(); len(again) != 1 || again[0] != p {
		t.Errorf("payouts changed: %+v", again)
	}
	got := decode[klarna.Payout](t, call(t, s, "GET", "/settlements/v1/payouts/"+p.PaymentReference, nil, auth))
	if got != p {
		t.Errorf("GET payout: %+v", got)
	}
}

func TestSettlementOnlyKlarnaPayments(t *testing.T) {
	s, clk := settlementFake(t)
	f := validOrder()
	epm, err := s.CreateOrder(mustOrder(t, f))
	if err != nil {
		t.Fatal(err)
	}
	byPage, _ := s.CreateOrder(mustOrder(t, validOrder()))
	forced, _ := s.CreateOrder(mustOrder(t, validOrder()))
	if resp := postForm(t, s.CheckoutPageURL(byPage.OrderID)+"/klarna", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("pay on page: %d", resp.StatusCode)
	}
	// A second click books nothing more.
	postForm(t, s.CheckoutPageURL(byPage.OrderID)+"/klarna", nil)
	if err := s.SetStatus(forced.OrderID, klarna.StatusCheckoutComplete); err != nil {
		t.Fatal(err)
	}
	// The EPM order never completes in Klarna; a planted SALE stands for a
	// shopper who paid twice.
	planted, err := s.AddSettlementTransaction(klarna.Transaction{Type: "sale", OrderID: epm.OrderID, Amount: 154800})
	if err != nil {
		t.Fatal(err)
	}
	if planted.CurrencyCode != "NOK" || planted.PurchaseCountry != "NO" || planted.Type != "SALE" || planted.CaptureDate.IsZero() || !planted.SaleDate.Equal(planted.CaptureDate) {
		t.Errorf("planted: %+v", planted)
	}
	clk.Advance(48 * time.Hour)
	settled, pending := s.SettlementTransactions()
	if len(pending) != 0 || len(settled) != 4 {
		t.Fatalf("settled %d pending %d", len(settled), len(pending))
	}
	orders := map[string]int{}
	for _, tx := range settled {
		orders[tx.OrderID]++
	}
	if orders[byPage.OrderID] != 3 || orders[epm.OrderID] != 1 || orders[forced.OrderID] != 0 {
		t.Errorf("transactions per order: %v", orders)
	}
}

func TestSettlementDebt(t *testing.T) {
	s, clk := settlementFake(t)
	if err := s.SetSettlementFees(0, 0); err != nil {
		t.Fatal(err)
	}
	o := paid(t, s, 10000, "NOK")
	if _, err := s.AddSettlementTransaction(klarna.Transaction{Type: "RETURN", OrderID: o.OrderID, Amount: 30000}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(24 * time.Hour)
	paid(t, s, 50000, "NOK")
	clk.Advance(24 * time.Hour)
	payouts := s.Payouts()
	if len(payouts) != 2 {
		t.Fatalf("payouts: %+v", payouts)
	}
	first, second := payouts[0].Totals, payouts[1].Totals
	if first.SettlementAmount != 0 || first.DepositAmount != 20000 || first.ClosingDebtBalanceAmount != 20000 || first.FeeAmount != 0 {
		t.Errorf("first: %+v", first)
	}
	if second.OpeningDebtBalanceAmount != 20000 || second.RepayAmount != 20000 || second.SettlementAmount != 30000 || second.ClosingDebtBalanceAmount != 0 {
		t.Errorf("second: %+v", second)
	}
	for _, p := range payouts {
		if err := p.Check(); err != nil {
			t.Error(err)
		}
	}
}

func TestSettlementCurrenciesAndSummary(t *testing.T) {
	s, clk := settlementFake(t)
	paid(t, s, 10000, "NOK")
	paid(t, s, 20000, "NOK")
	paid(t, s, 30000, "SEK")
	clk.Advance(24 * time.Hour)
	paid(t, s, 40000, "NOK")
	clk.Advance(24 * time.Hour)

	all := decode[klarna.PayoutPage](t, call(t, s, "GET", "/settlements/v1/payouts", nil, auth))
	if len(all.Payouts) != 3 || all.Payouts[0].CurrencyCode != "NOK" || all.Payouts[1].CurrencyCode != "SEK" || all.Payouts[2].CurrencyCode != "NOK" {
		t.Fatalf("payouts: %+v", all.Payouts)
	}
	sek := decode[klarna.PayoutPage](t, call(t, s, "GET", "/settlements/v1/payouts?currency_code=sek", nil, auth))
	if len(sek.Payouts) != 1 || sek.Payouts[0].Totals.SaleAmount != 30000 {
		t.Errorf("SEK: %+v", sek.Payouts)
	}
	// Inclusive bounds; a bare date means midnight.
	day2 := decode[klarna.PayoutPage](t, call(t, s, "GET", "/settlements/v1/payouts?start_date=2026-05-06&end_date=2026-05-06T00:00:00Z", nil, auth))
	if len(day2.Payouts) != 1 || day2.Payouts[0].Totals.SaleAmount != 40000 {
		t.Errorf("day 2: %+v", day2.Payouts)
	}

	sums := decode[[]klarna.PayoutSummary](t, call(t, s, "GET", "/settlements/v1/payouts/summary?start_date=2026-05-01T00:00:00Z&end_date=2026-05-31T23:59:59Z", nil, auth))
	if len(sums) != 2 || sums[0].SettlementCurrency != "NOK" || sums[0].Totals.SaleAmount != 70000 || sums[1].Totals.SaleAmount != 30000 ||
		!sums[0].PayoutDateStart.Equal(time.Date(2026, 5, 5, 0, 0, 0, 0, time.UTC)) || !sums[0].PayoutDateEnd.Equal(time.Date(2026, 5, 6, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("summaries: %+v", sums)
	}
	none := call(t, s, "GET", "/settlements/v1/payouts/summary?start_date=2020-01-01T00:00:00Z&end_date=2020-01-02T00:00:00Z", nil, auth)
	if strings.TrimSpace(string(none.body)) != "[]" {
		t.Errorf("empty summary: %s", none.body)
	}
}

func TestSettlementPagination(t *testing.T) {
	s, clk := settlementFake(t)
	for range 7 {
		paid(t, s, 10000, "NOK")
	}
	clk.Advance(24 * time.Hour)
	tp := decode[klarna.TransactionPage](t, call(t, s, "GET", "/settlements/v1/transactions?size=5&offset=5", nil, auth))
	pg := tp.Pagination
	if len(tp.Transactions) != 5 || pg.Count != 5 || pg.Total != 21 || pg.Offset != 5 ||
		pg.Next != s.URL()+"/settlements/v1/transactions?offset=10&size=5" || pg.Prev != s.URL()+"/settlements/v1/transactions?offset=0&size=5" {
		t.Errorf("pagination: %+v", pg)
	}
	last := decode[klarna.TransactionPage](t, call(t, s, "GET", "/settlements/v1/transactions?size=5&offset=20", nil, auth))
	if len(last.Transactions) != 1 || last.Pagination.Next != "" {
		t.Errorf("last page: %+v", last.Pagination)
	}
	def := decode[klarna.TransactionPage](t, call(t, s, "GET", "/settlements/v1/transactions", nil, auth))
	if len(def.Transactions) != 20 || !strings.Contains(def.Pagination.Next, "offset=20&size=20") {
		t.Errorf("default size: %d, %+v", len(def.Transactions), def.Pagination)
	}
	// Filters survive into the links.
	ref := s.Payouts()[0].PaymentReference
	f := decode[klarna.TransactionPage](t, call(t, s, "GET", "/settlements/v1/transactions?size=2&payment_reference="+ref, nil, auth))
	if !strings.Contains(f.Pagination.Next, "payment_reference="+ref) {
		t.Errorf("next link lost the filter: %s", f.Pagination.Next)
	}
}

func TestSettlementErrors(t *testing.T) {
	s, _ := settlementFake(t)
	for _, path := range []string{"/settlements/v1/payouts", "/settlements/v1/payouts/X", "/settlements/v1/payouts/summary?start_date=2026-01-01&end_date=2026-01-02", "/settlements/v1/transactions"} {
		for _, a := range []string{"", "Basic wrong", "Bearer " + DefaultAPIKey} {
			if got := call(t, s, "GET", path, nil, a); got.status != http.StatusUnauthorized || got.apiError(t).ErrorCode != codeUnauthorized {
				t.Errorf("GET %s with %q: %d %s", path, a, got.status, got.body)
			}
		}
	}
	tests := []struct {
		path   string
		status int
		msg    string
	}{
		{"/settlements/v1/transactions?size=0", 400, "size"},
		{"/settlements/v1/transactions?size=501", 400, "size"},
		{"/settlements/v1/transactions?size=ten", 400, "size"},
		{"/settlements/v1/payouts?offset=-1", 400, "offset"},
		{"/settlements/v1/payouts?start_date=yesterday", 400, "start_date"},
		{"/settlements/v1/payouts/summary?end_date=2026-01-02", 400, "start_date"},
		{"/settlements/v1/payouts/summary?start_date=2026-01-02", 400, "end_date"},
		{"/settlements/v1/payouts/NOSUCH", 404, "NOSUCH"},
	}
	for _, tt := range tests {
		got := call(t, s, "GET", tt.path, nil, auth)
		if got.status != tt.status {
			t.Errorf("GET %s: %d %s", tt.path, got.status, got.body)
			continue
		}
		e := got.apiError(t)
		if e.CorrelationID == "" || len(e.ErrorMessages) != 1 || !strings.Contains(e.ErrorMessages[0], tt.msg) ||
			(tt.status == 400 && e.ErrorCode != klarna.CodeBadValue) || (tt.status == 404 && e.ErrorCode != codeNotFound) {
			t.Errorf("GET %s: %+v", tt.path, e)
		}
	}
	if s.Calls("list-transactions") != 3*1+3 || s.Calls("get-payout") != 3+1 {
		t.Errorf("calls: %d %d", s.Calls("list-transactions"), s.Calls("get-payout"))
	}
}

func TestAddSettlementTransactionValidates(t *testing.T) {
	s, _ := settlementFake(t)
	for _, tx := range []klarna.Transaction{
		{Type: "GIFT", OrderID: "o", CurrencyCode: "NOK"},
		{Type: "SALE", CurrencyCode: "NOK"},
		{Type: "SALE", OrderID: "not-in-the-fake"},
		{Type: "SALE", OrderID: "o", CurrencyCode: "KRONER"},
		{Type: "SALE", OrderID: "o", CurrencyCode: "NOK", Amount: maxPlantedAmount + 1},
	} {
		if _, err := s.AddSettlementTransaction(tx); err == nil {
			t.Errorf("accepted %+v", tx)
		}
	}
	if err := s.SetSettlementFees(-1, 0); err == nil {
		t.Error("negative fee accepted")
	}
	if err := s.SetSettlementFees(0, 10001); err == nil {
		t.Error("fee over 100 % accepted")
	}
	// Planted in the past, with a payment reference of its own: paid out in
	// the next payout, under the fake's reference.
	tx, err := s.AddSettlementTransaction(klarna.Transaction{Type: "FEE", OrderID: "o", CurrencyCode: "eur", Amount: 5,
		CaptureDate: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), PaymentReference: "MINE"})
	if err != nil || tx.PaymentReference != "" || tx.CurrencyCode != "EUR" {
		t.Fatalf("%+v, %v", tx, err)
	}
	p := s.Payouts()
	if len(p) != 1 || p[0].PaymentReference == "MINE" || !p[0].PayoutDate.Equal(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)) ||
		p[0].Totals.SettlementAmount != 0 || p[0].Totals.DepositAmount != 5 {
		t.Errorf("payout: %+v", p)
	}
}

func TestPercentFee(t *testing.T) {
	for _, tt := range []struct{ amount, bp, want int64 }{
		{100000, 199, 1990},
		{149900, 199, 2983}, // 2983.01
		{250, 200, 5},
		{125, 200, 3}, // 2.5 rounds up
		{124, 200, 2},
		{0, 199, 0},
		{-100, 199, 0},
		{1 << 62, 10000, 1 << 62},
	} {
		if got := percentFee(tt.amount, tt.bp); got != tt.want {
			t.Errorf("percentFee(%d, %d) = %d, want %d", tt.amount, tt.bp, got, tt.want)
		}
	}
}

func TestSettlementUnderPrefix(t *testing.T) {
	clk := &testClock{t: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}
	mux := http.NewServeMux()
	ts := httptest.NewUnstartedServer(mux)
	base := "http://" + ts.Listener.Addr().String() + "/sandbox/kustom"
	s := NewHandler(Options{Now: clk.Now}, base)
	mux.Handle("/sandbox/kustom/", http.StripPrefix("/sandbox/kustom", s.Handler()))
	ts.Start()
	t.Cleanup(ts.Close)
	for range 3 {
		paid(t, s, 10000, "NOK")
	}
	clk.Advance(24 * time.Hour)
	req, _ := http.NewRequest("GET", base+"/settlements/v1/transactions?size=2", nil)
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tp klarna.TransactionPage
	if err := json.NewDecoder(resp.Body).Decode(&tp); err != nil {
		t.Fatal(err)
	}
	if tp.Pagination.Next != base+"/settlements/v1/transactions?offset=2&size=2" || !strings.HasPrefix(tp.Transactions[0].PayoutURL, base+"/settlements/v1/payouts/") {
		t.Errorf("links: %+v / %s", tp.Pagination, tp.Transactions[0].PayoutURL)
	}
}

func TestSettlementConcurrent(t *testing.T) {
	s, clk := settlementFake(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				o, err := s.CreateOrder(mustOrder(t, validOrder()))
				if err != nil {
					t.Error(err)
					return
				}
				if err := s.Complete(o.OrderID); err != nil {
					t.Error(err)
				}
				if i%2 == 0 {
					clk.Advance(time.Hour)
				}
				call(t, s, "GET", "/settlements/v1/payouts", nil, auth)
				call(t, s, "GET", "/settlements/v1/transactions?size=500", nil, auth)
			}
		}()
	}
	wg.Wait()
	clk.Advance(48 * time.Hour)
	var sales int
	for _, p := range s.Payouts() {
		if err := p.Check(); err != nil {
			t.Error(err)
		}
		sales += int(p.Totals.SaleAmount / 154800)
	}
	if sales != 40 {
		t.Errorf("%d sales paid out, want 40", sales)
	}
}
