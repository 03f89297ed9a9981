package sqlite

import (
	"context"
	"fmt"

	"vippskco/bridge"
)

// Commit writes one step of the state machine in one transaction, as
// bridge.WriteChange lays it out, if c.Payment.Version is the stored version.
// c and what it points to are changed only when the transaction commits.
func (s *Store) Commit(ctx context.Context, c *bridge.Change) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if err := s.commit(ctx, c); err != nil {
		return fmt.Errorf("commit payment %q: %w", c.Payment.Reference, err)
	}
	return nil
}

// commit writes c in one transaction and, once it has committed, sets c and
// what it points to as stored.
func (s *Store) commit(ctx context.Context, c *bridge.Change) error {
	var stored *bridge.Change
	err := s.group(ctx, func(tx *tx) (err error) {
		stored, err = bridge.WriteChange(ctx, tx, c, tx.now)
		return err
	})
	if err != nil {
		return err
	}
	c.SetStored(stored)
	return nil
}
