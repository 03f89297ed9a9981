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

// writeJSONError writes {"error": {"code", "message", "reason"}} with the
// status for the error's code. Internal errors are logged and their detail
// is not shown.
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
		slog.Error("internal error", "request_id", c.GetString("request_id"), "path", c.Request.URL.Path, "err", err)
	}
	c.JSON(HTTPStatus(code), gin.H{"error": body})
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
