package postgres

import (
	"context"
	"fmt"

	"vippskco/bridge"
)

// Commit writes one step of the state machine in one transaction: the
// payment, if c.Payment.Version is the stored version, then its history
// entries, the events not stored yet, the notifications and the operations.
// Missing references, times and versions are filled in as the single-row
// methods do. An event already stored (same reference, name and PSP
// reference) is skipped and keeps ID 0, so the caller can tell it from one
// that was new. c and what it points to are changed only when the
// transaction commits.
//
// The payment's row stays locked from its update to the commit, so a
// concurrent Commit of the same payment waits and then fails on the version:
// the notifications and operations of one step are written by one replica.
func (s *Store) Commit(ctx context.Context, c *bridge.Change) error {
	if c.Payment == nil {
		return bridge.Errorf(bridge.ECodeInvalid, "", "change has no payment")
	}
	ref := c.Payment.Reference
	if err := checkChange(c); err != nil {
		return err
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)

	p := *c.Payment
	p.UpdatedAt = tx.now
	if err := updatePayment(ctx, tx, &p); err != nil {
		return fmt.Errorf("commit payment %q: %w", ref, err)
	}
	history := make([]bridge.HistoryEntry, len(c.History))
	for i, e := range c.History {
		e.Reference = ref
		if e.At.IsZero() {
			e.At = tx.now
		}
		if err := insertHistoryEntry(ctx, tx, &e); err != nil {
			return fmt.Errorf("commit payment %q: %w", ref, err)
		}
		history[i] = e
	}
	events := make([]bridge.PaymentEvent, len(c.Events))
	for i, e := range c.Events {
		events[i] = e
		e.Reference = ref
		if e.RecordedAt.IsZero() {
			e.RecordedAt = tx.now
		}
		inserted, err := insertPaymentEvent(ctx, tx, &e)
		if err != nil {
			return fmt.Errorf("commit payment %q: event %s %q: %w", ref, e.Name, e.PSPReference, err)
		}
		if inserted {
			events[i] = e
		}
	}
	notifications := make([]bridge.Notification, len(c.Notifications))
	for i, n := range c.Notifications {
		n.Reference = ref
		newNotification(&n, tx.now)
		if err := insertNotification(ctx, tx, &n); err != nil {
			return fmt.Errorf("commit payment %q: notification %q: %w", ref, n.ID, err)
		}
		notifications[i] = n
	}
	operations := make([]bridge.Operation, len(c.Operations))
	for i, op := range c.Operations {
		op.Reference = ref
		newOperation(&op, tx.now)
		if err := insertOperation(ctx, tx, &op); err != nil {
			return fmt.Errorf("commit payment %q: operation %q: %w", ref, op.ID, err)
		}
		operations[i] = op
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit payment %q: commit: %w", ref, err)
	}
	*c.Payment = p
	copy(c.History, history)
	copy(c.Events, events)
	copy(c.Notifications, notifications)
	copy(c.Operations, operations)
	return nil
}

// checkChange refuses, before anything is written, rows that name another
// payment than the change's and rows without the keys they need.
func checkChange(c *bridge.Change) error {
	ref := c.Payment.Reference
	other := func(kind, got string) error {
		if got != "" && got != ref {
			return bridge.Errorf(bridge.ECodeInvalid, "", "%s of payment %q given with payment %q", kind, got, ref)
		}
		return nil
	}
	for _, e := range c.History {
		if err := other("history entry", e.Reference); err != nil {
			return err
		}
	}
	for _, e := range c.Events {
		if err := other("event", e.Reference); err != nil {
			return err
		}
	}
	for _, n := range c.Notifications {
		if err := other("notification", n.Reference); err != nil {
			return err
		}
		if n.ID == "" {
			return bridge.Errorf(bridge.ECodeInvalid, "", "notification of payment %q has no ID", ref)
		}
	}
	for _, op := range c.Operations {
		if err := other("operation", op.Reference); err != nil {
			return err
		}
		if err := checkOperation(&op); err != nil {
			return err
		}
	}
	return nil
}
