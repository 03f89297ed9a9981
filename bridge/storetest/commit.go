package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
)

// base is the "now" the lease tests pass to the claim methods. It is in
// UTC and has microsecond precision, as every time the suite compares.
var base = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// newEvent returns a Vipps event of the named kind with every field set.
func newEvent(name, pspReference string, value int64) bridge.PaymentEvent {
	return bridge.PaymentEvent{
		Name:           name,
		PSPReference:   pspReference,
		Amount:         bridge.Money{Value: value, Currency: "NOK"},
		Success:        true,
		IdempotencyKey: "key-" + pspReference,
		OccurredAt:     time.Date(2025, 6, 1, 11, 59, 58, 123456000, cet),
		Source:         "webhook",
	}
}

// newNotification returns an outbox entry created at created, due at once.
func newNotification(id string, created time.Time) bridge.Notification {
	return bridge.Notification{
		ID:        id,
		Type:      "payment.authorized",
		Payload:   json.RawMessage(fmt.Sprintf(`{"id": %q, "state":"AUTHORIZED" }`, id)),
		CreatedAt: created,
	}
}

// newOperation returns a pending operation with every field set.
func newOperation(id, reference, key string) bridge.Operation {
	created := time.Date(2025, 6, 1, 12, 0, 0, 250001000, cet)
	return bridge.Operation{
		ID:                  id,
		Reference:           reference,
		Kind:                bridge.OpCapture,
		IdempotencyKey:      key,
		RequestHash:         "sha256-" + key,
		Amount:              bridge.Money{Value: 50000, Currency: "NOK"},
		VippsIdempotencyKey: "vipps-" + key,
		Source:              "merchant",
		State:               bridge.OperationPending,
		CreatedAt:           created,
		UpdatedAt:           created,
	}
}

// mustCommit commits c and fails the test on error.
func mustCommit(t *testing.T, s bridge.Store, c *bridge.Change) {
	t.Helper()
	require.NoError(t, s.Commit(t.Context(), c), "commit %s", c.Payment.Reference)
}

// cloneChange copies c deeply enough to tell whether a store changed it.
func cloneChange(c *bridge.Change) bridge.Change {
	p := *c.Payment
	return bridge.Change{
		Payment:       &p,
		History:       slices.Clone(c.History),
		Events:        slices.Clone(c.Events),
		Notifications: slices.Clone(c.Notifications),
		Operations:    slices.Clone(c.Operations),
		Exchanges:     slices.Clone(c.Exchanges),
	}
}

// requireEventEqual fails unless got, read from a store, holds want.
func requireEventEqual(t *testing.T, want, got bridge.PaymentEvent) {
	t.Helper()
	requireTimeEqual(t, "OccurredAt", want.OccurredAt, got.OccurredAt)
	requireTimeEqual(t, "RecordedAt", want.RecordedAt, got.RecordedAt)
	want.OccurredAt, want.RecordedAt, got.OccurredAt, got.RecordedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	require.Equal(t, want, got)
}

// requireHistoryEqual fails unless got, read from a store, holds want.
func requireHistoryEqual(t *testing.T, want, got []bridge.HistoryEntry) {
	t.Helper()
	requireRowsEqual(t, "entry", want, got, "At", func(e *bridge.HistoryEntry) *time.Time { return &e.At })
}

// requireRowsEqual fails unless the rows got, read from a store, hold want:
// the time field names as the same instant (a store may give it back in
// another zone), and everything else equal.
func requireRowsEqual[T any](t *testing.T, kind string, want, got []T, field string, timeOf func(*T) *time.Time) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		w, g := want[i], got[i]
		requireTimeEqual(t, field, *timeOf(&w), *timeOf(&g))
		*timeOf(&w), *timeOf(&g) = time.Time{}, time.Time{}
		require.Equal(t, w, g, "%s %d", kind, i)
	}
}

// snapshot is everything a store holds about one payment.
type snapshot struct {
	payment       *bridge.Payment
	history       []bridge.HistoryEntry
	events        []bridge.PaymentEvent
	notifications []*bridge.Notification
	operations    []*bridge.Operation
	exchanges     []bridge.ProviderExchange
}

// takeSnapshot reads everything the store holds about a payment.
func takeSnapshot(t *testing.T, s bridge.Store, reference string) snapshot {
	t.Helper()
	ctx := t.Context()
	var (
		sn  = snapshot{payment: mustPayment(t, s, reference)}
		err error
	)
	sn.history, err = s.History(ctx, reference)
	require.NoError(t, err)
	sn.events, err = s.PaymentEvents(ctx, reference)
	require.NoError(t, err)
	sn.notifications, err = s.Notifications(ctx, reference, "", 100)
	require.NoError(t, err)
	sn.operations, err = s.Operations(ctx, reference)
	require.NoError(t, err)
	sn.exchanges, err = s.Exchanges(ctx, reference)
	require.NoError(t, err)
	return sn
}

func testCommit(t *testing.T, s bridge.Store) {
	ctx := t.Context()
	p := newPayment("KCO-1-1", "unit-a", "KCO-1", 1)
	mustInsert(t, s, p)

	recorded := time.Date(2025, 6, 1, 12, 0, 1, 1000, cet)
	nextAttempt := time.Date(2025, 6, 1, 12, 5, 0, 0, cet)
	p.State = bridge.StateAuthorized
	p.Authorized = p.Amount.Value
	p.NextPollAt = time.Date(2025, 6, 1, 12, 0, 2, 500000000, cet)
	authorized := newEvent("AUTHORIZED", "psp-1", p.Amount.Value)
	given := newEvent("CAPTURED", "psp-2", 100)
	given.RecordedAt = recorded
	later := newNotification("n-2", time.Date(2025, 6, 1, 12, 0, 3, 0, cet))
	later.NextAttemptAt = nextAttempt
	c := &bridge.Change{
		Payment: p,
		History: []bridge.HistoryEntry{
			{Source: "webhook", FromState: bridge.StatePending, ToState: bridge.StateAuthorized, Detail: "authorized"},
			{Reference: p.Reference, Source: "webhook", Detail: "given in full", At: recorded},
		},
		Events:        []bridge.PaymentEvent{authorized, given},
		Notifications: []bridge.Notification{newNotification("n-1", time.Time{}), later},
		Operations:    []bridge.Operation{newOperation("op-1", "", "direct-capture-KCO-1-1")},
		// The exchanges the step acts on, each under its own log key.
		Exchanges: []bridge.ProviderExchange{
			newExchange(p.Reference, "create_payment", recorded),
			newExchange("kco:KCO-1", "read_order", recorded.Add(time.Second)),
		},
	}
	mustCommit(t, s, c)

	t.Run("payment", func(t *testing.T) {
		require.EqualValues(t, 2, p.Version)
		require.False(t, p.UpdatedAt.IsZero())
		requirePaymentEqual(t, p, mustPayment(t, s, p.Reference))
	})
	t.Run("history", func(t *testing.T) {
		for i, e := range c.History {
			require.Positive(t, e.ID, "entry %d", i)
			require.Equal(t, p.Reference, e.Reference, "entry %d", i)
			require.False(t, e.At.IsZero(), "entry %d", i)
		}
		require.True(t, recorded.Equal(c.History[1].At), "a given At was changed")
		h, err := s.History(ctx, p.Reference)
		require.NoError(t, err)
		requireHistoryEqual(t, c.History, h)
	})
	t.Run("events", func(t *testing.T) {
		for i, e := range c.Events {
			require.Positive(t, e.ID, "event %d", i)
			require.Equal(t, p.Reference, e.Reference, "event %d", i)
			require.False(t, e.RecordedAt.IsZero(), "event %d", i)
		}
		require.True(t, recorded.Equal(c.Events[1].RecordedAt), "a given RecordedAt was changed")
		es, err := s.PaymentEvents(ctx, p.Reference)
		require.NoError(t, err)
		require.Len(t, es, 2)
		for i := range es {
			requireEventEqual(t, c.Events[i], es[i])
		}
	})
	t.Run("notifications", func(t *testing.T) {
		first := c.Notifications[0]
		require.False(t, first.CreatedAt.IsZero(), "CreatedAt not set")
		require.True(t, first.CreatedAt.Equal(first.NextAttemptAt), "NextAttemptAt is not CreatedAt")
		require.True(t, nextAttempt.Equal(c.Notifications[1].NextAttemptAt), "a given NextAttemptAt was changed")
		for i, n := range c.Notifications {
			require.EqualValues(t, 1, n.Version, "notification %d", i)
			require.Equal(t, p.Reference, n.Reference, "notification %d", i)
			require.Equal(t, bridge.NotificationPending, n.State())
			got, err := s.Notification(ctx, n.ID)
			require.NoError(t, err)
			requireNotificationEqual(t, &n, got)
		}
	})
	t.Run("operations", func(t *testing.T) {
		op := c.Operations[0]
		require.EqualValues(t, 1, op.Version)
		require.Equal(t, p.Reference, op.Reference)
		got, err := s.Operation(ctx, op.ID)
		require.NoError(t, err)
		requireOperationEqual(t, &op, got)
		got, err = s.OperationByKey(ctx, op.IdempotencyKey)
		require.NoError(t, err)
		requireOperationEqual(t, &op, got)
	})
	t.Run("exchanges", func(t *testing.T) {
		for i, key := range []string{p.Reference, "kco:KCO-1"} {
			require.Positive(t, c.Exchanges[i].ID, "exchange %d", i)
			got, err := s.Exchanges(ctx, key)
			require.NoError(t, err)
			requireExchangesEqual(t, c.Exchanges[i:i+1], got)
		}
	})
	t.Run("empty change", func(t *testing.T) {
		p.FailureReason = "only the payment"
		mustCommit(t, s, &bridge.Change{Payment: p})
		require.EqualValues(t, 3, p.Version)
		requirePaymentEqual(t, p, mustPayment(t, s, p.Reference))
	})
}

func testCommitRejected(t *testing.T, s bridge.Store) {
	// full returns a change that writes one of everything about p.
	full := func(p *bridge.Payment, prefix string) *bridge.Change {
		q := *p
		q.State = bridge.StateAuthorized
		q.NextPollAt = base
		return &bridge.Change{
			Payment:       &q,
			History:       []bridge.HistoryEntry{{Source: "webhook", ToState: bridge.StateAuthorized}},
			Events:        []bridge.PaymentEvent{newEvent("AUTHORIZED", prefix+"-psp", q.Amount.Value)},
			Notifications: []bridge.Notification{newNotification(prefix+"-n", time.Time{})},
			Operations:    []bridge.Operation{newOperation(prefix+"-op", "", prefix+"-key")},
			Exchanges:     []bridge.ProviderExchange{newExchange(q.Reference, "create_payment", base)},
		}
	}
	tests := []struct {
		name string
		code string
		// setup stores what the case needs and returns the change to try.
		setup func(t *testing.T, prefix string) *bridge.Change
	}{
		{"stale version", bridge.ECodeConflict, func(t *testing.T, prefix string) *bridge.Change {
			p := newPayment(prefix+"-1", "unit-a", prefix, 1)
			mustInsert(t, s, p)
			stale := *p
			p.State = bridge.StateCreated
			mustCommit(t, s, &bridge.Change{Payment: p, History: []bridge.HistoryEntry{{Source: "redirect"}}})
			return full(&stale, prefix)
		}},
		{"duplicate operation key", bridge.ECodeConflict, func(t *testing.T, prefix string) *bridge.Change {
			p := newPayment(prefix+"-1", "unit-a", prefix, 1)
			mustInsert(t, s, p)
			op := newOperation(prefix+"-first", p.Reference, prefix+"-key")
			require.NoError(t, s.InsertOperation(t.Context(), &op))
			return full(p, prefix)
		}},
		{"duplicate operation key in the change", bridge.ECodeConflict, func(t *testing.T, prefix string) *bridge.Change {
			p := newPayment(prefix+"-1", "unit-a", prefix, 1)
			mustInsert(t, s, p)
			c := full(p, prefix)
			c.Operations = append(c.Operations, newOperation(prefix+"-op-2", "", prefix+"-key"))
			return c
		}},
		{"duplicate notification ID", bridge.ECodeConflict, func(t *testing.T, prefix string) *bridge.Change {
			p := newPayment(prefix+"-1", "unit-a", prefix, 1)
			mustInsert(t, s, p)
			mustCommit(t, s, &bridge.Change{Payment: p, Notifications: []bridge.Notification{newNotification(prefix+"-n", time.Time{})}})
			return full(p, prefix)
		}},
		{"exchange that cannot be stored", bridge.ECodeInvalid, func(t *testing.T, prefix string) *bridge.Change {
			// Written last: what the step wrote before it must go too.
			p := newPayment(prefix+"-1", "unit-a", prefix, 1)
			mustInsert(t, s, p)
			c := full(p, prefix)
			c.Exchanges = append(c.Exchanges, newExchange(p.Reference, "get_payment", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)))
			return c
		}},
		{"row of another payment", bridge.ECodeInvalid, func(t *testing.T, prefix string) *bridge.Change {
			p := newPayment(prefix+"-1", "unit-a", prefix, 1)
			mustInsert(t, s, p)
			c := full(p, prefix)
			c.Operations[0].Reference = prefix + "-2"
			return c
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			c := tt.setup(t, fmt.Sprintf("KCO-%d", i))
			before := takeSnapshot(t, s, c.Payment.Reference)
			given := cloneChange(c)

			err := s.Commit(ctx, c)
			require.Error(t, err)
			require.Equal(t, tt.code, bridge.ErrorCode(err), "error %v", err)
			if tt.code == bridge.ECodeConflict {
				require.ErrorIs(t, err, bridge.ErrConflict)
			}

			require.Equal(t, given, *c, "a rejected commit changed the caller's change")
			after := takeSnapshot(t, s, c.Payment.Reference)
			requirePaymentEqual(t, before.payment, after.payment)
			require.Equal(t, before.history, after.history, "a rejected commit stored history")
			require.Equal(t, before.events, after.events, "a rejected commit stored events")
			require.Equal(t, before.notifications, after.notifications, "a rejected commit stored notifications")
			require.Equal(t, before.operations, after.operations, "a rejected commit stored operations")
			require.Equal(t, before.exchanges, after.exchanges, "a rejected commit stored provider exchanges")
			for _, op := range c.Operations {
				stored, err := s.Operation(ctx, op.ID)
				require.ErrorIs(t, err, bridge.ErrNotFound, "operation %s was stored: %+v", op.ID, stored)
			}
		})
	}

	t.Run("unknown payment", func(t *testing.T) {
		p := newPayment("KCO-9-1", "unit-a", "KCO-9", 1)
		p.Version = 1
		err := s.Commit(t.Context(), full(p, "KCO-9"))
		require.ErrorIs(t, err, bridge.ErrNotFound)
		_, err = s.Payment(t.Context(), p.Reference)
		require.ErrorIs(t, err, bridge.ErrNotFound)
		_, err = s.Notification(t.Context(), "KCO-9-n")
		require.ErrorIs(t, err, bridge.ErrNotFound)
		_, err = s.OperationByKey(t.Context(), "KCO-9-key")
		require.ErrorIs(t, err, bridge.ErrNotFound)
	})
}

// testCommitEventDedupe is the same Vipps event learned twice, by webhook
// and by poll: it is stored once, while two partial captures, which share
// a name, are both kept.
func testCommitEventDedupe(t *testing.T, s bridge.Store) {
	ctx := t.Context()
	p := newPayment("KCO-1-1", "unit-a", "KCO-1", 1)
	other := newPayment("KCO-2-1", "unit-a", "KCO-2", 1)
	mustInsert(t, s, p)
	mustInsert(t, s, other)

	var stored []bridge.PaymentEvent
	tests := []struct {
		name   string
		events []bridge.PaymentEvent
		// fresh says which events are new; the others are already stored.
		fresh []bool
	}{
		{"first learned", []bridge.PaymentEvent{
			newEvent("AUTHORIZED", "psp-0", 149900),
			newEvent("CAPTURED", "psp-a", 50000),
			newEvent("CAPTURED", "psp-b", 30000),
		}, []bool{true, true, true}},
		{"learned again, with one new partial capture", []bridge.PaymentEvent{
			newEvent("CAPTURED", "psp-a", 99999),
			newEvent("CAPTURED", "psp-c", 20000),
			newEvent("AUTHORIZED", "psp-0", 149900),
		}, []bool{false, true, false}},
		{"twice in one change", []bridge.PaymentEvent{
			newEvent("REFUNDED", "psp-r", 1000),
			newEvent("REFUNDED", "psp-r", 1000),
		}, []bool{true, false}},
		{"same PSP reference under another name", []bridge.PaymentEvent{
			newEvent("REFUNDED", "psp-a", 1000),
		}, []bool{true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			version := p.Version
			c := &bridge.Change{Payment: p, Events: slices.Clone(tt.events)}
			mustCommit(t, s, c)
			require.Equal(t, version+1, p.Version, "a change with known events still commits")
			for i, e := range c.Events {
				if tt.fresh[i] {
					require.Positive(t, e.ID, "new event %d has no ID", i)
					stored = append(stored, e)
				} else {
					require.Zero(t, e.ID, "event %d is already stored but got an ID", i)
				}
			}
			es, err := s.PaymentEvents(ctx, p.Reference)
			require.NoError(t, err)
			require.Len(t, es, len(stored))
			for i := range stored {
				requireEventEqual(t, stored[i], es[i])
			}
		})
	}

	t.Run("same key on another payment", func(t *testing.T) {
		c := &bridge.Change{Payment: other, Events: []bridge.PaymentEvent{newEvent("CAPTURED", "psp-a", 50000)}}
		mustCommit(t, s, c)
		require.Positive(t, c.Events[0].ID)
		es, err := s.PaymentEvents(ctx, other.Reference)
		require.NoError(t, err)
		require.Len(t, es, 1)
		requireEventEqual(t, c.Events[0], es[0])
	})
}

// testLifecycleNotFound checks that reads of one missing row say so, and
// that the lists of a missing payment are ErrNotFound as History is, except
// the raw inputs, which are kept for references we do not know.
func testLifecycleNotFound(t *testing.T, s bridge.Store) {
	mustInsert(t, s, newPayment("KCO-1-1", "unit-a", "KCO-1", 1))
	tests := []struct {
		name string
		call func(t *testing.T) error
	}{
		{"PaymentEvents", func(t *testing.T) error {
			_, err := s.PaymentEvents(t.Context(), "KCO-9-1")
			return err
		}},
		{"Operations", func(t *testing.T) error {
			_, err := s.Operations(t.Context(), "KCO-9-1")
			return err
		}},
		{"Operation", func(t *testing.T) error {
			_, err := s.Operation(t.Context(), "op-9")
			return err
		}},
		{"OperationByKey", func(t *testing.T) error {
			_, err := s.OperationByKey(t.Context(), "key-9")
			return err
		}},
		{"UpdateOperation", func(t *testing.T) error {
			op := newOperation("op-9", "KCO-1-1", "key-9")
			op.Version = 1
			return s.UpdateOperation(t.Context(), &op)
		}},
		{"ClaimOperation", func(t *testing.T) error {
			_, _, err := s.ClaimOperation(t.Context(), "op-9", "r1", base, base.Add(time.Minute))
			return err
		}},
		{"Notification", func(t *testing.T) error {
			_, err := s.Notification(t.Context(), "n-9")
			return err
		}},
		{"UpdateNotification", func(t *testing.T) error {
			n := newNotification("n-9", base)
			n.Reference, n.Version = "KCO-1-1", 1
			return s.UpdateNotification(t.Context(), &n)
		}},
		{"ReleasePoll", func(t *testing.T) error {
			return s.ReleasePoll(t.Context(), "KCO-9-1", "r1", base)
		}},
		{"WebhookRegistration", func(t *testing.T) error {
			_, err := s.WebhookRegistration(t.Context(), "unit-9")
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(t)
			require.ErrorIs(t, err, bridge.ErrNotFound)
			require.Equal(t, bridge.ECodeNotFound, bridge.ErrorCode(err))
		})
	}
	t.Run("lists of a known payment or none are empty", func(t *testing.T) {
		ctx := t.Context()
		es, err := s.PaymentEvents(ctx, "KCO-1-1")
		require.NoError(t, err)
		require.Empty(t, es)
		ops, err := s.Operations(ctx, "KCO-1-1")
		require.NoError(t, err)
		require.Empty(t, ops)
		raw, err := s.RawEvents(ctx, "KCO-9-1")
		require.NoError(t, err)
		require.Empty(t, raw)
		ns, err := s.Notifications(ctx, "KCO-9-1", "", 10)
		require.NoError(t, err)
		require.Empty(t, ns)
	})
}
