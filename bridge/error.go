package bridge

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error codes. They are few on purpose: each maps to one HTTP status, and
// only ECodeInternal is logged as a failure of ours.
const (
	ECodeInvalid      = "invalid"
	ECodeNotFound     = "not_found"
	ECodeConflict     = "conflict"
	ECodeUnauthorized = "unauthorized"
	ECodeForbidden    = "forbidden"
	ECodeUnavailable  = "unavailable"
	ECodeRateLimited  = "rate_limited"
	ECodeInternal     = "internal"
)

// Error is the domain error. Code is machine-readable, Message is for people,
// and Reason narrows Code for callers that branch on it (for example
// "order_not_incomplete" or "amount_below_minimum").
type Error struct {
	Code    string
	Reason  string
	Message string
	Err     error
}

// Error is "code: message: cause", the cause left out when the message
// already says it (a message made from the cause's own text), so that
// nothing is said twice.
func (e *Error) Error() string {
	if e.Err != nil {
		if cause := e.Err.Error(); cause != "" && !strings.HasSuffix(e.Message, cause) {
			return fmt.Sprintf("%s: %s: %s", e.Code, e.Message, cause)
		}
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, reason, format string, args ...any) *Error {
	return &Error{Code: code, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Reasons of a store that could not be reached within its retry budget
// (ECodeUnavailable): nothing was stored, or whether it was is unknown.
const (
	ReasonStoreUnavailable    = "store_unavailable"
	ReasonStoreOutcomeUnknown = "store_outcome_unknown"
)

// ErrNotFound is returned by stores for a missing row.
var ErrNotFound = &Error{Code: ECodeNotFound, Message: "not found"}

// ErrConflict is returned by stores when a unique key or a version check fails.
var ErrConflict = &Error{Code: ECodeConflict, Message: "conflict"}

// ErrorCode returns the code of err, or ECodeInternal for errors that are not ours.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ECodeInternal
}

// ErrorReason returns the reason of err, or "".
func ErrorReason(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// ErrorMessage returns the human message of err; internal errors get a
// generic text so that no detail leaks to the caller.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != ECodeInternal {
		return e.Message
	}
	return "internal error"
}

// NotFoundAs turns a store's bare not-found into a message naming the thing.
func NotFoundAs(err error, format string, args ...any) error {
	if ErrorCode(err) == ECodeNotFound {
		return Errorf(ECodeNotFound, "not_found", format+" not found", args...)
	}
	return err
}

// maxQuoted is how much of a caller's input an error message or a log
// line quotes: enough to recognise it, not enough for a caller to make our
// answers and logs as large as what they sent.
const maxQuoted = 64

// Quote is s quoted for an error message or a log line, cut to its first
// maxQuoted bytes (on a rune boundary) with "…" and its full length when
// it is longer. Every message that echoes a caller's input quotes it so.
func Quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "… (" + strconv.Itoa(len(s)) + " bytes)"
}
