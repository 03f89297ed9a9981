package postgres

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The reads of payments find their rows, and each payment's schedule in
// payment_polls, by index, on tables that were never analyzed (this
// machine's server runs without autovacuum, as a merchant's may): with no
// statistics the planner once guessed hundreds of attempts for one KCO
// order and hashed all of payment_polls on every redirect.
func TestPaymentReadsUseIndexes(t *testing.T) {
	s, _ := openStore(t, nil)
	ctx := t.Context()
	_, err := s.pool.Exec(ctx, `INSERT INTO payments (reference, unit, kco_order_id, attempt, amount_value, amount_currency,
		state, create_idempotency_key, create_request, redirect_url, return_token, psp_reference,
		authorized, captured, refunded, cancelled, locale, kco_order, failure_reason, created_at, updated_at, version)
		SELECT 'ld-' || md5(i::text), 'unit-a', md5(i::text), 1, 44700, 'NOK', 'CREATED', 'idem-' || i,
			convert_to(repeat('r', 900), 'UTF8'), 'https://landing.example/' || i, 'tok-' || md5(i::text), '',
			0, 0, 0, 0, 'nb-NO', convert_to(repeat('o', 1300), 'UTF8'), '', now(), now(), 1
		FROM generate_series(1, 20000) AS i`)
	require.NoError(t, err)
	_, err = s.pool.Exec(ctx, `INSERT INTO payment_polls (reference, next_poll_at) SELECT reference, now() FROM payments`)
	require.NoError(t, err)

	for name, q := range map[string]struct {
		sql string
		arg any
	}{
		"by reference":      {`SELECT ` + paymentColumns + ` FROM payments WHERE reference = $1`, "ld-x"},
		"by token":          {`SELECT ` + paymentColumns + ` FROM payments WHERE return_token = $1 AND return_token <> ''`, "tok-x"},
		"status copies":     {paymentsByTokens, []string{"tok-a", "tok-b", "tok-c"}},
		"attempts of order": {paymentsByOrder, "KCO-x"},
		"claimed payments":  {paymentsByRefs, []string{"ld-a", "ld-b"}},
	} {
		rows, err := s.pool.Query(ctx, `EXPLAIN `+q.sql, q.arg)
		require.NoError(t, err, name)
		var plan []string
		for rows.Next() {
			var line string
			require.NoError(t, rows.Scan(&line))
			plan = append(plan, strings.TrimSpace(line))
		}
		require.NoError(t, rows.Err())
		joined := strings.Join(plan, "\n")
		require.NotContains(t, joined, "Seq Scan", "%s:\n%s", name, joined)
		require.NotContains(t, joined, "Hash", "%s:\n%s", name, joined)
		require.Contains(t, joined, "payment_polls_pkey", "%s:\n%s", name, joined)
	}
}
