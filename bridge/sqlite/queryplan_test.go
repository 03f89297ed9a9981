package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The lookups of the shopper's hot path use an index, not a scan of the
// payments table: a status read with 2,000 payments waiting cost 17-29 ms
// of CPU while the token lookup scanned the table.
func TestHotLookupsUseAnIndex(t *testing.T) {
	s, err := Open(context.Background(), "file:"+filepath.Join(t.TempDir(), "plan.db"), nil)
	require.NoError(t, err)
	defer s.Close()
	for name, where := range map[string]string{
		"status read by token": byToken,
		"payment by reference": `reference = ?`,
		"attempts of an order": `kco_order_id = ?`,
		"status copies":        inTokens,
	} {
		joined := queryPlan(t, s, `SELECT `+paymentColumns+` FROM `+paymentsWithPolls+` WHERE `+where, `["x"]`)
		require.NotContains(t, joined, "SCAN payments", "%s: %s", name, joined)
		require.NotContains(t, joined, "SCAN payment_polls", "%s: %s", name, joined)
		require.Contains(t, joined, "USING", "%s: %s", name, joined)
	}
}

// The status copies are read with one statement text whatever the number
// of tokens, so it is prepared once: an IN list of the batch's length was
// a statement SQLite compiled anew for every batch (8 % of the service's
// CPU in the load test's status phase).
func TestStatusCopiesOneStatement(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "file:"+filepath.Join(t.TempDir(), "stmts.db"), nil)
	require.NoError(t, err)
	defer s.Close()
	for n := 1; n <= 40; n += 3 {
		tokens := make([]string, n)
		for i := range tokens {
			tokens[i] = strings.Repeat("t", 20) + strings.Repeat("x", i)
		}
		ps, err := s.PaymentsByTokens(ctx, tokens)
		require.NoError(t, err)
		require.Empty(t, ps)
	}
	s.readStmts.mu.Lock()
	defer s.readStmts.mu.Unlock()
	var reads []string
	for q := range s.readStmts.stmts {
		if strings.Contains(q, "return_token IN") {
			reads = append(reads, q)
		}
	}
	require.Equal(t, []string{byTokens}, reads)
}

// The poller's writes find a payment's row in payment_polls by its key,
// through the payment's creation time, never by a scan: the claim of due
// polls, and the release, the ask and the single claim by reference.
func TestPollWritesUseTheKey(t *testing.T) {
	s, err := Open(context.Background(), "file:"+filepath.Join(t.TempDir(), "plan.db"), nil)
	require.NoError(t, err)
	defer s.Close()
	for name, q := range map[string]string{
		"by reference": `UPDATE payment_polls SET poll_owner = ?1 WHERE ` + pollOf3,
		"due claim": `UPDATE payment_polls SET poll_owner = ? WHERE (created_at, reference) IN (
			SELECT created_at, reference FROM payment_polls WHERE next_poll_at <> 0 AND next_poll_at <= 1 AND poll_lease_until <= 1
			ORDER BY next_poll_at, reference LIMIT 64)`,
		"a claim's payments": claimedPayments,
	} {
		joined := queryPlan(t, s, q, "x", "x", "x")
		require.NotRegexp(t, `SCAN payment_polls($|;| )`, joined, "%s: %s", name, joined)
		require.NotRegexp(t, `SCAN payments($|;| )`, joined, "%s: %s", name, joined)
		require.Contains(t, joined, "payment_polls USING PRIMARY KEY (created_at=? AND reference=?)", "%s: %s", name, joined)
	}
}

// queryPlan is SQLite's plan for q, its steps joined by "; ".
func queryPlan(t *testing.T, s *Store, q string, args ...any) string {
	t.Helper()
	rows, err := s.read.QueryContext(t.Context(), `EXPLAIN QUERY PLAN `+q, args...)
	require.NoError(t, err)
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		require.NoError(t, rows.Scan(&id, &parent, &notused, &detail))
		plan = append(plan, detail)
	}
	require.NoError(t, rows.Err())
	return strings.Join(plan, "; ")
}
