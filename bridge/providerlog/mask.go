package providerlog

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Masked replaces personal data in what the provider log keeps.
const Masked = "***"

// personal are the JSON keys whose values are personal data, in the Kustom
// (KCO) order and its addresses (given_name, email, phone, street_address,
// postal_code, ...), the Vipps create body (customer.phoneNumber) and Vipps
// userinfo (name parts, email, phone_number, address, birthdate, nin).
// Every string and number under such a key is masked, however deep, except
// under a key in kept. Amounts, references, ids, states and countries are
// not under these keys: matching and support keep what they need.
var personal = map[string]bool{
	"given_name": true, "family_name": true, "email": true, "phone": true,
	"street_address": true, "street_address2": true, "street_name": true, "street_number": true,
	"house_extension": true, "postal_code": true, "city": true, "region": true,
	"care_of": true, "attention": true, "date_of_birth": true, "national_identification_number": true,
	"phonenumber": true, "phone_number": true, "personalqr": true, "birthdate": true, "nin": true,
	"address": true, "addresses": true, "other_addresses": true, "formatted": true,
	"firstname": true, "lastname": true, "first_name": true, "last_name": true,
	"streetaddress": true, "postalcode": true, "postcode": true, "zip": true, "zipcode": true,
}

// kept are keys whose values stay even inside a personal object.
var kept = map[string]bool{"country": true, "address_type": true}

// MaskPersonal returns body with the values of personal keys masked. A body
// that is not JSON is returned as it is; a JSON body is written back
// compact, its keys in their order, every string as it was spelled.
func MaskPersonal(body string) string {
	trimmed := strings.TrimSpace(body)
	if trimmed == "" || (trimmed[0] != '{' && trimmed[0] != '[') || !json.Valid([]byte(trimmed)) {
		return body
	}
	return maskJSON([]byte(trimmed))
}

// maskJSON writes valid JSON back compact with the values under personal
// keys masked, in one pass over its bytes: the provider log masks every
// exchange, and a token-by-token decoder and encoder was a tenth of a
// redirect's CPU.
func maskJSON(raw []byte) string {
	type frame struct {
		object      bool
		masked      bool // every value in it is masked
		keyNext     bool // in an object: the next string is a key
		valueMasked bool // in an object: the value after the last key is masked
	}
	var stack []frame
	masking := func() bool {
		if len(stack) == 0 {
			return false
		}
		top := &stack[len(stack)-1]
		if top.object {
			return top.valueMasked
		}
		return top.masked
	}
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); {
		switch c := raw[i]; c {
		case ' ', '\t', '\n', '\r':
			i++
		case ',':
			b.WriteByte(',')
			if top := len(stack) - 1; top >= 0 && stack[top].object {
				stack[top].keyNext = true
			}
			i++
		case ':':
			b.WriteByte(':')
			i++
		case '{', '[':
			stack = append(stack, frame{object: c == '{', masked: masking(), keyNext: c == '{'})
			b.WriteByte(c)
			i++
		case '}', ']':
			stack = stack[:len(stack)-1]
			b.WriteByte(c)
			i++
		case '"':
			end := stringEnd(raw, i)
			str := raw[i:end]
			if top := len(stack) - 1; top >= 0 && stack[top].object && stack[top].keyNext {
				lk := strings.ToLower(keyText(str))
				stack[top].valueMasked = !kept[lk] && (stack[top].masked || personal[lk])
				stack[top].keyNext = false
				b.Write(str)
			} else if masking() {
				b.WriteString(maskedJSON)
			} else {
				b.Write(str)
			}
			i = end
		default: // a number, true, false or null
			end := i
			for end < len(raw) && !strings.ContainsRune(",}] \t\n\r", rune(raw[end])) {
				end++
			}
			if tok := raw[i:end]; (tok[0] == '-' || (tok[0] >= '0' && tok[0] <= '9')) && masking() {
				b.WriteString(maskedJSON)
			} else {
				b.Write(tok)
			}
			i = end
		}
	}
	return b.String()
}

// maskedJSON is Masked as a JSON string.
const maskedJSON = `"` + Masked + `"`

// stringEnd returns the index just past the JSON string that starts at
// raw[start] (a quote); raw is valid JSON.
func stringEnd(raw []byte, start int) int {
	for i := start + 1; i < len(raw); i++ {
		switch raw[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(raw)
}

// keyText is a quoted key's text: as it is, or unescaped when it holds an
// escape (so that "given\u005fname" is given_name).
func keyText(quoted []byte) string {
	if bytes.IndexByte(quoted, '\\') < 0 {
		return string(quoted[1 : len(quoted)-1])
	}
	var k string
	if err := json.Unmarshal(quoted, &k); err != nil {
		return string(quoted)
	}
	return k
}
