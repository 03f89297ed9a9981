package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"vippskco/bridge"
)

// ClaimDuePolls leases the payments whose poll is due, earliest first. The
// rows of payment_polls are chosen and locked with FOR NO KEY UPDATE SKIP
// LOCKED and leased in the same statement: a payment another poller is
// claiming is skipped, not waited for, and one whose claim committed no
// longer matches when it is locked, so two pollers never take the same
// payment while a lease holds. NO KEY is the lock the lease's own UPDATE
// takes. The lease is kept in payment_polls, not in the payment's row:
// claiming changes neither Version nor UpdatedAt, and neither a state
// change nor a new operation or history entry (whose foreign key locks the
// payment's row) makes the pollers skip the payment. A limit below 1
// claims nothing.
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
	claims, err := retried(ctx, s, "claim due polls", once, func() (cs []claimedPoll, err error) {
		// The claimed rows are updated by their key (= ANY), not joined to
		// the table: a join is planned as a hash of every row at every claim.
		err = s.bookkeeping(ctx, func(b *pgx.Batch) {
			b.Queue(`WITH c AS (
			SELECT reference AS claimed FROM payment_polls
			WHERE next_poll_at IS NOT NULL AND next_poll_at <= $1
			AND (poll_lease_until IS NULL OR poll_lease_until <= $1)
			ORDER BY next_poll_at, reference COLLATE "C"
			LIMIT $4
			FOR NO KEY UPDATE SKIP LOCKED
		)
		UPDATE payment_polls SET poll_owner = $2, poll_lease_until = $3, last_read_at = $1
		WHERE reference = ANY (ARRAY(SELECT claimed FROM c))
		RETURNING reference, poll_asked_by`, at, owner, end, limit).Query(func(rows pgx.Rows) error {
				cs, err = collectClaims(rows)
				return err
			})
		})
		return cs, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim due polls for %q: %w", owner, err)
	}
	ps, err := s.claimedPayments(ctx, claims)
	if err != nil {
		return nil, fmt.Errorf("claim due polls for %q: %w", owner, err)
	}
	return ps, nil
}

// ClaimDuePoll leases one payment if its poll is due and its lease free. A
// concurrent claim of the same row waits for the other's commit and then
// finds the lease held: one of them gets it.
func (s *Store) ClaimDuePoll(ctx context.Context, reference string, now time.Time, owner string, lease time.Duration) (*bridge.Payment, error) {
	if err := bridge.CheckLease(owner, lease); err != nil {
		return nil, err
	}
	until := now.Add(lease)
	var ta timeArgs
	at, end := ta.instant("now", &now), ta.instant("lease end", &until)
	if ta.err != nil {
		return nil, ta.err
	}
	// Once, as ClaimDuePolls: a lost claim's lease runs out.
	claims, err := retried(ctx, s, "claim a poll", once, func() (cs []claimedPoll, err error) {
		err = s.bookkeeping(ctx, func(b *pgx.Batch) {
			b.Queue(`UPDATE payment_polls SET poll_owner = $2, poll_lease_until = $3, last_read_at = $1
			WHERE reference = $4 AND next_poll_at IS NOT NULL AND next_poll_at <= $1
			AND (poll_lease_until IS NULL OR poll_lease_until <= $1)
			RETURNING reference, poll_asked_by`, at, owner, end, reference).Query(func(rows pgx.Rows) error {
				cs, err = collectClaims(rows)
				return err
			})
		})
		return cs, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim the poll of %q: %w", reference, err)
	}
	if len(claims) == 0 {
		if _, err := s.Payment(ctx, reference); err != nil {
			return nil, err
		}
		return nil, nil
	}
	ps, err := s.claimedPayments(ctx, claims)
	if err != nil {
		return nil, fmt.Errorf("claim the poll of %q: %w", reference, err)
	}
	return ps[0], nil
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
	tag, err := retried(ctx, s, "release poll", repeatable, func() (tag pgconn.CommandTag, err error) {
		err = s.bookkeeping(ctx, func(b *pgx.Batch) {
			b.Queue(`UPDATE payment_polls SET `+releaseSet+` WHERE reference = $3`, at, owner, reference).Exec(
				func(ct pgconn.CommandTag) error { tag = ct; return nil })
		})
		return tag, err
	})
	if err != nil {
		return fmt.Errorf("release poll of %q: %w", reference, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("release poll of %q: %w", reference, bridge.ErrNotFound)
	}
	return nil
}

// asyncCommit is SET LOCAL synchronous_commit TO off, said as a function:
// a batch's statements share an implicit transaction, not a BEGIN block,
// and there SET LOCAL works but warns ("can only be used in transaction
// blocks"), a line in the server's log for every claim and release.
const asyncCommit = `SELECT set_config('synchronous_commit', 'off', true)`

// bookkeeping runs the statements queue adds as one transaction that does
// not wait for its commit to reach the disk (synchronous_commit off, for
// that transaction alone): a poll's claim or release, which write a lease
// and a schedule, never a payment's state, a provider's answer or an ask
// that was acknowledged. Other connections see the commit at once, as any
// other; only a crash of the database server or a power loss can forget
// the last of them, and then a lease ends early (its payment is read once
// more, a read that changes nothing) or a schedule is as it was before
// (its payment is read at that time). The next commit that does wait (a
// state change, a webhook, an exchange, on any connection) makes them
// durable with it. A claim or a release is then one round trip without a
// flush of the log: with thousands of payments waiting they are most of
// the commits the service makes.
func (s *Store) bookkeeping(ctx context.Context, queue func(*pgx.Batch)) error {
	b := &pgx.Batch{}
	b.Queue(asyncCommit)
	queue(b)
	return s.pool.SendBatch(ctx, b).Close()
}

// releaseSet sets next_poll_at to $1 (NULL: none), or to the time a
// PollSoon asked for since the last claim when that is sooner, and frees
// the lease of owner $2.
const releaseSet = `next_poll_at = CASE WHEN poll_asked_at > last_read_at AND ($1::timestamptz IS NULL OR $1 > poll_asked_at)
		THEN poll_asked_at ELSE $1 END,
	poll_asked_by = CASE WHEN poll_asked_at > last_read_at THEN poll_asked_by ELSE '' END,
	poll_owner = CASE WHEN poll_owner = $2 THEN '' ELSE poll_owner END,
	poll_lease_until = CASE WHEN poll_owner = $2 THEN NULL ELSE poll_lease_until END`

// ReleasePolls is ReleasePoll for many payments in one statement.
func (s *Store) ReleasePolls(ctx context.Context, owner string, polls []bridge.PollRelease) error {
	if len(polls) == 0 {
		return nil
	}
	refs := make([]string, len(polls))
	nexts := make([]any, len(polls))
	reads := make([]any, len(polls))  // NULL: no read made; the claim stays the last read
	floors := make([]any, len(polls)) // the read plus its gap: an ask made during the claim is due no sooner
	var ta timeArgs
	for i, p := range polls {
		refs[i] = p.Reference
		next, read := p.Next, p.Read
		nexts[i] = ta.at("NextPollAt", &next)
		reads[i] = ta.at("Read", &read)
		if !read.IsZero() {
			floor := read.Add(p.Gap)
			floors[i] = ta.at("Read plus gap", &floor)
		}
	}
	if ta.err != nil {
		return ta.err
	}
	err := s.retry(ctx, "release polls", repeatable, func() error {
		return s.bookkeeping(ctx, func(b *pgx.Batch) {
			// GREATEST skips a NULL floor: without a read, the ask's own time.
			// A kept ask moves to when it is due, past the read, so that it
			// still reads as an ask since the last read: the retry of a
			// release that landed keeps it. A late release (its lease ran
			// out, another has claimed since) never moves the last read back.
			b.Queue(`UPDATE payment_polls SET
			next_poll_at = CASE WHEN poll_asked_at > last_read_at AND (r.next IS NULL OR r.next > GREATEST(poll_asked_at, r.floor))
				THEN GREATEST(poll_asked_at, r.floor) ELSE r.next END,
			poll_asked_by = CASE WHEN poll_asked_at > last_read_at THEN poll_asked_by ELSE '' END,
			poll_asked_at = CASE WHEN poll_asked_at > last_read_at THEN GREATEST(poll_asked_at, r.floor) ELSE poll_asked_at END,
			last_read_at = GREATEST(last_read_at, r.read),
			poll_owner = CASE WHEN poll_owner = $3 THEN '' ELSE poll_owner END,
			poll_lease_until = CASE WHEN poll_owner = $3 THEN NULL ELSE poll_lease_until END
			FROM unnest($1::text[], $2::timestamptz[], $4::timestamptz[], $5::timestamptz[]) AS r(ref, next, read, floor)
			WHERE payment_polls.reference = r.ref`, refs, nexts, owner, reads, floors)
		})
	})
	if err != nil {
		return fmt.Errorf("release %d polls: %w", len(polls), err)
	}
	return nil
}

// PollSoon makes a payment's poll due at now, or gap after its last read
// if that is later, unless it is due sooner already, and remembers the ask
// so that a release by a poller reading it now keeps it.
func (s *Store) PollSoon(ctx context.Context, reference string, now time.Time, gap time.Duration, by string) error {
	var ta timeArgs
	at := ta.instant("now", &now)
	if ta.err != nil {
		return ta.err
	}
	// Repeatable: the same ask again changes nothing more.
	tag, err := retried(ctx, s, "poll soon", repeatable, func() (pgconn.CommandTag, error) {
		return s.pool.Exec(ctx, `UPDATE payment_polls SET
			poll_asked_at = GREATEST($1::timestamptz, last_read_at + $2::interval),
			poll_asked_by = $4,
			next_poll_at = CASE WHEN next_poll_at IS NULL OR next_poll_at > GREATEST($1::timestamptz, last_read_at + $2::interval)
				THEN GREATEST($1::timestamptz, last_read_at + $2::interval) ELSE next_poll_at END
			WHERE reference = $3`, at, gap, reference, by)
	})
	if err != nil {
		return fmt.Errorf("poll %q soon: %w", reference, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("poll %q soon: %w", reference, bridge.ErrNotFound)
	}
	return nil
}

// claimedPoll is a payment a claim leased, and who asked for its read, if
// anyone did.
type claimedPoll struct{ reference, askedBy string }

// collectClaims reads a claim's rows: reference, poll_asked_by.
func collectClaims(rows pgx.Rows) ([]claimedPoll, error) {
	defer rows.Close()
	cs := []claimedPoll{}
	for rows.Next() {
		var c claimedPoll
		if err := rows.Scan(&c.reference, &c.askedBy); err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, rows.Err()
}

// claimedPayments reads the payments of claims, by their key, earliest
// poll first. It is a statement of its own, after the claim's commit, so
// that it sees the payments as they are then: read in the claim's own
// statement, a payment whose state change committed while the claim
// waited for its poll row came back as it was before that change. The
// claim writes only the narrow rows of payment_polls.
func (s *Store) claimedPayments(ctx context.Context, claims []claimedPoll) ([]*bridge.Payment, error) {
	if len(claims) == 0 {
		return []*bridge.Payment{}, nil
	}
	refs := make([]string, len(claims))
	asked := make(map[string]string, len(claims))
	for i, c := range claims {
		refs[i], asked[c.reference] = c.reference, c.askedBy
	}
	ps, err := retried(ctx, s, "claimed payments", readOnly, func() ([]*bridge.Payment, error) {
		rows, err := s.pool.Query(ctx, paymentsByRefs, refs)
		if err != nil {
			return nil, err
		}
		return collectPayments(rows)
	})
	if err != nil {
		return nil, err
	}
	if len(ps) != len(claims) {
		return nil, fmt.Errorf("claimed %d polls but found %d of their payments", len(claims), len(ps))
	}
	for _, p := range ps {
		p.ReadAskedBy = asked[p.Reference]
	}
	slices.SortFunc(ps, func(a, b *bridge.Payment) int {
		return cmp.Or(a.NextPollAt.Compare(b.NextPollAt), strings.Compare(a.Reference, b.Reference))
	})
	return ps, nil
}
