package settlement

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestCheckFindsEachPlantedDiscrepancy(t *testing.T) {
	tests := []struct {
		name  string
		plant func(*Settlement)
		want  []Total
	}{
		{"nothing planted", func(*Settlement) {}, nil},
		{"capture total", func(s *Settlement) { s.Capture += 1 }, []Total{TotalCapture, TotalGross}},
		{"refund total", func(s *Settlement) { s.Refund -= 1 }, []Total{TotalRefund, TotalGross}},
		{"gross total", func(s *Settlement) { s.Gross += 1 }, []Total{TotalGross, TotalGross, TotalNet}},
		{"fee total", func(s *Settlement) { s.Fee += 1 }, []Total{TotalFee, TotalNet}},
		{"net total", func(s *Settlement) { s.Net += 1 }, []Total{TotalNet, TotalNet, TotalSettled}},
		{"payout", func(s *Settlement) { s.Settled -= 1 }, []Total{TotalSettled}},
		{"a transaction's fee", func(s *Settlement) { s.Transactions[0].Fee += 1; s.Transactions[0].Net -= 1 }, []Total{TotalFee, TotalNet}},
		{"a missing transaction", func(s *Settlement) { s.Transactions = s.Transactions[1:] }, []Total{TotalCapture, TotalGross, TotalFee, TotalNet}},
		{"gross settlement settles gross", func(s *Settlement) { s.Type = TypeGross }, []Total{TotalSettled}},
		{"unstated totals are not compared", func(s *Settlement) { s.Capture, s.Stated = 0, s.Stated&^TotalCapture }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := ParseXML(strings.NewReader(validXML), "t.xml")
			if err != nil {
				t.Fatal(err)
			}
			tt.plant(&rep.Settlements[0])
			problems := rep.Check()
			if problems == nil {
				t.Fatal("Check returned nil, want an empty slice")
			}
			var got []Total
			for _, p := range problems {
				got = append(got, p.Total)
				if p.SettlementID != "2000001" || p.Line != 17 || p.Reason == "" || p.Stated == p.Computed {
					t.Errorf("problem %+v", p)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("problems %v, want totals %v", problems, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("problems %v, want totals %v", problems, tt.want)
				}
			}
		})
	}
}

// A Report built by hand can hold amounts whose sum overflows int64; Check
// says so instead of comparing a wrapped sum.
func TestCheckOverflow(t *testing.T) {
	big := Transaction{Kind: KindCapture, Gross: math.MaxInt64 / 2, Net: math.MaxInt64 / 2}
	rep := &Report{Settlements: []Settlement{{ID: "1", Stated: TotalCapture, Capture: -2,
		Transactions: []Transaction{big, big, big}}}}
	p := rep.Check()
	if len(p) != 1 || !strings.Contains(p[0].Reason, "overflows int64") {
		t.Errorf("Check() = %v", p)
	}
}

func TestProblemString(t *testing.T) {
	p := Problem{SettlementID: "2000001", Line: 6, Total: TotalNet, Stated: 1645062, Computed: 1496062, Reason: "sum of the transactions' net"}
	want := "settlement 2000001 (line 6): Net: stated 16450.62, computed 14960.62: sum of the transactions' net"
	if p.String() != want {
		t.Errorf("%q", p.String())
	}
}

func TestParseSniffsFormat(t *testing.T) {
	xlsx := buildXLSX(t, validSheet(), workbookOptions{})
	tests := []struct {
		name, data string
		format     string
		err        error
	}{
		{"xml", validXML, FormatXML, nil},
		{"xml with BOM and blank lines", "\uFEFF\n\n" + strings.TrimPrefix(validXML, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"), FormatXML, nil},
		{"csv", validCSV, FormatCSV, nil},
		{"xlsx", string(xlsx), FormatXLSX, nil},
		{"xls", "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1rest", "", ErrUnsupportedVersion},
		{"pdf", "%PDF-1.7", "", ErrUnsupportedVersion},
		{"json", `{"items":[]}`, "", ErrUnknownFormat},
		{"empty", "", "", ErrUnknownFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Parse("f", []byte(tt.data))
			if tt.err != nil {
				var pe *ParseError
				if !errors.Is(err, tt.err) || !errors.As(err, &pe) || pe.Source != "f" {
					t.Errorf("Parse = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil || rep.Format != tt.format {
				t.Fatalf("Parse = %v, %v; want format %s", rep, err, tt.format)
			}
		})
	}
}

func TestParseErrorFormat(t *testing.T) {
	tests := []struct {
		e    ParseError
		want string
	}{
		{ParseError{"a.csv", 6, "Net", errors.New("bad")}, "a.csv:6: Net: bad"},
		{ParseError{"a.csv", 6, "", errors.New("bad")}, "a.csv:6: bad"},
		{ParseError{"a.csv", 0, "", errors.New("bad")}, "a.csv: bad"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("%q, want %q", got, tt.want)
		}
	}
}
