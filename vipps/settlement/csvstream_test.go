package settlement

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// streamed is what ParseCSVFunc handed over and returned.
type streamed struct {
	rep      *Report
	problems []Problem
	sets     map[string]Settlement    // the settlement each transaction came with, by id
	txs      map[string][]Transaction // by settlement id, in the order handed over
	lines    []int                    // every transaction's line, in the order handed over
}

func streamCSV(data []byte) (*streamed, error) {
	s := &streamed{sets: map[string]Settlement{}, txs: map[string][]Transaction{}}
	var err error
	s.rep, s.problems, err = ParseCSVFunc(bytes.NewReader(data), "t.csv", func(set Settlement, t Transaction) error {
		if set.Transactions != nil {
			return fmt.Errorf("settlement %s comes with transactions", set.ID)
		}
		if old, ok := s.sets[set.ID]; ok && !reflect.DeepEqual(old, set) {
			return fmt.Errorf("settlement %s changed between transactions", set.ID)
		}
		s.sets[set.ID] = set
		s.txs[set.ID] = append(s.txs[set.ID], t)
		s.lines = append(s.lines, t.Line)
		return nil
	})
	return s, err
}

// sameAsParseCSV checks that ParseCSVFunc and ParseCSV agree on data: both
// fail (with the same message when sameError), or both give the same
// report, transactions and problems.
func sameAsParseCSV(t *testing.T, data []byte, sameError bool) {
	t.Helper()
	want, werr := ParseCSV(bytes.NewReader(data), "t.csv")
	got, gerr := streamCSV(data)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("ParseCSV: %v\nParseCSVFunc: %v", werr, gerr)
	}
	if werr != nil {
		var pe *ParseError
		if !errors.As(gerr, &pe) {
			t.Fatalf("ParseCSVFunc error %T is not a *ParseError: %v", gerr, gerr)
		}
		if sameError && werr.Error() != gerr.Error() {
			t.Fatalf("ParseCSV: %v\nParseCSVFunc: %v", werr, gerr)
		}
		return
	}
	if !slices.Equal(want.Check(), got.problems) && len(want.Check())+len(got.problems) > 0 {
		t.Errorf("problems: ParseCSV %v, ParseCSVFunc %v", want.Check(), got.problems)
	}
	n := 0
	stripped := *want
	stripped.Settlements = slices.Clone(want.Settlements)
	for i := range stripped.Settlements {
		s := &stripped.Settlements[i]
		txs := s.Transactions
		s.Transactions = nil
		n += len(txs)
		gotTxs := slices.Clone(got.txs[s.ID])
		slices.SortStableFunc(gotTxs, func(a, b Transaction) int { return a.Line - b.Line })
		if len(txs) == 0 {
			txs = nil
		}
		if !reflect.DeepEqual(txs, gotTxs) {
			t.Errorf("settlement %s: ParseCSV has %d transactions %+v\nParseCSVFunc handed over %d: %+v", s.ID, len(txs), txs, len(gotTxs), gotTxs)
		}
		if set, ok := got.sets[s.ID]; ok && !reflect.DeepEqual(set, *s) {
			t.Errorf("settlement %s handed over as %+v, ParseCSV has %+v", s.ID, set, *s)
		}
	}
	if len(got.lines) != n {
		t.Errorf("%d transactions handed over, ParseCSV has %d", len(got.lines), n)
	}
	if !reflect.DeepEqual(&stripped, got.rep) {
		t.Errorf("report:\nParseCSV     %+v\nParseCSVFunc %+v", &stripped, got.rep)
	}
}

func TestParseCSVFuncAgrees(t *testing.T) {
	valid := func(edits map[int]string) string { return editLines(validCSV, edits) }
	tests := map[string]string{
		"valid":          validCSV,
		"BOM":            "\uFEFF" + validCSV,
		"CRLF":           strings.ReplaceAll(validCSV, "\n", "\r\n"),
		"no last EOL":    strings.TrimSuffix(validCSV, "\n"),
		"CR at the end":  strings.TrimSuffix(validCSV, "\n") + "\r",
		"CR in a field":  valid(map[int]string{6: "TransactionInfo,10.04.2021,Sh\rop,123456,5001,2000001,order-1,12.04.2021,100.00,NOK,-2.25,0.00,97.75\r\r"}),
		"blank lines":    strings.ReplaceAll(validCSV, "\n", "\n\n\r\n"),
		"decimal comma":  valid(map[int]string{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,100.00,NOK,-2,25,0.00,97.75"}),
		"quoted fields":  valid(map[int]string{6: `TransactionInfo,10.04.2021,"Shop, ""the"" one",123456,5001,2000001,"order-1",12.04.2021,100.00,NOK,-2.25,0.00,97.75`}),
		"quoted newline": valid(map[int]string{6: "TransactionInfo,10.04.2021,\"Sh\nop\",123456,5001,2000001,order-1,12.04.2021,100.00,NOK,-2.25,0.00,97.75"}),
		"quote, then an error": valid(map[int]string{3: `SettlementInfo,"SalesUnitName",SaleUnitNumber,SettlementDate,SettlementID,SettlementAccount,Gross,Currency,Fee,Refund,Net,NumberOfTransactions`,
			7: "TransactionInfo,11.04.2021,Shop,123456,5002,2000001,order-1,12.04.2021,0.00,NOK,0.00,-40.00,-41.00"}),
		"long line": valid(map[int]string{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-" + strings.Repeat("x", 200<<10) + ",12.04.2021,100.00,NOK,-2.25,0.00,97.75"}),
		"settlement after its transactions": valid(map[int]string{3: "", 4: "", 8: strings.Join([]string{
			"SettlementInfo,SalesUnitName,SaleUnitNumber,SettlementDate,SettlementID,SettlementAccount,Gross,Currency,Fee,Refund,Net,NumberOfTransactions",
			"SettlementInfo,Shop,123456,12.04.2021,2000001,12345678903,100.00,NOK,-2.25,-40.00,57.75,2", ""}, "\n")}),
		"late duplicate": valid(map[int]string{3: "", 4: "", 8: strings.Join([]string{
			"TransactionInfo,11.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,0.00,NOK,0.00,-40.00,-40.00",
			"SettlementInfo,SalesUnitName,SaleUnitNumber,SettlementDate,SettlementID,SettlementAccount,Gross,Currency,Fee,Refund,Net,NumberOfTransactions",
			"SettlementInfo,Shop,123456,12.04.2021,2000001,12345678903,100.00,NOK,-2.25,-80.00,57.75,3", ""}, "\n")}),
		"late and early": valid(map[int]string{8: strings.Join([]string{
			"TransactionInfo,11.04.2021,Shop,123456,5003,2000002,order-2,12.04.2021,10.00,NOK,0.00,0.00,10.00",
			"SettlementInfo,Shop,123456,12.04.2021,2000002,12345678903,10.00,NOK,0.00,0.00,10.00,1", ""}, "\n")}),
		"a settlement's transactions are its file's": valid(map[int]string{6: "TransactionInfo,10.04.2021,Shop,654321,5001,2000777,order-1,10.04.2021,100.00,NOK,-2.25,0.00,97.75"}),
		"non-numeric ids": valid(map[int]string{6: "TransactionInfo,10.04.2021,Shop,123456,A5001,2000001,order-1,12.04.2021,100.00,NOK,-2.25,0.00,97.75",
			7: "TransactionInfo,11.04.2021,Shop,123456,A5001,2000001,order-1,12.04.2021,0.00,NOK,0.00,-40.00,-40.00"}),
		"ids with leading zeros": valid(map[int]string{6: "TransactionInfo,10.04.2021,Shop,123456,05001,2000001,order-1,12.04.2021,100.00,NOK,-2.25,0.00,97.75"}),
		"one settlement twice":   valid(map[int]string{4: "\x00SettlementInfo,Shop,123456,12.04.2021,2000001,12345678903,100.00,NOK,-2.25,-40.00,57.75,2"}),
		"portal table": strings.Join([]string{
			"Oppgjørsrapport",
			"Bedriften;;Shop AS",
			"Salgsdato;Salgssted;Vippsnummer;Produkt;Transaksjons-ID;Ordre-ID;Brutto;Gebyr;Netto;Transaksjonstype;Oppgjørs-ID;Oppgjørsdato;Oppgjørssum;Oppgjørskonto",
			"25.03.2024;Shop;123456;Vipps Netthandel;5001;order-1;1 000,00;-15,00;985,00;Salg;2000001;27.03.2024;;",
			"26.03.2024;Shop;123456;Vipps Netthandel;5002;order-1;-40,00;0,00;-40,00;Refundering;2000001;27.03.2024;;",
			"Til utbetaling netto;Shop;123456;;;;;;;;2000001;27.03.2024;945,00;12345678903",
			"25.03.2024;Shop;123456;Vipps Netthandel;5003;order-2;10,00;-1,00;9,00;Salg;2000002;28.03.2024;;",
			"Til utbetaling netto;Shop;123456;;;;;;;;2000002;28.03.2024;9,00;12345678903",
		}, "\r\n"),
		"generated": string(genCSV(7, 300)),
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) { sameAsParseCSV(t, []byte(in), true) })
	}
	t.Run("sample", func(t *testing.T) { sameAsParseCSV(t, readSample(t, "csv/settlement-report.csv"), true) })
}

// Every defect ParseCSV reports, ParseCSVFunc reports the same way.
func TestParseCSVFuncMalformed(t *testing.T) {
	for i, edits := range []map[int]string{
		{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,100.00,NOK,-2.25,0.00,97.75,x"},
		{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,100.00,NOK,-2.25,0.00"},
		{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,100.00,NOK,0,0,97,75"},
		{4: "SettlementInfo,Shop,123456,12.04.2021,2000001,12345678903,100.00,NOK,-2.25,-40.00,57.75,2,0"},
		{6: `TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,"100,00",NOK,-2.25,0.00,97.75`},
		{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,100.001,NOK,-2.25,0.00,97.75"},
		{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,1e2,NOK,-2.25,0.00,97.75"},
		{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,100.00,NOK,,0.00,97.75"},
		{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,100.00,NOK,2.25,0.00,97.75"},
		{7: "TransactionInfo,11.04.2021,Shop,123456,5002,2000001,order-1,12.04.2021,0.00,NOK,0.00,40.00,-40.00"},
		{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,-100.00,NOK,-2.25,0.00,97.75"},
		{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,100.00,NOK,-2.25,-1.00,97.75"},
		{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,100.00,NOK,-2.25,0.00,97.00"},
		{6: "TransactionInfo,31.02.2021,Shop,123456,5001,2000001,order-1,12.04.2021,100.00,NOK,-2.25,0.00,97.75"},
		{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,1204.2021,100.00,NOK,-2.25,0.00,97.75"},
		{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,100.00,nok,-2.25,0.00,97.75"},
		{4: "SettlementInfo,Shop,123456,12.04.2021,2000001,12345678903,100.00,nok,-2.25,-40.00,57.75,2"},
		{6: "TransactionInfo,10.04.2021,Shop,123456,,2000001,order-1,12.04.2021,100.00,NOK,-2.25,0.00,97.75"},
		{6: "TransactionInfo,10.04.2021,Shop,123456,5001,,order-1,12.04.2021,100.00,NOK,-2.25,0.00,97.75"},
		{7: "TransactionInfo,11.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,0.00,NOK,0.00,-40.00,-40.00"},
		{4: "SettlementInfo,Shop,123456,12.04.2021,2000001,12345678903,100.00,NOK,-2.25,-40.00,57.75,3"},
		{4: "SettlementInfo,Shop,123456,12.04.2021,2000001,12345678903,100.00,NOK,-2.25,-40.00,57.75,two"},
		{7: "TransactionInfo,11.04.2021,Shop,123456,5002,2000001,order-1,12.04.2021,0.00,SEK,0.00,-40.00,-40.00"},
		{4: "\x00SettlementInfo,Shop,123456,12.04.2021,2000002,12345678903,0.00,NOK,0.00,0.00,0.00,0",
			7: "TransactionInfo,11.04.2021,Shop,123456,5002,2000009,order-1,12.04.2021,0.00,NOK,0.00,-40.00,-40.00"},
		{5: "TransactionInfo,SalesDate,SaleUnitName,SaleUnitNumber,TransactionId,SettlementId,SettlementDate,Gross,Currency,Fee,Refund,Net"},
		{5: "TransactionInfo,SalesDate,SaleUnitName,SaleUnitNumber,TransactionId,SettlementId,OrderID,SettlementDate,Gross,Currency,Fee,Refund,Net,Net"},
		{5: "", 7: "TransactionInfo,SalesDate,SaleUnitName,SaleUnitNumber,TransactionId,SettlementId,OrderID,SettlementDate,Gross,Currency,Fee,Refund,Net"},
		{7: "TransactionInfo,SalesDate,SaleUnitName,SaleUnitNumber,TransactionId,SettlementId,OrderID,SettlementDate,Gross,Currency,Fee,Refund,Net"},
		{5: "\x00Payout,1,2"},
		{3: "\x00999999998,Other AS"},
		{6: `TransactionInfo,"10.04.2021,Shop`},
		{6: `TransactionInfo,10.04.2021,Sh"op,123456,5001,2000001,order-1,12.04.2021,100.00,NOK,-2.25,0.00,97.75`},
		{3: "", 4: ""},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) { sameAsParseCSV(t, []byte(editLines(validCSV, edits)), true) })
	}
}

func TestParseCSVFuncStopsAtCallbackError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	_, _, err := ParseCSVFunc(bytes.NewReader(genCSV(3, 10)), "t.csv", func(Settlement, Transaction) error {
		if n++; n == 5 {
			return stop
		}
		return nil
	})
	if err != stop || n != 5 {
		t.Fatalf("err %v after %d transactions", err, n)
	}
}

func FuzzParseCSVFunc(f *testing.F) {
	addSamples(f, "csv/*.csv")
	f.Add([]byte(validCSV))
	f.Add(genCSV(2, 3))
	f.Add([]byte(strings.ReplaceAll(validCSV, "\n", "\r\n")))
	f.Add([]byte("Salgsdato;Transaksjons-ID\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sameAsParseCSV(t, data, false)
	})
}

// BenchmarkParseCSVFunc streams the report BenchmarkParseCSV parses.
func BenchmarkParseCSVFunc(b *testing.B) {
	data := genCSV(100, benchTransactions/100)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		_, _, err := ParseCSVFunc(bytes.NewReader(data), "bench.csv", func(Settlement, Transaction) error {
			n++
			return nil
		})
		if err != nil || n != benchTransactions {
			b.Fatalf("%d transactions, %v", n, err)
		}
	}
	b.ReportMetric(float64(benchTransactions)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
