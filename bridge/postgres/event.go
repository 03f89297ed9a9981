package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"vippskco/bridge"
)

// PaymentEvents returns the Vipps events applied to a payment in the order
// they were stored, or ErrNotFound when there is no such payment.
func (s *Store) PaymentEvents(ctx context.Context, reference string) ([]bridge.PaymentEvent, error) {
	es, err := retried(ctx, s, "payment events", readOnly, func() ([]bridge.PaymentEvent, error) {
		es, err := findPaymentEvents(ctx, s.pool, reference)
		if err == nil && len(es) == 0 {
			err = paymentExists(ctx, s.pool, reference)
		}
		return es, err
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
	r.PrepareInsert(s.clock())
	var ta timeArgs
	receivedAt := ta.at("ReceivedAt", &r.ReceivedAt)
	if ta.err != nil {
		return ta.err
	}
	// Once: a repeat would keep the input twice.
	err := s.retry(ctx, "append raw event", once, func() error {
		return s.pool.QueryRow(ctx, `INSERT INTO raw_events (reference, unit, source, name, body, received_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			r.Reference, r.Unit, r.Source, r.Name, bytea(r.Body), receivedAt,
		).Scan(&r.ID)
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
	return retried(ctx, s, "raw events", readOnly, func() ([]bridge.RawEvent, error) { return s.rawEvents(ctx, reference) })
}

func (s *Store) rawEvents(ctx context.Context, reference string) ([]bridge.RawEvent, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, reference, unit, source, name, body, received_at
		FROM raw_events WHERE reference = $1 ORDER BY id`, reference)
	if err != nil {
		return nil, fmt.Errorf("raw events of %q: %w", reference, err)
	}
	defer rows.Close()

	es := []bridge.RawEvent{}
	for rows.Next() {
		var (
			e          bridge.RawEvent
			body       []byte
			receivedAt pgtype.Timestamptz
		)
		if err := rows.Scan(&e.ID, &e.Reference, &e.Unit, &e.Source, &e.Name, &body, &receivedAt); err != nil {
			return nil, fmt.Errorf("raw events of %q: %w", reference, err)
		}
		e.Body = json.RawMessage(body)
		e.ReceivedAt = timeOf(receivedAt)
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("raw events of %q: %w", reference, err)
	}
	return es, nil
}

// InsertPaymentEvent inserts e and sets its ID, unless an event with the same
// reference, name and PSP reference is stored; it reports which. An event
// being stored by a concurrent transaction is waited for, then skipped.
func (tx *tx) InsertPaymentEvent(ctx context.Context, e *bridge.PaymentEvent) (bool, error) {
	var ta timeArgs
	occurredAt := ta.at("OccurredAt", &e.OccurredAt)
	recordedAt := ta.at("RecordedAt", &e.RecordedAt)
	if ta.err != nil {
		return false, ta.err
	}
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO payment_events (
		reference, name, psp_reference, amount_value, amount_currency, success,
		idempotency_key, occurred_at, source, recorded_at
	) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
	ON CONFLICT (reference, name, psp_reference) DO NOTHING
	RETURNING id`,
		e.Reference, e.Name, e.PSPReference, e.Amount.Value, e.Amount.Currency, e.Success,
		e.IdempotencyKey, occurredAt, e.Source, recordedAt,
	).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	} else if err != nil {
		return false, conflict(err)
	}
	e.ID = id
	return true, nil
}

// findPaymentEvents returns the events of a payment by ID.
func findPaymentEvents(ctx context.Context, db querier, reference string) ([]bridge.PaymentEvent, error) {
	rows, err := db.Query(ctx, `SELECT id, reference, name, psp_reference, amount_value, amount_currency,
		success, idempotency_key, occurred_at, source, recorded_at
		FROM payment_events WHERE reference = $1 ORDER BY id`, reference)
	if err != nil {
		return nil, err
	}
	defer rows.Close()

	es := []bridge.PaymentEvent{}
	for rows.Next() {
		var (
			e                      bridge.PaymentEvent
			occurredAt, recordedAt pgtype.Timestamptz
		)
		if err := rows.Scan(&e.ID, &e.Reference, &e.Name, &e.PSPReference, &e.Amount.Value, &e.Amount.Currency,
			&e.Success, &e.IdempotencyKey, &occurredAt, &e.Source, &recordedAt); err != nil {
			return nil, err
		}
		e.OccurredAt = timeOf(occurredAt)
		e.RecordedAt = timeOf(recordedAt)
		es = append(es, e)
	}
	return es, rows.Err()
}
