package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"vippskco/bridge"
)

// operationColumns lists the operations columns in the order scanOperation
// reads them.
const operationColumns = `id, reference, kind, idempotency_key, request_hash, amount_value, amount_currency,
	vipps_idempotency_key, source, state, response_status, response_body, error, attempts,
	lease_owner, lease_until, created_at, updated_at, version`

// InsertOperation stores a new operation with Version 1. A zero CreatedAt or
// UpdatedAt is set from the clock, and an empty State is pending: an
// operation is pending from the moment it is stored. It gives ErrNotFound
// when the payment is not stored. op is changed only when the insert
// commits, to the operation as stored.
func (s *Store) InsertOperation(ctx context.Context, op *bridge.Operation) error {
	if err := op.Validate(); err != nil {
		return err
	}
	o := *op
	o.PrepareInsert(s.clock())
	// Repeatable: the ID and the idempotency key are unique, so a repeat of
	// an insert that did land fails with ErrConflict, and the caller finds
	// the operation by its key.
	if err := s.retry(ctx, "insert operation", repeatable, func() error { return insertOperation(ctx, s.pool, &o) }); err != nil {
		return fmt.Errorf("insert operation %q: %w", op.ID, err)
	}
	*op = o
	return nil
}

// Operation returns the operation with this ID.
func (s *Store) Operation(ctx context.Context, id string) (*bridge.Operation, error) {
	op, err := retried(ctx, s, "operation", readOnly, func() (*bridge.Operation, error) {
		return findOperation(ctx, s.pool, `id = $1`, id)
	})
	if err != nil {
		return nil, fmt.Errorf("operation %q: %w", id, err)
	}
	return op, nil
}

// OperationByKey returns the operation with this idempotency key.
func (s *Store) OperationByKey(ctx context.Context, key string) (*bridge.Operation, error) {
	op, err := retried(ctx, s, "operation by key", readOnly, func() (*bridge.Operation, error) {
		return findOperation(ctx, s.pool, `idempotency_key = $1`, key)
	})
	if err != nil {
		return nil, fmt.Errorf("operation by key %q: %w", key, err)
	}
	return op, nil
}

// Operations returns the operations of a payment by creation time, those
// created at the same instant in the order they were stored, or ErrNotFound
// when there is no such payment.
func (s *Store) Operations(ctx context.Context, reference string) ([]*bridge.Operation, error) {
	ops, err := retried(ctx, s, "operations", readOnly, func() ([]*bridge.Operation, error) {
		ops, err := findOperations(ctx, s.pool, `reference = $1 ORDER BY created_at, seq`, reference)
		if err == nil && len(ops) == 0 {
			err = paymentExists(ctx, s.pool, reference)
		}
		return ops, err
	})
	if err != nil {
		return nil, fmt.Errorf("operations of %q: %w", reference, err)
	}
	return ops, nil
}

// UpdateOperation writes every field of op but ID, Reference and CreatedAt,
// which identify it, when op.Version is the stored version, and bumps
// op.Version and op.UpdatedAt. op is changed only when the update commits,
// to the operation as stored.
func (s *Store) UpdateOperation(ctx context.Context, op *bridge.Operation) error {
	updated := s.clock()
	var o bridge.Operation
	// Repeatable: the update is guarded by the version, so a repeat of one
	// that did land fails with ErrConflict.
	if err := s.retry(ctx, "update operation", repeatable, func() error {
		o = *op
		o.UpdatedAt = updated
		return updateOperation(ctx, s.pool, &o)
	}); err != nil {
		return fmt.Errorf("update operation %q: %w", op.ID, err)
	}
	*op = o
	return nil
}

// ClaimOperation leases a pending operation to owner until until, unless its
// own lease is live at now, or another pending operation of the same payment
// holds a live lease or was stored before it (has a smaller seq): a payment's
// operations run one at a time, in the order they were stored. The check and
// the lease are one statement; the row is locked with FOR UPDATE SKIP LOCKED,
// so of two replicas claiming it at once one takes it and the other skips it,
// and a replica that reads it after a claim committed finds the lease live.
// A claim bumps Version and UpdatedAt, so that a runner whose lease ran out
// and was taken over can no longer write the operation. It gives ErrNotFound
// for an unknown operation; when the lease is not taken it returns the
// operation as stored and false.
func (s *Store) ClaimOperation(ctx context.Context, id, owner string, now, until time.Time) (*bridge.Operation, bool, error) {
	if err := bridge.CheckLease(owner, until.Sub(now)); err != nil {
		return nil, false, err
	}
	updated := s.clock()
	var ta timeArgs
	at, end := ta.instant("now", &now), ta.instant("lease end", &until)
	if ta.err != nil {
		return nil, false, ta.err
	}
	// Once: a claim whose outcome is unknown is not made again; if it did
	// land, its lease runs out and the sweep runs the operation.
	op, err := retried(ctx, s, "claim operation", once, func() (*bridge.Operation, error) {
		return scanOperation(s.pool.QueryRow(ctx, `WITH c AS (
			SELECT op.id AS claimed FROM operations AS op
			WHERE op.id = $1 AND op.state = 'pending' AND (op.lease_until IS NULL OR op.lease_until <= $2)
			AND NOT EXISTS (
				SELECT 1 FROM operations AS other
				WHERE other.reference = op.reference AND other.id <> op.id AND other.state = 'pending'
				AND (other.lease_until > $2 OR other.seq < op.seq)
			)
			FOR UPDATE OF op SKIP LOCKED
		)
		UPDATE operations SET lease_owner = $3, lease_until = $4, updated_at = $5, version = version + 1
		FROM c WHERE operations.id = c.claimed
		RETURNING `+operationColumns,
			id, at, owner, end, updated))
	})
	if err == nil {
		return op, true, nil
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return nil, false, fmt.Errorf("claim operation %q for %q: %w", id, owner, err)
	}
	op, err = retried(ctx, s, "operation", readOnly, func() (*bridge.Operation, error) {
		return findOperation(ctx, s.pool, `id = $1`, id)
	})
	if err != nil {
		return nil, false, fmt.Errorf("claim operation %q for %q: %w", id, owner, err)
	}
	return op, false, nil
}

// StaleOperations returns up to limit pending operations whose lease is free
// or expired at now, oldest first (as Operations orders them). Rows that a
// replica is claiming at this moment are locked, and skipped: they are not
// stale. A limit below 1 returns none.
func (s *Store) StaleOperations(ctx context.Context, now time.Time, limit int) ([]*bridge.Operation, error) {
	if limit < 1 {
		return []*bridge.Operation{}, nil
	}
	var ta timeArgs
	at := ta.instant("now", &now)
	if ta.err != nil {
		return nil, ta.err
	}
	// The state is a literal so that the partial index operations_pending
	// applies. The locks last as long as this one statement.
	// A read: the row locks change nothing and end with the statement.
	ops, err := retried(ctx, s, "stale operations", readOnly, func() ([]*bridge.Operation, error) {
		return findOperations(ctx, s.pool, `state = 'pending' AND (lease_until IS NULL OR lease_until <= $1)
			ORDER BY created_at, seq LIMIT $2 FOR UPDATE SKIP LOCKED`, at, limit)
	})
	if err != nil {
		return nil, fmt.Errorf("stale operations: %w", err)
	}
	return ops, nil
}

// insertOperation inserts op as it is and sets its times to what was
// stored. A duplicate ID or idempotency key is ErrConflict, an unknown
// payment ErrNotFound.
func insertOperation(ctx context.Context, db querier, op *bridge.Operation) error {
	var ta timeArgs
	args := []any{
		op.ID, op.Reference, op.Kind, op.IdempotencyKey, op.RequestHash, op.Amount.Value, op.Amount.Currency,
		op.VippsIdempotencyKey, op.Source, op.State, op.ResponseStatus, bytea(op.ResponseBody), op.Error, op.Attempts,
		op.LeaseOwner, ta.at("LeaseUntil", &op.LeaseUntil), ta.at("CreatedAt", &op.CreatedAt),
		ta.at("UpdatedAt", &op.UpdatedAt), op.Version,
	}
	if ta.err != nil {
		return ta.err
	}
	_, err := db.Exec(ctx, `INSERT INTO operations (`+operationColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`, args...)
	return conflict(err)
}

// updateOperation writes op over the stored row if the stored version is
// op.Version, and sets op to the row as stored.
func updateOperation(ctx context.Context, db querier, op *bridge.Operation) error {
	var ta timeArgs
	args := []any{
		op.Kind, op.IdempotencyKey, op.RequestHash, op.Amount.Value, op.Amount.Currency,
		op.VippsIdempotencyKey, op.Source, op.State, op.ResponseStatus, bytea(op.ResponseBody), op.Error,
		op.Attempts, op.LeaseOwner, ta.at("LeaseUntil", &op.LeaseUntil), ta.at("UpdatedAt", &op.UpdatedAt),
		op.ID, op.Version,
	}
	if ta.err != nil {
		return ta.err
	}
	stored, err := scanOperation(db.QueryRow(ctx, `UPDATE operations SET
		kind = $1, idempotency_key = $2, request_hash = $3, amount_value = $4, amount_currency = $5,
		vipps_idempotency_key = $6, source = $7, state = $8, response_status = $9, response_body = $10, error = $11,
		attempts = $12, lease_owner = $13, lease_until = $14, updated_at = $15, version = version + 1
		WHERE id = $16 AND version = $17
		RETURNING `+operationColumns, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return staleVersion(ctx, db, `SELECT version FROM operations WHERE id = $1`, op.ID, op.Version)
	} else if err != nil {
		return conflict(err)
	}
	*op = *stored
	return nil
}

// findOperation returns the one operation matching where, or ErrNotFound.
func findOperation(ctx context.Context, db querier, where string, args ...any) (*bridge.Operation, error) {
	op, err := scanOperation(db.QueryRow(ctx, `SELECT `+operationColumns+` FROM operations WHERE `+where, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, bridge.ErrNotFound
	}
	return op, err
}

// findOperations returns the operations matching where, which also orders
// and limits them.
func findOperations(ctx context.Context, db querier, where string, args ...any) ([]*bridge.Operation, error) {
	rows, err := db.Query(ctx, `SELECT `+operationColumns+` FROM operations WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()

	ops := []*bridge.Operation{}
	for rows.Next() {
		op, err := scanOperation(rows)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, rows.Err()
}

// scanOperation reads the columns of operationColumns.
func scanOperation(row pgx.Row) (*bridge.Operation, error) {
	var (
		op                               bridge.Operation
		body                             []byte
		leaseUntil, createdAt, updatedAt pgtype.Timestamptz
	)
	if err := row.Scan(
		&op.ID, &op.Reference, &op.Kind, &op.IdempotencyKey, &op.RequestHash, &op.Amount.Value, &op.Amount.Currency,
		&op.VippsIdempotencyKey, &op.Source, &op.State, &op.ResponseStatus, &body, &op.Error, &op.Attempts,
		&op.LeaseOwner, &leaseUntil, &createdAt, &updatedAt, &op.Version,
	); err != nil {
		return nil, err
	}
	op.ResponseBody = json.RawMessage(body)
	op.LeaseUntil = timeOf(leaseUntil)
	op.CreatedAt = timeOf(createdAt)
	op.UpdatedAt = timeOf(updatedAt)
	return &op, nil
}
