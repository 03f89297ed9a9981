package vipps

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNormalizeMSISDN(t *testing.T) {
	tests := []struct {
		phone, country string
		want           string
		ok             bool
	}{
		// Norway: 8-digit national numbers, no trunk prefix.
		{"91234567", "NO", "4791234567", true},
		{"912 34 567", "NO", "4791234567", true},
		{"91 23 45 67", "no", "4791234567", true},
		{"+47 912 34 567", "NO", "4791234567", true},
		{"(+47) 91 23 45 67", "NO", "4791234567", true},
		{"0047 91234567", "NO", "4791234567", true},
		{"4791234567", "NO", "4791234567", true},
		{"+47-912-34-567", "", "4791234567", true},
		{"091234567", "NO", "", false},
		{"9123456", "NO", "", false},
		{"912345678", "NO", "", false},
		// Denmark.
		{"12 34 56 78", "DK", "4512345678", true},
		{"+45 12345678", "NO", "4512345678", true},
		// Sweden and Finland: a trunk 0 in national numbers.
		{"070-123 45 67", "SE", "46701234567", true},
		{"+46 (0)70 123 45 67", "SE", "46701234567", true},
		{"040 123 4567", "FI", "358401234567", true},
		{"+358 40 1234567", "", "358401234567", true},
		// Without a known country only international numbers pass.
		{"91234567", "", "", false},
		{"91234567", "DE", "", false},
		// Garbage.
		{"", "NO", "", false},
		{"+", "NO", "", false},
		{"00", "NO", "", false},
		{"9123456a", "NO", "", false},
		{"+47 912+34567", "NO", "", false},
		{"++4791234567", "NO", "", false},
		{"+0 123456789", "", "", false},
		{"+1234567890123456", "", "", false},
		{"４７９１２３４５６７", "NO", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.phone+"/"+tt.country, func(t *testing.T) {
			got, ok := NormalizeMSISDN(tt.phone, tt.country)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

var msisdnPattern = regexp.MustCompile(`^\d{10,15}$`)

func FuzzNormalizeMSISDN(f *testing.F) {
	for _, s := range []string{"91234567", "+47 912 34 567", "0047 91234567", "070-123 45 67", "+46 (0)70 123 45 67", ""} {
		f.Add(s, "NO")
	}
	f.Fuzz(func(t *testing.T, phone, country string) {
		got, ok := NormalizeMSISDN(phone, country)
		if ok != msisdnPattern.MatchString(got) {
			t.Fatalf("NormalizeMSISDN(%q, %q) = %q, %v", phone, country, got, ok)
		}
		if ok {
			if again, ok2 := NormalizeMSISDN(got, country); !ok2 || again != got {
				t.Fatalf("not idempotent: %q -> %q (%v)", got, again, ok2)
			}
		}
	})
}
