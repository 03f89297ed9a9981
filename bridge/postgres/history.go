package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"vippskco/bridge"
)

// History returns the history of a payment in the order it was written, or
// ErrNotFound when there is no such payment.
func (s *Store) History(ctx context.Context, reference string) ([]bridge.HistoryEntry, error) {
	es, err := retried(ctx, s, "history", readOnly, func() ([]bridge.HistoryEntry, error) {
		es, err := findHistory(ctx, s.pool, reference)
		if err == nil && len(es) == 0 {
			err = paymentExists(ctx, s.pool, reference)
		}
		return es, err
	})
	if err != nil {
		return nil, fmt.Errorf("history of %q: %w", reference, err)
	}
	return es, nil
}

// paymentExists returns ErrNotFound unless a payment has this reference.
// Payments are never deleted, so a list read before this check and found
// empty is the list of the payment the check finds.
func paymentExists(ctx context.Context, db querier, reference string) error {
	var one int
	err := db.QueryRow(ctx, `SELECT 1 FROM payments WHERE reference = $1`, reference).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return bridge.ErrNotFound
	}
	return err
}

// InsertHistoryEntry appends e and sets its ID. An unknown payment is
// ErrNotFound.
func (tx *tx) InsertHistoryEntry(ctx context.Context, e *bridge.HistoryEntry) error {
	var ta timeArgs
	at := ta.at("history At", &e.At)
	if ta.err != nil {
		return ta.err
	}
	err := tx.QueryRow(ctx, `INSERT INTO payment_history (reference, source, from_state, to_state, detail, at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
		e.Reference, e.Source, string(e.FromState), string(e.ToState), e.Detail, at,
	).Scan(&e.ID)
	if err != nil {
		return fmt.Errorf("insert history entry: %w", conflict(err))
	}
	return nil
}

// findHistory returns the entries of a payment by ID.
func findHistory(ctx context.Context, db querier, reference string) ([]bridge.HistoryEntry, error) {
	rows, err := db.Query(ctx, `SELECT id, reference, source, from_state, to_state, detail, at
		FROM payment_history WHERE reference = $1 ORDER BY id`, reference)
	if err != nil {
		return nil, err
	}
	defer rows.Close()

	es := []bridge.HistoryEntry{}
	for rows.Next() {
		var (
			e        bridge.HistoryEntry
			from, to string
			at       pgtype.Timestamptz
		)
		if err := rows.Scan(&e.ID, &e.Reference, &e.Source, &from, &to, &e.Detail, &at); err != nil {
			return nil, err
		}
		e.FromState, e.ToState = bridge.PaymentState(from), bridge.PaymentState(to)
		e.At = timeOf(at)
		es = append(es, e)
	}
	return es, rows.Err()
}
