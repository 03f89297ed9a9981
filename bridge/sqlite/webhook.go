package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"vippskco/bridge"
)

// purgeBatch bounds how many expired signatures one SeenWebhook call
// deletes, so that a backlog never makes one webhook's transaction long.
const purgeBatch = 500

// SeenWebhook records signature until keepUntil and reports whether it was
// recorded already and its record still kept at the store's clock: a replay.
// A record whose keepUntil has passed counts as forgotten, whether or not the
// opportunistic purge of expired records has reached it yet.
func (s *Store) SeenWebhook(ctx context.Context, signature string, keepUntil time.Time) (bool, error) {
	if err := bridge.CheckSeenWebhook(signature); err != nil {
		return false, err
	}
	until, err := nanos("keepUntil", keepUntil)
	if err != nil {
		return false, err
	}
	var seen bool
	err = s.group(ctx, func(tx *tx) (err error) {
		seen, err = recordWebhook(ctx, tx, signature, until)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("seen webhook: %w", err)
	}
	return seen, nil
}

// RecordWebhook records a webhook's signature and, if it is new, keeps its
// raw event and reads the unit of the payment it names, in one transaction
// shared with the webhooks arriving at the same time (the writer's pages
// are in its cache; a read of its own would start from a cold one).
func (s *Store) RecordWebhook(ctx context.Context, signature string, keepUntil time.Time, raw *bridge.RawEvent, ask *bridge.ReadAsk) (bridge.WebhookRecord, error) {
	if err := bridge.CheckSeenWebhook(signature); err != nil {
		return bridge.WebhookRecord{}, err
	}
	if err := bridge.CheckReadAsk(ask); err != nil {
		return bridge.WebhookRecord{}, err
	}
	until, err := nanos("keepUntil", keepUntil)
	if err != nil {
		return bridge.WebhookRecord{}, err
	}
	w := &webhookRecord{signature: signature, until: until, raw: *raw, ask: ask}
	if ask != nil {
		if w.askAt, err = nanos("ask.At", ask.At); err != nil {
			return bridge.WebhookRecord{}, err
		}
	}
	if err := s.webhookLog.Add(ctx, w); err != nil {
		return bridge.WebhookRecord{}, fmt.Errorf("record webhook: %w", err)
	}
	if !w.found.Seen {
		*raw = w.raw
	}
	return w.found, nil
}

// webhookRecord is one webhook for RecordWebhook: what to write, and what
// the write found.
type webhookRecord struct {
	signature string
	until     int64
	raw       bridge.RawEvent
	ask       *bridge.ReadAsk
	askAt     int64
	found     bridge.WebhookRecord
}

// recordWebhooks writes a batch of webhooks in one transaction: one purge,
// then each signature and, if new, its raw event and the unit of its
// payment. Two deliveries with one signature in a batch are a webhook and
// its replay, as they would be one after the other.
func (s *Store) recordWebhooks(ctx context.Context, ws []*webhookRecord) error {
	type result struct {
		found bridge.WebhookRecord
		id    int64
		at    time.Time
	}
	results := make([]result, len(ws))
	err := s.group(ctx, func(tx *tx) error {
		if err := purgeSeenWebhooks(ctx, tx); err != nil {
			return err
		}
		for i, w := range ws {
			seen, err := upsertSeenWebhook(ctx, tx, w.signature, w.until)
			if err != nil {
				return err
			}
			results[i].found = bridge.WebhookRecord{Seen: seen}
			if seen {
				continue
			}
			r := w.raw
			r.PrepareInsert(tx.now)
			if err := insertRawEvent(ctx, tx, &r); err != nil {
				return err
			}
			results[i].id, results[i].at = r.ID, r.ReceivedAt
			err = tx.QueryRowContext(ctx, `SELECT unit FROM payments WHERE reference = ?`, r.Reference).Scan(&results[i].found.PaymentUnit)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if unit := results[i].found.PaymentUnit; w.ask != nil && unit != "" && slices.Contains(w.ask.Units, unit) {
				asked, err := pollSoon(ctx, tx, r.Reference, w.askAt, w.ask.Gap, w.ask.By)
				if err != nil {
					return err
				}
				results[i].found.ReadAsked = asked
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, w := range ws {
		w.found = results[i].found
		w.raw.ID, w.raw.ReceivedAt = results[i].id, results[i].at
	}
	return nil
}

// recordWebhook purges a batch of expired signatures, then records this one
// and reports whether a live record of it existed. The upsert replaces an
// expired record and leaves a live one alone, so one changed row means new.
func recordWebhook(ctx context.Context, tx *tx, signature string, until int64) (bool, error) {
	if err := purgeSeenWebhooks(ctx, tx); err != nil {
		return false, err
	}
	return upsertSeenWebhook(ctx, tx, signature, until)
}

// purgeSeenWebhooks deletes a batch of expired signatures.
func purgeSeenWebhooks(ctx context.Context, tx *tx) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM seen_webhooks WHERE signature IN (
		SELECT signature FROM seen_webhooks WHERE keep_until <= ? ORDER BY keep_until LIMIT ?)`, tx.now.UnixNano(), purgeBatch); err != nil {
		return fmt.Errorf("purge: %w", err)
	}
	return nil
}

// upsertSeenWebhook records a signature and reports whether a live record
// of it existed.
func upsertSeenWebhook(ctx context.Context, tx *tx, signature string, until int64) (bool, error) {
	now := tx.now.UnixNano()
	res, err := tx.ExecContext(ctx, `INSERT INTO seen_webhooks (signature, keep_until) VALUES (?, ?)
		ON CONFLICT (signature) DO UPDATE SET keep_until = excluded.keep_until
		WHERE seen_webhooks.keep_until <= ?`, signature, until, now)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n == 0, nil
}

// SaveWebhookRegistration stores r, replacing the unit's registration if it
// has one. A zero CreatedAt is set from the clock; r is changed only when the
// write commits.
func (s *Store) SaveWebhookRegistration(ctx context.Context, r *bridge.WebhookRegistration) error {
	if err := r.Validate(); err != nil {
		return err
	}
	w := *r
	err := s.transact(ctx, func(tx *tx) error {
		w.PrepareInsert(tx.now)
		return saveWebhookRegistration(ctx, tx, &w)
	})
	if err != nil {
		return fmt.Errorf("save webhook registration of %q: %w", r.Unit, err)
	}
	*r = w
	return nil
}

// WebhookRegistration returns the registration of unit.
func (s *Store) WebhookRegistration(ctx context.Context, unit string) (*bridge.WebhookRegistration, error) {
	var r *bridge.WebhookRegistration
	err := s.view(ctx, func(tx *tx) (err error) {
		r, err = findWebhookRegistration(ctx, tx, unit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("webhook registration of %q: %w", unit, err)
	}
	return r, nil
}

// DeleteWebhookRegistration forgets the registration of unit. Forgetting one
// that is not stored is not an error, so that an unregistration that died
// halfway can simply be run again.
func (s *Store) DeleteWebhookRegistration(ctx context.Context, unit string) error {
	err := s.transact(ctx, func(tx *tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM webhook_registrations WHERE unit = ?`, unit)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete webhook registration of %q: %w", unit, err)
	}
	return nil
}

// saveWebhookRegistration upserts r. The events are kept as a JSON array.
func saveWebhookRegistration(ctx context.Context, tx *tx, r *bridge.WebhookRegistration) error {
	createdAt, err := nanos("CreatedAt", r.CreatedAt)
	if err != nil {
		return err
	}
	events, err := json.Marshal(r.Events)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO webhook_registrations (unit, id, url, secret, events, created_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (unit) DO UPDATE SET
			id = excluded.id, url = excluded.url, secret = excluded.secret,
			events = excluded.events, created_at = excluded.created_at`,
		r.Unit, r.ID, r.URL, r.Secret, string(events), createdAt)
	return err
}

// findWebhookRegistration returns the registration of unit or ErrNotFound.
func findWebhookRegistration(ctx context.Context, tx *tx, unit string) (*bridge.WebhookRegistration, error) {
	var (
		r         bridge.WebhookRegistration
		events    string
		createdAt int64
	)
	err := tx.QueryRowContext(ctx, `SELECT unit, id, url, secret, events, created_at
		FROM webhook_registrations WHERE unit = ?`, unit).Scan(&r.Unit, &r.ID, &r.URL, &r.Secret, &events, &createdAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bridge.ErrNotFound
	} else if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(events), &r.Events); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	r.CreatedAt = fromNanos(createdAt)
	return &r, nil
}
