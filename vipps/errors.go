package vipps

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// Error is an answer from Vipps that is not a success. Vipps says of its
// error bodies "if you discard it, it's gone", so Body always holds the
// whole body, whatever its shape; the other fields are what could be parsed
// from it.
//
// Three shapes are parsed: RFC 7807 problem+json from the Vipps services
// (type, title, detail, instance, traceId, extraDetails), the two Azure API
// Management shapes ({"statusCode","message"} and
// {"responseInfo":{"responseCode","responseMessage"},"result":{"message"}}),
// and the eCom array [{"errorGroup","errorCode","errorMessage","contextId"}].
type Error struct {
	StatusCode int
	Method     string
	Path       string // the API path, without the base URL

	Type     string
	Title    string
	Detail   string
	Instance string
	TraceID  string
	// ErrorCode is the Vipps error code, e.g. "6080": the reason of the
	// extraDetails entry named "ErrorCode" (or the eCom errorCode). Branch
	// on it and StatusCode, never on the text.
	ErrorCode    string
	ExtraDetails []ExtraDetail

	Body      []byte // the whole response body, always
	RequestID string // the Request-Id or X-Request-Id response header
}

// ExtraDetail is one entry of a problem's extraDetails: a domain error code
// ({"name":"ErrorCode","reason":"6080"}) or a validation message for a field.
type ExtraDetail struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "vipps: %s %s: %d %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode))
	if e.ErrorCode != "" {
		fmt.Fprintf(&b, " (error code %s)", e.ErrorCode)
	}
	if e.Title != "" {
		b.WriteString(": " + e.Title)
	}
	if e.Detail != "" && e.Detail != e.Title {
		b.WriteString(": " + e.Detail)
	}
	for _, d := range e.ExtraDetails {
		if d.Name != "ErrorCode" {
			fmt.Fprintf(&b, "; %s: %s", d.Name, d.Reason)
		}
	}
	if e.Title == "" && e.Detail == "" && len(e.Body) > 0 {
		body := string(bytes.TrimSpace(e.Body))
		if len(body) > 200 {
			body = body[:200] + "…"
		}
		b.WriteString(": " + body)
	}
	if e.TraceID != "" {
		b.WriteString(" [traceId " + e.TraceID + "]")
	}
	return b.String()
}

// IsNotFound reports whether err is a 404 from Vipps.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode == http.StatusNotFound
}

// ErrorCodeOf returns the Vipps error code carried by err, or "".
func ErrorCodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.ErrorCode
	}
	return ""
}

// ErrOutcomeUnknown matches (with errors.Is) every *OutcomeUnknownError.
var ErrOutcomeUnknown = errors.New("vipps: outcome unknown")

// OutcomeUnknownError says that a change (create, capture, cancel, refund,
// force approve, webhook registration) may have reached Vipps, but no
// answer settled what happened: a timeout after the request was written,
// a connection lost while reading the answer, the context ending during the
// round trip. The change may or may not have been made. Never treat it as a
// failure: read the payment back (GetPayment, GetEvents) or repeat the call
// with the same IdempotencyKey.
type OutcomeUnknownError struct {
	Op             string
	Reference      string
	IdempotencyKey string
	Err            error // the last error seen; may be an *Error
}

func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("vipps: %s of %q (Idempotency-Key %q): outcome unknown, read the payment back: %v", e.Op, e.Reference, e.IdempotencyKey, e.Err)
}

// Is makes errors.Is(err, ErrOutcomeUnknown) true.
func (e *OutcomeUnknownError) Is(target error) bool { return target == ErrOutcomeUnknown }

func (e *OutcomeUnknownError) Unwrap() error { return e.Err }

// newError builds an *Error from a non-2xx response, keeping the body whole.
func newError(method, path string, res *response) *Error {
	e := &Error{
		StatusCode: res.status,
		Method:     method,
		Path:       path,
		Body:       res.body,
	}
	if res.header != nil {
		e.RequestID = res.header.Get("Request-Id")
		if e.RequestID == "" {
			e.RequestID = res.header.Get("X-Request-Id")
		}
	}
	parseErrorBody(e, res.body)
	return e
}

// parseErrorBody fills e from whatever shape the body has. Values are read
// leniently (a number where a string is expected is kept as its text), and
// an unknown shape leaves the fields empty; the body is never changed.
func parseErrorBody(e *Error, body []byte) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return
	}
	if trimmed[0] == '[' {
		var list []map[string]json.RawMessage
		if json.Unmarshal(trimmed, &list) == nil && len(list) > 0 {
			parseECom(e, list)
		}
		return
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(trimmed, &m) != nil {
		return
	}
	obj := jsonObject(m)
	e.Type = obj.text("type")
	e.Title = obj.text("title")
	e.Detail = obj.text("detail")
	e.Instance = obj.text("instance")
	e.TraceID = obj.text("traceId")
	e.ExtraDetails = obj.extraDetails()
	for _, d := range e.ExtraDetails {
		if d.Name == "ErrorCode" {
			e.ErrorCode = d.Reason
			break
		}
	}

	// Azure API Management: {"statusCode":401,"message":"Access denied…"}.
	if msg := obj.text("message"); msg != "" && e.Title == "" {
		e.Title = msg
	}
	// Azure API Management, eCom style:
	// {"responseInfo":{"responseCode":401,"responseMessage":"Unauthorized"},"result":{"message":"…"}}.
	if info := obj.object("responseInfo"); info != nil {
		if e.Title == "" {
			e.Title = info.text("responseMessage")
		}
	}
	if result := obj.object("result"); result != nil && e.Detail == "" {
		e.Detail = result.text("message")
	}
}

// parseECom reads the eCom error array, whose first entry is the error.
func parseECom(e *Error, list []map[string]json.RawMessage) {
	first := jsonObject(list[0])
	e.Type = first.text("errorGroup")
	e.ErrorCode = first.text("errorCode")
	e.Title = first.text("errorMessage")
	e.TraceID = first.text("contextId")
	for _, item := range list[1:] {
		o := jsonObject(item)
		e.ExtraDetails = append(e.ExtraDetails, ExtraDetail{Name: o.text("errorCode"), Reason: o.text("errorMessage")})
	}
}

// jsonObject is a decoded JSON object whose keys are matched without regard
// to case, as encoding/json does for structs.
type jsonObject map[string]json.RawMessage

func (o jsonObject) raw(key string) json.RawMessage {
	if v, ok := o[key]; ok {
		return v
	}
	for k, v := range o {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}

// text returns a string value, or a number or boolean as its JSON text.
func (o jsonObject) text(key string) string {
	return jsonText(o.raw(key))
}

func (o jsonObject) object(key string) jsonObject {
	var m map[string]json.RawMessage
	if json.Unmarshal(o.raw(key), &m) != nil {
		return nil
	}
	return m
}

// extraDetails reads extraDetails ([{name, reason}]) and, for ASP.NET
// validation problems, errors ({"field": ["message", …]}).
func (o jsonObject) extraDetails() []ExtraDetail {
	var out []ExtraDetail
	var list []map[string]json.RawMessage
	if json.Unmarshal(o.raw("extraDetails"), &list) == nil {
		for _, item := range list {
			d := jsonObject(item)
			out = append(out, ExtraDetail{Name: d.text("name"), Reason: d.text("reason")})
		}
	}
	var fields map[string][]string
	if json.Unmarshal(o.raw("errors"), &fields) == nil {
		names := make([]string, 0, len(fields))
		for name := range fields {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			out = append(out, ExtraDetail{Name: name, Reason: strings.Join(fields[name], " ")})
		}
	}
	return out
}

func jsonText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	}
	if raw[0] == '{' || raw[0] == '[' {
		return ""
	}
	return string(raw)
}
