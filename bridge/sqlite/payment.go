package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"vippskco/bridge"
)

// paymentColumns lists the columns of a payment in the order scanPayment
// reads them, selected from paymentsWithPolls: its row in payments, and
// its schedule (next_poll_at) from payment_polls.
const paymentColumns = `reference, unit, kco_order_id, attempt, amount_value, amount_currency, state,
	create_idempotency_key, create_request, redirect_url, return_token, psp_reference,
	authorized, captured, refunded, cancelled, locale, kco_order, failure_reason,
	next_poll_at, created_at, updated_at, version, capture_guaranteed_until, capture_deadline_notice`

// paymentsWithPolls is what paymentColumns are selected from. Every
// payment has its row in payment_polls, made in the same transaction, and
// keyed by the payment's creation time and reference.
const paymentsWithPolls = `payments JOIN payment_polls USING (created_at, reference)`

// pollOf3 and pollOf4 pick the payment_polls row of the payment whose
// reference is parameter ?3 or ?4: by its key, the payment's creation time
// (read from payments) and reference.
const (
	pollOf3 = `created_at = (SELECT created_at FROM payments WHERE reference = ?3) AND reference = ?3`
	pollOf4 = `created_at = (SELECT created_at FROM payments WHERE reference = ?4) AND reference = ?4`
)

// InsertPayment stores a new attempt with Version 1, and log with it. A
// zero CreatedAt or UpdatedAt is set from the clock. p and log are changed
// only when the insert commits.
func (s *Store) InsertPayment(ctx context.Context, p *bridge.Payment, log ...bridge.ProviderExchange) error {
	if err := p.Validate(); err != nil {
		return err
	}
	q := *p
	ids := make([]int64, len(log))
	err := s.group(ctx, func(tx *tx) error {
		q.PrepareInsert(tx.now)
		if err := insertPayment(ctx, tx, &q); err != nil {
			return err
		}
		for i := range log {
			e := log[i]
			if err := insertExchange(ctx, tx, &e); err != nil {
				return fmt.Errorf("%s %s exchange: %w", e.Provider, e.Operation, err)
			}
			ids[i] = e.ID
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("insert payment %q: %w", p.Reference, err)
	}
	*p = q
	for i := range log {
		log[i].ID = ids[i]
	}
	return nil
}

// Payment returns the payment with this reference.
func (s *Store) Payment(ctx context.Context, reference string) (*bridge.Payment, error) {
	p, err := s.readPayment(ctx, `reference = ?`, reference)
	if err != nil {
		return nil, fmt.Errorf("payment %q: %w", reference, err)
	}
	return p, nil
}

// readPayment is findPayment as one statement of its own, outside a
// transaction: a single SELECT sees one snapshot anyway, and the BEGIN and
// ROLLBACK around it were a third of a status read's store time.
func (s *Store) readPayment(ctx context.Context, where string, args ...any) (*bridge.Payment, error) {
	q := `SELECT ` + paymentColumns + ` FROM ` + paymentsWithPolls + ` WHERE ` + where
	var row *sql.Row
	if st := s.readStmts.get(q); st != nil {
		row = st.QueryRowContext(ctx, args...)
	} else {
		row = s.read.QueryRowContext(ctx, q, args...)
		defer s.readStmts.prepare(context.WithoutCancel(ctx), s.read, []string{q})
	}
	p, err := scanPayment(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bridge.ErrNotFound
	}
	return p, err
}

// byToken finds a payment by its return token. The index of tokens is
// partial (non-empty tokens only), and SQLite uses it only when the query
// repeats its condition: without it every status read scans the table.
const byToken = `return_token = ? AND return_token <> ''`

// PaymentByToken returns the payment whose return token is token. The empty
// token belongs to no payment.
func (s *Store) PaymentByToken(ctx context.Context, token string) (*bridge.Payment, error) {
	if token == "" {
		return nil, fmt.Errorf("payment by empty token: %w", bridge.ErrNotFound)
	}
	p, err := s.readPayment(ctx, byToken, token)
	if err != nil {
		// The token is a secret; it stays out of the error.
		return nil, fmt.Errorf("payment by token: %w", err)
	}
	return p, nil
}

// inTokens finds the payments of the return tokens in a JSON array, by the
// tokens' index; byTokens selects them.
const (
	inTokens = `return_token IN (SELECT value FROM json_each(?)) AND return_token <> ''`
	byTokens = `SELECT ` + paymentColumns + ` FROM ` + paymentsWithPolls + ` WHERE ` + inTokens
)

// PaymentsByTokens returns the payments of those tokens that have one, in
// one statement: the status reads' copies are refreshed in batches
// (bridge/shopper_cache.go), so that one read with a cold page cache
// serves many tokens.
func (s *Store) PaymentsByTokens(ctx context.Context, tokens []string) ([]*bridge.Payment, error) {
	if err := bridge.CheckTokensRead(tokens); err != nil {
		return nil, err
	}
	if len(tokens) == 0 {
		return []*bridge.Payment{}, nil
	}
	// One statement text for any number of tokens (a JSON array in one
	// parameter), so it is prepared once; an IN list of its own length
	// made every batch size a statement SQLite compiled anew.
	list, err := json.Marshal(tokens)
	if err != nil {
		return nil, fmt.Errorf("payments by token: %w", err)
	}
	var ps []*bridge.Payment
	err = s.view(ctx, func(tx *tx) error {
		rows, err := tx.QueryContext(ctx, byTokens, string(list))
		if err != nil {
			return err
		}
		ps, err = scanPayments(rows)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("payments by token: %w", err)
	}
	return ps, nil
}

// PaymentsByOrder returns the attempts for a KCO order by attempt number;
// none is not an error.
func (s *Store) PaymentsByOrder(ctx context.Context, kcoOrderID string) ([]*bridge.Payment, error) {
	var ps []*bridge.Payment
	err := s.view(ctx, func(tx *tx) (err error) {
		ps, err = findPayments(ctx, tx, kcoOrderID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("payments of order %q: %w", kcoOrderID, err)
	}
	return ps, nil
}

// insertPayment inserts p as it is.
func insertPayment(ctx context.Context, tx *tx, p *bridge.Payment) error {
	createdAt, err := encodeTime("CreatedAt", p.CreatedAt)
	if err != nil {
		return err
	}
	updatedAt, err := encodeTime("UpdatedAt", p.UpdatedAt)
	if err != nil {
		return err
	}
	nextPoll, err := nanos("NextPollAt", p.NextPollAt)
	if err != nil {
		return err
	}
	deadline, err := nanos("CaptureGuaranteedUntil", p.CaptureGuaranteedUntil)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO payments (reference, unit, kco_order_id, attempt, amount_value, amount_currency, state,
		create_idempotency_key, create_request, redirect_url, return_token, psp_reference,
		authorized, captured, refunded, cancelled, locale, kco_order, failure_reason,
		created_at, updated_at, version, capture_guaranteed_until, capture_deadline_notice)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.Reference, p.Unit, p.KCOOrderID, p.Attempt, p.Amount.Value, p.Amount.Currency, string(p.State),
		p.CreateIdempotencyKey, blob(p.CreateRequest), p.RedirectURL, p.ReturnToken, p.PSPReference,
		p.Authorized, p.Captured, p.Refunded, p.Cancelled, p.Locale, blob(p.Order), p.FailureReason,
		createdAt, updatedAt, p.Version, deadline, p.CaptureDeadlineNotice,
	)
	if err != nil {
		return conflict(err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO payment_polls (created_at, reference, next_poll_at, poll_owner, poll_lease_until,
		last_read_at, poll_asked_at, poll_asked_by) VALUES (?, ?, ?, '', 0, 0, 0, '')`, createdAt, p.Reference, nextPoll)
	return conflict(err)
}

// UpdatePayment writes p over the stored row if the stored version is
// p.Version, and then bumps p.Version. It tells a stale version
// (ErrConflict) from a missing payment (ErrNotFound). The poll lease is not
// part of the payment and is left as it is.
func (tx *tx) UpdatePayment(ctx context.Context, p *bridge.Payment) error {
	updatedAt, err := encodeTime("UpdatedAt", p.UpdatedAt)
	if err != nil {
		return err
	}
	nextPoll, err := nanos("NextPollAt", p.NextPollAt)
	if err != nil {
		return err
	}
	deadline, err := nanos("CaptureGuaranteedUntil", p.CaptureGuaranteedUntil)
	if err != nil {
		return err
	}
	// RETURNING hands back the creation time, which an update keeps, so p
	// ends up equal to the stored row.
	var created sql.NullInt64
	// The attempt's identity (unit, KCO order, attempt, return token) is
	// checked, not written: SQLite rewrites the entries of every index
	// whose column an UPDATE names, changed or not.
	err = tx.QueryRowContext(ctx, `UPDATE payments SET
		amount_value = ?, amount_currency = ?, state = ?,
		create_idempotency_key = ?, create_request = ?, redirect_url = ?, psp_reference = ?,
		authorized = ?, captured = ?, refunded = ?, cancelled = ?, locale = ?, kco_order = ?, failure_reason = ?,
		updated_at = ?, version = version + 1,
		capture_guaranteed_until = ?, capture_deadline_notice = ?
		WHERE reference = ? AND version = ? AND unit = ? AND kco_order_id = ? AND attempt = ? AND return_token = ?
		RETURNING created_at`,
		p.Amount.Value, p.Amount.Currency, string(p.State),
		p.CreateIdempotencyKey, blob(p.CreateRequest), p.RedirectURL, p.PSPReference,
		p.Authorized, p.Captured, p.Refunded, p.Cancelled, p.Locale, blob(p.Order), p.FailureReason,
		updatedAt, deadline, p.CaptureDeadlineNotice,
		p.Reference, p.Version, p.Unit, p.KCOOrderID, p.Attempt, p.ReturnToken,
	).Scan(&created)
	if errors.Is(err, sql.ErrNoRows) {
		var st bridge.StoredAttempt
		err := tx.QueryRowContext(ctx, `SELECT version, unit, kco_order_id, attempt, return_token FROM payments WHERE reference = ?`,
			p.Reference).Scan(&st.Version, &st.Unit, &st.KCOOrderID, &st.Attempt, &st.ReturnToken)
		if errors.Is(err, sql.ErrNoRows) {
			return bridge.ErrNotFound
		} else if err != nil {
			return err
		}
		return bridge.UnmatchedUpdate(p, st)
	} else if err != nil {
		return conflict(err)
	}
	// The schedule is written only when it changes: most updates keep it,
	// and an unchanged row is not written again.
	if _, err := tx.ExecContext(ctx, `UPDATE payment_polls SET next_poll_at = ?1
		WHERE created_at = ?2 AND reference = ?3 AND next_poll_at <> ?1`, nextPoll, created, p.Reference); err != nil {
		return err
	}
	p.CreatedAt = decodeTime(created)
	p.Version++
	return nil
}

// scanPayments reads rows of paymentColumns and closes them; none is an
// empty list.
func scanPayments(rows *sql.Rows) ([]*bridge.Payment, error) {
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

// findPayment returns the one payment matching where, or ErrNotFound.
func findPayment(ctx context.Context, tx *tx, where string, args ...any) (*bridge.Payment, error) {
	p, err := scanPayment(tx.QueryRowContext(ctx, `SELECT `+paymentColumns+` FROM `+paymentsWithPolls+` WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bridge.ErrNotFound
	}
	return p, err
}

// findPayments returns the attempts of a KCO order by attempt number.
func findPayments(ctx context.Context, tx *tx, kcoOrderID string) ([]*bridge.Payment, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+paymentColumns+` FROM `+paymentsWithPolls+`
		WHERE kco_order_id = ? ORDER BY attempt, created_at, reference`, kcoOrderID)
	if err != nil {
		return nil, err
	}
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

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// scanPayment reads the columns of paymentColumns.
func scanPayment(row scanner) (*bridge.Payment, error) {
	var (
		p                    bridge.Payment
		state                string
		createdAt, updatedAt sql.NullInt64
		nextPoll, deadline   int64
		createRequest, order []byte
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
	p.NextPollAt = fromNanos(nextPoll)
	p.CaptureGuaranteedUntil = fromNanos(deadline)
	p.CreatedAt = decodeTime(createdAt)
	p.UpdatedAt = decodeTime(updatedAt)
	return &p, nil
}

// blob stores a JSON document as its exact bytes, and nil as NULL, so that
// what is read back is what was given, byte for byte.
func blob(b []byte) any {
	if b == nil {
		return nil
	}
	return []byte(b)
}

// CaptureDeadlinesDue returns the reservations whose capture deadline needs
// a notice (see bridge.PaymentStore).
func (s *Store) CaptureDeadlinesDue(ctx context.Context, warnBy, now time.Time, limit int) ([]*bridge.Payment, error) {
	if limit < 1 {
		return []*bridge.Payment{}, nil
	}
	warn, err := nanos("warnBy", warnBy)
	if err != nil {
		return nil, err
	}
	at, err := nanos("now", now)
	if err != nil {
		return nil, err
	}
	var ps []*bridge.Payment
	err = s.view(ctx, func(tx *tx) error {
		// The conditions repeat the partial index's, so that it applies.
		rows, err := tx.QueryContext(ctx, `SELECT `+paymentColumns+` FROM `+paymentsWithPolls+`
			WHERE state = 'AUTHORIZED' AND capture_guaranteed_until <> 0 AND capture_deadline_notice <> 'passed'
			AND authorized > captured + cancelled
			AND ((capture_deadline_notice = '' AND capture_guaranteed_until <= ?) OR capture_guaranteed_until <= ?)
			ORDER BY capture_guaranteed_until, reference LIMIT ?`, warn, at, limit)
		if err != nil {
			return err
		}
		ps, err = scanPayments(rows)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("capture deadlines due: %w", err)
	}
	return ps, nil
}
