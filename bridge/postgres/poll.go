package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"vippskco/bridge"
)

// ClaimDuePolls leases the payments whose poll is due, earliest first. The
// rows are chosen and locked with FOR NO KEY UPDATE SKIP LOCKED and leased in
// the same statement: a payment another poller is claiming is skipped, not
// waited for, and one whose claim committed no longer matches when it is
// locked, so two pollers never take the same payment while a lease holds.
// NO KEY is the lock the lease's own UPDATE takes; unlike FOR UPDATE it
// does not conflict with the key-share lock that the foreign key of a new
// operation or history entry takes on its payment, so such an insert does
// not make the pollers skip the payment. The lease is kept beside the payment,
// not in it: claiming changes neither Version nor UpdatedAt, and the
// poller's own update of the payment is not refused because of it. A limit
// below 1 claims nothing.
func (s *Store) ClaimDuePolls(ctx context.Context, now time.Time, owner string, lease time.Duration, limit int) ([]*bridge.Payment, error) {
	if err := bridge.CheckLease(owner, lease); err != nil {
		return nil, err
	}
	if limit < 1 {
		return []*bridge.Payment{}, nil
	}
	until := now.Add(lease)
	var ta timeArgs
	at, end := ta.instant("now", &now), ta.instant("lease end", &until)
	if ta.err != nil {
		return nil, ta.err
	}
	// Once: a claim whose outcome is unknown is not made again; if it did
	// land, its leases run out and another round polls the payments.
	ps, err := retried(ctx, s, "claim due polls", once, func() ([]*bridge.Payment, error) {
		rows, err := s.pool.Query(ctx, `WITH c AS (
			SELECT reference AS claimed FROM payments
			WHERE next_poll_at IS NOT NULL AND next_poll_at <= $1
			AND (poll_lease_until IS NULL OR poll_lease_until <= $1)
			ORDER BY next_poll_at, reference COLLATE "C"
			LIMIT $4
			FOR NO KEY UPDATE SKIP LOCKED
		), u AS (
			UPDATE payments SET poll_owner = $2, poll_lease_until = $3
			FROM c WHERE payments.reference = c.claimed
			RETURNING `+paymentColumns+`
		)
		SELECT `+paymentColumns+` FROM u ORDER BY next_poll_at, reference COLLATE "C"`, at, owner, end, limit)
		if err != nil {
			return nil, err
		}
		return collectPayments(rows)
	})
	if err != nil {
		return nil, fmt.Errorf("claim due polls for %q: %w", owner, err)
	}
	return ps, nil
}

// ReleasePoll schedules the next poll of a payment (zero: none) and, if owner
// holds its poll lease, frees the lease. The schedule is written whoever holds
// the lease: it is a fact about the payment, and a poller that still holds a
// lease writes its own when it releases. It gives ErrNotFound for an unknown
// payment.
func (s *Store) ReleasePoll(ctx context.Context, reference, owner string, next time.Time) error {
	var ta timeArgs
	at := ta.at("NextPollAt", &next)
	if ta.err != nil {
		return ta.err
	}
	// Repeatable: it sets the same schedule and frees the same lease again.
	tag, err := retried(ctx, s, "release poll", repeatable, func() (pgconn.CommandTag, error) {
		return s.pool.Exec(ctx, `UPDATE payments SET
			next_poll_at = $1,
			poll_owner = CASE WHEN poll_owner = $2 THEN '' ELSE poll_owner END,
			poll_lease_until = CASE WHEN poll_owner = $2 THEN NULL ELSE poll_lease_until END
			WHERE reference = $3`, at, owner, reference)
	})
	if err != nil {
		return fmt.Errorf("release poll of %q: %w", reference, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("release poll of %q: %w", reference, bridge.ErrNotFound)
	}
	return nil
}
