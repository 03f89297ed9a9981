package web

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// /readyz tells anyone whether the service is ready, and only the log
// tells the operator why not: a store's error names hosts and users.
func TestReadyzHidesTheStoreError(t *testing.T) {
	var logs bytes.Buffer
	detail := "dial tcp 10.1.2.3:5432: password authentication failed for user \"vipps\""
	h := (&HTTP{Ready: func(context.Context) error { return errors.New(detail) },
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}).Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.JSONEq(t, `{"status":"not ready"}`, rec.Body.String())
	require.Contains(t, logs.String(), "10.1.2.3:5432", "the operator's log has the detail")
}
