package vippstest

import (
	"bytes"
	"encoding/json"
)

// Idempotency on create, capture, cancel and refund: the first answer to a
// key is stored (2xx and 4xx alike) and replayed for a retry with the same
// body, with no second effect. A retry with another body is a 409. A key
// that got a 4xx keeps getting it, even once the request would succeed.
// Keys are scoped per MSN, operation and (for modifications) reference.

type idemScope struct {
	msn, op, reference, key string
}

type idemEntry struct {
	canon string
	resp  response
}

const maxIdempotencyKey = 50

// idempotencyKey reads the required Idempotency-Key header.
func (c *call) idempotencyKey() (string, response, bool) {
	key := c.r.Header.Get("Idempotency-Key")
	switch {
	case key == "":
		return "", c.invalid(field("Idempotency-Key", "The Idempotency-Key header is required.")), false
	case len(key) > maxIdempotencyKey:
		return "", c.invalid(field("Idempotency-Key", "The field Idempotency-Key must be a string with a maximum length of 50.")), false
	}
	return key, response{}, true
}

// idempotent runs act once per key. conflict is the error for a reused key
// with another body.
func (c *call) idempotent(reference, key string, conflict errorCode, act func() response) response {
	s := c.s
	scope := idemScope{msn: c.unit.MSN, op: c.op, reference: reference, key: key}
	canon := canonicalJSON(c.body)
	if e, ok := s.idem[scope]; ok {
		if e.canon != canon {
			return c.fail(conflict, "The Idempotency-Key "+key+" was already used with a different request body.")
		}
		return e.resp.clone()
	}
	resp := act()
	if resp.status >= 200 && resp.status < 500 {
		s.idem[scope] = &idemEntry{canon: canon, resp: resp.clone()}
	}
	return resp
}

// canonicalJSON makes bodies that differ only in whitespace or key order
// compare equal; an empty body equals {}.
func canonicalJSON(body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return "{}"
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return string(body)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return string(body)
	}
	return string(out)
}
