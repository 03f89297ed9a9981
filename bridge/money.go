package bridge

import "fmt"

// Money is an amount in integer minor units of an ISO 4217 currency. There
// are no floats anywhere in this product.
type Money struct {
	Value    int64  `json:"value"`
	Currency string `json:"currency"`
}

// String formats m in major units with two decimals, e.g. "NOK 1499.00".
func (m Money) String() string {
	sign := ""
	v := m.Value
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s %s%d.%02d", m.Currency, sign, v/100, v%100)
}
