package klarna

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
)

// continia are the first ten columns in the order the Continia importer
// requires, the documented order.
const continia = "type,capture_date,sale_date,order_id,short_order_id,capture_id,merchant_reference1,merchant_reference2,amount,posting_currency"

func mustParse(t *testing.T, data string, opt CSVOptions) *SettlementCSV {
	t.Helper()
	got, err := ParseSettlementCSV(strings.NewReader(data), "test.csv", opt)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return got
}

func csvErr(t *testing.T, data string, opt CSVOptions) *CSVError {
	t.Helper()
	_, err := ParseSettlementCSV(strings.NewReader(data), "report.csv", opt)
	if err == nil {
		t.Fatalf("want an error for:\n%s", data)
	}
	var ce *CSVError
	if !errors.As(err, &ce) {
		t.Fatalf("want *CSVError, got %T: %v", err, err)
	}
	if ce.Source != "report.csv" || !strings.Contains(err.Error(), "report.csv") {
		t.Errorf("error does not name the file: %v", err)
	}
	return ce
}

func TestCSVHeaderDriven(t *testing.T) {
	data := continia + ",refund_id,purchase_country,detailed_type,some_future_column\n" +
		"SALE,2026-05-04T10:00:00Z,2026-05-04T09:58:00Z,ord-1,SHORT1,cap-1,ws-1001,,1499.00,NOK,,NO,PURCHASE,x\n" +
		"fee,2026-05-04T10:00:00Z,2026-05-04T09:58:00Z,ord-1,SHORT1,cap-1,ws-1001,,29.83,nok,,NO,PURCHASE_FEE_PERCENTAGE,y\n" +
		"RETURN,2026-05-05,2026-05-04,ord-1,SHORT1,,ws-1001,ref2,-12.5,NOK,rf-1,NO,PURCHASE_RETURN,\n"
	got := mustParse(t, data, CSVOptions{})
	if got.Separator != ',' || len(got.Rows) != 3 || got.Payouts != nil {
		t.Fatalf("separator %q, %d rows, payouts %v", got.Separator, len(got.Rows), got.Payouts)
	}
	want := SettlementRow{
		Line: 2, Type: "SALE", CaptureDate: "2026-05-04T10:00:00Z", SaleDate: "2026-05-04T09:58:00Z", OrderID: "ord-1",
		ShortOrderID: "SHORT1", CaptureID: "cap-1", MerchantReference1: "ws-1001", Amount: 149900, Currency: "NOK",
		PurchaseCountry: "NO", DetailedType: "PURCHASE",
	}
	if got.Rows[0] != want {
		t.Errorf("row 1:\n got %+v\nwant %+v", got.Rows[0], want)
	}
	if r := got.Rows[1]; r.Type != "FEE" || r.Currency != "NOK" || r.Amount != 2983 || r.Line != 3 {
		t.Errorf("row 2 (lower case type and currency): %+v", r)
	}
	if r := got.Rows[2]; r.Amount != -1250 || r.RefundID != "rf-1" || r.MerchantReference2 != "ref2" || r.CaptureID != "" {
		t.Errorf("row 3: %+v", r)
	}
	if got.Columns[len(got.Columns)-1] != "some_future_column" {
		t.Errorf("columns: %v", got.Columns)
	}
}

func TestCSVSemicolonAndSniffing(t *testing.T) {
	// Semicolons, a BOM, CRLF, quoted cells holding both separators, upper
	// case and spaced header names, currency under another name.
	data := "\ufeffType; Order ID ;Amount;Currency;merchant_reference1\r\n" +
		"SALE;ord-1;100.00;SEK;\"a;b,c\"\r\n" +
		"\r\n" +
		"FEE;ord-1;2.5;SEK;\"x\"\"y\"\r\n"
	got := mustParse(t, data, CSVOptions{})
	if got.Separator != ';' || len(got.Rows) != 2 {
		t.Fatalf("separator %q, rows %+v", got.Separator, got.Rows)
	}
	if r := got.Rows[0]; r.MerchantReference1 != "a;b,c" || r.Amount != 10000 || r.Currency != "SEK" || r.OrderID != "ord-1" {
		t.Errorf("row 1: %+v", r)
	}
	if r := got.Rows[1]; r.MerchantReference1 != `x"y` || r.Amount != 250 || r.Line != 4 {
		t.Errorf("row 2: %+v", r)
	}
	// A header line with more commas inside quotes than separators.
	data = "\"type,a,b,c\";order_id;amount;posting_currency\nSALE;o;1.00;NOK\n"
	if _, err := ParseSettlementCSV(strings.NewReader(data), "q.csv", CSVOptions{}); err == nil || !strings.Contains(err.Error(), "type") {
		// the quoted name is not "type", so the required column is missing:
		// what matters is that ';' was chosen.
		t.Errorf("want a missing type column, got %v", err)
	}
	got = mustParse(t, "type;order_id;amount;posting_currency\nSALE;o,1;1.00;NOK\n", CSVOptions{})
	if got.Separator != ';' || got.Rows[0].OrderID != "o,1" {
		t.Errorf("sniffed %q: %+v", got.Separator, got.Rows)
	}
	// Forcing the separator.
	got = mustParse(t, "type,order_id,amount,posting_currency\nSALE,o;1,1.00,NOK\n", CSVOptions{Separator: ','})
	if got.Rows[0].OrderID != "o;1" {
		t.Errorf("forced ',': %+v", got.Rows)
	}
}

func TestCSVConfiguredColumns(t *testing.T) {
	cols := []string{"amount", "posting_currency", "", "order_id", "type", "capture_id", "not_known"}
	data := "1499.00;NOK;skipped;ord-1;SALE;cap-1;zz\n" +
		"29.83;NOK;skipped;ord-1;FEE;cap-1;zz\n"
	got := mustParse(t, data, CSVOptions{Columns: cols})
	if len(got.Rows) != 2 || got.Rows[0].Line != 1 || got.Rows[0].Amount != 149900 || got.Rows[0].CaptureID != "cap-1" || got.Rows[1].Type != "FEE" {
		t.Fatalf("rows: %+v", got.Rows)
	}
	// The same with the header row the configuration names: it is skipped.
	withHeader := "Amount;posting_currency;;order_id;type;capture_id;NOT_KNOWN\n" + data
	got = mustParse(t, withHeader, CSVOptions{Columns: cols})
	if len(got.Rows) != 2 || got.Rows[0].Line != 2 {
		t.Fatalf("with header: %+v", got.Rows)
	}
	// A row of the wrong width is an error with its line.
	ce := csvErr(t, data+"1.00;NOK;ord-2;SALE;cap-2;zz\n", CSVOptions{Columns: cols})
	if ce.Line != 3 {
		t.Errorf("line %d: %v", ce.Line, ce)
	}
	// A configuration without the required columns.
	ce = csvErr(t, data, CSVOptions{Columns: []string{"amount", "posting_currency", "x", "order_id", "kind", "capture_id", "y"}})
	if !strings.Contains(ce.Error(), "type") {
		t.Errorf("missing column not named: %v", ce)
	}
	// An empty file with configured columns has no rows.
	got = mustParse(t, "", CSVOptions{Columns: cols, Separator: ';'})
	if len(got.Rows) != 0 {
		t.Errorf("empty file: %+v", got.Rows)
	}
}

func TestParseDecimal(t *testing.T) {
	good := []struct {
		in   string
		exp  int
		want int64
	}{
		{"100.00", 2, 10000},
		{"-12.5", 2, -1250},
		{"7", 2, 700},
		{"0.1", 2, 10},
		{"0.01", 2, 1},
		{"-0.00", 2, 0},
		{"+3.00", 2, 300},
		{"1234.500", 2, 123450},
		{"0.500", 2, 50},
		{"1.500", 3, 1500},
		{"12.000", 3, 12000},
		{"0007.50", 2, 750},
		{" 5.00 ", 2, 500},
		{"100", 0, 100},
		{"100.0", 0, 100},
		{"1.234", 3, 1234},
		{"92233720368547758.07", 2, math.MaxInt64},
		{"-92233720368547758.08", 2, math.MinInt64},
		{"9223372036854775807", 0, math.MaxInt64},
	}
	for _, tt := range good {
		got, err := parseDecimal(tt.in, tt.exp)
		if err != nil || got != tt.want {
			t.Errorf("parseDecimal(%q, %d) = %d, %v; want %d", tt.in, tt.exp, got, err, tt.want)
		}
	}
	bad := []struct {
		in  string
		exp int
		msg string
	}{
		{"", 2, "empty"},
		{"   ", 2, "empty"},
		{"-", 2, "no digits"},
		{"1.005", 2, "more than 2 decimals"},
		{"100.5", 0, "more than 0 decimals"},
		{"1.000", 2, `amount "1.000": ambiguous: a dot and three digits is 1.00 with the dot as the decimal point, or 1000 with it grouping thousands`},
		{"-999.500", 2, "ambiguous"},
		{"1.000", 0, "or 1000 with it grouping thousands; write it with 0 decimals"},
		{"1,00", 2, "comma"},
		{"1,000.00", 2, "comma"},
		{"1e3", 2, "not a decimal"},
		{".5", 2, "no digits before"},
		{"5.", 2, "no digits after"},
		{"1 000", 2, "not a decimal"},
		{"--5", 2, "not a decimal"},
		{"0x10", 2, "not a decimal"},
		{"NaN", 2, "not a decimal"},
		{"１", 2, "not a decimal"},
		{"92233720368547758.08", 2, "out of range"},
		{"-92233720368547758.09", 2, "out of range"},
		{"99999999999999999999999", 2, "out of range"},
	}
	for _, tt := range bad {
		_, err := parseDecimal(tt.in, tt.exp)
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("parseDecimal(%q, %d): error %v, want one with %q", tt.in, tt.exp, err, tt.msg)
		}
	}
	for _, v := range []int64{0, 1, -1, 99, -100, 149900, math.MaxInt64, math.MinInt64} {
		for _, exp := range []int{0, 2, 3} {
			s := formatDecimal(v, exp)
			back, err := parseDecimal(s, exp)
			if err != nil || back != v {
				t.Errorf("round trip %d (exp %d) via %q: %d, %v", v, exp, s, back, err)
			}
		}
	}
}

func TestCSVCurrencyExponent(t *testing.T) {
	got := mustParse(t, "type,order_id,amount,posting_currency\nSALE,o1,1500,JPY\nSALE,o2,1.5,KWD\nSALE,o3,1.5,EUR\n", CSVOptions{})
	if got.Rows[0].Amount != 1500 || got.Rows[1].Amount != 1500 || got.Rows[2].Amount != 150 {
		t.Errorf("amounts: %d %d %d", got.Rows[0].Amount, got.Rows[1].Amount, got.Rows[2].Amount)
	}
}

// A dot and three digits is a decimal in a currency with three decimals:
// the file's currency column settles what is ambiguous in NOK.
func TestCSVThreeDecimalsSettledByCurrency(t *testing.T) {
	got := mustParse(t, "type,order_id,amount,posting_currency\nSALE,o1,1.500,KWD\nSALE,o2,1500.000,NOK\n", CSVOptions{})
	if got.Rows[0].Amount != 1500 || got.Rows[1].Amount != 150000 {
		t.Errorf("amounts: %d %d", got.Rows[0].Amount, got.Rows[1].Amount)
	}
	if _, err := ParseSettlementCSV(strings.NewReader("type,order_id,amount,posting_currency\nSALE,o1,1.500,EUR\n"), "x", CSVOptions{}); err == nil {
		t.Error("1.500 EUR was accepted")
	}
}

func TestCSVMalformed(t *testing.T) {
	head := continia + "\n"
	row := func(typ, amount, cur string) string {
		return typ + ",2026-05-04,2026-05-04,ord-1,S,cap,ws,," + amount + "," + cur + "\n"
	}
	ok := row("SALE", "10.00", "NOK")
	tests := []struct {
		name   string
		data   string
		line   int
		column string
		msg    string
	}{
		{"decimal comma", "type;order_id;amount;posting_currency\nSALE;o;1.00;NOK\nSALE;o;10,5;NOK\n", 3, "amount", "comma"},
		{"decimal comma, comma separated", head + ok + row("SALE", "10,5", "NOK"), 3, "", "wrong number of fields"},
		{"empty amount", head + ok + ok + row("FEE", "", "NOK"), 4, "amount", "empty"},
		{"too many decimals", head + row("SALE", "1.001", "NOK"), 2, "amount", "decimals"},
		{"grouped thousand", head + ok + row("SALE", "1.500", "NOK"), 3, "amount", `amount "1.500": ambiguous`},
		{"short row", head + ok + "SALE,2026-05-04\n", 3, "", "number of fields"},
		{"long row", head + ok + ok + strings.TrimSuffix(ok, "\n") + ",extra\n", 4, "", "number of fields"},
		{"bare quote", head + ok + "SALE,2026-05-04,2026\"-05-04,ord-1,S,cap,ws,,1.00,NOK\n", 3, "", "quote"},
		{"empty type", head + ok + row("", "1.00", "NOK"), 3, "type", "not a transaction type"},
		{"date in type", head + row("2026-05-04", "1.00", "NOK"), 2, "type", "not a transaction type"},
		{"bad currency", head + row("SALE", "1.00", "KRONER"), 2, "posting_currency", "ISO 4217"},
		{"empty currency", head + row("SALE", "1.00", ""), 2, "posting_currency", "ISO 4217"},
		{"sale without order", head + "SALE,2026-05-04,2026-05-04,,S,cap,ws,,1.00,NOK\n", 2, "order_id", "empty"},
		{"bad date", head + "SALE,04.05.2026,2026-05-04,o,S,cap,ws,,1.00,NOK\n", 2, "capture_date", "not a date"},
		{"missing columns", "type,order_id,amount\nSALE,o,1.00\n", 1, "", "posting_currency"},
		{"duplicate column", "type,order_id,amount,posting_currency,amount\n", 1, "amount", "twice"},
		{"alias twice", "type,order_id,amount,posting_currency,currency\n", 1, "currency", "same as"},
		{"empty file", "", 1, "", "empty"},
		{"no separator", "type\nSALE\n", 1, "", "separator"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ce := csvErr(t, tt.data, CSVOptions{})
			if ce.Line != tt.line || ce.Column != tt.column || !strings.Contains(ce.Error(), tt.msg) {
				t.Errorf("got line %d column %q: %v; want line %d column %q with %q", ce.Line, ce.Column, ce, tt.line, tt.column, tt.msg)
			}
			if tt.line > 0 && !strings.Contains(ce.Error(), fmt.Sprintf("report.csv:%d", tt.line)) {
				t.Errorf("message lacks file:line: %v", ce)
			}
		})
	}
	// A quoted cell spanning lines moves the line numbers of what follows.
	data := head + "SALE,2026-05-04,2026-05-04,ord-1,S,cap,\"two\nlines\",,1.00,NOK\n" + row("SALE", "x", "NOK")
	if ce := csvErr(t, data, CSVOptions{}); ce.Line != 4 {
		t.Errorf("after a two-line cell: line %d (%v)", ce.Line, ce)
	}
	if _, err := ParseSettlementCSV(strings.NewReader(ok), "x", CSVOptions{Separator: '\t'}); err == nil {
		t.Error("a tab separator was accepted")
	}
}

func TestCSVSummaryColumns(t *testing.T) {
	head := "payment_reference,payout_date,settlement_currency,merchant_id,merchant_settlement_type," +
		"total_sale_amount,total_fee_amount,total_return_amount,total_settlement_amount,opening_debt_balance,closing_debt_balance," +
		continia + "\n"
	sum1 := "XISA93DJ,2026-05-05,NOK,M1,NET,2998.00,61.66,0,2936.34,0,0,"
	sum2 := "PAY2,2026-05-06T00:00:00Z,NOK,M1,NET,100.00,0,0,100.00,0,0,"
	tx := func(typ, order, amount string) string {
		return typ + ",2026-05-04,2026-05-04," + order + ",S,cap,ws,," + amount + ",NOK\n"
	}
	data := head +
		sum1 + tx("SALE", "o1", "1499.00") +
		sum1 + tx("SALE", "o2", "1499.00") +
		sum1 + tx("FEE", "o1", "30.83") +
		sum1 + tx("FEE", "o2", "30.83") +
		",,,,,,,,,,," + tx("FEE", "o3", "0.00") +
		sum2 + tx("SALE", "o4", "100.00")
	got := mustParse(t, data, CSVOptions{})
	if len(got.Rows) != 6 || len(got.Payouts) != 2 {
		t.Fatalf("%d rows, payouts %+v", len(got.Rows), got.Payouts)
	}
	p := got.Payouts[0]
	if p.PaymentReference != "XISA93DJ" || p.Line != 2 || p.Rows != 4 || p.CurrencyCode != "NOK" || p.MerchantID != "M1" ||
		p.MerchantSettlementType != "NET" || p.PayoutDate.Format("2006-01-02") != "2026-05-05" {
		t.Errorf("payout 1: %+v", p)
	}
	if p.Totals.SaleAmount != 299800 || p.Totals.FeeAmount != 6166 || p.Totals.SettlementAmount != 293634 {
		t.Errorf("totals: %+v", p.Totals)
	}
	if err := p.Check(); err != nil {
		t.Errorf("payout 1 check: %v", err)
	}
	// The rows of the payout add up to its totals.
	var sum PayoutTotals
	for _, r := range got.Rows {
		if r.PaymentReference == p.PaymentReference {
			if err := sum.Add(r.Type, r.Amount); err != nil {
				t.Fatal(err)
			}
		}
	}
	if sum.SaleAmount != p.Totals.SaleAmount || sum.FeeAmount != p.Totals.FeeAmount {
		t.Errorf("rows sum to %+v", sum)
	}
	if got.Rows[0].PaymentReference != "XISA93DJ" || got.Payouts[1].PaymentReference != "PAY2" || got.Payouts[1].Totals.SettlementAmount != 10000 {
		t.Errorf("second payout: %+v", got.Payouts[1])
	}

	// Rows of one payout that disagree.
	bad := head + sum1 + tx("SALE", "o1", "1499.00") + strings.Replace(sum1, "2936.34", "2936.35", 1) + tx("SALE", "o2", "1499.00")
	if ce := csvErr(t, bad, CSVOptions{}); ce.Line != 3 || !strings.Contains(ce.Error(), "differs from line 2") {
		t.Errorf("disagreeing summary: %v", ce)
	}
	// A summary with an empty total is not a zero.
	bad = head + strings.Replace(sum1, "61.66", "", 1) + tx("SALE", "o1", "1499.00")
	if ce := csvErr(t, bad, CSVOptions{}); ce.Line != 2 || ce.Column != "total_fee_amount" {
		t.Errorf("empty total: %v", ce)
	}
	bad = head + strings.Replace(sum1, "2026-05-05", "5 May", 1) + tx("SALE", "o1", "1499.00")
	if ce := csvErr(t, bad, CSVOptions{}); ce.Column != "payout_date" {
		t.Errorf("bad payout date: %v", ce)
	}
}

func TestCSVReaderStreams(t *testing.T) {
	data := continia + "\n" + strings.Repeat("SALE,2026-05-04,2026-05-04,o,S,c,ws,,1.00,NOK\n", 3)
	sr, err := NewSettlementCSVReader(strings.NewReader(data), "s.csv", CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		row, err := sr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		if row.Line != n+1 {
			t.Errorf("row %d at line %d", n, row.Line)
		}
	}
	if n != 3 || sr.Separator() != ',' || len(sr.Columns()) != 10 {
		t.Errorf("%d rows, separator %q, columns %v", n, sr.Separator(), sr.Columns())
	}
}

// genCSV makes a report of n rows: a SALE and two FEE rows per order, in
// the documented column order plus four more, semicolon-separated.
func genCSV(n int) []byte {
	var b bytes.Buffer
	b.WriteString(strings.ReplaceAll(continia, ",", ";") + ";refund_id;purchase_country;detailed_type;payment_reference\n")
	for i := 0; i < n; i++ {
		order := i / 3
		typ, amount, detailed := "SALE", fmt.Sprintf("%d.%02d", 100+order%5000, order%100), "PURCHASE"
		switch i % 3 {
		case 1:
			typ, amount, detailed = "FEE", fmt.Sprintf("%d.%02d", 2+order%3, order%100), "PURCHASE_FEE_PERCENTAGE"
		case 2:
			typ, amount, detailed = "FEE", "1.00", "PURCHASE_FEE_FIXED"
		}
		fmt.Fprintf(&b, "%s;2026-05-04T10:%02d:%02dZ;2026-05-04T10:%02d:00Z;%08x-1f2e-4c3d-9a8b-%012x;%07X;%08x-cap;ws-%d;;%s;NOK;;NO;%s;XISA93DJ\n",
			typ, order%60, i%60, order%60, order, order, order, order, order, amount, detailed)
	}
	return b.Bytes()
}

func BenchmarkParseSettlementCSV(b *testing.B) {
	const rows = 100_000
	data := genCSV(rows)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		got, err := ParseSettlementCSV(bytes.NewReader(data), "bench.csv", CSVOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if len(got.Rows) != rows {
			b.Fatalf("%d rows", len(got.Rows))
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

func FuzzParseSettlementCSV(f *testing.F) {
	f.Add([]byte(continia+"\nSALE,2026-05-04,2026-05-04,o,S,c,ws,,1499.00,NOK\n"), false)
	f.Add([]byte("type;order_id;amount;posting_currency\nFEE;o;-12.5;SEK\n\"SALE\";\"o;2\";\"7\";\"nok\"\n"), false)
	f.Add([]byte("1.00;NOK;o;SALE\n2.00;NOK;o;FEE\n"), true)
	f.Add([]byte("payment_reference,total_sale_amount,total_settlement_amount,type,order_id,amount,posting_currency\nP,1.00,1.00,SALE,o,1.00,NOK\nP,1.00,1.00,SALE,o,1.00,NOK\n"), false)
	f.Add(genCSV(20), false)
	f.Fuzz(func(t *testing.T, data []byte, configured bool) {
		opt := CSVOptions{}
		if configured {
			opt.Columns = []string{"amount", "posting_currency", "order_id", "type"}
		}
		got, err := ParseSettlementCSV(bytes.NewReader(data), "fuzz.csv", opt)
		if err != nil {
			var ce *CSVError
			if !errors.As(err, &ce) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		// Every row that parsed is well formed, and its amount survives a
		// round trip through the decimal form.
		var out bytes.Buffer
		fmt.Fprintf(&out, "type%corder_id%camount%cposting_currency\n", got.Separator, got.Separator, got.Separator)
		for _, r := range got.Rows {
			if !isTypeToken(r.Type) || !isCurrency(r.Currency) || r.Line < 1 {
				t.Fatalf("bad row %+v", r)
			}
			fmt.Fprintf(&out, "%s%c\"%s\"%c%s%c%s\n", r.Type, got.Separator, strings.ReplaceAll(r.OrderID, `"`, `""`), got.Separator,
				formatDecimal(r.Amount, currencyExponent(r.Currency)), got.Separator, r.Currency)
		}
		again, err := ParseSettlementCSV(&out, "again.csv", CSVOptions{Separator: got.Separator})
		if err != nil {
			t.Fatalf("re-reading what parsed: %v\n%s", err, out.String())
		}
		if len(again.Rows) != len(got.Rows) {
			t.Fatalf("%d rows, then %d", len(got.Rows), len(again.Rows))
		}
		for i := range got.Rows {
			a, b := got.Rows[i], again.Rows[i]
			if a.Amount != b.Amount || a.Type != b.Type || a.Currency != b.Currency || a.OrderID != b.OrderID {
				t.Fatalf("row %d: %+v then %+v", i, a, b)
			}
		}
	})
}
