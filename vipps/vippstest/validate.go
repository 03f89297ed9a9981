package vippstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
)

// The fake validates request bodies field by field against the spec rather
// than decoding into structs: unknown optional fields are accepted (the real
// API accepts them), while a wrong type, a decimal amount, a missing
// required field or a value outside its pattern or enum is a 400 naming the
// field, as at Vipps.

type fieldErrors []extraDetail

func field(name, reason string) extraDetail { return extraDetail{Name: name, Reason: reason} }

func (f *fieldErrors) add(name, format string, args ...any) {
	*f = append(*f, field(name, fmt.Sprintf(format, args...)))
}

// object is a decoded JSON object whose values are still raw.
type object map[string]json.RawMessage

// parseObject decodes raw as a JSON object; anything else (an array, a
// string, null, malformed JSON) fails.
func parseObject(raw []byte) (object, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	var o object
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, false
	}
	return o, true
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// get returns a field that is present and not null.
func (o object) get(key string) (json.RawMessage, bool) {
	raw, ok := o[key]
	if !ok || isNull(raw) {
		return nil, false
	}
	return bytes.TrimSpace(raw), true
}

func (f *fieldErrors) missing(path, key string, required bool) {
	if required {
		f.add(join(path, key), "The %s field is required.", key)
	}
}

func (f *fieldErrors) str(o object, path, key string, required bool) (string, bool) {
	raw, ok := o.get(key)
	if !ok {
		f.missing(path, key, required)
		return "", false
	}
	var v string
	if raw[0] != '"' || json.Unmarshal(raw, &v) != nil {
		f.add(join(path, key), "The JSON value could not be converted to System.String.")
		return "", false
	}
	return v, true
}

// strLen is str with a length range in characters.
func (f *fieldErrors) strLen(o object, path, key string, required bool, minLen, maxLen int) (string, bool) {
	v, ok := f.str(o, path, key, required)
	if !ok {
		return "", false
	}
	if n := len([]rune(v)); n < minLen || n > maxLen {
		f.add(join(path, key), "The field %s must be a string with a minimum length of %d and a maximum length of %d.", key, minLen, maxLen)
		return "", false
	}
	return v, true
}

func (f *fieldErrors) pattern(o object, path, key string, required bool, re *regexp.Regexp) (string, bool) {
	v, ok := f.str(o, path, key, required)
	if !ok {
		return "", false
	}
	if !re.MatchString(v) {
		f.add(join(path, key), "The field %s must match the regular expression '%s'.", key, re.String())
		return "", false
	}
	return v, true
}

func (f *fieldErrors) enum(o object, path, key string, required bool, allowed ...string) (string, bool) {
	v, ok := f.str(o, path, key, required)
	if !ok {
		return "", false
	}
	for _, a := range allowed {
		if v == a {
			return v, true
		}
	}
	f.add(join(path, key), "The value '%s' is not valid for %s. Allowed values: %v.", v, key, allowed)
	return "", false
}

var integerLiteral = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// integer accepts only a JSON integer literal: 100.0, 1e2 and "100" are
// rejected, as the real API rejects them for int64 fields.
func (f *fieldErrors) integer(o object, path, key string, required bool, minV, maxV int64) (int64, bool) {
	raw, ok := o.get(key)
	if !ok {
		f.missing(path, key, required)
		return 0, false
	}
	name := join(path, key)
	if !integerLiteral.Match(raw) {
		f.add(name, "The JSON value could not be converted to System.Int64.")
		return 0, false
	}
	v, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		f.add(name, "The JSON value could not be converted to System.Int64.")
		return 0, false
	}
	if v < minV || v > maxV {
		f.add(name, "The field %s must be between %d and %d.", key, minV, maxV)
		return 0, false
	}
	return v, true
}

func (f *fieldErrors) boolean(o object, path, key string, required bool) (bool, bool) {
	raw, ok := o.get(key)
	if !ok {
		f.missing(path, key, required)
		return false, false
	}
	switch string(raw) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	f.add(join(path, key), "The JSON value could not be converted to System.Boolean.")
	return false, false
}

func (f *fieldErrors) object(o object, path, key string, required bool) (object, bool) {
	raw, ok := o.get(key)
	if !ok {
		f.missing(path, key, required)
		return nil, false
	}
	v, ok := parseObject(raw)
	if !ok {
		f.add(join(path, key), "The %s field must be a JSON object.", key)
		return nil, false
	}
	return v, true
}

func (f *fieldErrors) array(o object, path, key string, required bool) ([]json.RawMessage, bool) {
	raw, ok := o.get(key)
	if !ok {
		f.missing(path, key, required)
		return nil, false
	}
	var v []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &v) != nil {
		f.add(join(path, key), "The %s field must be a JSON array.", key)
		return nil, false
	}
	return v, true
}

// amount validates an Amount object: currency in the enum, value an
// integer in 0…65 000 000.
func (f *fieldErrors) amount(o object, path, key string) (Amount, bool) {
	a, ok := f.object(o, path, key, true)
	if !ok {
		return Amount{}, false
	}
	p := join(path, key)
	cur, okC := f.enum(a, p, "currency", true, "NOK", "DKK", "EUR")
	val, okV := f.integer(a, p, "value", true, 0, 65000000)
	return Amount{Currency: cur, Value: val}, okC && okV
}
