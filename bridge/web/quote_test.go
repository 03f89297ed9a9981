package web

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"vippskco/bridge"

	"github.com/stretchr/testify/require"
)

// A 100 KB kco_order_id (or unit, or path) is answered and logged with a
// short quote of it, not echoed whole.
func TestLongInputIsQuotedShort(t *testing.T) {
	var logs bytes.Buffer
	svc := &bridge.Service{Units: map[string]*bridge.Unit{"webshop": {ID: "webshop", Currency: "NOK"}}, PublicURL: "https://pay.example"}
	h := (&HTTP{Service: svc, MerchantToken: "m-token", Logger: slog.New(slog.NewTextHandler(&logs, nil))}).Handler()
	long := strings.Repeat("A", 100<<10)
	for _, tc := range []struct{ path, reason string }{
		{"/checkout/webshop/vipps?kco_order_id=" + long, "malformed_order_id"},
		{"/checkout/" + long + "/vipps?kco_order_id=3fa85f64-5717-4562-b3fc-2c963f66afa6", "unknown_unit"},
		{"/" + long, ""},
		{"/api/v1/payments?kco_order_id=" + long, "malformed_order_id"},
	} {
		logs.Reset()
		req := httptest.NewRequest(http.MethodGet, tc.path, nil)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Authorization", "Bearer m-token")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.GreaterOrEqual(t, rec.Code, 400, tc.path[:40])
		require.Less(t, rec.Body.Len(), 1<<10, "the answer is short: %.300s", rec.Body.String())
		require.Regexp(t, `… \(10240[01] bytes\)`, rec.Body.String(), "the answer says how long the input was")
		require.Contains(t, rec.Body.String(), tc.reason)
		for _, line := range strings.Split(logs.String(), "\n") {
			require.Less(t, len(line), 1<<10, "a log line is short: %.300s", line)
		}
	}
}
