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
// methods do (see bridge.Change.Prepare). An event already stored (same
// reference, name and PSP reference) is skipped and keeps ID 0, so the
// caller can tell it from one that was new. c and what it points to are
// changed only when the transaction commits.
func (s *Store) Commit(ctx context.Context, c *bridge.Change) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if err := s.commit(ctx, c); err != nil {
		return fmt.Errorf("commit payment %q: %w", c.Payment.Reference, err)
	}
	return nil
}

// UpdatePayment writes every field of p but Reference and CreatedAt, which
// identify the attempt, when p.Version is the stored version. entry, when
// not nil, is appended to the history in the same transaction; an empty
// Reference or zero At is filled in. p and entry are changed only when the
// update commits. It is a Commit of a change that holds only these two.
func (s *Store) UpdatePayment(ctx context.Context, p *bridge.Payment, entry *bridge.HistoryEntry) error {
	c := &bridge.Change{Payment: p}
	if entry != nil {
		c.History = []bridge.HistoryEntry{*entry}
	}
	if err := c.Validate(); err != nil {
		return err
	}
	if err := s.commit(ctx, c); err != nil {
		return fmt.Errorf("update payment %q: %w", p.Reference, err)
	}
	if entry != nil {
		*entry = c.History[0]
	}
	return nil
}

// commit writes c in one transaction and, once it has committed, sets c and
// what it points to as stored. The payment's row stays locked from its
// update to the commit, so a concurrent commit of the same payment waits and
// then fails on the version: the notifications and operations of one step
// are written by one replica.
func (s *Store) commit(ctx context.Context, c *bridge.Change) error {
	var w *bridge.Change
	err := s.transact(ctx, func(tx *tx) error {
		w = c.Prepare(tx.now)
		if err := updatePayment(ctx, tx, w.Payment); err != nil {
			return err
		}
		for i := range w.History {
			if err := insertHistoryEntry(ctx, tx, &w.History[i]); err != nil {
				return err
			}
		}
		for i := range w.Events {
			e := &w.Events[i]
			inserted, err := insertPaymentEvent(ctx, tx, e)
			if err != nil {
				return fmt.Errorf("event %s %q: %w", e.Name, e.PSPReference, err)
			}
			if !inserted {
				*e = c.Events[i]
			}
		}
		for i := range w.Notifications {
			if err := insertNotification(ctx, tx, &w.Notifications[i]); err != nil {
				return fmt.Errorf("notification %q: %w", w.Notifications[i].ID, err)
			}
		}
		for i := range w.Operations {
			if err := insertOperation(ctx, tx, &w.Operations[i]); err != nil {
				return fmt.Errorf("operation %q: %w", w.Operations[i].ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	*c.Payment = *w.Payment
	copy(c.History, w.History)
	copy(c.Events, w.Events)
	copy(c.Notifications, w.Notifications)
	copy(c.Operations, w.Operations)
	return nil
}
