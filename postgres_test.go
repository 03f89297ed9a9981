package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"vippskco/bridge"
)

// postgresDSN returns a DSN for a fresh schema on the test server, dropped
// when the test ends, or skips when no server is configured.
func postgresDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("VIPPSKCO_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("VIPPSKCO_TEST_POSTGRES_DSN is not set: skipping the PostgreSQL tests (CI sets it)")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	schema := fmt.Sprintf("main_%d", time.Now().UnixNano())
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		conn.Close(context.Background())
	})
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// The whole shopper path and a capture with the PostgreSQL store.
func TestShopperPathOnPostgres(t *testing.T) {
	dsn := postgresDSN(t)
	e := startMain(t, onPostgres(dsn))
	p := e.paid()
	e.settle()
	require.Equal(t, bridge.StateAuthorized, e.payment(p.Reference).State)
	status, body := e.call("POST", "/api/v1/payments/"+p.Reference+"/capture", "pg-1", `{"amount":{"value":44700,"currency":"NOK"}}`)
	require.Equal(t, http.StatusOK, status, body)
	e.settle()
	require.Equal(t, int64(44700), e.payment(p.Reference).Captured)
	require.Equal(t, []string{"payment.authorized", "payment.captured"}, e.notifications(p.Reference))
	resp, _ := e.get(e.m.PublicURL() + "/readyz")
	require.Equal(t, http.StatusOK, resp.StatusCode)
}
