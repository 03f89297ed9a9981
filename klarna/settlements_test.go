package klarna_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"vippskco/klarna"
	"vippskco/klarna/klarnatest"
)

// payWithKlarnaOnPage completes an order the way a shopper does on the
// fake's checkout page.
func payWithKlarnaOnPage(t *testing.T, srv *klarnatest.Server, orderID string) {
	t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.PostForm(srv.CheckoutPageURL(orderID)+"/klarna", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("pay with Klarna: status %d", resp.StatusCode)
	}
}

// fee is the fake's default fee on a capture: 1.99 % rounded half up plus
// 1.00.
func fee(amount int64) int64 {
	return (amount*klarnatest.DefaultFeeBasisPoints+5000)/10000 + klarnatest.DefaultFeeFixed
}

func collect[T any](t *testing.T, seq func(func(T, error) bool)) []T {
	t.Helper()
	var out []T
	for v, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func TestSettlementsEndToEnd(t *testing.T) {
	clk := newClock()
	srv, _ := startFake(t, clk)
	var mu sync.Mutex
	var ops []string
	c := newClient(t, klarna.Config{BaseURL: srv.URL(), APIKey: klarnatest.DefaultAPIKey, Observer: func(_ context.Context, ex klarna.Exchange) {
		mu.Lock()
		ops = append(ops, ex.Op)
		mu.Unlock()
	}})
	ctx := context.Background()

	// Two orders paid with Klarna (one through the API helper, one on the
	// checkout page), one larger; a third left to the external payment
	// method.
	var ids []string
	for i, amount := range []int64{149900, 249900, 99900} {
		o := newOrder()
		o.OrderAmount, o.OrderTaxAmount = amount, amount/5
		o.OrderLines[0].UnitPrice, o.OrderLines[0].TotalAmount, o.OrderLines[0].TotalTaxAmount = amount, amount, amount/5
		o.MerchantReference1 = fmt.Sprintf("ws-%d", 1001+i)
		created, err := c.CreateOrder(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, created.OrderID)
	}
	if err := srv.Complete(ids[0]); err != nil {
		t.Fatal(err)
	}
	payWithKlarnaOnPage(t, srv, ids[1])
	epmOrder := ids[2]

	// Nothing is paid out on the day of the capture.
	page, err := c.ListPayouts(ctx, klarna.PayoutQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Payouts) != 0 || page.Pagination.Total != 0 || page.Payouts == nil {
		t.Fatalf("payouts before the payout date: %+v", page)
	}
	txPage, err := c.ListTransactions(ctx, klarna.TransactionQuery{})
	if err != nil || len(txPage.Transactions) != 0 {
		t.Fatalf("transactions before the payout date: %+v, %v", txPage, err)
	}

	// The EPM order shows up in Klarna's settlement too: paid twice.
	if _, err := srv.AddSettlementTransaction(klarna.Transaction{Type: klarna.TxSale, OrderID: epmOrder, Amount: 99900, CaptureID: "planted"}); err != nil {
		t.Fatal(err)
	}

	clk.Advance(24 * time.Hour)
	page, err = c.ListPayouts(ctx, klarna.PayoutQuery{Start: clk.Now().Add(-48 * time.Hour), End: clk.Now(), Currency: "nok"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Payouts) != 1 || page.Pagination.Total != 1 || page.Pagination.Count != 1 || page.Pagination.Next != "" {
		t.Fatalf("payouts: %+v", page)
	}
	p := page.Payouts[0]
	wantFees := fee(149900) + fee(249900)
	want := klarna.PayoutTotals{SaleAmount: 149900 + 249900 + 99900, FeeAmount: wantFees, SettlementAmount: 149900 + 249900 + 99900 - wantFees}
	if p.Totals != want {
		t.Errorf("totals:\n got %+v\nwant %+v", p.Totals, want)
	}
	if err := p.Check(); err != nil {
		t.Error(err)
	}
	if p.CurrencyCode != "NOK" || p.MerchantSettlementType != klarna.SettlementNet || p.MerchantID == "" || len(p.PaymentReference) != 8 ||
		!p.PayoutDate.Equal(time.Date(2026, 5, 5, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("payout: %+v", p)
	}
	got, err := c.GetPayout(ctx, p.PaymentReference)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, p) {
		t.Errorf("GetPayout:\n%+v\nlist:\n%+v", *got, p)
	}

	txs := collect(t, c.AllTransactions(ctx, klarna.TransactionQuery{PaymentReference: p.PaymentReference}))
	if len(txs) != 2*3+1 {
		t.Fatalf("%d transactions: %+v", len(txs), txs)
	}
	sum, err := klarna.TotalsFromTransactions("NOK", txs)
	if err != nil {
		t.Fatal(err)
	}
	if sum != p.Totals {
		t.Errorf("transactions add up to %+v, payout says %+v", sum, p.Totals)
	}
	for _, id := range ids[:2] {
		o, _ := srv.Order(id)
		var sale *klarna.Transaction
		var fees []klarna.Transaction
		for i, tx := range txs {
			if tx.OrderID != id {
				continue
			}
			switch tx.Type {
			case klarna.TxSale:
				sale = &txs[i]
			case klarna.TxFee:
				fees = append(fees, tx)
			}
		}
		if sale == nil || sale.Amount != o.OrderAmount || sale.CaptureID == "" || sale.MerchantReference1 != o.MerchantReference1 ||
			sale.PaymentReference != p.PaymentReference || !sale.CaptureDate.Equal(*o.CompletedAt) || sale.CurrencyCode != "NOK" {
			t.Errorf("order %s: sale %+v", id, sale)
			continue
		}
		if len(fees) != 2 || fees[0].CaptureID != sale.CaptureID || fees[0].Amount+fees[1].Amount != fee(o.OrderAmount) {
			t.Errorf("order %s: fees %+v", id, fees)
		}
	}
	byOrder, err := c.ListTransactions(ctx, klarna.TransactionQuery{OrderID: epmOrder})
	if err != nil {
		t.Fatal(err)
	}
	if len(byOrder.Transactions) != 1 || byOrder.Transactions[0].CaptureID != "planted" || byOrder.Transactions[0].MerchantReference1 != "ws-1003" {
		t.Errorf("the EPM order in Klarna's settlement: %+v", byOrder.Transactions)
	}

	summaries, err := c.PayoutSummaries(ctx, klarna.PayoutQuery{Start: clk.Now().Add(-72 * time.Hour), End: clk.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if len(summaries) != 1 || summaries[0].SettlementCurrency != "NOK" || summaries[0].Totals.SettlementAmount != p.Totals.SettlementAmount ||
		summaries[0].Totals.FeeAmount != wantFees {
		t.Errorf("summaries: %+v", summaries)
	}

	if _, err := c.GetPayout(ctx, "NOSUCHREF"); !klarna.IsNotFound(err) {
		t.Errorf("unknown payout: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, op := range []string{"list-payouts", "get-payout", "list-transactions", "payout-summary"} {
		if !slices.Contains(ops, op) {
			t.Errorf("observer never saw %s: %v", op, ops)
		}
	}
}

func TestSettlementsPagination(t *testing.T) {
	clk := newClock()
	srv, c := startFake(t, clk)
	ctx := context.Background()
	const orders = 12
	for range orders {
		o, err := srv.CreateOrder(*newOrder())
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Complete(o.OrderID); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(24 * time.Hour)
	// A second day, a second payout.
	o, _ := srv.CreateOrder(*newOrder())
	if err := srv.Complete(o.OrderID); err != nil {
		t.Fatal(err)
	}
	clk.Advance(24 * time.Hour)

	const total = (orders + 1) * 3
	first, err := c.ListTransactions(ctx, klarna.TransactionQuery{Size: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Transactions) != 5 || first.Pagination.Count != 5 || first.Pagination.Total != total || first.Pagination.Offset != 0 ||
		!strings.Contains(first.Pagination.Next, "offset=5") || first.Pagination.Prev != "" {
		t.Fatalf("first page: %+v", first.Pagination)
	}
	before := srv.Calls("list-transactions")
	all := collect(t, c.AllTransactions(ctx, klarna.TransactionQuery{Size: 5}))
	if len(all) != total {
		t.Fatalf("AllTransactions: %d, want %d", len(all), total)
	}
	if calls := srv.Calls("list-transactions") - before; calls != (total+4)/5 {
		t.Errorf("%d pages requested, want %d", calls, (total+4)/5)
	}
	if !reflect.DeepEqual(all[:5], first.Transactions) {
		t.Error("AllTransactions does not start with the first page")
	}
	seen := map[string]bool{}
	for _, tx := range all {
		k := tx.Type + tx.CaptureID + tx.DetailedType
		if seen[k] {
			t.Fatalf("transaction twice: %+v", tx)
		}
		seen[k] = true
	}
	// The default page size (MaxPageSize) reads it in one request.
	before = srv.Calls("list-transactions")
	if n := len(collect(t, c.AllTransactions(ctx, klarna.TransactionQuery{}))); n != total || srv.Calls("list-transactions")-before != 1 {
		t.Errorf("default size: %d transactions in %d requests", n, srv.Calls("list-transactions")-before)
	}
	// Starting at an offset, and stopping early.
	if n := len(collect(t, c.AllTransactions(ctx, klarna.TransactionQuery{Size: 7, Offset: 30}))); n != total-30 {
		t.Errorf("from offset 30: %d", n)
	}
	// Each loop over a sequence starts again where the query starts.
	again := c.AllTransactions(ctx, klarna.TransactionQuery{Size: 7, Offset: 30})
	collect(t, again)
	if n := len(collect(t, again)); n != total-30 {
		t.Errorf("second loop from offset 30: %d", n)
	}
	n := 0
	for _, err := range c.AllTransactions(ctx, klarna.TransactionQuery{Size: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 3 {
			break
		}
	}
	// Past the end: an empty page without a next link.
	past, err := c.ListTransactions(ctx, klarna.TransactionQuery{Size: 10, Offset: 1000})
	if err != nil || len(past.Transactions) != 0 || past.Pagination.Next != "" || past.Pagination.Total != total {
		t.Errorf("past the end: %+v, %v", past, err)
	}

	payouts := collect(t, c.AllPayouts(ctx, klarna.PayoutQuery{Size: 1}))
	if len(payouts) != 2 || payouts[0].Totals.SaleAmount != orders*149900 || payouts[1].Totals.SaleAmount != 149900 {
		t.Fatalf("payouts: %+v", payouts)
	}
	for _, p := range payouts {
		if err := p.Check(); err != nil {
			t.Error(err)
		}
		txs := collect(t, c.AllTransactions(ctx, klarna.TransactionQuery{PaymentReference: p.PaymentReference, Size: 4}))
		sum, err := klarna.TotalsFromTransactions(p.CurrencyCode, txs)
		if err != nil || sum != p.Totals {
			t.Errorf("payout %s: lines sum to %+v (%v), payout %+v", p.PaymentReference, sum, err, p.Totals)
		}
	}
	// The date filter is inclusive and picks the second day only.
	day2 := payouts[1].PayoutDate
	page, err := c.ListPayouts(ctx, klarna.PayoutQuery{Start: day2, End: day2})
	if err != nil || len(page.Payouts) != 1 || page.Payouts[0].PaymentReference != payouts[1].PaymentReference {
		t.Errorf("payouts on %s: %+v, %v", day2, page, err)
	}

	// Sizes the API does not take are refused before any request.
	before = srv.Calls("list-transactions")
	for _, q := range []klarna.TransactionQuery{{Size: klarna.MaxPageSize + 1}, {Size: -1}, {Offset: -1}} {
		if _, err := c.ListTransactions(ctx, q); err == nil {
			t.Errorf("query %+v accepted", q)
		}
	}
	if _, err := c.ListPayouts(ctx, klarna.PayoutQuery{Start: day2, End: day2.Add(-time.Hour)}); err == nil {
		t.Error("end before start accepted")
	}
	if _, err := c.PayoutSummaries(ctx, klarna.PayoutQuery{Start: day2}); err == nil {
		t.Error("summary without end accepted")
	}
	if srv.Calls("list-transactions") != before {
		t.Error("an invalid query reached the API")
	}
}

// stub answers every request with the body the handler picks and records
// the request URLs.
func stub(t *testing.T, h func(w http.ResponseWriter, r *http.Request)) (*klarna.Client, *[]string) {
	t.Helper()
	var mu sync.Mutex
	var urls []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		urls = append(urls, r.URL.RequestURI())
		mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(ts.Close)
	return newClient(t, klarna.Config{BaseURL: ts.URL + "/prefix", APIKey: "k"}), &urls
}

func TestSettlementsRequests(t *testing.T) {
	c, urls := stub(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/summary"):
			fmt.Fprint(w, `[]`)
		case strings.Contains(r.URL.Path, "/payouts/"):
			fmt.Fprint(w, `{"totals":{"sale_amount":0,"return_amount":0,"reversal_amount":0,"fee_amount":0,"commission_amount":0,`+
				`"holdback_amount":0,"release_amount":0,"repay_amount":0,"settlement_amount":0},"payment_reference":"A/B",`+
				`"payout_date":"2026-05-05T00:00:00Z","currency_code":"NOK","merchant_settlement_type":"NET","merchant_id":"M"}`)
		case strings.HasSuffix(r.URL.Path, "/payouts"):
			fmt.Fprint(w, `{"payouts":[],"pagination":{"count":0,"total":0,"offset":0}}`)
		default:
			fmt.Fprint(w, `{"transactions":[],"pagination":{"count":0,"total":0,"offset":0}}`)
		}
	})
	ctx := context.Background()
	oslo := time.FixedZone("CEST", 2*3600)
	start := time.Date(2026, 5, 1, 2, 0, 0, 0, oslo)
	end := time.Date(2026, 5, 2, 1, 59, 59, 0, oslo)
	if _, err := c.ListPayouts(ctx, klarna.PayoutQuery{Start: start, End: end, Currency: "nok", Size: 50, Offset: 100}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListPayouts(ctx, klarna.PayoutQuery{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetPayout(ctx, "A/B"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PayoutSummaries(ctx, klarna.PayoutQuery{Start: start, End: end, Currency: "SEK"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListTransactions(ctx, klarna.TransactionQuery{PaymentReference: "XISA93DJ", OrderID: "o-1", Size: 500}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/prefix/settlements/v1/payouts?currency_code=NOK&end_date=2026-05-01T23%3A59%3A59Z&offset=100&size=50&start_date=2026-05-01T00%3A00%3A00Z",
		"/prefix/settlements/v1/payouts",
		"/prefix/settlements/v1/payouts/A%2FB",
		"/prefix/settlements/v1/payouts/summary?currency_code=SEK&end_date=2026-05-01T23%3A59%3A59Z&start_date=2026-05-01T00%3A00%3A00Z",
		"/prefix/settlements/v1/transactions?order_id=o-1&payment_reference=XISA93DJ&size=500",
	}
	if !reflect.DeepEqual(*urls, want) {
		t.Errorf("requests:\n%s\nwant\n%s", strings.Join(*urls, "\n"), strings.Join(want, "\n"))
	}
	if _, err := c.GetPayout(ctx, ""); err == nil {
		t.Error("empty reference accepted")
	}
}

func TestSettlementsRetryGET(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	c, _ := stub(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, `{"transactions":[],"pagination":{"count":0}}`)
	})
	if _, err := c.ListTransactions(context.Background(), klarna.TransactionQuery{}); err != nil || calls != 2 {
		t.Errorf("after one 503: %v, %d calls", err, calls)
	}
}

func TestSettlementsStrictDecoding(t *testing.T) {
	tx := func(amount string) string {
		return `{"transactions":[{"sale_date":"2016-12-14T07:52:26Z","type":"SALE","capture_date":"2016-12-14T07:52:26Z",` +
			`"order_id":"o","currency_code":"USD","purchase_country":"PL"` + amount + `}],"pagination":{"count":1}}`
	}
	totals := func(extra string) string {
		return `{"totals":{"return_amount":0,"reversal_amount":0,"fee_amount":0,"commission_amount":0,"holdback_amount":0,` +
			`"release_amount":0,"repay_amount":0,"settlement_amount":500` + extra + `},"payment_reference":"X","payout_date":"2016-12-14T07:52:26Z",` +
			`"currency_code":"USD","merchant_settlement_type":"NET","merchant_id":"m"}`
	}
	tests := []struct {
		name, path, body, msg string
	}{
		{"fraction", "tx", tx(`,"amount":2000.5`), "amount: 2000.5 is not an integer"},
		{"exponent", "tx", tx(`,"amount":2e3`), "not an integer"},
		{"trailing zero fraction", "tx", tx(`,"amount":2000.0`), "not an integer"},
		{"string", "tx", tx(`,"amount":"2000"`), "string"},
		{"null", "tx", tx(`,"amount":null`), "amount: null"},
		{"missing", "tx", tx(``), "amount: missing"},
		{"too big", "tx", tx(`,"amount":9223372036854775808`), "out of range"},
		{"bool", "tx", tx(`,"amount":true`), "want an integer"},
		{"fractional vat", "tx", tx(`,"amount":1,"vat_amount":1.5`), "vat_amount"},
		{"no transactions", "tx", `{"pagination":{"count":0}}`, "required"},
		{"null transactions", "tx", `{"transactions":null,"pagination":{"count":0}}`, "required"},
		{"no pagination", "tx", `{"transactions":[]}`, "required"},
		{"not JSON", "tx", `<html>`, "decoding"},
		{"total fraction", "payout", totals(`,"sale_amount":500.5`), "totals: sale_amount: 500.5 is not an integer"},
		{"total missing", "payout", totals(``), "sale_amount: missing"},
		{"total null", "payout", totals(`,"sale_amount":null`), "sale_amount: null"},
		{"optional total fraction", "payout", totals(`,"sale_amount":1,"charge_amount":0.5`), "charge_amount"},
		{"payout without reference", "payout", strings.Replace(totals(`,"sale_amount":1`), `"payment_reference":"X",`, "", 1), "payment_reference: missing"},
		{"payout null", "payout", `null`, "null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := stub(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, tt.body) })
			var err error
			if tt.path == "tx" {
				_, err = c.ListTransactions(context.Background(), klarna.TransactionQuery{})
			} else {
				_, err = c.GetPayout(context.Background(), "X")
			}
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %v, want one with %q", err, tt.msg)
			}
		})
	}
	// Optional fields may be absent or null; -0 and huge negatives are fine.
	c, _ := stub(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, tx(`,"amount":-9223372036854775808,"vat_rate":null,"capture_id":null`))
	})
	page, err := c.ListTransactions(context.Background(), klarna.TransactionQuery{})
	if err != nil || page.Transactions[0].Amount != -9223372036854775808 {
		t.Errorf("valid page: %+v, %v", page, err)
	}
	c, _ = stub(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, totals(`,"sale_amount":-0,"charge_amount":null`))
	})
	if p, err := c.GetPayout(context.Background(), "X"); err != nil || p.Totals.SettlementAmount != 500 {
		t.Errorf("valid payout: %+v, %v", p, err)
	}
}

func TestSettlementsPaginationGuards(t *testing.T) {
	one := `{"amount":1,"sale_date":"2016-12-14T07:52:26Z","type":"SALE","capture_date":"2016-12-14T07:52:26Z","order_id":"o","currency_code":"USD","purchase_country":"PL"}`
	// A next link that goes nowhere must not loop for ever.
	c, _ := stub(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"transactions":[%s],"pagination":{"count":1,"total":9,"offset":0,"next":"http://elsewhere.example/transactions?offset=0&size=1"}}`, one)
	})
	var errs int
	for _, err := range c.AllTransactions(context.Background(), klarna.TransactionQuery{Size: 1}) {
		if err != nil {
			errs++
			if !strings.Contains(err.Error(), "does not move past") {
				t.Errorf("error: %v", err)
			}
		}
	}
	if errs != 1 {
		t.Errorf("%d errors", errs)
	}
	// Without next links, total decides; the next host is never used.
	c, urls := stub(t, func(w http.ResponseWriter, r *http.Request) {
		off := r.URL.Query().Get("offset")
		if off == "" {
			off = "0"
		}
		if off == "3" {
			fmt.Fprint(w, `{"transactions":[],"pagination":{"count":0,"total":3,"offset":3}}`)
			return
		}
		fmt.Fprintf(w, `{"transactions":[%s],"pagination":{"count":1,"total":3,"offset":%s}}`, one, off)
	})
	if n := len(collect(t, c.AllTransactions(context.Background(), klarna.TransactionQuery{Size: 1}))); n != 3 {
		t.Errorf("%d transactions (%v)", n, *urls)
	}
	if len(*urls) != 3 {
		t.Errorf("requests: %v", *urls)
	}
	// An error on a later page is yielded once, after the first page's rows.
	c, _ = stub(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("offset") != "" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error_code":"BAD_VALUE","error_messages":["Bad value: offset"],"correlation_id":"c"}`)
			return
		}
		fmt.Fprintf(w, `{"transactions":[%s],"pagination":{"count":1,"total":2,"offset":0,"next":"/transactions?offset=1"}}`, one)
	})
	var got []string
	for tx, err := range c.AllTransactions(context.Background(), klarna.TransactionQuery{Size: 1}) {
		if err != nil {
			var e *klarna.Error
			if !errors.As(err, &e) || e.ErrorCode != "BAD_VALUE" {
				t.Errorf("error %v", err)
			}
			got = append(got, "error")
			continue
		}
		got = append(got, tx.Type)
	}
	if !reflect.DeepEqual(got, []string{"SALE", "error"}) {
		t.Errorf("sequence %v", got)
	}
}

// readSample reads one of the samples in testdata; testdata/SOURCES.md
// says where each came from.
func readSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// serve answers every request with the sample file.
func serve(t *testing.T, status int, body []byte) *klarna.Client {
	c, _ := stub(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	})
	return c
}

func TestSettlementSamples(t *testing.T) {
	ctx := context.Background()
	sampleDate := time.Date(2016, 12, 14, 7, 52, 26, 0, time.UTC)
	old := klarna.PayoutTotals{CommissionAmount: 550, RepayAmount: 550, SaleAmount: 500, HoldbackAmount: 550, TaxAmount: 550,
		SettlementAmount: 550, FeeCorrectionAmount: 550, ReversalAmount: 550, ReleaseAmount: 550, ReturnAmount: 550, FeeAmount: 500}
	current := old
	current.ChargeAmount, current.CreditAmount, current.FeeRefundAmount, current.TaxRefundAmount = 500, 500, 500, 500
	current.DepositAmount, current.OpeningDebtBalanceAmount, current.ClosingDebtBalanceAmount = 500, 500, 500

	for _, tt := range []struct {
		file     string
		totals   klarna.PayoutTotals
		regCur   string
		computed int64
	}{
		// 500−550−550−500+550+550−550−550−550+550
		{"settlements-payout.sdk-test.json", old, "", -1100},
		// the same −1100, −500 charge +500 credit +500 fee_refund = −600 by
		// the documented formula, +500 tax_refund +500 deposit = 400.
		{"settlements-payout.spec-example.json", current, "EUR", 400},
	} {
		p, err := serve(t, 200, readSample(t, tt.file)).GetPayout(ctx, "XISA93DJ")
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		if p.Totals != tt.totals || p.PaymentReference != "XISA93DJ" || !p.PayoutDate.Equal(sampleDate) || p.CurrencyCode != "USD" ||
			p.MerchantSettlementType != "NET" || p.MerchantID != "string" || p.CurrencyCodeOfRegistrationCountry != tt.regCur ||
			p.TransactionsURL != "https://{settlements_api}/transactions?payment_reference=XISA93DJ" {
			t.Errorf("%s: %+v", tt.file, p)
		}
		// The samples are the schema's placeholder values, not a payout:
		// they do not add up (see Payout.Check).
		var mismatch *klarna.PayoutMismatchError
		if err := p.Check(); !errors.As(err, &mismatch) || mismatch.Stated != 550 || mismatch.Computed != tt.computed {
			t.Errorf("%s: Check = %v", tt.file, err)
		}
	}

	page, err := serve(t, 200, readSample(t, "settlements-payouts.sdk-test.json")).ListPayouts(ctx, klarna.PayoutQuery{})
	if err != nil {
		t.Fatal(err)
	}
	wantPagination := klarna.Pagination{Count: 10, Total: 42, Next: "http://example.com/collection?offset=21&size=10", Prev: "http://example.com/collection?offset=0&size=10", Offset: 10}
	if len(page.Payouts) != 1 || page.Payouts[0].Totals != old || page.Pagination != wantPagination {
		t.Errorf("payouts sample: %+v", page)
	}

	sums, err := serve(t, 200, readSample(t, "settlements-payouts-summary.sdk-test.json")).PayoutSummaries(ctx, klarna.PayoutQuery{Start: sampleDate, End: sampleDate})
	if err != nil {
		t.Fatal(err)
	}
	wantSum := old
	wantSum.ChargeAmount = 0
	if len(sums) != 1 || sums[0].Totals != wantSum || sums[0].SettlementCurrency != "USD" || !sums[0].PayoutDateStart.Equal(sampleDate) || !sums[0].PayoutDateEnd.Equal(sampleDate) {
		t.Errorf("summary sample: %+v", sums)
	}
	// The summary writes back the same fields.
	b, err := json.Marshal(sums[0])
	if err != nil {
		t.Fatal(err)
	}
	var again map[string]any
	var orig []map[string]any
	if err := json.Unmarshal(b, &again); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(readSample(t, "settlements-payouts-summary.sdk-test.json"), &orig); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, orig[0]) {
		t.Errorf("summary round trip:\n%v\n%v", again, orig[0])
	}

	for _, file := range []string{"settlements-transactions.sdk-test.json", "settlements-transactions.spec-example.json"} {
		page, err := serve(t, 200, readSample(t, file)).ListTransactions(ctx, klarna.TransactionQuery{})
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if len(page.Transactions) == 0 || page.Pagination != wantPagination {
			t.Fatalf("%s: %+v", file, page)
		}
		tx := page.Transactions[0]
		if tx.Amount != 2000 || tx.Type != klarna.TxSale || tx.OrderID != "ce17b4cb-147f-48b7-b8e6-dde2fa397f04" ||
			tx.CaptureID != "33db6f16-9f43-43fa-a587-cc51411c98e4" || tx.PaymentReference != "XISA93DJ" || tx.ShortOrderID != "shortrid" ||
			tx.RefundID != "ef1baa1f-b42e-44be-b9e4-4b94510b53e5" || tx.CurrencyCode != "USD" || tx.PurchaseCountry != "PL" ||
			!tx.SaleDate.Equal(sampleDate) || !tx.CaptureDate.Equal(sampleDate) || tx.PayoutURL != "https://{settlements_api}/payouts/XISA93DJ" {
			t.Errorf("%s: %+v", file, tx)
		}
		if strings.Contains(file, "spec-example") {
			if len(page.Transactions) != 2 || tx.VATRate != 2000 || tx.VATAmount != 1000 || tx.DetailedType != "PURCHASE" ||
				tx.InitialNumberOfInstallments != 3 || tx.InitialPaymentMethodMonthlyDownpayments != 12 || tx.TaxInCurrencyOfRegistrationCountry != 1000 ||
				tx.ReversalReference != "krn:klarna:eu1:dispute:goods_not_received:263099944398666" || tx.KlarnaComment == "" ||
				tx.InitialPaymentMethodType != "direct_debit" || tx.ShippingCountry != "PL" || tx.CurrencyCodeOfRegistrationCountry != "EUR" {
				t.Errorf("%s: full field set: %+v", file, tx)
			}
		}
	}

	_, err = serve(t, 400, readSample(t, "settlements-error.spec-example.json")).ListTransactions(ctx, klarna.TransactionQuery{})
	var e *klarna.Error
	if !errors.As(err, &e) || e.StatusCode != 400 || e.ErrorCode != "string" || len(e.ErrorMessages) != 2 || e.CorrelationID != "2fe0311b-adc5-45e5-ac2b-963dac83c88b" {
		t.Errorf("error sample: %#v", err)
	}
}

func TestPayoutCheck(t *testing.T) {
	// sale 1000 − return 100 − reversal (50 − 20 merchant protection) − fee
	// 30 + fee_correction 5 + commission 7 − tax 3 − charge 11 + credit 13
	// − holdback 40 + release 25 + fee_refund 2 = 838.
	txs := []klarna.Transaction{
		{Type: "SALE", Amount: 1000, CurrencyCode: "NOK"},
		{Type: "RETURN", Amount: 100, CurrencyCode: "NOK"},
		{Type: "REVERSAL", Amount: 50, CurrencyCode: "NOK"},
		{Type: "REVERSAL_MERCHANT_PROTECTION", Amount: 20, CurrencyCode: "NOK"},
		{Type: "FEE", Amount: 30, CurrencyCode: "NOK"},
		{Type: "CORRECTION", Amount: 5, CurrencyCode: "NOK"},
		{Type: "COMMISSION", Amount: 7, CurrencyCode: "NOK"},
		{Type: "TAX", Amount: 3, CurrencyCode: "NOK"},
		{Type: "CHARGE", Amount: 11, CurrencyCode: "NOK"},
		{Type: "CREDIT", Amount: 13, CurrencyCode: "NOK"},
		{Type: "HOLDBACK", Amount: 40, CurrencyCode: "NOK"},
		{Type: "RELEASE", Amount: 25, CurrencyCode: "NOK"},
		{Type: "fee_refund", Amount: 2, CurrencyCode: "nok"},
	}
	totals, err := klarna.TotalsFromTransactions("NOK", txs)
	if err != nil {
		t.Fatal(err)
	}
	if totals.SettlementAmount != 838 || totals.ReversalAmount != 30 {
		t.Fatalf("totals %+v", totals)
	}
	p := klarna.Payout{PaymentReference: "P", CurrencyCode: "NOK", Totals: totals}
	if err := p.Check(); err != nil {
		t.Error(err)
	}
	// Repaying debt lowers the payout; a deposit lifts a negative one to 0.
	p.Totals.RepayAmount, p.Totals.SettlementAmount = 38, 800
	if err := p.Check(); err != nil {
		t.Error(err)
	}
	neg := klarna.Payout{PaymentReference: "N", Totals: klarna.PayoutTotals{SaleAmount: 100, ReturnAmount: 300, DepositAmount: 200}}
	if err := neg.Check(); err != nil {
		t.Error(err)
	}
	p.Totals.SettlementAmount = 801
	var mismatch *klarna.PayoutMismatchError
	if err := p.Check(); !errors.As(err, &mismatch) || mismatch.Computed != 800 || mismatch.Stated != 801 || !strings.Contains(err.Error(), "difference 1") {
		t.Errorf("Check = %v", err)
	}
	huge := klarna.Payout{Totals: klarna.PayoutTotals{SaleAmount: 1 << 62, CreditAmount: 1 << 62, ReleaseAmount: 1 << 62}}
	if err := huge.Check(); !errors.As(err, &mismatch) || !mismatch.Overflow {
		t.Errorf("overflow: %v", err)
	}
	if _, err := klarna.TotalsFromTransactions("NOK", []klarna.Transaction{{Type: "SALE", CurrencyCode: "SEK"}}); err == nil {
		t.Error("mixed currencies accepted")
	}
	if _, err := klarna.TotalsFromTransactions("NOK", []klarna.Transaction{{Type: "GIFT", CurrencyCode: "NOK"}}); err == nil {
		t.Error("unknown type accepted")
	}
}
