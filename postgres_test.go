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
	"vippskco/vipps/vippstest"
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

// A redirect's provider answers are committed in the transaction that
// stores what they led to, not each in one of its own: the order read with
// the attempt, the create with the payment's move to CREATED (one commit
// each, where there were two). PostgreSQL shows it: a row's xmin is the
// transaction that wrote it. A create that fails is logged on its own, and
// none of its attempts is missing.
func TestRedirectLogsEachAnswerWithWhatItLedTo(t *testing.T) {
	dsn := postgresDSN(t)
	e := startMain(t, onPostgres(dsn))
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	writer := func(q string, args ...any) []string {
		t.Helper()
		rows, err := conn.Query(ctx, "SELECT xmin::text FROM "+q, args...)
		require.NoError(t, err)
		xs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return xs
	}

	// The fake Vipps forgets its tokens: the create is refused (401), the
	// client fetches a token and sends it again. The client acts on the
	// first two inside the call, so they are stored at once, each on its
	// own; only the answer the service acts on waits for its step.
	_, warm := e.checkout(e.order(nil).OrderID) // the client holds a token
	require.NotNil(t, warm)
	e.m.Sandbox.Vipps.ExpireTokens()
	o := e.order(nil)
	_, p := e.checkout(o.OrderID)
	require.NotNil(t, p)
	require.Equal(t, bridge.StateCreated, p.State)
	created := writer(`payment_history WHERE reference = $1 AND to_state = 'CREATED'`, p.Reference)
	require.Len(t, created, 1)
	require.Equal(t, created, writer(`provider_exchanges WHERE reference = $1 AND operation = 'create' AND status_code = 201`, p.Reference),
		"the create's answer was not committed with the move to CREATED")
	refused := writer(`provider_exchanges WHERE reference = $1 AND operation = 'create' AND status_code = 401`, p.Reference)
	require.Len(t, refused, 1, "the create refused for its expired token")
	tokens := writer(`provider_exchanges WHERE operation = 'token'`)
	require.Len(t, tokens, 2, "the warm-up's token and the one fetched again")
	for _, x := range append(refused, tokens...) {
		require.NotEqual(t, created[0], x, "an exchange the client acted on was held for the step")
	}
	require.Len(t, writer(`provider_exchanges WHERE reference = $1 AND provider = 'kustom'`, bridge.KustomLogKey(o.OrderID)), 1)

	// Every create fails: the attempt stays PENDING, its row as the insert
	// wrote it, and the order read went in with it.
	e.m.Sandbox.Vipps.SetFaults(vippstest.Faults{ServerErrorRate: 1, Ops: []string{vippstest.OpCreate}})
	defer e.m.Sandbox.Vipps.SetFaults(vippstest.Faults{})
	failing := e.order(nil)
	resp, _ := e.get(e.redirectURL(failing.OrderID))
	require.NotEqual(t, http.StatusSeeOther, resp.StatusCode)
	attempts, err := e.m.Store.PaymentsByOrder(ctx, failing.OrderID)
	require.NoError(t, err)
	require.Len(t, attempts, 1)
	pending := attempts[0]
	require.Equal(t, bridge.StatePending, pending.State)
	require.Equal(t, writer(`payments WHERE reference = $1`, pending.Reference),
		writer(`provider_exchanges WHERE reference = $1`, bridge.KustomLogKey(failing.OrderID)),
		"the order read was not committed with the attempt")
	failed := writer(`provider_exchanges WHERE reference = $1 AND operation = 'create' AND status_code = 500`, pending.Reference)
	require.Len(t, failed, e.m.Sandbox.Vipps.FaultCounts().ServerErrors, "a refused create is missing from the log")
}
