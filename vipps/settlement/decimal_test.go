package settlement

import (
	"math"
	"strings"
	"testing"
)

func TestParseMinor(t *testing.T) {
	tests := []struct {
		in   string
		syn  decimalSyntax
		want int64
		err  string // substring; "" means success
	}{
		{"97.75", dotDecimal, 9775, ""},
		{"-1490.00", dotDecimal, -149000, ""},
		{"+5", dotDecimal, 500, ""},
		{"0", dotDecimal, 0, ""},
		{"-0.00", dotDecimal, 0, ""},
		{"0.1", dotDecimal, 10, ""},
		{".5", dotDecimal, 50, ""},
		{"5.", dotDecimal, 500, ""},
		{"0097.75", dotDecimal, 9775, ""},
		{"97.750", xsDecimal, 9775, ""},
		{"97.750", dotDecimal, 0, `amount "97.750" is ambiguous`},
		// One separator and three digits is a decimal or a grouped
		// thousand; where the format does not settle which, it is refused.
		{"1.500", dotDecimal, 0, `amount "1.500" is ambiguous: '.' followed by three digits is a decimal separator (1.50) or groups thousands (1500)`},
		{"-12.000", dotDecimal, 0, "is ambiguous"},
		{"1,500", commaDecimal, 0, "is ambiguous"},
		{"1,500", textDecimal, 0, `amount "1,500" is ambiguous: ',' followed by three digits`},
		{"1.500", textDecimal, 0, "is ambiguous"},
		{"\u2212100,000", textDecimal, 0, "is ambiguous"},
		{"+999.000", textDecimal, 0, "is ambiguous"},
		// Settled: xs:decimal, four integer digits, a leading zero, space
		// grouping, two decimals; a last digit other than 0 is no amount.
		{"1.500", xsDecimal, 150, ""},
		{"1234.500", dotDecimal, 123450, ""},
		{"0.500", dotDecimal, 50, ""},
		{"1 500,000", textDecimal, 150000, ""},
		{"1,50", textDecimal, 150, ""},
		{"1,5000", textDecimal, 150, ""},
		{"1,234", textDecimal, 0, "more than 2 fraction digits"},
		{"97.75000000000000000000", dotDecimal, 9775, ""},
		{"10000000000000.00", dotDecimal, MaxAmount, ""},
		{"-10000000000000", dotDecimal, -MaxAmount, ""},
		{"10000000000000.01", dotDecimal, 0, "out of range"},
		{"92233720368547758.00", dotDecimal, 0, "out of range"},
		{"99999999999999999999", dotDecimal, 0, "out of range"},
		{"97.751", dotDecimal, 0, "more than 2 fraction digits"},
		{"0.001", dotDecimal, 0, "more than 2 fraction digits"},
		{"1e2", dotDecimal, 0, "exponent"},
		{"1.5E-2", dotDecimal, 0, "exponent"},
		{"", dotDecimal, 0, "empty amount"},
		{"-", dotDecimal, 0, "no digits"},
		{".", dotDecimal, 0, "no digits"},
		{"+-1", dotDecimal, 0, "invalid character"},
		{" 97.75", dotDecimal, 0, "invalid character"},
		{"97.75 ", dotDecimal, 0, "invalid character"},
		{"97,75", dotDecimal, 0, "unexpected ','"},
		{"1.20.5", dotDecimal, 0, "unexpected '.'"},
		{"1.234.50", dotDecimal, 0, "more than 2 fraction digits"},
		{"1 234.50", dotDecimal, 0, "invalid character ' '"},
		{"NaN", dotDecimal, 0, "invalid character"},
		{"Inf", dotDecimal, 0, "invalid character"},
		{"0x10", dotDecimal, 0, "invalid character"},
		{"１２", dotDecimal, 0, "invalid character"},
		{"16450,62", commaDecimal, 1645062, ""},
		{"-61,09", commaDecimal, -6109, ""},
		{"16450.62", commaDecimal, 0, "unexpected '.'"},
		{"1 234,50", textDecimal, 123450, ""},
		{"1\u00a0234,50", textDecimal, 123450, ""},
		{"1\u202f234\u202f567,5", textDecimal, 123456750, ""},
		{"\u22121 234,50", textDecimal, -123450, ""},
		{"1234.50", textDecimal, 123450, ""},
		{"12 34,50", textDecimal, 0, "misplaced digit group separator"},
		{"1234 567", textDecimal, 0, "misplaced digit group separator"},
		{" 1", textDecimal, 0, "misplaced digit group separator"},
		{"1 ", textDecimal, 0, "misplaced digit group separator"},
		{"1  234", textDecimal, 0, "misplaced digit group separator"},
		{"1,2,3", textDecimal, 0, "unexpected ','"},
	}
	for _, tt := range tests {
		got, err := parseMinor(tt.in, tt.syn)
		if tt.err == "" {
			if err != nil || got != tt.want {
				t.Errorf("parseMinor(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("parseMinor(%q) = %d, %v; want error containing %q", tt.in, got, err, tt.err)
		}
	}
}

func TestFormatMinor(t *testing.T) {
	for v, want := range map[int64]string{0: "0.00", 5: "0.05", -5: "-0.05", 9775: "97.75", -149000: "-1490.00",
		math.MaxInt64: "92233720368547758.07", math.MinInt64 + 1: "-92233720368547758.07"} {
		if got := formatMinor(v); got != want {
			t.Errorf("formatMinor(%d) = %q, want %q", v, got, want)
		}
	}
}

func TestCellNumberMinor(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  string
	}{
		{"97.75", 9775, ""},
		{"1490", 149000, ""},
		{"-7.5", -750, ""},
		{"0", 0, ""},
		{"97.749999999999", 9775, ""},      // binary noise just below
		{"97.750000000001", 9775, ""},      // and just above
		{"-2.2499999999999", -225, ""},     // negative noise, rounds away from zero
		{"0.30000000000000004", 30, ""},    // 0.1 + 0.2
		{"97.7549999", 9776, "not within"}, // 0.0049999 away: not noise
		{"97.745", 0, "not within"},        // an exact half cent is not an amount
		{"97.7450001", 0, "not within"},
		{"100.005", 0, "not within"},
		{"97.751", 0, "not within"},
		{"97.750001", 9775, ""}, // exactly 1e-6 away is still within
		{"97.7500011", 0, "not within"},
		{"1.0E2", 10000, ""},
		{"9.775E1", 9775, ""},
		{"1E-2", 1, ""},
		{"1E-3", 0, "not within"},
		{"1.5e+3", 150000, ""},
		{"1E13", MaxAmount, ""},
		{"1.00000000000001E13", 0, "out of range"},
		{"9.2233720368547759E16", 0, "out of range"},
		{"0." + strings.Repeat("0", 98) + "1", 0, "too long"},
		{"1E400", 0, "out of range"},
		{"1E401", 0, "invalid exponent"},
		{"1E", 0, "invalid exponent"},
		{"", 0, "empty amount"},
		{"-", 0, "not a number"},
		{"abc", 0, "not a number"},
		{"1.2.3", 0, "unexpected '.'"},
		{"1,5", 0, "unexpected ','"},
		{"0x1p3", 0, "invalid character 'x'"},
	}
	for _, tt := range tests {
		n, err := parseCellNumber(tt.in)
		var got int64
		if err == nil {
			got, err = n.minor()
		}
		if tt.err == "" {
			if err != nil || got != tt.want {
				t.Errorf("cell %q = %d, %v; want %d", tt.in, got, err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("cell %q = %d, %v; want error containing %q", tt.in, got, err, tt.err)
		}
	}
}

func TestCellNumberInteger(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"5691969089", "5691969089", ""},
		{"5.691969089E9", "5691969089", ""},
		{"99999999999", "99999999999", ""},
		{"12.0", "12", ""},
		{"12.5", "", "not a whole number"},
	}
	for _, tt := range tests {
		n, err := parseCellNumber(tt.in)
		var got string
		if err == nil {
			got, err = n.integer()
		}
		if (tt.err == "" && (err != nil || got != tt.want)) || (tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err))) {
			t.Errorf("integer(%q) = %q, %v; want %q %q", tt.in, got, err, tt.want, tt.err)
		}
	}
}
