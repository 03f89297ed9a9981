package web

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"vippskco/bridge"
	"vippskco/bridge/i18n"
)

// One place turns a domain error into a response: its code picks the
// status, only internal errors are logged as failures of ours, and their
// detail is never shown.

// apiHandler is a JSON endpoint: it writes its answer, or returns the
// error that api writes for it.
type apiHandler func(c *gin.Context) error

// api turns an apiHandler into a gin handler: the one place an endpoint's
// error becomes a response.
func (h *HTTP) api(f apiHandler) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := f(c); err != nil {
			writeJSONError(c, err)
		}
	}
}

// writeJSONError writes {"error": {"code", "message", "reason"}} with the
// status for the error (errorStatus). Internal errors are logged and their
// detail is not shown.
func writeJSONError(c *gin.Context, err error) {
	code := bridge.ErrorCode(err)
	body := gin.H{"code": code, "message": bridge.ErrorMessage(err)}
	if r := bridge.ErrorReason(err); r != "" {
		body["reason"] = r
	}
	if id := c.GetString("request_id"); id != "" {
		body["request_id"] = id
	}
	if code == bridge.ECodeInternal {
		slog.Error("internal error", "request_id", c.GetString("request_id"), "path", bridge.Quote(c.Request.URL.Path), "err", err)
	}
	c.JSON(errorStatus(c, err), gin.H{"error": body})
}

// storeUnavailable reports whether err is our own database out of reach
// for longer than the store rides out: nothing is wrong with the request,
// and the same request a little later will do.
func storeUnavailable(err error) bool {
	r := bridge.ErrorReason(err)
	return r == bridge.ReasonStoreUnavailable || r == bridge.ReasonStoreOutcomeUnknown
}

// retryAfter is what a client is told to wait when our database is out of
// reach.
const retryAfter = "2"

// errorStatus is the HTTP status of err: the one of its code, except that
// an unreachable database of ours is 503 with Retry-After (502 is for the
// providers).
func errorStatus(c *gin.Context, err error) int {
	if storeUnavailable(err) {
		c.Header("Retry-After", retryAfter)
		return http.StatusServiceUnavailable
	}
	return HTTPStatus(bridge.ErrorCode(err))
}

// HTTPStatus maps an error code to its HTTP status.
func HTTPStatus(code string) int {
	switch code {
	case bridge.ECodeInvalid:
		return http.StatusBadRequest
	case bridge.ECodeNotFound:
		return http.StatusNotFound
	case bridge.ECodeConflict:
		return http.StatusConflict
	case bridge.ECodeUnauthorized:
		return http.StatusUnauthorized
	case bridge.ECodeForbidden:
		return http.StatusForbidden
	case bridge.ECodeUnavailable:
		return http.StatusBadGateway
	case bridge.ECodeRateLimited:
		return http.StatusTooManyRequests
	default:
		return http.StatusInternalServerError
	}
}

// errorMessageKey maps an error reason to its message key.
func errorMessageKey(reason, code string) string {
	switch {
	case strings.HasPrefix(reason, "signature_"):
		return "err_signature"
	case reason == "kustom_unavailable" || reason == "vipps_unavailable":
		return "err_unavailable"
	case reason != "":
		if i18n.Has("err_" + reason) {
			return "err_" + reason
		}
	}
	switch code {
	case bridge.ECodeNotFound:
		return "err_not_found"
	case bridge.ECodeUnavailable:
		return "err_unavailable"
	}
	return "err_internal"
}
