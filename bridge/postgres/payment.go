package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"vippskco/bridge"
)

// paymentColumns lists the columns of a payment in the order scanPayment
// reads them, selected from payments: its row, and its schedule from its
// row in payment_polls (made in the same statement as the payment). The
// schedule is a subquery by key, not a join: on tables never analyzed
// (autovacuum off) the planner guessed hundreds of attempts for one KCO
// order and hashed all of payment_polls for each redirect (2.8 ms at
// 50,000 payments, against 0.07 ms).
const paymentColumns = `reference, unit, kco_order_id, attempt, amount_value, amount_currency, state,
	create_idempotency_key, create_request, redirect_url, return_token, psp_reference,
	authorized, captured, refunded, cancelled, locale, kco_order, failure_reason,
	(SELECT next_poll_at FROM payment_polls WHERE payment_polls.reference = payments.reference),
	created_at, updated_at, version, capture_guaranteed_until, capture_deadline_notice`

// InsertPayment stores a new attempt with Version 1, and log with it. A
// zero CreatedAt or UpdatedAt is set from the clock. p and log are changed
// only when the insert commits, to what is stored.
func (s *Store) InsertPayment(ctx context.Context, p *bridge.Payment, log ...bridge.ProviderExchange) error {
	if err := p.Validate(); err != nil {
		return err
	}
	q := *p
	q.PrepareInsert(s.clock())
	exs := append([]bridge.ProviderExchange(nil), log...)
	// Repeatable: the reference, the return token and (unit, order,
	// attempt) are unique, so a repeat of an insert that did land fails
	// with ErrConflict (its log rows with it), and StartCheckout answers
	// that by using the attempt that is stored.
	err := s.retry(ctx, "insert payment", repeatable, func() error {
		if len(exs) == 0 {
			return insertPayment(ctx, s.pool, &q)
		}
		return insertPaymentLogged(ctx, s.pool, &q, exs)
	})
	if err != nil {
		return fmt.Errorf("insert payment %q: %w", p.Reference, err)
	}
	*p = q
	copy(log, exs)
	return nil
}

// insertPaymentLogged inserts p and exs as one batch: one round trip, and
// one transaction, the implicit one PostgreSQL runs a pipeline's statements
// up to its Sync in (a failed statement rolls back the ones before it).
func insertPaymentLogged(ctx context.Context, pool *pgxpool.Pool, p *bridge.Payment, exs []bridge.ProviderExchange) error {
	args, err := paymentInsertArgs(p)
	if err != nil {
		return err
	}
	var b pgx.Batch
	b.Queue(insertPaymentSQL, args...)
	for i := range exs {
		args, err := exchangeInsertArgs(&exs[i])
		if err != nil {
			return err
		}
		b.Queue(insertExchangeSQL, args...)
	}
	br := pool.SendBatch(ctx, &b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return conflict(err)
	}
	for i := range exs {
		if err := br.QueryRow().Scan(&exs[i].ID); err != nil {
			return err
		}
	}
	return br.Close()
}

// Payment returns the payment with this reference.
func (s *Store) Payment(ctx context.Context, reference string) (*bridge.Payment, error) {
	p, err := retried(ctx, s, "payment", readOnly, func() (*bridge.Payment, error) {
		return findPayment(ctx, s.pool, `reference = $1`, reference)
	})
	if err != nil {
		return nil, fmt.Errorf("payment %q: %w", reference, err)
	}
	return p, nil
}

// PaymentByToken returns the payment whose return token is token. The empty
// token belongs to no payment.
func (s *Store) PaymentByToken(ctx context.Context, token string) (*bridge.Payment, error) {
	if token == "" {
		return nil, fmt.Errorf("payment by empty token: %w", bridge.ErrNotFound)
	}
	// The condition repeats the partial index's, so that the index applies.
	p, err := retried(ctx, s, "payment by token", readOnly, func() (*bridge.Payment, error) {
		return findPayment(ctx, s.pool, `return_token = $1 AND return_token <> ''`, token)
	})
	if err != nil {
		// The token is a secret; it stays out of the error.
		return nil, fmt.Errorf("payment by token: %w", err)
	}
	return p, nil
}

// PaymentsByTokens returns the payments of those tokens that have one, in
// one statement: the status reads' copies are refreshed in batches
// (bridge/shopper_cache.go), one round trip for many tokens.
func (s *Store) PaymentsByTokens(ctx context.Context, tokens []string) ([]*bridge.Payment, error) {
	if err := bridge.CheckTokensRead(tokens); err != nil {
		return nil, err
	}
	if len(tokens) == 0 {
		return []*bridge.Payment{}, nil
	}
	// The condition repeats the partial index's, so that the index applies.
	ps, err := retried(ctx, s, "payments by token", readOnly, func() ([]*bridge.Payment, error) {
		rows, err := s.pool.Query(ctx, paymentsByTokens, tokens)
		if err != nil {
			return nil, err
		}
		return collectPayments(rows)
	})
	if err != nil {
		return nil, fmt.Errorf("payments by token: %w", err)
	}
	return ps, nil
}

// PaymentsByOrder returns the attempts for a KCO order by attempt number;
// none is not an error.
func (s *Store) PaymentsByOrder(ctx context.Context, kcoOrderID string) ([]*bridge.Payment, error) {
	ps, err := retried(ctx, s, "payments of order", readOnly, func() ([]*bridge.Payment, error) {
		rows, err := s.pool.Query(ctx, paymentsByOrder, kcoOrderID)
		if err != nil {
			return nil, err
		}
		return collectPayments(rows)
	})
	if err != nil {
		return nil, fmt.Errorf("payments of order %q: %w", kcoOrderID, err)
	}
	return ps, nil
}

// insertPayment inserts p as it is and sets its times to what was stored.
func insertPayment(ctx context.Context, db querier, p *bridge.Payment) error {
	args, err := paymentInsertArgs(p)
	if err != nil {
		return err
	}
	_, err = db.Exec(ctx, insertPaymentSQL, args...)
	return conflict(err)
}

// insertPaymentSQL inserts the payment and its row in payment_polls ($20
// is its schedule), in one statement.
const insertPaymentSQL = `WITH p AS (
		INSERT INTO payments (reference, unit, kco_order_id, attempt, amount_value, amount_currency, state,
			create_idempotency_key, create_request, redirect_url, return_token, psp_reference,
			authorized, captured, refunded, cancelled, locale, kco_order, failure_reason,
			created_at, updated_at, version, capture_guaranteed_until, capture_deadline_notice)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $21, $22, $23, $24, $25)
		RETURNING reference
	)
	INSERT INTO payment_polls (reference, next_poll_at) SELECT reference, $20 FROM p`

// paymentInsertArgs are insertPaymentSQL's arguments for p; its times are
// set to what the columns keep of them.
func paymentInsertArgs(p *bridge.Payment) ([]any, error) {
	var ta timeArgs
	args := []any{
		p.Reference, p.Unit, p.KCOOrderID, p.Attempt, p.Amount.Value, p.Amount.Currency, string(p.State),
		p.CreateIdempotencyKey, bytea(p.CreateRequest), p.RedirectURL, p.ReturnToken, p.PSPReference,
		p.Authorized, p.Captured, p.Refunded, p.Cancelled, p.Locale, bytea(p.Order), p.FailureReason,
		ta.at("NextPollAt", &p.NextPollAt), ta.at("CreatedAt", &p.CreatedAt), ta.at("UpdatedAt", &p.UpdatedAt), p.Version,
		ta.at("CaptureGuaranteedUntil", &p.CaptureGuaranteedUntil), p.CaptureDeadlineNotice,
	}
	return args, ta.err
}

// UpdatePayment writes p over the stored row if the stored version is
// p.Version, and then bumps p.Version. It tells a stale version
// (ErrConflict) from a missing payment (ErrNotFound). The poll lease is not
// part of the payment and is left as it is.
func (tx *tx) UpdatePayment(ctx context.Context, p *bridge.Payment) error {
	var ta timeArgs
	args := []any{
		p.Unit, p.KCOOrderID, p.Attempt, p.Amount.Value, p.Amount.Currency, string(p.State),
		p.CreateIdempotencyKey, bytea(p.CreateRequest), p.RedirectURL, p.ReturnToken, p.PSPReference,
		p.Authorized, p.Captured, p.Refunded, p.Cancelled, p.Locale, bytea(p.Order), p.FailureReason,
		ta.at("NextPollAt", &p.NextPollAt), ta.at("UpdatedAt", &p.UpdatedAt), p.Reference, p.Version,
		ta.at("CaptureGuaranteedUntil", &p.CaptureGuaranteedUntil), p.CaptureDeadlineNotice,
	}
	if ta.err != nil {
		return ta.err
	}
	// RETURNING hands back the creation time, which an update keeps, so p
	// ends up equal to the stored row. A concurrent writer of the same row
	// makes this one wait; PostgreSQL then checks the version again against
	// the row it committed, so exactly one of them updates. The attempt's
	// identity (unit, KCO order, attempt, return token) is checked, never
	// changed (bridge.UnmatchedUpdate).
	var created pgtype.Timestamptz
	// The schedule ($19), in payment_polls, is written only when it
	// changes: most updates keep it.
	err := tx.QueryRow(ctx, `WITH u AS (
			UPDATE payments SET
			amount_value = $4, amount_currency = $5, state = $6,
			create_idempotency_key = $7, create_request = $8, redirect_url = $9, psp_reference = $11,
			authorized = $12, captured = $13, refunded = $14, cancelled = $15, locale = $16, kco_order = $17,
			failure_reason = $18, updated_at = $20, version = version + 1,
			capture_guaranteed_until = $23, capture_deadline_notice = $24
			WHERE reference = $21 AND version = $22
				AND unit = $1 AND kco_order_id = $2 AND attempt = $3 AND return_token = $10
			RETURNING reference, created_at
		), schedule AS (
			UPDATE payment_polls SET next_poll_at = $19
			WHERE reference = (SELECT reference FROM u) AND next_poll_at IS DISTINCT FROM $19
		)
		SELECT created_at FROM u`, args...).Scan(&created)
	if errors.Is(err, pgx.ErrNoRows) {
		var st bridge.StoredAttempt
		err := tx.QueryRow(ctx, `SELECT version, unit, kco_order_id, attempt, return_token FROM payments WHERE reference = $1`,
			p.Reference).Scan(&st.Version, &st.Unit, &st.KCOOrderID, &st.Attempt, &st.ReturnToken)
		if errors.Is(err, pgx.ErrNoRows) {
			return bridge.ErrNotFound
		} else if err != nil {
			return err
		}
		return bridge.UnmatchedUpdate(p, st)
	} else if err != nil {
		return conflict(err)
	}
	p.CreatedAt = timeOf(created)
	p.Version++
	return nil
}

// The reads of payments by something other than their key, as one
// statement each (TestPaymentReadsUseIndexes checks their plans).
const (
	paymentsByTokens = `SELECT ` + paymentColumns + ` FROM payments WHERE return_token = ANY($1) AND return_token <> ''`
	paymentsByOrder  = `SELECT ` + paymentColumns + ` FROM payments
		WHERE kco_order_id = $1 ORDER BY attempt, created_at, reference COLLATE "C"`
	paymentsByRefs = `SELECT ` + paymentColumns + ` FROM payments WHERE reference = ANY ($1)`
)

// findPayment returns the one payment matching where, or ErrNotFound.
func findPayment(ctx context.Context, db querier, where string, args ...any) (*bridge.Payment, error) {
	p, err := scanPayment(db.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE `+where, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, bridge.ErrNotFound
	}
	return p, err
}

// collectPayments reads rows of paymentColumns and closes them.
func collectPayments(rows pgx.Rows) ([]*bridge.Payment, error) {
	defer rows.Close()
	ps := []*bridge.Payment{}
	for rows.Next() {
		p, err := scanPayment(rows)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, rows.Err()
}

// scanPayment reads the columns of paymentColumns.
func scanPayment(row pgx.Row) (*bridge.Payment, error) {
	var (
		p                              bridge.Payment
		state                          string
		createRequest, order           []byte
		nextPoll, createdAt, updatedAt pgtype.Timestamptz
		deadline                       pgtype.Timestamptz
	)
	if err := row.Scan(
		&p.Reference, &p.Unit, &p.KCOOrderID, &p.Attempt, &p.Amount.Value, &p.Amount.Currency, &state,
		&p.CreateIdempotencyKey, &createRequest, &p.RedirectURL, &p.ReturnToken, &p.PSPReference,
		&p.Authorized, &p.Captured, &p.Refunded, &p.Cancelled, &p.Locale, &order, &p.FailureReason,
		&nextPoll, &createdAt, &updatedAt, &p.Version, &deadline, &p.CaptureDeadlineNotice,
	); err != nil {
		return nil, err
	}
	p.State = bridge.PaymentState(state)
	p.CreateRequest = json.RawMessage(createRequest)
	p.Order = json.RawMessage(order)
	p.NextPollAt = timeOf(nextPoll)
	p.CaptureGuaranteedUntil = timeOf(deadline)
	p.CreatedAt = timeOf(createdAt)
	p.UpdatedAt = timeOf(updatedAt)
	return &p, nil
}

// CaptureDeadlinesDue returns the reservations whose capture deadline needs
// a notice (see bridge.PaymentStore).
func (s *Store) CaptureDeadlinesDue(ctx context.Context, warnBy, now time.Time, limit int) ([]*bridge.Payment, error) {
	if limit < 1 {
		return []*bridge.Payment{}, nil
	}
	var ta timeArgs
	warn, at := ta.at("warnBy", &warnBy), ta.at("now", &now)
	if ta.err != nil {
		return nil, ta.err
	}
	ps, err := retried(ctx, s, "capture deadlines due", readOnly, func() ([]*bridge.Payment, error) {
		// The conditions repeat the partial index's, so that it applies.
		rows, err := s.pool.Query(ctx, `SELECT `+paymentColumns+` FROM payments
			WHERE state = 'AUTHORIZED' AND capture_guaranteed_until IS NOT NULL AND capture_deadline_notice <> 'passed'
			AND authorized > captured + cancelled
			AND ((capture_deadline_notice = '' AND capture_guaranteed_until <= $1) OR capture_guaranteed_until <= $2)
			ORDER BY capture_guaranteed_until, reference COLLATE "C" LIMIT $3`, warn, at, limit)
		if err != nil {
			return nil, err
		}
		return collectPayments(rows)
	})
	if err != nil {
		return nil, fmt.Errorf("capture deadlines due: %w", err)
	}
	return ps, nil
}
