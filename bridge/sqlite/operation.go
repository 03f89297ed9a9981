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

// operationColumns lists the operations columns in the order scanOperation
// reads them.
const operationColumns = `id, reference, kind, idempotency_key, request_hash, amount_value, amount_currency,
	vipps_idempotency_key, source, state, response_status, response_body, error, attempts,
	lease_owner, lease_until, created_at, updated_at, version`

// InsertOperation stores a new operation with Version 1. A zero CreatedAt or
// UpdatedAt is set from the clock, and an empty State is pending: an
// operation is pending from the moment it is stored. It gives ErrNotFound
// when the payment is not stored. op is changed only when the insert commits.
func (s *Store) InsertOperation(ctx context.Context, op *bridge.Operation) error {
	if err := op.Validate(); err != nil {
		return err
	}
	o := *op
	err := s.group(ctx, func(tx *tx) error {
		o.PrepareInsert(tx.now)
		return tx.InsertOperation(ctx, &o)
	})
	if err != nil {
		return fmt.Errorf("insert operation %q: %w", op.ID, err)
	}
	*op = o
	return nil
}

// Operation returns the operation with this ID.
func (s *Store) Operation(ctx context.Context, id string) (*bridge.Operation, error) {
	var op *bridge.Operation
	err := s.view(ctx, func(tx *tx) (err error) {
		op, err = findOperation(ctx, tx, `id = ?`, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("operation %q: %w", id, err)
	}
	return op, nil
}

// OperationByKey returns the operation with this idempotency key.
func (s *Store) OperationByKey(ctx context.Context, key string) (*bridge.Operation, error) {
	var op *bridge.Operation
	err := s.view(ctx, func(tx *tx) (err error) {
		op, err = findOperation(ctx, tx, `idempotency_key = ?`, key)
		return err
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
	var ops []*bridge.Operation
	err := s.view(ctx, func(tx *tx) (err error) {
		if err = paymentExists(ctx, tx, reference); err != nil {
			return err
		}
		ops, err = findOperations(ctx, tx, `reference = ? ORDER BY created_at, rowid`, reference)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("operations of %q: %w", reference, err)
	}
	return ops, nil
}

// UpdateOperation writes every field of op but ID, Reference and CreatedAt,
// which identify it, when op.Version is the stored version, and bumps
// op.Version and op.UpdatedAt. op is changed only when the update commits.
func (s *Store) UpdateOperation(ctx context.Context, op *bridge.Operation) error {
	o := *op
	err := s.group(ctx, func(tx *tx) error {
		o.UpdatedAt = tx.now
		return updateOperation(ctx, tx, &o)
	})
	if err != nil {
		return fmt.Errorf("update operation %q: %w", op.ID, err)
	}
	*op = o
	return nil
}

// ClaimOperation leases a pending operation to owner until until, unless its
// own lease is live at now or another pending operation of the same payment
// holds a live lease. The check and the lease are one UPDATE in the write
// transaction. A claim bumps Version and UpdatedAt, so that a runner whose
// lease ran out and was taken over can no longer write the operation. It
// gives ErrNotFound for an unknown operation; when the lease is not taken it
// returns the operation as stored and false.
func (s *Store) ClaimOperation(ctx context.Context, id, owner string, now, until time.Time) (*bridge.Operation, bool, error) {
	if err := bridge.CheckLease(owner, until.Sub(now)); err != nil {
		return nil, false, err
	}
	at, err := nanos("now", now)
	if err != nil {
		return nil, false, err
	}
	end, err := nanos("lease end", until)
	if err != nil {
		return nil, false, err
	}
	var (
		op      *bridge.Operation
		claimed bool
	)
	err = s.group(ctx, func(tx *tx) (err error) {
		op, claimed, err = claimOperation(ctx, tx, id, owner, at, end)
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("claim operation %q for %q: %w", id, owner, err)
	}
	return op, claimed, nil
}

// StaleOperations returns up to limit pending operations whose lease is free
// or expired at now, oldest first (as Operations orders them). A limit below
// 1 returns none.
func (s *Store) StaleOperations(ctx context.Context, now time.Time, limit int) ([]*bridge.Operation, error) {
	if limit < 1 {
		return []*bridge.Operation{}, nil
	}
	at, err := nanos("now", now)
	if err != nil {
		return nil, err
	}
	// The state is a literal so that the partial index operations_pending applies.
	var ops []*bridge.Operation
	err = s.view(ctx, func(tx *tx) (err error) {
		ops, err = findOperations(ctx, tx, `state = 'pending' AND lease_until <= ? ORDER BY created_at, rowid LIMIT ?`, at, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("stale operations: %w", err)
	}
	return ops, nil
}

// operationTimes encodes the times of op that the store writes.
func operationTimes(op *bridge.Operation) (leaseUntil, createdAt, updatedAt int64, err error) {
	if leaseUntil, err = nanos("LeaseUntil", op.LeaseUntil); err != nil {
		return
	}
	if createdAt, err = nanos("CreatedAt", op.CreatedAt); err != nil {
		return
	}
	updatedAt, err = nanos("UpdatedAt", op.UpdatedAt)
	return
}

// InsertOperation inserts op as it is. A duplicate ID or idempotency key is
// ErrConflict, an unknown payment ErrNotFound.
func (tx *tx) InsertOperation(ctx context.Context, op *bridge.Operation) error {
	leaseUntil, createdAt, updatedAt, err := operationTimes(op)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO operations (`+operationColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		op.ID, op.Reference, op.Kind, op.IdempotencyKey, op.RequestHash, op.Amount.Value, op.Amount.Currency,
		op.VippsIdempotencyKey, op.Source, op.State, op.ResponseStatus, blob(op.ResponseBody), op.Error, op.Attempts,
		op.LeaseOwner, leaseUntil, createdAt, updatedAt, op.Version,
	)
	return conflict(err)
}

// updateOperation writes op over the stored row if the stored version is
// op.Version, and sets op to the row as stored.
func updateOperation(ctx context.Context, tx *tx, op *bridge.Operation) error {
	leaseUntil, _, updatedAt, err := operationTimes(op)
	if err != nil {
		return err
	}
	stored, err := scanOperation(tx.QueryRowContext(ctx, `UPDATE operations SET
		kind = ?, idempotency_key = ?, request_hash = ?, amount_value = ?, amount_currency = ?,
		vipps_idempotency_key = ?, source = ?, state = ?, response_status = ?, response_body = ?, error = ?,
		attempts = ?, lease_owner = ?, lease_until = ?, updated_at = ?, version = version + 1
		WHERE id = ? AND version = ?
		RETURNING `+operationColumns,
		op.Kind, op.IdempotencyKey, op.RequestHash, op.Amount.Value, op.Amount.Currency,
		op.VippsIdempotencyKey, op.Source, op.State, op.ResponseStatus, blob(op.ResponseBody), op.Error,
		op.Attempts, op.LeaseOwner, leaseUntil, updatedAt, op.ID, op.Version,
	))
	if errors.Is(err, sql.ErrNoRows) {
		return staleVersion(ctx, tx, `SELECT version FROM operations WHERE id = ?`, op.ID, op.Version)
	} else if err != nil {
		return conflict(err)
	}
	*op = *stored
	return nil
}

// claimOperation takes the lease of operation id if the claim rules allow it
// and returns the operation as stored afterwards.
func claimOperation(ctx context.Context, tx *tx, id, owner string, now, until int64) (*bridge.Operation, bool, error) {
	op, err := scanOperation(tx.QueryRowContext(ctx, `UPDATE operations SET
		lease_owner = ?, lease_until = ?, updated_at = ?, version = version + 1
		WHERE id = ? AND state = 'pending' AND lease_until <= ?
		AND NOT EXISTS (
			SELECT 1 FROM operations AS other
			WHERE other.reference = operations.reference AND other.id <> operations.id
			AND other.state = 'pending' AND (other.lease_until > ? OR other.rowid < operations.rowid)
		)
		RETURNING `+operationColumns,
		owner, until, tx.now.UnixNano(), id, now, now,
	))
	if err == nil {
		return op, true, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return nil, false, err
	}
	op, err = findOperation(ctx, tx, `id = ?`, id)
	if err != nil {
		return nil, false, err
	}
	return op, false, nil
}

// findOperation returns the one operation matching where, or ErrNotFound.
func findOperation(ctx context.Context, tx *tx, where string, args ...any) (*bridge.Operation, error) {
	op, err := scanOperation(tx.QueryRowContext(ctx, `SELECT `+operationColumns+` FROM operations WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bridge.ErrNotFound
	}
	return op, err
}

// findOperations returns the operations matching where, which also orders
// and limits them.
func findOperations(ctx context.Context, tx *tx, where string, args ...any) ([]*bridge.Operation, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+operationColumns+` FROM operations WHERE `+where, args...)
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
func scanOperation(row scanner) (*bridge.Operation, error) {
	var (
		op                               bridge.Operation
		body                             []byte
		leaseUntil, createdAt, updatedAt int64
	)
	if err := row.Scan(
		&op.ID, &op.Reference, &op.Kind, &op.IdempotencyKey, &op.RequestHash, &op.Amount.Value, &op.Amount.Currency,
		&op.VippsIdempotencyKey, &op.Source, &op.State, &op.ResponseStatus, &body, &op.Error, &op.Attempts,
		&op.LeaseOwner, &leaseUntil, &createdAt, &updatedAt, &op.Version,
	); err != nil {
		return nil, err
	}
	op.ResponseBody = json.RawMessage(body)
	op.LeaseUntil = fromNanos(leaseUntil)
	op.CreatedAt = fromNanos(createdAt)
	op.UpdatedAt = fromNanos(updatedAt)
	return &op, nil
}

// staleVersion explains why a version-checked update of the row that query
// selects changed nothing: the row is missing (ErrNotFound) or its version is
// not want (ErrConflict).
func staleVersion(ctx context.Context, tx *tx, query, id string, want int64) error {
	var stored int64
	err := tx.QueryRowContext(ctx, query, id).Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		return bridge.ErrNotFound
	} else if err != nil {
		return err
	}
	return fmt.Errorf("version %d is not the stored version %d: %w", want, stored, bridge.ErrConflict)
}
