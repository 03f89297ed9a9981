package vipps

import "strings"

// countryNumbering is what NormalizeMSISDN knows of a market's numbering:
// the country calling code, the length of a national number written without
// a trunk prefix (Norway and Denmark have no trunk prefix: all numbers are 8
// digits), and whether national numbers are written with a leading trunk
// "0" (Sweden and Finland).
type countryNumbering struct {
	code        string
	localDigits int
	trunkZero   bool
}

var numbering = map[string]countryNumbering{
	"NO": {code: "47", localDigits: 8},
	"DK": {code: "45", localDigits: 8},
	"SE": {code: "46", trunkZero: true},
	"FI": {code: "358", trunkZero: true},
}

// NormalizeMSISDN turns a phone number as a shopper typed it into the MSISDN
// that ePayment wants (country code and subscriber number, digits only, e.g.
// 4791234567). Spaces, dashes, dots, slashes and parentheses are dropped
// (and a "(0)" after an international prefix); a leading "+" or "00" marks
// an international number. A national number is completed
// with the country code of defaultCountry (ISO 3166 alpha-2: NO, DK, SE or
// FI): 8 digits in Norway and Denmark, a leading trunk "0" in Sweden and
// Finland. A number of 10 to 15 digits without a prefix is taken as already
// international. ok is false when the result is not 10 to 15 digits or the
// input holds anything else.
//
// The result only pre-fills the Vipps landing page; it is not proof that
// the number exists or belongs to the shopper.
func NormalizeMSISDN(phone, defaultCountry string) (string, bool) {
	phone = strings.TrimSpace(phone)
	if strings.HasPrefix(phone, "+") || strings.HasPrefix(phone, "00") {
		// "+46 (0)70 123 45 67": the national trunk 0 in parentheses is
		// not dialled after the country code.
		phone = strings.ReplaceAll(phone, "(0)", "")
	}
	var b strings.Builder
	for _, r := range phone {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && b.Len() == 0:
			b.WriteRune(r)
		case r == ' ' || r == '\t' || r == '\u00a0' || r == '-' || r == '.' || r == '(' || r == ')' || r == '/':
		default:
			return "", false
		}
	}
	digits := b.String()
	international := false
	switch {
	case strings.HasPrefix(digits, "+"):
		digits, international = digits[1:], true
	case strings.HasPrefix(digits, "00"):
		digits, international = digits[2:], true
	}
	if !international {
		if n, known := numbering[strings.ToUpper(strings.TrimSpace(defaultCountry))]; known {
			switch {
			case n.trunkZero && strings.HasPrefix(digits, "0"):
				digits = n.code + digits[1:]
			case strings.HasPrefix(digits, "0"):
				// Norway and Denmark have no trunk prefix: a leading 0 is a
				// typing error, not a national number.
				return "", false
			case n.localDigits > 0 && len(digits) == n.localDigits:
				digits = n.code + digits
			}
		}
	}
	if len(digits) < 10 || len(digits) > 15 || digits[0] == '0' {
		return "", false
	}
	return digits, true
}
