package reconcile

import (
	"strconv"
	"strings"
)

// MinorUnits is how many decimals the ISO 4217 currency has: 2 unless the
// currency is one of those with none (JPY, ISK, KRW, CLP, VND, ...) or
// three (KWD, BHD, JOD, OMR, TND, IQD, LYD). A code it does not know has 2.
func MinorUnits(currency string) int {
	switch strings.ToUpper(currency) {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF",
		"UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF":
		return 0
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return 3
	case "CLF":
		return 4
	}
	return 2
}

// FormatMinor writes v minor units of currency in major units with the
// currency's own number of decimals and a decimal point, e.g. "-12.50" for
// NOK -1250, "1500" for JPY 1500 and "1.500" for KWD 1500.
func FormatMinor(v int64, currency string) string {
	neg := v < 0
	u := uint64(v)
	if neg {
		u = -u // two's complement: right for math.MinInt64 too
	}
	digits := strconv.FormatUint(u, 10)
	if d := MinorUnits(currency); d > 0 {
		if len(digits) <= d {
			digits = strings.Repeat("0", d-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-d] + "." + digits[len(digits)-d:]
	}
	if neg {
		return "-" + digits
	}
	return digits
}

// money formats minor units for people, e.g. "NOK -12.50".
func money(v int64, currency string) string {
	return currency + " " + FormatMinor(v, currency)
}
