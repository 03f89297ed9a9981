package settlement

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
)

type csvRecord struct {
	line   int
	fields []string
}

// readRecords is what csvRecords hands over, copied.
func readRecords(data []byte) ([]csvRecord, error) {
	var recs []csvRecord
	err := csvRecords(bufio.NewReaderSize(bytes.NewReader(data), 64<<10), "t.csv", func(rec []string, line int) error {
		recs = append(recs, csvRecord{line, cloneAll(rec)})
		return nil
	})
	return recs, err
}

// encodingCSVRecords is what encoding/csv reads, for comparison.
func encodingCSVRecords(data []byte) ([]csvRecord, error) {
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	var recs []csvRecord
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return recs, csvErr("t.csv", err)
		}
		line, _ := cr.FieldPos(0)
		recs = append(recs, csvRecord{line, rec})
	}
}

// sameRecords checks that csvRecords, which splits lines itself for speed,
// reads what encoding/csv reads: the same records at the same lines, and
// the same error.
func sameRecords(t *testing.T, data []byte) {
	t.Helper()
	got, gerr := readRecords(data)
	want, werr := encodingCSVRecords(data)
	if fmt.Sprint(gerr) != fmt.Sprint(werr) {
		t.Fatalf("csvRecords error %v, encoding/csv %v", gerr, werr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("csvRecords read %+v\nencoding/csv read %+v", got, want)
	}
}

// csvLayouts are validCSV written in the ways a CSV file may be written, and
// files whose rows come in an order other than the sample's.
func csvLayouts() map[string]string {
	valid := func(edits map[int]string) string { return editLines(validCSV, edits) }
	return map[string]string{
		"valid":          validCSV,
		"CRLF":           strings.ReplaceAll(validCSV, "\n", "\r\n"),
		"no last EOL":    strings.TrimSuffix(validCSV, "\n"),
		"CR at the end":  strings.TrimSuffix(validCSV, "\n") + "\r",
		"blank lines":    strings.ReplaceAll(validCSV, "\n", "\n\n\r\n"),
		"decimal comma":  valid(map[int]string{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,100.00,NOK,-2,25,0.00,97.75"}),
		"quoted fields":  valid(map[int]string{6: `TransactionInfo,10.04.2021,"Shop, ""the"" one",123456,5001,2000001,"order-1",12.04.2021,100.00,NOK,-2.25,0.00,97.75`}),
		"quoted newline": valid(map[int]string{6: "TransactionInfo,10.04.2021,\"Sh\nop\",123456,5001,2000001,order-1,12.04.2021,100.00,NOK,-2.25,0.00,97.75"}),
		"long line":      valid(map[int]string{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-" + strings.Repeat("x", 200<<10) + ",12.04.2021,100.00,NOK,-2.25,0.00,97.75"}),
		"settlement after its transactions": valid(map[int]string{3: "", 4: "", 8: strings.Join([]string{
			"SettlementInfo,SalesUnitName,SaleUnitNumber,SettlementDate,SettlementID,SettlementAccount,Gross,Currency,Fee,Refund,Net,NumberOfTransactions",
			"SettlementInfo,Shop,123456,12.04.2021,2000001,12345678903,100.00,NOK,-2.25,-40.00,57.75,2", ""}, "\n")}),
		"late and early": valid(map[int]string{8: strings.Join([]string{
			"TransactionInfo,11.04.2021,Shop,123456,5003,2000002,order-2,12.04.2021,10.00,NOK,0.00,0.00,10.00",
			"SettlementInfo,Shop,123456,12.04.2021,2000002,12345678903,10.00,NOK,0.00,0.00,10.00,1", ""}, "\n")}),
		"non-numeric ids":        valid(map[int]string{6: "TransactionInfo,10.04.2021,Shop,123456,A5001,2000001,order-1,12.04.2021,100.00,NOK,-2.25,0.00,97.75"}),
		"ids with leading zeros": valid(map[int]string{6: "TransactionInfo,10.04.2021,Shop,123456,05001,2000001,order-1,12.04.2021,100.00,NOK,-2.25,0.00,97.75"}),
		"generated":              string(genCSV(7, 300)),
	}
}

func TestCSVRecords(t *testing.T) {
	for name, in := range csvLayouts() {
		t.Run(name, func(t *testing.T) { sameRecords(t, []byte(in)) })
	}
	for name, in := range map[string]string{
		"BOM":                 "\uFEFF" + validCSV,
		"CR in a field":       "a,b\rc\r\r\nd\r,e\n",
		"unterminated quote":  editLines(validCSV, map[int]string{6: `TransactionInfo,"10.04.2021,Shop`}),
		"bare quote":          editLines(validCSV, map[int]string{6: `TransactionInfo,10.04.2021,Sh"op,123456`}),
		"only a quote":        `"`,
		"empty":               "",
		"empty lines":         "\n\r\n\n",
		"quote on line three": "a,b\nc\n\"d\ne\",f\ng,h\n",
	} {
		t.Run(name, func(t *testing.T) { sameRecords(t, []byte(in)) })
	}
}

// Every layout reads as validCSV does; the transactions come in line order.
func TestParseCSVLayouts(t *testing.T) {
	for name, in := range csvLayouts() {
		t.Run(name, func(t *testing.T) {
			rep, err := ParseCSV(strings.NewReader(in), "t.csv")
			if err != nil {
				t.Fatal(err)
			}
			if p := rep.Check(); len(p) != 0 {
				t.Errorf("Check() = %v", p)
			}
			for _, s := range rep.Settlements {
				if !slices.IsSortedFunc(s.Transactions, func(a, b Transaction) int { return a.Line - b.Line }) {
					t.Errorf("settlement %s: transactions not in line order", s.ID)
				}
			}
			checkStream(t, []byte(in))
		})
	}
}

// checkStream checks what ParseCSVFunc promises beyond what ParseCSV
// collects of it: each transaction comes with its settlement as the report
// has it, without transactions, and the problems it returns are what Check
// finds in the whole report.
func checkStream(t *testing.T, data []byte) {
	t.Helper()
	sets := map[string]Settlement{}
	n := 0
	got, problems, err := ParseCSVFunc(bytes.NewReader(data), "t.csv", func(s Settlement, _ Transaction) error {
		if s.Transactions != nil {
			return fmt.Errorf("settlement %s comes with transactions", s.ID)
		}
		key := s.MSN + "/" + s.ID
		if old, ok := sets[key]; ok && !reflect.DeepEqual(old, s) {
			return fmt.Errorf("settlement %s changed between transactions", s.ID)
		}
		sets[key] = s
		n++
		return nil
	})
	if err != nil {
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Fatalf("error %T is not a *ParseError: %v", err, err)
		}
		return
	}
	rep, err := ParseCSV(bytes.NewReader(data), "t.csv")
	if err != nil {
		t.Fatalf("ParseCSVFunc read the file, ParseCSV: %v", err)
	}
	if want := rep.Check(); !slices.Equal(want, problems) && len(want)+len(problems) > 0 {
		t.Errorf("problems %v, Check() %v", problems, want)
	}
	total := 0
	for i, s := range rep.Settlements {
		total += len(s.Transactions)
		s.Transactions = nil
		if h, ok := sets[s.MSN+"/"+s.ID]; ok && !reflect.DeepEqual(h, s) {
			t.Errorf("settlement %s handed over as %+v, reported as %+v", s.ID, h, s)
		}
		if !reflect.DeepEqual(got.Settlements[i], s) {
			t.Errorf("settlement %s returned as %+v, ParseCSV has %+v", s.ID, got.Settlements[i], s)
		}
	}
	if n != total {
		t.Errorf("%d transactions handed over, ParseCSV has %d", n, total)
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

// FuzzParseCSVFunc checks the two things a parse of any input must keep:
// the line reader reads what encoding/csv reads, and the stream keeps its
// promises (checkStream).
func FuzzParseCSVFunc(f *testing.F) {
	addSamples(f, "csv/*.csv")
	f.Add([]byte(validCSV))
	f.Add(genCSV(2, 3))
	f.Add([]byte(strings.ReplaceAll(validCSV, "\n", "\r\n")))
	f.Add([]byte("Salgsdato;Transaksjons-ID\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sameRecords(t, data)
		checkStream(t, data)
	})
}
