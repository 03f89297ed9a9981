package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"vippskco/bridge"
)

// notificationColumns lists the notifications columns in the order
// scanNotification reads them.
const notificationColumns = `id, reference, type, payload, created_at, attempts, next_attempt_at,
	last_attempt_at, last_status, last_error, delivered_at, gave_up_at, lease_owner, lease_until, version`

// pendingNotification is the SQL form of bridge.Notification.State being
// pending; it is written out so that the partial index notifications_pending
// applies.
const pendingNotification = `delivered_at IS NULL AND gave_up_at IS NULL`

// ClaimNotifications leases the notifications due for delivery, oldest
// first, those created at the same instant in the order they were written.
// The rows are chosen and locked with FOR UPDATE SKIP LOCKED and leased in
// the same statement: a row another replica is claiming is skipped, not
// waited for, and one whose claim committed no longer matches when it is
// locked, so two deliverers never take the same notification while a lease
// holds. A claim bumps Version, so that a deliverer whose lease ran out and
// was taken over can no longer write the notification. A limit below 1
// claims nothing.
func (s *Store) ClaimNotifications(ctx context.Context, now time.Time, owner string, lease time.Duration, limit int) ([]*bridge.Notification, error) {
	if err := bridge.CheckLease(owner, lease); err != nil {
		return nil, err
	}
	if limit < 1 {
		return []*bridge.Notification{}, nil
	}
	until := now.Add(lease)
	var ta timeArgs
	at, end := ta.instant("now", &now), ta.instant("lease end", &until)
	if ta.err != nil {
		return nil, ta.err
	}
	// Once: a claim whose outcome is unknown is not made again; if it did
	// land, its lease runs out and another round takes the rows.
	ns, err := retried(ctx, s, "claim notifications", once, func() ([]*bridge.Notification, error) {
		rows, err := s.pool.Query(ctx, `WITH c AS (
			SELECT id AS claimed FROM notifications
			WHERE `+pendingNotification+`
			AND (next_attempt_at IS NULL OR next_attempt_at <= $1)
			AND (lease_until IS NULL OR lease_until <= $1)
			ORDER BY created_at, seq
			LIMIT $4
			FOR UPDATE SKIP LOCKED
		), u AS (
			UPDATE notifications SET lease_owner = $2, lease_until = $3, version = version + 1
			FROM c WHERE notifications.id = c.claimed
			RETURNING seq, `+notificationColumns+`
		)
		SELECT `+notificationColumns+` FROM u ORDER BY created_at, seq`, at, owner, end, limit)
		if err != nil {
			return nil, err
		}
		return collectNotifications(rows)
	})
	if err != nil {
		return nil, fmt.Errorf("claim notifications for %q: %w", owner, err)
	}
	return ns, nil
}

// UpdateNotification writes every field of n but ID, Reference and
// CreatedAt, which identify it, when n.Version is the stored version, and
// bumps n.Version. n is changed only when the update commits, to the
// notification as stored.
func (s *Store) UpdateNotification(ctx context.Context, n *bridge.Notification) error {
	m := *n
	// Repeatable: the update is guarded by the version, so a repeat of one
	// that did land fails with ErrConflict, and the outbox reads the row
	// again before it writes.
	if err := s.retry(ctx, "update notification", repeatable, func() error {
		m = *n
		return updateNotification(ctx, s.pool, &m)
	}); err != nil {
		return fmt.Errorf("update notification %q: %w", n.ID, err)
	}
	*n = m
	return nil
}

// Notification returns the notification with this ID.
func (s *Store) Notification(ctx context.Context, id string) (*bridge.Notification, error) {
	return retried(ctx, s, "notification", readOnly, func() (*bridge.Notification, error) { return s.notification(ctx, id) })
}

func (s *Store) notification(ctx context.Context, id string) (*bridge.Notification, error) {
	n, err := scanNotification(s.pool.QueryRow(ctx, `SELECT `+notificationColumns+` FROM notifications WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("notification %q: %w", id, bridge.ErrNotFound)
	} else if err != nil {
		return nil, fmt.Errorf("notification %q: %w", id, err)
	}
	return n, nil
}

// Notifications lists up to limit notifications, newest first (the later
// written first among those created at the same instant), of one payment or
// (reference "") of all, in one state or (state "") in any. An unknown state
// is ECodeInvalid; a limit below 1 lists none.
func (s *Store) Notifications(ctx context.Context, reference, state string, limit int) ([]*bridge.Notification, error) {
	return retried(ctx, s, "notifications", readOnly, func() ([]*bridge.Notification, error) { return s.notifications(ctx, reference, state, limit) })
}

func (s *Store) notifications(ctx context.Context, reference, state string, limit int) ([]*bridge.Notification, error) {
	if err := bridge.CheckNotificationState(state); err != nil {
		return nil, err
	}
	if limit < 1 {
		return []*bridge.Notification{}, nil
	}
	var (
		where []string
		args  []any
	)
	if reference != "" {
		args = append(args, reference)
		where = append(where, `reference = $`+strconv.Itoa(len(args)))
	}
	switch state {
	case bridge.NotificationPending:
		where = append(where, pendingNotification)
	case bridge.NotificationDelivered:
		where = append(where, `delivered_at IS NOT NULL`)
	case bridge.NotificationFailed:
		where = append(where, `delivered_at IS NULL AND gave_up_at IS NOT NULL`)
	}
	query := `SELECT ` + notificationColumns + ` FROM notifications`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	args = append(args, limit)
	query += ` ORDER BY created_at DESC, seq DESC LIMIT $` + strconv.Itoa(len(args))
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("notifications of %q in state %q: %w", reference, state, err)
	}
	ns, err := collectNotifications(rows)
	if err != nil {
		return nil, fmt.Errorf("notifications of %q in state %q: %w", reference, state, err)
	}
	return ns, nil
}

// InsertNotification inserts n as it is and sets its times to what was
// stored. A duplicate ID is ErrConflict, an unknown payment ErrNotFound.
func (tx *tx) InsertNotification(ctx context.Context, n *bridge.Notification) error {
	var ta timeArgs
	args := []any{
		n.ID, n.Reference, n.Type, bytea(n.Payload), ta.at("CreatedAt", &n.CreatedAt), n.Attempts,
		ta.at("NextAttemptAt", &n.NextAttemptAt), ta.at("LastAttemptAt", &n.LastAttemptAt), n.LastStatus, n.LastError,
		ta.at("DeliveredAt", &n.DeliveredAt), ta.at("GaveUpAt", &n.GaveUpAt), n.LeaseOwner,
		ta.at("LeaseUntil", &n.LeaseUntil), n.Version,
	}
	if ta.err != nil {
		return ta.err
	}
	_, err := tx.Exec(ctx, `INSERT INTO notifications (`+notificationColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`, args...)
	return conflict(err)
}

// updateNotification writes n over the stored row if the stored version is
// n.Version, and sets n to the row as stored.
func updateNotification(ctx context.Context, db querier, n *bridge.Notification) error {
	var ta timeArgs
	args := []any{
		n.Type, bytea(n.Payload), n.Attempts, ta.at("NextAttemptAt", &n.NextAttemptAt),
		ta.at("LastAttemptAt", &n.LastAttemptAt), n.LastStatus, n.LastError, ta.at("DeliveredAt", &n.DeliveredAt),
		ta.at("GaveUpAt", &n.GaveUpAt), n.LeaseOwner, ta.at("LeaseUntil", &n.LeaseUntil), n.ID, n.Version,
	}
	if ta.err != nil {
		return ta.err
	}
	stored, err := scanNotification(db.QueryRow(ctx, `UPDATE notifications SET
		type = $1, payload = $2, attempts = $3, next_attempt_at = $4, last_attempt_at = $5, last_status = $6,
		last_error = $7, delivered_at = $8, gave_up_at = $9, lease_owner = $10, lease_until = $11, version = version + 1
		WHERE id = $12 AND version = $13
		RETURNING `+notificationColumns, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return staleVersion(ctx, db, `SELECT version FROM notifications WHERE id = $1`, n.ID, n.Version)
	} else if err != nil {
		return err
	}
	*n = *stored
	return nil
}

// collectNotifications reads rows of notificationColumns and closes them.
func collectNotifications(rows pgx.Rows) ([]*bridge.Notification, error) {
	defer rows.Close()
	ns := []*bridge.Notification{}
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, err
		}
		ns = append(ns, n)
	}
	return ns, rows.Err()
}

// scanNotification reads the columns of notificationColumns.
func scanNotification(row pgx.Row) (*bridge.Notification, error) {
	var (
		n                                       bridge.Notification
		payload                                 []byte
		createdAt, nextAttemptAt, lastAttemptAt pgtype.Timestamptz
		deliveredAt, gaveUpAt, leaseUntil       pgtype.Timestamptz
	)
	if err := row.Scan(
		&n.ID, &n.Reference, &n.Type, &payload, &createdAt, &n.Attempts, &nextAttemptAt,
		&lastAttemptAt, &n.LastStatus, &n.LastError, &deliveredAt, &gaveUpAt, &n.LeaseOwner, &leaseUntil, &n.Version,
	); err != nil {
		return nil, err
	}
	n.Payload = json.RawMessage(payload)
	n.CreatedAt = timeOf(createdAt)
	n.NextAttemptAt = timeOf(nextAttemptAt)
	n.LastAttemptAt = timeOf(lastAttemptAt)
	n.DeliveredAt = timeOf(deliveredAt)
	n.GaveUpAt = timeOf(gaveUpAt)
	n.LeaseUntil = timeOf(leaseUntil)
	return &n, nil
}
