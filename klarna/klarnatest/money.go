package klarnatest

import (
	"strconv"
	"strings"
)

// moneyStyle is how a currency's amounts are written on the checkout page.
type moneyStyle struct {
	prefix, group, decimal string
}

var moneyStyles = map[string]moneyStyle{
	"NOK": {"kr ", " ", ","},
	"DKK": {"kr ", " ", ","},
	"SEK": {"kr ", " ", ","},
	"EUR": {"€ ", " ", ","},
	"USD": {"$", ",", "."},
	"GBP": {"£", ",", "."},
}

// formatAmount writes integer minor units for people, e.g. 149900 NOK as
// "kr 1 499,00". Every currency is taken to have two decimals, as all that
// KCO sells in do. An unknown currency is written with its code.
func formatAmount(minor int64, currency string) string {
	currency = strings.ToUpper(currency)
	style, ok := moneyStyles[currency]
	if !ok {
		style = moneyStyle{currency + " ", " ", ","}
	}
	sign := ""
	// The magnitude as uint64 so that even math.MinInt64 is written right.
	mag := uint64(minor)
	if minor < 0 {
		sign = "-"
		mag = -mag
	}
	whole := strconv.FormatUint(mag/100, 10)
	cents := mag % 100
	var b strings.Builder
	b.WriteString(style.prefix)
	b.WriteString(sign)
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteString(style.group)
		}
		b.WriteRune(r)
	}
	b.WriteString(style.decimal)
	if cents < 10 {
		b.WriteByte('0')
	}
	b.WriteString(strconv.FormatUint(cents, 10))
	return b.String()
}
