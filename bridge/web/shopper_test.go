package web

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/templates"
)

// downStore is a store whose database stays out of reach for longer than
// it waits: every payment read ends as the PostgreSQL store ends it then.
// Other calls panic on the nil embedded Store.
type downStore struct {
	bridge.Store
	reason string
}

func (s downStore) PaymentByToken(context.Context, string) (*bridge.Payment, error) {
	return nil, &bridge.Error{Code: bridge.ECodeUnavailable, Reason: s.reason, Message: "the database is unavailable",
		Err: errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")}
}

// With the database down for longer than the store rides out, the shopper
// who comes back from Vipps gets the waiting page, which asks the status
// URL until the payment can be read, never an error page; the status JSON
// is a 503 with Retry-After, which that page waits through.
func TestShopperPagesWhileTheStoreIsDown(t *testing.T) {
	pages, err := ParsePages(templates.FS)
	require.NoError(t, err)
	token := strings.Repeat("t", 43)
	for _, reason := range []string{bridge.ReasonStoreUnavailable, bridge.ReasonStoreOutcomeUnknown} {
		t.Run(reason, func(t *testing.T) {
			svc := &bridge.Service{Store: downStore{reason: reason}, PublicURL: "https://pay.example"}
			h := (&HTTP{Service: svc, Pages: pages, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler()

			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/return/"+token, nil))
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			require.Contains(t, rec.Body.String(), "https://pay.example/status/"+token, "the waiting page polls the status")
			require.NotContains(t, rec.Body.String(), "connection refused", "no detail is shown")

			rec = httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/status/"+token, nil)
			req.Header.Set("Accept", "application/json")
			h.ServeHTTP(rec, req)
			require.Equal(t, http.StatusServiceUnavailable, rec.Code, rec.Body.String())
			require.Equal(t, retryAfter, rec.Header().Get("Retry-After"))
			require.Contains(t, rec.Body.String(), `"reason":"`+reason+`"`)
			require.NotContains(t, rec.Body.String(), "connection refused", "no detail is shown")
		})
	}
}
