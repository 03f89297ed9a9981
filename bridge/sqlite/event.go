package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"vippskco/bridge"
)

// PaymentEvents returns the Vipps events applied to a payment in the order
// they were stored, or ErrNotFound when there is no such payment.
func (s *Store) PaymentEvents(ctx context.Context, reference string) ([]bridge.PaymentEvent, error) {
	var es []bridge.PaymentEvent
	err := s.view(ctx, func(tx *tx) (err error) {
		if err = paymentExists(ctx, tx, reference); err != nil {
			return err
		}
		es, err = findPaymentEvents(ctx, tx, reference)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("events of %q: %w", reference, err)
	}
	return es, nil
}

// AppendRawEvent keeps e and sets its ID; a zero ReceivedAt is set from the
// clock. e.Reference may be empty or name a payment not stored: an input is
// kept whether or not it could be matched. e is changed only when the insert
// commits.
func (s *Store) AppendRawEvent(ctx context.Context, e *bridge.RawEvent) error {
	r := *e
	err := s.group(ctx, func(tx *tx) error {
		r.PrepareInsert(tx.now)
		return insertRawEvent(ctx, tx, &r)
	})
	if err != nil {
		return fmt.Errorf("append %s raw event of %q: %w", r.Source, r.Reference, err)
	}
	*e = r
	return nil
}

// RawEvents returns the raw inputs about a reference in the order they were
// kept; the empty reference gives those that named no payment.
func (s *Store) RawEvents(ctx context.Context, reference string) ([]bridge.RawEvent, error) {
	var es []bridge.RawEvent
	err := s.view(ctx, func(tx *tx) (err error) {
		es, err = findRawEvents(ctx, tx, reference)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("raw events of %q: %w", reference, err)
	}
	return es, nil
}

// InsertPaymentEvent inserts e and sets its ID, unless an event with the same
// reference, name and PSP reference is stored; it reports which.
func (tx *tx) InsertPaymentEvent(ctx context.Context, e *bridge.PaymentEvent) (bool, error) {
	occurredAt, err := nanos("OccurredAt", e.OccurredAt)
	if err != nil {
		return false, err
	}
	recordedAt, err := nanos("RecordedAt", e.RecordedAt)
	if err != nil {
		return false, err
	}
	var id int64
	err = tx.QueryRowContext(ctx, `INSERT INTO payment_events (
		reference, name, psp_reference, amount_value, amount_currency, success,
		idempotency_key, occurred_at, source, recorded_at
	) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (reference, name, psp_reference) DO NOTHING
	RETURNING id`,
		e.Reference, e.Name, e.PSPReference, e.Amount.Value, e.Amount.Currency, e.Success,
		e.IdempotencyKey, occurredAt, e.Source, recordedAt,
	).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	} else if err != nil {
		return false, conflict(err)
	}
	e.ID = id
	return true, nil
}

// findPaymentEvents returns the events of a payment by ID.
func findPaymentEvents(ctx context.Context, tx *tx, reference string) ([]bridge.PaymentEvent, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, reference, name, psp_reference, amount_value, amount_currency,
		success, idempotency_key, occurred_at, source, recorded_at
		FROM payment_events WHERE reference = ? ORDER BY id`, reference)
	if err != nil {
		return nil, err
	}
	defer rows.Close()

	es := []bridge.PaymentEvent{}
	for rows.Next() {
		var (
			e                      bridge.PaymentEvent
			occurredAt, recordedAt int64
		)
		if err := rows.Scan(&e.ID, &e.Reference, &e.Name, &e.PSPReference, &e.Amount.Value, &e.Amount.Currency,
			&e.Success, &e.IdempotencyKey, &occurredAt, &e.Source, &recordedAt); err != nil {
			return nil, err
		}
		e.OccurredAt = fromNanos(occurredAt)
		e.RecordedAt = fromNanos(recordedAt)
		es = append(es, e)
	}
	return es, rows.Err()
}

// insertRawEvent inserts e and sets its ID.
func insertRawEvent(ctx context.Context, tx *tx, e *bridge.RawEvent) error {
	receivedAt, err := nanos("ReceivedAt", e.ReceivedAt)
	if err != nil {
		return err
	}
	return tx.QueryRowContext(ctx, `INSERT INTO raw_events (reference, unit, source, name, body, received_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		e.Reference, e.Unit, e.Source, e.Name, blob(e.Body), receivedAt,
	).Scan(&e.ID)
}

// findRawEvents returns the raw inputs about a reference by ID.
func findRawEvents(ctx context.Context, tx *tx, reference string) ([]bridge.RawEvent, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, reference, unit, source, name, body, received_at
		FROM raw_events WHERE reference = ? ORDER BY id`, reference)
	if err != nil {
		return nil, err
	}
	defer rows.Close()

	es := []bridge.RawEvent{}
	for rows.Next() {
		var (
			e          bridge.RawEvent
			body       []byte
			receivedAt int64
		)
		if err := rows.Scan(&e.ID, &e.Reference, &e.Unit, &e.Source, &e.Name, &body, &receivedAt); err != nil {
			return nil, err
		}
		e.Body = json.RawMessage(body)
		e.ReceivedAt = fromNanos(receivedAt)
		es = append(es, e)
	}
	return es, rows.Err()
}
