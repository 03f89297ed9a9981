package sqlite

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"vippskco/bridge"
)

// ClaimDuePolls leases the payments whose poll is due, earliest first. The
// choice and the lease are one UPDATE, so two pollers never take the same
// payment while a lease holds. The lease is kept beside the payment, not in
// it: claiming changes neither Version nor UpdatedAt, and the poller's own
// update of the payment is not refused because of it. A limit below 1
// claims nothing.
func (s *Store) ClaimDuePolls(ctx context.Context, now time.Time, owner string, lease time.Duration, limit int) ([]*bridge.Payment, error) {
	return claim(ctx, s, "claim due polls for "+strconv.Quote(owner), now, owner, lease, limit, claimDuePolls)
}

// claim is what every lease claim does around its SQL: the lease's checks,
// nothing for a limit below 1, its bounds in the store's nanoseconds, and
// one transaction.
func claim[T any](ctx context.Context, s *Store, what string, now time.Time, owner string, lease time.Duration, limit int,
	rows func(ctx context.Context, tx *tx, at int64, owner string, until int64, limit int) ([]T, error)) ([]T, error) {
	if err := bridge.CheckLease(owner, lease); err != nil {
		return nil, err
	}
	if limit < 1 {
		return []T{}, nil
	}
	at, err := nanos("now", now)
	if err != nil {
		return nil, err
	}
	until, err := nanos("lease end", now.Add(lease))
	if err != nil {
		return nil, err
	}
	var out []T
	err = s.transact(ctx, func(tx *tx) (err error) {
		out, err = rows(ctx, tx, at, owner, until, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// ReleasePoll schedules the next poll of a payment (zero: none) and, if owner
// holds its poll lease, frees the lease. The schedule is written whoever holds
// the lease: it is a fact about the payment, and a poller that still holds a
// lease writes its own when it releases. It gives ErrNotFound for an unknown
// payment.
func (s *Store) ReleasePoll(ctx context.Context, reference, owner string, next time.Time) error {
	at, err := nanos("NextPollAt", next)
	if err != nil {
		return err
	}
	err = s.transact(ctx, func(tx *tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE payments SET
			next_poll_at = ?,
			poll_owner = CASE WHEN poll_owner = ? THEN '' ELSE poll_owner END,
			poll_lease_until = CASE WHEN poll_owner = ? THEN 0 ELSE poll_lease_until END
			WHERE reference = ?`, at, owner, owner, reference)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return bridge.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("release poll of %q: %w", reference, err)
	}
	return nil
}

// claimDuePolls leases up to limit due payments whose lease is free or
// expired at now, and returns them earliest poll first.
func claimDuePolls(ctx context.Context, tx *tx, now int64, owner string, until int64, limit int) ([]*bridge.Payment, error) {
	rows, err := tx.QueryContext(ctx, `UPDATE payments SET poll_owner = ?, poll_lease_until = ?
		WHERE reference IN (
			SELECT reference FROM payments
			WHERE next_poll_at <> 0 AND next_poll_at <= ? AND poll_lease_until <= ?
			ORDER BY next_poll_at, reference
			LIMIT ?
		)
		RETURNING `+paymentColumns, owner, until, now, now, limit)
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
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// RETURNING gives rows in no promised order.
	slices.SortFunc(ps, func(a, b *bridge.Payment) int {
		return cmp.Or(a.NextPollAt.Compare(b.NextPollAt), cmp.Compare(a.Reference, b.Reference))
	})
	return ps, nil
}
