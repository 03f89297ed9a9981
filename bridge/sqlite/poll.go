package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
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
	err = s.group(ctx, func(tx *tx) (err error) {
		out, err = rows(ctx, tx, at, owner, until, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// ClaimDuePoll leases one payment if its poll is due and its lease free.
func (s *Store) ClaimDuePoll(ctx context.Context, reference string, now time.Time, owner string, lease time.Duration) (*bridge.Payment, error) {
	ps, err := claim(ctx, s, "claim the poll of "+strconv.Quote(reference), now, owner, lease, 1,
		func(ctx context.Context, tx *tx, now int64, owner string, until int64, _ int) ([]*bridge.Payment, error) {
			ps, err := collectClaimed(ctx, tx, `UPDATE payment_polls SET poll_owner = ?1, poll_lease_until = ?2, last_read_at = ?3
				WHERE `+pollOf4+` AND next_poll_at <> 0 AND next_poll_at <= ?5 AND poll_lease_until <= ?5
				RETURNING `+claimedColumns, owner, until, now, reference, now)
			if err != nil {
				return nil, err
			}
			if len(ps) == 0 {
				var one int
				if err := tx.QueryRowContext(ctx, `SELECT 1 FROM payments WHERE reference = ?`, reference).Scan(&one); err != nil {
					if errors.Is(err, sql.ErrNoRows) {
						return nil, bridge.ErrNotFound
					}
					return nil, err
				}
			}
			return ps, nil
		})
	if err != nil || len(ps) == 0 {
		return nil, err
	}
	return ps[0], nil
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
	err = s.group(ctx, func(tx *tx) error {
		n, err := releasePoll(ctx, tx, reference, owner, at)
		if err == nil && n == 0 {
			err = bridge.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("release poll of %q: %w", reference, err)
	}
	return nil
}

// ReleasePolls is ReleasePoll for many payments in one transaction.
func (s *Store) ReleasePolls(ctx context.Context, owner string, polls []bridge.PollRelease) error {
	if len(polls) == 0 {
		return nil
	}
	ats := make([]int64, len(polls))
	reads := make([]int64, len(polls))
	for i, p := range polls {
		at, err := nanos("NextPollAt", p.Next)
		if err != nil {
			return err
		}
		ats[i] = at
		if !p.Read.IsZero() {
			if reads[i], err = nanos("Read", p.Read); err != nil {
				return err
			}
		}
	}
	err := s.group(ctx, func(tx *tx) error {
		for i, p := range polls {
			if reads[i] != 0 {
				if _, err := releaseRead(ctx, tx, p.Reference, owner, ats[i], reads[i], int64(p.Gap)); err != nil {
					return err
				}
				continue
			}
			if _, err := releasePoll(ctx, tx, p.Reference, owner, ats[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("release %d polls: %w", len(polls), err)
	}
	return nil
}

// releasePoll sets next_poll_at to next (0: none), or to the time a
// PollSoon asked for since the last claim when that is sooner, and frees
// owner's lease. It returns the rows changed (0: no such payment).
func releasePoll(ctx context.Context, tx *tx, reference, owner string, next int64) (int64, error) {
	res, err := tx.ExecContext(ctx, `UPDATE payment_polls SET
		next_poll_at = CASE WHEN poll_asked_at > last_read_at AND (?1 = 0 OR ?1 > poll_asked_at) THEN poll_asked_at ELSE ?1 END,
		poll_asked_by = CASE WHEN poll_asked_at > last_read_at THEN poll_asked_by ELSE '' END,
		poll_owner = CASE WHEN poll_owner = ?2 THEN '' ELSE poll_owner END,
		poll_lease_until = CASE WHEN poll_owner = ?2 THEN 0 ELSE poll_lease_until END
		WHERE `+pollOf3, next, owner, reference)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// releaseRead is releasePoll after a read answered at read: the read
// becomes the payment's last read (unless a later claim is), and a
// PollSoon asked since the claim is due no sooner than gap after it (the
// ask counted its gap from the claim, before the read was made).
func releaseRead(ctx context.Context, tx *tx, reference, owner string, next, read, gap int64) (int64, error) {
	// A kept ask moves to when it is due, past the read, so that it still
	// reads as an ask since the last read: a release applied twice keeps
	// it, and the next claim's read answers it. A late release (its lease
	// ran out, another has claimed since) never moves the last read back.
	res, err := tx.ExecContext(ctx, `UPDATE payment_polls SET
		next_poll_at = CASE WHEN poll_asked_at > last_read_at AND (?1 = 0 OR ?1 > MAX(poll_asked_at, ?4 + ?5)) THEN MAX(poll_asked_at, ?4 + ?5) ELSE ?1 END,
		poll_asked_by = CASE WHEN poll_asked_at > last_read_at THEN poll_asked_by ELSE '' END,
		poll_asked_at = CASE WHEN poll_asked_at > last_read_at THEN MAX(poll_asked_at, ?4 + ?5) ELSE poll_asked_at END,
		last_read_at = MAX(last_read_at, ?4),
		poll_owner = CASE WHEN poll_owner = ?2 THEN '' ELSE poll_owner END,
		poll_lease_until = CASE WHEN poll_owner = ?2 THEN 0 ELSE poll_lease_until END
		WHERE `+pollOf3, next, owner, reference, read, gap)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// PollSoon makes a payment's poll due at now, or gap after its last read
// if that is later, unless it is due sooner already, and remembers the ask
// so that a release by a poller reading it now keeps it.
func (s *Store) PollSoon(ctx context.Context, reference string, now time.Time, gap time.Duration, by string) error {
	at, err := nanos("now", now)
	if err != nil {
		return err
	}
	err = s.group(ctx, func(tx *tx) error {
		asked, err := pollSoon(ctx, tx, reference, at, gap, by)
		if err == nil && !asked {
			return bridge.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("poll %q soon: %w", reference, err)
	}
	return nil
}

// pollSoon makes a payment's poll due at now, or at its last read plus
// gap if that is later (never later than it was due), and reports whether
// the payment exists.
func pollSoon(ctx context.Context, tx *tx, reference string, now int64, gap time.Duration, by string) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE payment_polls SET
		poll_asked_at = MAX(?1, last_read_at + ?2),
		poll_asked_by = ?4,
		next_poll_at = CASE WHEN next_poll_at = 0 OR next_poll_at > MAX(?1, last_read_at + ?2) THEN MAX(?1, last_read_at + ?2) ELSE next_poll_at END
		WHERE `+pollOf3, now, int64(gap), reference, by)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// claimDuePolls leases up to limit due payments whose lease is free or
// expired at now, and returns them earliest poll first.
func claimDuePolls(ctx context.Context, tx *tx, now int64, owner string, until int64, limit int) ([]*bridge.Payment, error) {
	ps, err := collectClaimed(ctx, tx, `UPDATE payment_polls SET poll_owner = ?, poll_lease_until = ?, last_read_at = ?
		WHERE (created_at, reference) IN (
			SELECT created_at, reference FROM payment_polls
			WHERE next_poll_at <> 0 AND next_poll_at <= ? AND poll_lease_until <= ?
			ORDER BY next_poll_at, reference
			LIMIT ?
		)
		RETURNING `+claimedColumns, owner, until, now, now, now, limit)
	if err != nil {
		return nil, err
	}
	// RETURNING gives rows in no promised order.
	slices.SortFunc(ps, func(a, b *bridge.Payment) int {
		return cmp.Or(a.NextPollAt.Compare(b.NextPollAt), cmp.Compare(a.Reference, b.Reference))
	})
	return ps, nil
}

// claimedColumns are what a poll claim's UPDATE of payment_polls returns:
// the payment's key and who asked for the read, if anyone did.
const claimedColumns = `reference, poll_asked_by`

// claimedPayments selects the claimed payments (a JSON array of their
// references) in the claim's transaction.
const claimedPayments = `SELECT ` + paymentColumns + ` FROM ` + paymentsWithPolls + `
	WHERE reference IN (SELECT value FROM json_each(?))`

// collectClaimed runs a claim, an UPDATE of payment_polls returning
// claimedColumns, and reads the payments it claimed. The claim writes only
// the narrow rows of payment_polls; the payments are read, not written.
func collectClaimed(ctx context.Context, tx *tx, claim string, args ...any) ([]*bridge.Payment, error) {
	rows, err := tx.QueryContext(ctx, claim, args...)
	if err != nil {
		return nil, err
	}
	askedBy := map[string]string{}
	var refs []string
	for rows.Next() {
		var ref, by string
		if err := rows.Scan(&ref, &by); err != nil {
			rows.Close()
			return nil, err
		}
		askedBy[ref] = by
		refs = append(refs, ref)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(refs) == 0 {
		return []*bridge.Payment{}, nil
	}
	list, err := json.Marshal(refs)
	if err != nil {
		return nil, err
	}
	prows, err := tx.QueryContext(ctx, claimedPayments, string(list))
	if err != nil {
		return nil, err
	}
	ps, err := scanPayments(prows)
	if err != nil {
		return nil, err
	}
	if len(ps) != len(refs) {
		return nil, fmt.Errorf("claimed %d polls but found %d of their payments", len(refs), len(ps))
	}
	for _, p := range ps {
		p.ReadAskedBy = askedBy[p.Reference]
	}
	return ps, nil
}
