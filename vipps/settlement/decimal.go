package settlement

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Money is parsed from its decimal text straight into int64 minor units (øre,
// cents). No value ever passes through a float: a float cannot hold 0.10
// exactly, and a settlement must add up to the øre.

// decimalSyntax says which spellings of a decimal amount a field accepts.
type decimalSyntax struct {
	dot      bool // '.' may separate the fraction
	comma    bool // ',' may separate the fraction
	grouping bool // spaces (also U+00A0, U+202F) may group the integer digits by three, and U+2212 is a minus
	// settled says the format itself makes the separator a decimal one
	// (xs:decimal has no digit grouping), so that "1.500" is 1.50. Where it
	// does not, an amount that could be a grouped thousand is refused: see
	// ambiguousThousand.
	settled bool
}

var (
	// xsDecimal is the XML's xs:decimal: "97.75", "97.750", "-1490.00",
	// "+5", ".5". The dot is always the decimal separator.
	xsDecimal = decimalSyntax{dot: true, settled: true}
	// dotDecimal is the CSV amounts: "97.75", "-1490.00", "+5", ".5". The
	// CSV writes a dot, but the Vipps sample also writes an unquoted
	// decimal comma, so the file does not settle a separator.
	dotDecimal = decimalSyntax{dot: true}
	// commaDecimal is the one documented decimal-comma spelling: the CSV
	// sample's unquoted "16450,62", recovered by joining two fields.
	commaDecimal = decimalSyntax{comma: true}
	// textDecimal is an amount a spreadsheet stored as formatted text:
	// "1 234,50", "1234.50", "−7,50".
	textDecimal = decimalSyntax{dot: true, comma: true, grouping: true}
)

// maxUnits is the largest integer part whose minor units (with any two
// decimals) fit in int64; it keeps the digit loop from overflowing.
const maxUnits = (math.MaxInt64 - 99) / 100

// MaxAmount is the largest magnitude of an amount, in minor units
// (10,000,000,000,000.00 in major units), far above any real settlement. The
// bound keeps every sum of a few amounts, and of millions of transactions, far
// from int64 overflow, so arithmetic on parsed amounts is exact.
const MaxAmount = 1_000_000_000_000_000

var (
	errEmptyAmount = errors.New("empty amount")
	errExponent    = errors.New("exponent notation is not accepted for amounts")
	errRange       = errors.New("amount out of range (more than 10000000000000.00)")
	// errAmbiguous is an amount that reads as a decimal and as a grouped
	// thousand ("1,500"); see ambiguousThousand.
	errAmbiguous = errors.New("ambiguous")
)

// parseMinor parses a decimal amount in major units ("97.75") into minor units
// (9775). It accepts at most two fraction digits, or more when the extra ones
// are zeros ("97.750"); it rejects exponents, empty strings, stray characters
// and magnitudes above MaxAmount. Unless syn is settled, it also rejects an
// amount that may be a grouped thousand (see ambiguousThousand).
func parseMinor(s string, syn decimalSyntax) (int64, error) {
	if s == "" {
		return 0, errEmptyAmount
	}
	i := 0
	neg := false
	switch {
	case s[0] == '-' || s[0] == '+':
		neg = s[0] == '-'
		i = 1
	case syn.grouping && strings.HasPrefix(s, "\u2212"):
		neg = true
		i = len("\u2212")
	}

	var units int64 // integer part so far
	intDigits, groupDigits, groups := 0, 0, 0
	for i < len(s) {
		c := s[i]
		if c >= '0' && c <= '9' {
			if units > (maxUnits-int64(c-'0'))/10 {
				return 0, errRange
			}
			units = units*10 + int64(c-'0')
			intDigits++
			groupDigits++
			i++
			continue
		}
		if syn.grouping {
			if n := groupSeparatorLen(s[i:]); n > 0 {
				if intDigits == 0 || (groups == 0 && groupDigits > 3) || (groups > 0 && groupDigits != 3) {
					return 0, fmt.Errorf("misplaced digit group separator in %q", s)
				}
				groups++
				groupDigits = 0
				i += n
				continue
			}
		}
		break
	}
	if groups > 0 && groupDigits != 3 {
		return 0, fmt.Errorf("misplaced digit group separator in %q", s)
	}

	var frac int64
	fracDigits := 0
	if i < len(s) && ((s[i] == '.' && syn.dot) || (s[i] == ',' && syn.comma)) {
		if !syn.settled && groups == 0 && ambiguousThousand(s[i-intDigits:]) {
			return 0, fmt.Errorf("amount %q is %w: %q followed by three digits is a decimal separator (%s) or groups thousands (%s); write it with two decimals",
				s, errAmbiguous, s[i], s[:i]+"."+s[i+1:i+3], s[:i]+s[i+1:])
		}
		i++
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			if fracDigits < 2 {
				frac = frac*10 + int64(s[i]-'0')
			} else if s[i] != '0' {
				return 0, fmt.Errorf("%q has more than 2 fraction digits", s)
			}
			fracDigits++
		}
		if intDigits == 0 && fracDigits == 0 {
			return 0, fmt.Errorf("%q has no digits", s)
		}
	} else if intDigits == 0 {
		if i < len(s) {
			return 0, invalidChar(s, i)
		}
		return 0, fmt.Errorf("%q has no digits", s)
	}
	if i < len(s) {
		return 0, invalidChar(s, i)
	}
	if fracDigits == 1 {
		frac *= 10
	}
	v := units*100 + frac // cannot overflow: units <= maxUnits
	if v > MaxAmount {
		return 0, errRange
	}
	if neg {
		v = -v
	}
	return v, nil
}

// ambiguousThousand reports whether the digits and separator of an amount
// (s is the amount from its first digit on, "1.500", "12,000") can be read
// both as a decimal and as a thousand grouped with that separator: one to
// three digits, not starting with a zero, one separator, and exactly three
// digits after it. "1,500" is 1.50 to one reader and 1500 to another; a
// file that writes the amount so does not say which, so it is refused
// rather than silently shrunk a thousandfold. (A last digit other than
// zero, "1,234", is refused anyway: three decimals are no amount.)
// "1234.500" (four digits
// before) and "0.500" (a leading zero) are no grouping, and "1 500,000"
// groups with spaces, which makes its comma the decimal one.
func ambiguousThousand(s string) bool {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	if n < 1 || n > 3 || s[0] == '0' || len(s) != n+4 || (s[n] != '.' && s[n] != ',') {
		return false
	}
	for _, c := range []byte(s[n+1:]) {
		if c < '0' || c > '9' {
			return false
		}
	}
	// With a last digit other than 0 ("1,234") the decimal reading has too
	// many decimals, and the amount is refused for that already.
	return s[n+3] == '0'
}

func groupSeparatorLen(s string) int {
	switch {
	case s[0] == ' ':
		return 1
	case strings.HasPrefix(s, "\u00a0"):
		return len("\u00a0")
	case strings.HasPrefix(s, "\u202f"):
		return len("\u202f")
	}
	return 0
}

func invalidChar(s string, i int) error {
	switch s[i] {
	case 'e', 'E':
		return errExponent
	case '.', ',':
		return fmt.Errorf("unexpected %q in amount %q", s[i], s)
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return fmt.Errorf("invalid character %q in amount %q", r, s)
}

// formatMinor writes minor units as a major-unit decimal with two fraction
// digits, the inverse of parseMinor with dotDecimal.
func formatMinor(v int64) string {
	sign := ""
	u := uint64(v)
	if v < 0 {
		sign = "-"
		u = uint64(-v)
	}
	return fmt.Sprintf("%s%d.%02d", sign, u/100, u%100)
}

// cellNumber is the exact value of a spreadsheet numeric cell's text:
// mant × 10^-scale.
type cellNumber struct {
	text  string
	mant  *big.Int
	scale int
}

// maxCellExponent bounds the exponent of a numeric cell. Excel's own range
// is ±308; the bound keeps a hostile file from making huge powers of ten.
const maxCellExponent = 400

// maxCellNumberLen bounds the text of a numeric cell; Excel writes at most
// 17 significant digits and an exponent, some two dozen characters.
const maxCellNumberLen = 100

// parseCellNumber reads the text of an XLSX numeric cell (<v>97.75</v>,
// <v>1490</v>, <v>97.749999999999</v>, <v>1.5E-2</v>) as an exact decimal.
// Excel writes the shortest text that round-trips its binary double, so the
// text, not the double, is what the file says.
func parseCellNumber(s string) (cellNumber, error) {
	if s == "" {
		return cellNumber{}, errEmptyAmount
	}
	if len(s) > maxCellNumberLen {
		return cellNumber{}, fmt.Errorf("number of %d characters is too long", len(s))
	}
	i := 0
	neg := false
	if s[0] == '-' || s[0] == '+' {
		neg = s[0] == '-'
		i++
	}
	start := i
	digits := make([]byte, 0, len(s))
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		digits = append(digits, s[i])
	}
	scale := 0
	if i < len(s) && s[i] == '.' {
		i++
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			digits = append(digits, s[i])
			scale++
		}
	}
	if len(digits) == 0 {
		return cellNumber{}, fmt.Errorf("%q is not a number", s[start:])
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		exp, err := strconv.Atoi(s[i+1:])
		if err != nil || exp > maxCellExponent || exp < -maxCellExponent {
			return cellNumber{}, fmt.Errorf("%q has an invalid exponent", s)
		}
		scale -= exp
		i = len(s)
	}
	if i < len(s) {
		return cellNumber{}, invalidChar(s, i)
	}
	m, _ := new(big.Int).SetString(string(digits), 10)
	if neg {
		m.Neg(m)
	}
	return cellNumber{text: s, mant: m, scale: scale}, nil
}

// cellTolerance is how far, in units of 10^-cellToleranceExp, a numeric cell
// may be from a two-decimal amount and still be taken as that amount: 1e-6.
const cellToleranceExp = 6

// minor converts the cell value to minor units. A value with at most two
// decimals is exact. A value with more is rounded half away from zero to two
// decimals only when it lies within 1e-6 of the result (binary noise such as
// 97.749999999999 for 97.75); anything farther (0.005, 1.23456) is an error,
// because it is not an amount of money.
func (n cellNumber) minor() (int64, error) {
	v := new(big.Int)
	if n.scale <= 2 {
		v.Mul(n.mant, pow10(2-n.scale))
	} else {
		unit := pow10(n.scale - 2)
		abs := new(big.Int).Abs(n.mant)
		q, r := new(big.Int).QuoRem(abs, unit, new(big.Int))
		diff := new(big.Int).Set(r)
		if twice := new(big.Int).Lsh(r, 1); twice.Cmp(unit) >= 0 {
			q.Add(q, big.NewInt(1))
			diff.Sub(unit, r)
		}
		// diff is in units of 10^-scale; allowed when diff × 10^6 ≤ 10^scale.
		if diff.Mul(diff, pow10(cellToleranceExp)).Cmp(pow10(n.scale)) > 0 {
			return 0, fmt.Errorf("%s is not within 1e-6 of an amount with 2 decimals", n)
		}
		if n.mant.Sign() < 0 {
			q.Neg(q)
		}
		v = q
	}
	if !v.IsInt64() || v.Int64() > MaxAmount || v.Int64() < -MaxAmount {
		return 0, errRange
	}
	return v.Int64(), nil
}

// integer returns the cell value as an integer in decimal digits, for ids and
// account numbers Excel stored as numbers; a fraction is an error.
func (n cellNumber) integer() (string, error) {
	if n.scale <= 0 {
		return new(big.Int).Mul(n.mant, pow10(-n.scale)).String(), nil
	}
	q, r := new(big.Int).QuoRem(n.mant, pow10(n.scale), new(big.Int))
	if r.Sign() != 0 {
		return "", fmt.Errorf("%s is not a whole number", n)
	}
	return q.String(), nil
}

// floor returns the integer part of a non-negative cell value, for date
// serials that carry a time of day; ok is false for negatives or huge values.
func (n cellNumber) floor() (int64, bool) {
	if n.mant.Sign() < 0 {
		return 0, false
	}
	q := new(big.Int).Set(n.mant)
	if n.scale > 0 {
		q.Quo(q, pow10(n.scale))
	} else {
		q.Mul(q, pow10(-n.scale))
	}
	if !q.IsInt64() {
		return 0, false
	}
	return q.Int64(), true
}

func (n cellNumber) String() string { return n.text }

func pow10(n int) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
}
