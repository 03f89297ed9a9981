package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
)

// requireNotificationEqual fails unless got, read from a store, holds want.
func requireNotificationEqual(t *testing.T, want, got *bridge.Notification) {
	t.Helper()
	require.NotNil(t, got)
	w, g := *want, *got
	for _, f := range []struct {
		name      string
		want, got *time.Time
	}{
		{"CreatedAt", &w.CreatedAt, &g.CreatedAt},
		{"NextAttemptAt", &w.NextAttemptAt, &g.NextAttemptAt},
		{"LastAttemptAt", &w.LastAttemptAt, &g.LastAttemptAt},
		{"DeliveredAt", &w.DeliveredAt, &g.DeliveredAt},
		{"GaveUpAt", &w.GaveUpAt, &g.GaveUpAt},
		{"LeaseUntil", &w.LeaseUntil, &g.LeaseUntil},
	} {
		requireTimeEqual(t, f.name, *f.want, *f.got)
		*f.want, *f.got = time.Time{}, time.Time{}
	}
	require.Equal(t, w, g)
}

// notificationIDs lists the IDs of ns in order.
func notificationIDs(ns []*bridge.Notification) []string {
	ids := make([]string, len(ns))
	for i, n := range ns {
		ids[i] = n.ID
	}
	return ids
}

// commitNotifications writes ns to the outbox of p, the only way
// notifications are stored.
func commitNotifications(t *testing.T, s bridge.Store, p *bridge.Payment, ns ...bridge.Notification) {
	t.Helper()
	mustCommit(t, s, &bridge.Change{Payment: p, Notifications: ns})
}

// mustNotification reads a notification and fails the test on error.
func mustNotification(t *testing.T, s bridge.Store, id string) *bridge.Notification {
	t.Helper()
	n, err := s.Notification(t.Context(), id)
	require.NoError(t, err, "read notification %s", id)
	return n
}

// mustUpdateNotification reads notification id, lets change edit it and
// writes it back.
func mustUpdateNotification(t *testing.T, s bridge.Store, id string, change func(n *bridge.Notification)) {
	t.Helper()
	n := mustNotification(t, s, id)
	change(n)
	require.NoError(t, s.UpdateNotification(t.Context(), n), "update notification %s", id)
}

func testClaimNotifications(t *testing.T, s bridge.Store) {
	const lease = 30 * time.Second
	p := newPayment("KCO-1-1", "unit-a", "KCO-1", 1)
	mustInsert(t, s, p)
	later := newNotification("n2", base.Add(-2*time.Second))
	later.NextAttemptAt = base.Add(10 * time.Second)
	commitNotifications(t, s, p,
		newNotification("n3", base.Add(-time.Second)),
		newNotification("n1", base.Add(-3*time.Second)),
		later,
		newNotification("n4", base.Add(-4*time.Second)),
		newNotification("n5", base.Add(-5*time.Second)),
		newNotification("n6", base),
	)
	mustUpdateNotification(t, s, "n4", func(n *bridge.Notification) { n.DeliveredAt = base.Add(-time.Second) })
	mustUpdateNotification(t, s, "n5", func(n *bridge.Notification) { n.GaveUpAt = base.Add(-time.Second) })

	tests := []struct {
		name  string
		now   time.Time
		owner string
		limit int
		want  []string
	}{
		{"due ones, oldest first", base, "r1", 10, []string{"n1", "n3", "n6"}},
		{"leased ones are not claimed again", base, "r2", 10, []string{}},
		{"a later attempt comes due", base.Add(10 * time.Second), "r2", 10, []string{"n2"}},
		{"an expired lease is claimed again, up to the limit", base.Add(lease + time.Second), "r3", 2, []string{"n1", "n3"}},
		{"the rest", base.Add(lease + time.Second), "r4", 10, []string{"n6"}},
		{"nothing left", base.Add(lease + time.Second), "r5", 10, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, err := s.ClaimNotifications(t.Context(), tt.now, tt.owner, lease, tt.limit)
			require.NoError(t, err)
			require.Equal(t, tt.want, notificationIDs(ns))
			for _, n := range ns {
				require.Equal(t, tt.owner, n.LeaseOwner)
				requireTimeEqual(t, "LeaseUntil", tt.now.Add(lease), n.LeaseUntil)
				requireNotificationEqual(t, mustNotification(t, s, n.ID), n)
			}
		})
	}
}

// testRaceClaimNotifications is ten replicas delivering the outbox at once:
// none gets a notification another one got.
func testRaceClaimNotifications(t *testing.T, s bridge.Store) {
	const n, claimers, limit = 20, 10, 3
	p := newPayment("KCO-1-1", "unit-a", "KCO-1", 1)
	mustInsert(t, s, p)
	var ns []bridge.Notification
	for i := range n {
		ns = append(ns, newNotification(fmt.Sprintf("n%02d", i), base.Add(-time.Duration(i)*time.Second)))
	}
	commitNotifications(t, s, p, ns...)

	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		got   = make([][]*bridge.Notification, claimers)
		errs  = make([]error, claimers)
	)
	for i := range claimers {
		wg.Go(func() {
			<-start
			got[i], errs[i] = s.ClaimNotifications(t.Context(), base, fmt.Sprintf("r%d", i), time.Minute, limit)
		})
	}
	close(start)
	wg.Wait()

	owner := map[string]int{}
	for i := range claimers {
		require.NoError(t, errs[i], "claimer %d", i)
		require.LessOrEqual(t, len(got[i]), limit)
		for _, m := range got[i] {
			prev, dup := owner[m.ID]
			require.False(t, dup, "%s claimed by %d and %d", m.ID, prev, i)
			require.Equal(t, fmt.Sprintf("r%d", i), m.LeaseOwner)
			owner[m.ID] = i
		}
	}
	rest, err := s.ClaimNotifications(t.Context(), base, "last", time.Minute, n)
	require.NoError(t, err)
	for _, m := range rest {
		prev, dup := owner[m.ID]
		require.False(t, dup, "%s claimed by %d and by the last claimer", m.ID, prev)
		owner[m.ID] = claimers
	}
	require.Len(t, owner, n, "some due notifications were never claimed")
}

func testUpdateNotification(t *testing.T, s bridge.Store) {
	ctx := t.Context()
	const lease = 30 * time.Second
	p := newPayment("KCO-1-1", "unit-a", "KCO-1", 1)
	mustInsert(t, s, p)
	commitNotifications(t, s, p, newNotification("n1", base.Add(-time.Second)), newNotification("n2", base))
	committed := mustNotification(t, s, "n1")

	claimed, err := s.ClaimNotifications(ctx, base, "r1", lease, 1)
	require.NoError(t, err)
	require.Equal(t, []string{"n1"}, notificationIDs(claimed))
	used := *claimed[0]
	delivered := *claimed[0]

	t.Run("delivered, with the claimed version", func(t *testing.T) {
		delivered.Attempts = 1
		delivered.LastAttemptAt = base.Add(time.Second)
		delivered.LastStatus = 204
		delivered.DeliveredAt = base.Add(time.Second)
		delivered.LeaseOwner, delivered.LeaseUntil = "", time.Time{}
		version := delivered.Version
		require.NoError(t, s.UpdateNotification(ctx, &delivered))
		require.Equal(t, version+1, delivered.Version)
		got := mustNotification(t, s, "n1")
		requireNotificationEqual(t, &delivered, got)
		require.Equal(t, bridge.NotificationDelivered, got.State())
	})

	tests := []struct {
		name   string
		update func() bridge.Notification
	}{
		{"version from before the claim", func() bridge.Notification {
			n := *committed
			n.LastError = "delivered by a deliverer that lost its lease"
			n.DeliveredAt = base
			return n
		}},
		{"version already used", func() bridge.Notification {
			n := used
			n.GaveUpAt = base
			return n
		}},
		{"version not reached yet", func() bridge.Notification {
			n := delivered
			n.Version += 5
			n.LastStatus = 500
			return n
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.update()
			given := n
			err := s.UpdateNotification(ctx, &n)
			require.ErrorIs(t, err, bridge.ErrConflict)
			require.Equal(t, bridge.ECodeConflict, bridge.ErrorCode(err))
			require.Equal(t, given, n, "a rejected update changed the caller's notification")
			requireNotificationEqual(t, &delivered, mustNotification(t, s, "n1"))
		})
	}

	t.Run("retried later, then given up", func(t *testing.T) {
		claimed, err := s.ClaimNotifications(ctx, base, "r1", lease, 10)
		require.NoError(t, err)
		require.Equal(t, []string{"n2"}, notificationIDs(claimed))
		n := claimed[0]
		n.Attempts = 1
		n.LastAttemptAt = base
		n.LastStatus = 503
		n.LastError = "merchant answered 503 Service Unavailable"
		n.NextAttemptAt = base.Add(time.Minute)
		n.LeaseOwner, n.LeaseUntil = "", time.Time{}
		require.NoError(t, s.UpdateNotification(ctx, n))
		requireNotificationEqual(t, n, mustNotification(t, s, "n2"))

		claimed, err = s.ClaimNotifications(ctx, base.Add(time.Second), "r2", lease, 10)
		require.NoError(t, err)
		require.Empty(t, claimed, "claimed before its next attempt")
		claimed, err = s.ClaimNotifications(ctx, base.Add(time.Minute), "r2", lease, 10)
		require.NoError(t, err)
		require.Equal(t, []string{"n2"}, notificationIDs(claimed))

		n = claimed[0]
		n.Attempts = 2
		n.GaveUpAt = base.Add(time.Minute)
		n.LeaseOwner, n.LeaseUntil = "", time.Time{}
		require.NoError(t, s.UpdateNotification(ctx, n))
		got := mustNotification(t, s, "n2")
		requireNotificationEqual(t, n, got)
		require.Equal(t, bridge.NotificationFailed, got.State())
		claimed, err = s.ClaimNotifications(ctx, base.Add(24*time.Hour), "r3", lease, 10)
		require.NoError(t, err)
		require.Empty(t, claimed, "delivered or given-up notifications were claimed")
	})
}

func testNotificationsFilter(t *testing.T, s bridge.Store) {
	p := newPayment("KCO-1-1", "unit-a", "KCO-1", 1)
	q := newPayment("KCO-2-1", "unit-a", "KCO-2", 1)
	mustInsert(t, s, p)
	mustInsert(t, s, q)
	commitNotifications(t, s, p,
		newNotification("p1", base.Add(1*time.Second)),
		newNotification("p2", base.Add(2*time.Second)),
		newNotification("p3", base.Add(3*time.Second)),
		newNotification("p4", base.Add(4*time.Second)),
	)
	commitNotifications(t, s, q,
		newNotification("q1", base.Add(5*time.Second)),
		newNotification("q2", base.Add(6*time.Second)),
	)
	deliver := func(n *bridge.Notification) { n.DeliveredAt = base.Add(time.Minute) }
	giveUp := func(n *bridge.Notification) { n.GaveUpAt = base.Add(time.Minute) }
	mustUpdateNotification(t, s, "p2", deliver)
	mustUpdateNotification(t, s, "p3", giveUp)
	// Delivered counts over given up: the merchant has it.
	mustUpdateNotification(t, s, "p4", func(n *bridge.Notification) { deliver(n); giveUp(n) })
	mustUpdateNotification(t, s, "q2", giveUp)

	tests := []struct {
		name      string
		reference string
		state     string
		limit     int
		want      []string
	}{
		{"all, newest first", "", "", 10, []string{"q2", "q1", "p4", "p3", "p2", "p1"}},
		{"limit", "", "", 2, []string{"q2", "q1"}},
		{"one payment", p.Reference, "", 10, []string{"p4", "p3", "p2", "p1"}},
		{"pending of one payment", p.Reference, bridge.NotificationPending, 10, []string{"p1"}},
		{"delivered of one payment", p.Reference, bridge.NotificationDelivered, 10, []string{"p4", "p2"}},
		{"failed of one payment", p.Reference, bridge.NotificationFailed, 10, []string{"p3"}},
		{"pending of all", "", bridge.NotificationPending, 10, []string{"q1", "p1"}},
		{"failed of all", "", bridge.NotificationFailed, 10, []string{"q2", "p3"}},
		{"delivered of all, limited", "", bridge.NotificationDelivered, 1, []string{"p4"}},
		{"unknown payment", "KCO-9-1", "", 10, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, err := s.Notifications(t.Context(), tt.reference, tt.state, tt.limit)
			require.NoError(t, err)
			require.Equal(t, tt.want, notificationIDs(ns))
			for _, n := range ns {
				if tt.state != "" {
					require.Equal(t, tt.state, n.State(), "notification %s", n.ID)
				}
				if tt.reference != "" {
					require.Equal(t, tt.reference, n.Reference)
				}
				requireNotificationEqual(t, mustNotification(t, s, n.ID), n)
			}
		})
	}

	t.Run("unknown state", func(t *testing.T) {
		_, err := s.Notifications(t.Context(), "", "bounced", 10)
		require.Equal(t, bridge.ECodeInvalid, bridge.ErrorCode(err), "error %v", err)
	})
}
