package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"vippskco/bridge"
)

// History returns the history of a payment in the order it was written, or
// ErrNotFound when there is no such payment.
func (s *Store) History(ctx context.Context, reference string) ([]bridge.HistoryEntry, error) {
	var es []bridge.HistoryEntry
	err := s.view(ctx, func(tx *tx) (err error) {
		if err = paymentExists(ctx, tx, reference); err != nil {
			return err
		}
		es, err = findHistory(ctx, tx, reference)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("history of %q: %w", reference, err)
	}
	return es, nil
}

// paymentExists returns ErrNotFound unless a payment has this reference.
func paymentExists(ctx context.Context, tx *tx, reference string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM payments WHERE reference = ?`, reference).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return bridge.ErrNotFound
	}
	return err
}

// InsertHistoryEntry appends e and sets its ID.
func (tx *tx) InsertHistoryEntry(ctx context.Context, e *bridge.HistoryEntry) error {
	at, err := encodeTime("history At", e.At)
	if err != nil {
		return err
	}
	err = tx.QueryRowContext(ctx, `INSERT INTO payment_history (reference, source, from_state, to_state, detail, at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		e.Reference, e.Source, string(e.FromState), string(e.ToState), e.Detail, at,
	).Scan(&e.ID)
	if err != nil {
		return fmt.Errorf("insert history entry: %w", err)
	}
	return nil
}

// findHistory returns the entries of a payment by ID.
func findHistory(ctx context.Context, tx *tx, reference string) ([]bridge.HistoryEntry, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, reference, source, from_state, to_state, detail, at
		FROM payment_history WHERE reference = ? ORDER BY id`, reference)
	if err != nil {
		return nil, err
	}
	defer rows.Close()

	es := []bridge.HistoryEntry{}
	for rows.Next() {
		var (
			e        bridge.HistoryEntry
			from, to string
			at       sql.NullInt64
		)
		if err := rows.Scan(&e.ID, &e.Reference, &e.Source, &from, &to, &e.Detail, &at); err != nil {
			return nil, err
		}
		e.FromState, e.ToState = bridge.PaymentState(from), bridge.PaymentState(to)
		e.At = decodeTime(at)
		es = append(es, e)
	}
	return es, rows.Err()
}
