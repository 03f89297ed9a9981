package vipps

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// Exchange is one HTTP attempt as the Observer sees it: the request as sent
// and the response as received, with secrets redacted. Vipps asks merchants
// to log every request and response in full; Exchange is that log entry.
type Exchange struct {
	// Op names the call: "token", "create", "get", "events", "capture",
	// "cancel", "refund", "force-approve", "webhook-register",
	// "webhook-list" or "webhook-delete".
	Op             string
	Reference      string
	IdempotencyKey string

	Method         string
	URL            string
	RequestHeaders http.Header
	RequestBody    []byte

	StatusCode      int // 0 when no response came
	ResponseHeaders http.Header
	ResponseBody    []byte
	// Err is the transport error of the attempt, or the *Error for an
	// answer that is not 2xx; nil for a success.
	Err error

	Attempt int // 1 for the first attempt of a call
	// Started and Duration are measured with Config.Now.
	Started  time.Time
	Duration time.Duration
}

// Redacted replaces secret values in what the Observer gets.
const Redacted = "[redacted]"

// secretHeaders are the request headers whose values never leave the client.
var secretHeaders = []string{"client_secret", "Ocp-Apim-Subscription-Key", "Authorization"}

// secretFields are the response body fields that are secrets, per call.
var secretFields = map[string][]string{
	"token":            {"access_token"},
	"webhook-register": {"secret"},
}

func (c *Client) observe(ctx context.Context, r *request, req *http.Request, a *attempt, status int, resHeader http.Header, started time.Time) {
	if c.observer == nil {
		return
	}
	ex := Exchange{
		Op:              r.op,
		Reference:       r.reference,
		IdempotencyKey:  r.idempotencyKey,
		Method:          r.method,
		URL:             req.URL.String(),
		RequestHeaders:  redactHeaders(req.Header),
		RequestBody:     bytes.Clone(r.body),
		StatusCode:      status,
		ResponseHeaders: resHeader.Clone(),
		Err:             a.err,
		Attempt:         a.n,
		Started:         started,
		Duration:        c.now().Sub(started),
	}
	if a.res != nil {
		ex.ResponseBody = redactBody(a.res.body, a.res.status, secretFields[r.op])
		if a.res.status < 200 || a.res.status > 299 {
			ex.Err = newError(r.method, r.path, a.res)
		}
	}
	c.observer(ctx, ex)
}

// redactHeaders returns a copy of h with the secret values replaced.
func redactHeaders(h http.Header) http.Header {
	out := h.Clone()
	for k, v := range out {
		for _, secret := range secretHeaders {
			if strings.EqualFold(k, secret) {
				redacted := make([]string, len(v))
				for i := range redacted {
					redacted[i] = Redacted
				}
				out[k] = redacted
			}
		}
	}
	return out
}

// redactBody returns a copy of body with the values of the top-level fields
// named in fields replaced. The body is re-encoded only when it holds such
// a field; otherwise its bytes are kept as they came. A success body that
// is not a JSON object cannot be checked, so it is withheld entirely.
func redactBody(body []byte, status int, fields []string) []byte {
	if len(fields) == 0 {
		return bytes.Clone(body)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		if status >= 200 && status <= 299 && len(bytes.TrimSpace(body)) > 0 {
			return []byte(Redacted)
		}
		return bytes.Clone(body)
	}
	changed := false
	for k := range m {
		for _, f := range fields {
			if strings.EqualFold(k, f) {
				m[k] = json.RawMessage(`"` + Redacted + `"`)
				changed = true
			}
		}
	}
	if !changed {
		return bytes.Clone(body)
	}
	out, err := json.Marshal(m)
	if err != nil {
		return []byte(Redacted)
	}
	return out
}
