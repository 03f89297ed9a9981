package providerlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"unicode/utf8"
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
// compact, its keys in their order.
func MaskPersonal(body string) string {
	trimmed := strings.TrimSpace(body)
	if trimmed == "" || (trimmed[0] != '{' && trimmed[0] != '[') || !json.Valid([]byte(trimmed)) {
		return body
	}
	if out, ok := compactWithoutPersonal([]byte(trimmed)); ok {
		return out
	}
	out, err := maskJSON([]byte(trimmed))
	if err != nil {
		// Valid JSON always rewrites; should it not, keep nothing rather
		// than personal data.
		return Masked
	}
	return out
}

// compactWithoutPersonal is MaskPersonal's quick path, for the bodies
// (most of them: every read of a payment) that name no personal key: such
// a body is only written back compact, which json.Compact does far faster
// than the token-by-token rewrite. It declines (false) a body that might
// name one: a key is a quoted string, so any personal word in quotes, in
// any case, sends it down the slow path. It declines as well a body the
// rewrite would spell differently: one with a backslash (escapes, which
// the rewrite writes its own way), invalid UTF-8 or U+2028/U+2029.
func compactWithoutPersonal(raw []byte) (string, bool) {
	if bytes.IndexByte(raw, '\\') >= 0 || !utf8.Valid(raw) || bytes.ContainsRune(raw, '\u2028') || bytes.ContainsRune(raw, '\u2029') {
		return "", false
	}
	lower := bytes.ToLower(raw)
	for _, k := range personalQuoted {
		if bytes.Contains(lower, k) {
			return "", false
		}
	}
	var b bytes.Buffer
	b.Grow(len(raw))
	if err := json.Compact(&b, raw); err != nil {
		return "", false
	}
	return b.String(), true
}

// personalQuoted are the personal keys as they appear in a body: quoted.
var personalQuoted = func() [][]byte {
	var ks [][]byte
	for k := range personal {
		ks = append(ks, []byte(`"`+k+`"`))
	}
	return ks
}()

type frame struct {
	object  bool
	keyNext bool // in an object: the next token is a key
	n       int  // values (or pairs) written
	masked  bool // every value in it is masked
	// for the value after a key:
	valueMasked bool
}

func maskJSON(raw []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var b bytes.Buffer
	var stack []*frame
	writeString := func(s string) {
		var sb bytes.Buffer
		enc := json.NewEncoder(&sb)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(s)
		b.Write(bytes.TrimRight(sb.Bytes(), "\n"))
	}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			b.WriteByte(byte(d))
			stack = stack[:len(stack)-1]
			if len(stack) > 0 && stack[len(stack)-1].object {
				stack[len(stack)-1].keyNext = true
			}
			continue
		}
		if top != nil && top.object && top.keyNext {
			k, _ := tok.(string)
			if top.n > 0 {
				b.WriteByte(',')
			}
			top.n++
			writeString(k)
			b.WriteByte(':')
			lk := strings.ToLower(k)
			top.valueMasked = !kept[lk] && (top.masked || personal[lk])
			top.keyNext = false
			continue
		}
		mask := false
		if top != nil {
			if top.object {
				mask = top.valueMasked
			} else {
				if top.n > 0 {
					b.WriteByte(',')
				}
				top.n++
				mask = top.masked
			}
		}
		switch v := tok.(type) {
		case json.Delim:
			b.WriteByte(byte(v))
			stack = append(stack, &frame{object: v == '{', keyNext: v == '{', masked: mask})
			continue
		case string:
			if mask {
				writeString(Masked)
			} else {
				writeString(v)
			}
		case json.Number:
			if mask {
				writeString(Masked)
			} else {
				b.WriteString(v.String())
			}
		case bool:
			if v {
				b.WriteString("true")
			} else {
				b.WriteString("false")
			}
		case nil:
			b.WriteString("null")
		}
		if top != nil && top.object {
			top.keyNext = true
		}
	}
	return b.String(), nil
}
