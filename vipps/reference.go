package vipps

// referencePattern is the rule ValidReference applies.
const referencePattern = `^[a-zA-Z0-9-]{8,64}$`

// ValidReference reports whether ref is a reference the live ePayment API
// accepts for a new payment: 8 to 64 characters of a-z, A-Z, 0-9 and "-"
// (^[a-zA-Z0-9-]{8,64}$). The limit has been 64 since ePayment v1.7.0
// (January 2025); the saved spec (v1.4.1) and the eCom orderId still say 50,
// so a reference meant to work everywhere should stay within 50. References
// are unique per sales unit and case-sensitive.
func ValidReference(ref string) bool {
	if len(ref) < 8 || len(ref) > 64 {
		return false
	}
	for i := 0; i < len(ref); i++ {
		c := ref[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
