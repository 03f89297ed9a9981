package klarna

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Error codes that the Checkout API documents.
const (
	CodeBadValue      = "BAD_VALUE"
	CodeReadOnlyOrder = "READ_ONLY_ORDER"
)

// Error is a non-2xx answer from the API. Body always holds the whole
// response body, JSON or not, so that it can be stored and shown in full.
type Error struct {
	StatusCode     int
	ErrorCode      string
	ErrorMessages  []string
	CorrelationID  string
	ServiceVersion string
	Body           []byte
	// Method and Path are the request's method and API path (escaped, without
	// the base URL), e.g. "POST" and "/checkout/v3/orders/abc".
	Method, Path string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "klarna: %s %s: %d", e.Method, e.Path, e.StatusCode)
	if e.ErrorCode != "" {
		b.WriteString(" " + e.ErrorCode)
	} else if t := http.StatusText(e.StatusCode); t != "" {
		b.WriteString(" " + t)
	}
	if len(e.ErrorMessages) > 0 {
		b.WriteString(": " + strings.Join(e.ErrorMessages, "; "))
	} else if e.ErrorCode == "" && len(e.Body) > 0 {
		b.WriteString(": " + excerpt(e.Body, 200))
	}
	if e.CorrelationID != "" {
		b.WriteString(" (correlation_id " + e.CorrelationID + ")")
	}
	return b.String()
}

// IsNotFound reports whether err is an API answer of 404: the order does not
// exist or has expired (48 hours after the last merchant update or client
// interaction).
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode == http.StatusNotFound
}

// IsReadOnlyOrder reports whether err says the order can no longer be
// changed, typically because the shopper completed it with Klarna.
func IsReadOnlyOrder(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.ErrorCode == CodeReadOnlyOrder
}

// correlationHeader is where Kustom also puts the correlation id; it is used
// when the body does not carry one.
const correlationHeader = "Klarna-Correlation-Id"

// parseError builds the Error for a non-2xx answer. It never fails: a body
// that is not the documented JSON is kept whole and only the status is known.
// The singular "error_message" that some services send is merged into
// ErrorMessages, as the official PHP SDK does.
func parseError(method, path string, status int, header http.Header, body []byte) *Error {
	e := &Error{StatusCode: status, Body: body, Method: method, Path: path}
	var doc struct {
		ErrorCode      string   `json:"error_code"`
		ErrorMessages  []string `json:"error_messages"`
		ErrorMessage   string   `json:"error_message"`
		CorrelationID  string   `json:"correlation_id"`
		ServiceVersion string   `json:"service_version"`
	}
	if json.Unmarshal(body, &doc) == nil {
		e.ErrorCode = doc.ErrorCode
		e.ErrorMessages = doc.ErrorMessages
		if doc.ErrorMessage != "" {
			e.ErrorMessages = append(e.ErrorMessages, doc.ErrorMessage)
		}
		e.CorrelationID = doc.CorrelationID
		e.ServiceVersion = doc.ServiceVersion
	}
	if e.CorrelationID == "" && header != nil {
		e.CorrelationID = header.Get(correlationHeader)
	}
	return e
}

func excerpt(b []byte, n int) string {
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}
