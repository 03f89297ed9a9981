package settlement

import (
	"bytes"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// addSamples seeds a fuzzer with the Vipps samples matching pattern.
func addSamples(f *testing.F, pattern string) {
	paths, err := filepath.Glob(filepath.Join(sampleDir, pattern))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no Vipps samples match %s under %s (%v)", pattern, sampleDir, err)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// checkReport holds what every successful parse must guarantee, and that
// every failure is a *ParseError.
func checkReport(t *testing.T, rep *Report, err error) {
	t.Helper()
	if err != nil {
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Fatalf("error %T is not a *ParseError: %v", err, err)
		}
		if pe.Err == nil || pe.Line < 0 {
			t.Fatalf("bad ParseError %#v", pe)
		}
		return
	}
	if len(rep.Settlements) == 0 {
		t.Fatal("a report without settlements parsed")
	}
	for _, s := range rep.Settlements {
		if s.ID == "" {
			t.Fatalf("settlement without id at line %d", s.Line)
		}
		seen := map[string]bool{}
		for _, tx := range s.Transactions {
			if tx.Net != tx.Gross-tx.Fee {
				t.Fatalf("line %d: Net %d != Gross %d - Fee %d", tx.Line, tx.Net, tx.Gross, tx.Fee)
			}
			if tx.Fee < 0 {
				t.Fatalf("line %d: negative normalised fee %d", tx.Line, tx.Fee)
			}
			switch tx.Kind {
			case KindCapture:
				if tx.Gross < 0 {
					t.Fatalf("line %d: capture with negative gross", tx.Line)
				}
			case KindRefund:
				if tx.Gross > 0 {
					t.Fatalf("line %d: refund with positive gross", tx.Line)
				}
			default:
				t.Fatalf("line %d: kind %q", tx.Line, tx.Kind)
			}
			if seen[tx.TransactionID] || tx.TransactionID == "" {
				t.Fatalf("line %d: transaction id %q empty or repeated", tx.Line, tx.TransactionID)
			}
			seen[tx.TransactionID] = true
			if tx.Line <= 0 {
				t.Fatalf("transaction %s without a line", tx.TransactionID)
			}
		}
	}
	_ = rep.Check()
}

func FuzzParseXML(f *testing.F) {
	addSamples(f, "xml/*.xml")
	addSamples(f, "xml/*.xsd")
	f.Add([]byte(validXML))
	f.Add(genXML(2, 3))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := ParseXML(bytes.NewReader(data), "fuzz.xml")
		checkReport(t, rep, err)
	})
}

func FuzzParseCSV(f *testing.F) {
	addSamples(f, "csv/*.csv")
	f.Add([]byte(validCSV))
	f.Add(genCSV(2, 3))
	f.Add([]byte("Salgsdato;Transaksjons-ID\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := ParseCSV(bytes.NewReader(data), "fuzz.csv")
		checkReport(t, rep, err)
	})
}

func FuzzParseXLSX(f *testing.F) {
	addSamples(f, "xlsx/*.xlsx")
	f.Add(buildXLSX(f, validSheet(), workbookOptions{}))
	f.Add(buildXLSX(f, withCell(validSheet(), 8, 6, "1 000,00"), workbookOptions{date1904: true}))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := ParseXLSX(bytes.NewReader(data), int64(len(data)), "fuzz.xlsx")
		checkReport(t, rep, err)
	})
}

// FuzzDecimal checks the money parsers against math/big: whatever they accept
// they must read exactly, and formatting must round-trip.
func FuzzDecimal(f *testing.F) {
	for _, s := range []string{"97.75", "-1490.00", "16450,62", "1 234,50", "\u22127,50", "97.749999999999", "1.5E-2",
		"0.005", "10000000000000.00", ".5", "5.", "+0", "1e400", "97.7500", "1\u00a0000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, syn := range []decimalSyntax{dotDecimal, commaDecimal, textDecimal} {
			v, err := parseMinor(s, syn)
			if err != nil {
				continue
			}
			norm := strings.NewReplacer(" ", "", "\u00a0", "", "\u202f", "", ",", ".", "\u2212", "-").Replace(s)
			if strings.HasSuffix(norm, ".") {
				norm += "0"
			}
			want, ok := new(big.Rat).SetString(norm)
			if !ok {
				t.Fatalf("parseMinor(%q) accepted what big.Rat cannot read (%q)", s, norm)
			}
			if got := new(big.Rat).SetFrac64(v, 100); got.Cmp(want) != 0 {
				t.Fatalf("parseMinor(%q) = %d, want %s", s, v, want.FloatString(4))
			}
			if back, err := parseMinor(formatMinor(v), dotDecimal); err != nil || back != v {
				t.Fatalf("formatMinor(%d) = %q reads back as %d, %v", v, formatMinor(v), back, err)
			}
		}
		n, err := parseCellNumber(s)
		if err != nil {
			return
		}
		v, err := n.minor()
		if err != nil {
			return
		}
		exact := new(big.Rat).SetFrac(n.mant, pow10(max(n.scale, 0)))
		if n.scale < 0 {
			exact.SetInt(new(big.Int).Mul(n.mant, pow10(-n.scale)))
		}
		diff := new(big.Rat).Sub(exact, new(big.Rat).SetFrac64(v, 100))
		if diff.Abs(diff).Cmp(big.NewRat(1, 1000000)) > 0 {
			t.Fatalf("cell %q = %d, more than 1e-6 away", s, v)
		}
	})
}
