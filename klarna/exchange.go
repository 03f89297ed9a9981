package klarna

import (
	"net/http"
	"time"
)

// Exchange is one attempt of one API request as it went over the wire, for
// logging and for keeping every provider answer in full. The Authorization
// header value is replaced by "[redacted]"; nothing else is changed.
type Exchange struct {
	// Op is "create", "read", "update" or "abort".
	Op string
	// OrderID is the order the request is about; for a successful create it
	// is the id Kustom assigned.
	OrderID         string
	Method, URL     string
	RequestHeaders  http.Header
	RequestBody     []byte
	StatusCode      int // 0 when no answer came
	ResponseHeaders http.Header
	ResponseBody    []byte
	Err             error // network error or *Error; nil on 2xx
	Attempt         int   // 1 for the first try, 2 for the retry of a GET
	Started         time.Time
	Duration        time.Duration
}

const redacted = "[redacted]"

func redact(h http.Header) http.Header {
	out := h.Clone()
	if _, ok := out["Authorization"]; ok {
		out.Set("Authorization", redacted)
	}
	return out
}
