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

// notificationColumns lists the notifications columns in the order
// scanNotification reads them.
const notificationColumns = `id, reference, type, payload, created_at, attempts, next_attempt_at,
	last_attempt_at, last_status, last_error, delivered_at, gave_up_at, lease_owner, lease_until, version`

// pendingNotification is the SQL form of bridge.Notification.State being
// pending; it is written out so that the partial index notifications_pending
// applies.
const pendingNotification = `delivered_at = 0 AND gave_up_at = 0`

// ClaimNotifications leases the notifications due for delivery, oldest
// first. The choice and the lease are one UPDATE, so two deliverers never
// take the same notification while a lease holds. A claim bumps Version, so
// that a deliverer whose lease ran out and was taken over can no longer write
// the notification. A limit below 1 claims nothing.
func (s *Store) ClaimNotifications(ctx context.Context, now time.Time, owner string, lease time.Duration, limit int) ([]*bridge.Notification, error) {
	return claim(ctx, s, "claim notifications for "+strconv.Quote(owner), now, owner, lease, limit, claimNotifications)
}

// UpdateNotification writes every field of n but ID, Reference and
// CreatedAt, which identify it, when n.Version is the stored version, and
// bumps n.Version. n is changed only when the update commits.
func (s *Store) UpdateNotification(ctx context.Context, n *bridge.Notification) error {
	m := *n
	err := s.group(ctx, func(tx *tx) error {
		return updateNotification(ctx, tx, &m)
	})
	if err != nil {
		return fmt.Errorf("update notification %q: %w", n.ID, err)
	}
	*n = m
	return nil
}

// Notification returns the notification with this ID.
func (s *Store) Notification(ctx context.Context, id string) (*bridge.Notification, error) {
	var n *bridge.Notification
	err := s.view(ctx, func(tx *tx) (err error) {
		n, err = scanNotification(tx.QueryRowContext(ctx, `SELECT `+notificationColumns+` FROM notifications WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return bridge.ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("notification %q: %w", id, err)
	}
	return n, nil
}

// Notifications lists up to limit notifications, newest first (the later
// written first among those created at the same instant), of one
// payment or (reference "") of all, in one state or (state "") in any. An
// unknown state is ECodeInvalid; a limit below 1 lists none.
func (s *Store) Notifications(ctx context.Context, reference, state string, limit int) ([]*bridge.Notification, error) {
	if err := bridge.CheckNotificationState(state); err != nil {
		return nil, err
	}
	if limit < 1 {
		return []*bridge.Notification{}, nil
	}
	var where []string
	var args []any
	if reference != "" {
		where = append(where, `reference = ?`)
		args = append(args, reference)
	}
	switch state {
	case bridge.NotificationPending:
		where = append(where, pendingNotification)
	case bridge.NotificationDelivered:
		where = append(where, `delivered_at <> 0`)
	case bridge.NotificationFailed:
		where = append(where, `delivered_at = 0 AND gave_up_at <> 0`)
	}
	query := `SELECT ` + notificationColumns + ` FROM notifications`
	for i, w := range where {
		if i == 0 {
			query += ` WHERE ` + w
		} else {
			query += ` AND ` + w
		}
	}
	query += ` ORDER BY created_at DESC, rowid DESC LIMIT ?`
	var ns []*bridge.Notification
	err := s.view(ctx, func(tx *tx) (err error) {
		ns, err = queryNotifications(ctx, tx, query, append(args, limit)...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("notifications of %q in state %q: %w", reference, state, err)
	}
	return ns, nil
}

// notificationTimes holds the encoded times of a notification.
type notificationTimes struct {
	createdAt, nextAttemptAt, lastAttemptAt, deliveredAt, gaveUpAt, leaseUntil int64
}

// encodeNotificationTimes encodes the times of n.
func encodeNotificationTimes(n *bridge.Notification) (notificationTimes, error) {
	var (
		t   notificationTimes
		err error
	)
	for _, f := range []struct {
		name string
		dst  *int64
		src  time.Time
	}{
		{"CreatedAt", &t.createdAt, n.CreatedAt},
		{"NextAttemptAt", &t.nextAttemptAt, n.NextAttemptAt},
		{"LastAttemptAt", &t.lastAttemptAt, n.LastAttemptAt},
		{"DeliveredAt", &t.deliveredAt, n.DeliveredAt},
		{"GaveUpAt", &t.gaveUpAt, n.GaveUpAt},
		{"LeaseUntil", &t.leaseUntil, n.LeaseUntil},
	} {
		if *f.dst, err = nanos(f.name, f.src); err != nil {
			return t, err
		}
	}
	return t, nil
}

// InsertNotification inserts n as it is. A duplicate ID is ErrConflict, an
// unknown payment ErrNotFound.
func (tx *tx) InsertNotification(ctx context.Context, n *bridge.Notification) error {
	t, err := encodeNotificationTimes(n)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO notifications (`+notificationColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		n.ID, n.Reference, n.Type, blob(n.Payload), t.createdAt, n.Attempts, t.nextAttemptAt,
		t.lastAttemptAt, n.LastStatus, n.LastError, t.deliveredAt, t.gaveUpAt, n.LeaseOwner, t.leaseUntil, n.Version,
	)
	return conflict(err)
}

// updateNotification writes n over the stored row if the stored version is
// n.Version, and sets n to the row as stored.
func updateNotification(ctx context.Context, tx *tx, n *bridge.Notification) error {
	t, err := encodeNotificationTimes(n)
	if err != nil {
		return err
	}
	stored, err := scanNotification(tx.QueryRowContext(ctx, `UPDATE notifications SET
		type = ?, payload = ?, attempts = ?, next_attempt_at = ?, last_attempt_at = ?, last_status = ?,
		last_error = ?, delivered_at = ?, gave_up_at = ?, lease_owner = ?, lease_until = ?, version = version + 1
		WHERE id = ? AND version = ?
		RETURNING `+notificationColumns,
		n.Type, blob(n.Payload), n.Attempts, t.nextAttemptAt, t.lastAttemptAt, n.LastStatus,
		n.LastError, t.deliveredAt, t.gaveUpAt, n.LeaseOwner, t.leaseUntil, n.ID, n.Version,
	))
	if errors.Is(err, sql.ErrNoRows) {
		return staleVersion(ctx, tx, `SELECT version FROM notifications WHERE id = ?`, n.ID, n.Version)
	} else if err != nil {
		return err
	}
	*n = *stored
	return nil
}

// claimNotifications leases up to limit pending notifications that are due
// and whose lease is free or expired at now, and returns them oldest first,
// those created at the same instant in the order they were written.
func claimNotifications(ctx context.Context, tx *tx, now int64, owner string, until int64, limit int) ([]*bridge.Notification, error) {
	rows, err := tx.QueryContext(ctx, `UPDATE notifications SET
		lease_owner = ?, lease_until = ?, version = version + 1
		WHERE id IN (
			SELECT id FROM notifications
			WHERE `+pendingNotification+` AND next_attempt_at <= ? AND lease_until <= ?
			ORDER BY created_at, rowid
			LIMIT ?
		)
		RETURNING rowid, `+notificationColumns, owner, until, now, now, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()

	type claimed struct {
		rowid int64
		n     *bridge.Notification
	}
	var cs []claimed
	for rows.Next() {
		var c claimed
		n, err := scanNotification(withRowid{rows, &c.rowid})
		if err != nil {
			return nil, err
		}
		c.n = n
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// RETURNING gives rows in no promised order.
	slices.SortFunc(cs, func(a, b claimed) int {
		return cmp.Or(a.n.CreatedAt.Compare(b.n.CreatedAt), cmp.Compare(a.rowid, b.rowid))
	})
	ns := make([]*bridge.Notification, len(cs))
	for i, c := range cs {
		ns[i] = c.n
	}
	return ns, nil
}

// withRowid reads a row whose first column is the rowid, ahead of the
// columns a scan function expects.
type withRowid struct {
	row   scanner
	rowid *int64
}

func (w withRowid) Scan(dest ...any) error {
	return w.row.Scan(append([]any{w.rowid}, dest...)...)
}

// queryNotifications runs a query whose rows are notificationColumns.
func queryNotifications(ctx context.Context, tx *tx, query string, args ...any) ([]*bridge.Notification, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
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
func scanNotification(row scanner) (*bridge.Notification, error) {
	var (
		n       bridge.Notification
		payload []byte
		t       notificationTimes
	)
	if err := row.Scan(
		&n.ID, &n.Reference, &n.Type, &payload, &t.createdAt, &n.Attempts, &t.nextAttemptAt,
		&t.lastAttemptAt, &n.LastStatus, &n.LastError, &t.deliveredAt, &t.gaveUpAt, &n.LeaseOwner, &t.leaseUntil, &n.Version,
	); err != nil {
		return nil, err
	}
	n.Payload = json.RawMessage(payload)
	n.CreatedAt = fromNanos(t.createdAt)
	n.NextAttemptAt = fromNanos(t.nextAttemptAt)
	n.LastAttemptAt = fromNanos(t.lastAttemptAt)
	n.DeliveredAt = fromNanos(t.deliveredAt)
	n.GaveUpAt = fromNanos(t.gaveUpAt)
	n.LeaseUntil = fromNanos(t.leaseUntil)
	return &n, nil
}
