package vipps

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestValidReference(t *testing.T) {
	tests := []struct {
		ref  string
		want bool
	}{
		{"acme-order-1234-1", true},
		{"f3b8a1c2-0d4e-4f6a-8b9c-1d2e3f4a5b6c-12", true}, // a KCO order id plus an attempt suffix
		{"12345678", true},
		{"1234567", false},
		{strings.Repeat("a", 50), true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"acme_order_1234", false},
		{"acme order 1234", false},
		{"acme/order/1234", false},
		{"ordre-blåbær-1", false},
		{"", false},
	}
	re := regexp.MustCompile(referencePattern)
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			assert.Equal(t, tt.want, ValidReference(tt.ref))
			assert.Equal(t, re.MatchString(tt.ref), ValidReference(tt.ref), "matches the documented pattern")
		})
	}
}
