package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"vippskco/bridge"
)

// purgeBatch bounds how many expired signatures one SeenWebhook call
// deletes, so that a backlog never makes one webhook's transaction long.
const purgeBatch = 500

// purgeSeenWebhooks deletes up to $2 signatures kept until $1 or before.
// It orders by keep_until, which it needs no order for, so that the plan
// walks the keep_until index and stops at the first signature still kept.
// Without it, a table grown since PostgreSQL last counted it (100,000
// signatures after a burst of webhooks) was read whole, row by row, in
// every webhook's transaction: 5.6 ms at 100,000 and growing, and in the
// load test a webhook alone took 17-22 ms instead of 1.1.
const purgeSeenWebhooks = `DELETE FROM seen_webhooks WHERE signature IN (
	SELECT signature FROM seen_webhooks WHERE keep_until <= $1 ORDER BY keep_until LIMIT $2 FOR UPDATE SKIP LOCKED)`

// SeenWebhook records signature until keepUntil and reports whether it was
// recorded already and its record still kept at the store's clock: a replay.
// A record whose keepUntil has passed counts as forgotten, whether or not the
// opportunistic purge of expired records has reached it yet. Of two replicas
// recording one signature at once, the second waits for the first's commit
// and reports a replay.
//
// The purge and the record are separate statements, each its own
// transaction: the purge is housekeeping, and holding its row locks while
// recording could deadlock with a replica doing the same the other way round.
// The purge runs first, so that when it fails nothing is recorded and the
// webhook's retry is not taken for a replay.
func (s *Store) SeenWebhook(ctx context.Context, signature string, keepUntil time.Time) (bool, error) {
	if err := bridge.CheckSeenWebhook(signature); err != nil {
		return false, err
	}
	var ta timeArgs
	until := ta.instant("keepUntil", &keepUntil)
	if ta.err != nil {
		return false, ta.err
	}
	now := s.clock()
	// Repeatable: the purge deletes expired records, again or not.
	if err := s.retry(ctx, "purge seen webhooks", repeatable, func() error {
		_, err := s.pool.Exec(ctx, purgeSeenWebhooks, now, purgeBatch)
		return err
	}); err != nil {
		return false, fmt.Errorf("seen webhook: purge: %w", err)
	}
	// The upsert replaces an expired record and leaves a live one alone, so
	// one changed row means new.
	// Once: a repeat of a record that did land would report the webhook
	// as a replay. Its outcome unknown, the webhook is answered with an
	// error, and Vipps sends it again, signed anew.
	tag, err := retried(ctx, s, "record webhook", once, func() (pgconn.CommandTag, error) {
		return s.pool.Exec(ctx, `INSERT INTO seen_webhooks (signature, keep_until) VALUES ($1, $2)
			ON CONFLICT (signature) DO UPDATE SET keep_until = excluded.keep_until
			WHERE seen_webhooks.keep_until <= $3`, signature, until, now)
	})
	if err != nil {
		return false, fmt.Errorf("seen webhook: %w", err)
	}
	return tag.RowsAffected() == 0, nil
}

// RecordWebhook records a webhook's signature and, if it is new, keeps its
// raw event and reads the unit of the payment it names, in one statement
// of a transaction shared with the webhooks arriving at the same time.
func (s *Store) RecordWebhook(ctx context.Context, signature string, keepUntil time.Time, raw *bridge.RawEvent, ask *bridge.ReadAsk) (bridge.WebhookRecord, error) {
	if err := bridge.CheckSeenWebhook(signature); err != nil {
		return bridge.WebhookRecord{}, err
	}
	if err := bridge.CheckReadAsk(ask); err != nil {
		return bridge.WebhookRecord{}, err
	}
	var ta timeArgs
	ta.instant("keepUntil", &keepUntil)
	w := &webhookRecord{signature: signature, until: keepUntil, raw: *raw, ask: ask}
	if ask != nil {
		w.askAt = ta.instant("ask.At", &ask.At)
	}
	if ta.err != nil {
		return bridge.WebhookRecord{}, ta.err
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
	until     time.Time
	raw       bridge.RawEvent
	ask       *bridge.ReadAsk
	askAt     any // ask.At as a statement argument
	found     bridge.WebhookRecord
}

// recordWebhooks writes a batch of webhooks in one transaction: one purge,
// then for each one statement that records the signature and keeps the raw
// event only when the signature is new, returning the unit of the payment
// the event names (and, with a ReadAsk whose units hold it, asking for its
// read as PollSoon does). Once: a repeat of a batch that did
// land would report its webhooks as replays; its callers get the error and
// Vipps sends them again, signed anew.
func (s *Store) recordWebhooks(ctx context.Context, ws []*webhookRecord) error {
	now := s.clock()
	ids := make([]int64, len(ws))
	found := make([]bridge.WebhookRecord, len(ws))
	err := s.retry(ctx, "record webhooks", once, func() error {
		return s.transactOnce(ctx, func(tx *tx) error {
			var b pgx.Batch
			b.Queue(purgeSeenWebhooks, now, purgeBatch)
			// A webhook that asks for a read locks its payment's poll row until
			// the commit, but never waits for it: a row another transaction
			// holds (the poller's release, a state change that moves the
			// schedule) is skipped, and
			// the webhook's caller then asks with PollSoon on its own. A
			// batch that waited inside could deadlock with a release of
			// several rows taken in another order (PostgreSQL's detector
			// ends one of them after a second: a p99 of 1.2 s for known
			// references in the load test). The rows are still taken in
			// order of reference.
			order := make([]int, len(ws))
			for i := range order {
				order[i] = i
			}
			slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(ws[a].raw.Reference, ws[b].raw.Reference) })
			for _, i := range order {
				w := ws[i]
				r := w.raw
				r.PrepareInsert(now)
				var ta timeArgs
				receivedAt := ta.at("ReceivedAt", &r.ReceivedAt)
				if ta.err != nil {
					return ta.err
				}
				units, askAt, gap, by := []string{}, any(now), time.Duration(0), ""
				if w.ask != nil {
					units, askAt, gap, by = w.ask.Units, w.askAt, w.ask.Gap, w.ask.By
				}
				b.Queue(`WITH fresh AS (
					INSERT INTO seen_webhooks (signature, keep_until) VALUES ($1, $2)
					ON CONFLICT (signature) DO UPDATE SET keep_until = excluded.keep_until
					WHERE seen_webhooks.keep_until <= $3
					RETURNING 1
				), kept AS (
					INSERT INTO raw_events (reference, unit, source, name, body, received_at)
					SELECT $4, $5, $6, $7, $8, $9 WHERE EXISTS (SELECT 1 FROM fresh)
					RETURNING id
				), asked AS (
					UPDATE payment_polls SET
						poll_asked_at = GREATEST($10::timestamptz, last_read_at + $11::interval),
						poll_asked_by = $12,
						next_poll_at = CASE WHEN next_poll_at IS NULL OR next_poll_at > GREATEST($10::timestamptz, last_read_at + $11::interval)
							THEN GREATEST($10::timestamptz, last_read_at + $11::interval) ELSE next_poll_at END
					WHERE reference = (SELECT reference FROM payment_polls
						WHERE reference = $4 AND EXISTS (SELECT 1 FROM fresh)
						AND EXISTS (SELECT 1 FROM payments WHERE reference = $4 AND unit = ANY($13::text[]))
						FOR NO KEY UPDATE SKIP LOCKED)
					RETURNING 1
				)
				SELECT kept.id, coalesce((SELECT unit FROM payments WHERE reference = $4), ''), EXISTS (SELECT 1 FROM asked)
				FROM kept`,
					w.signature, w.until, now, r.Reference, r.Unit, r.Source, r.Name, bytea(r.Body), receivedAt,
					askAt, gap, by, units)
			}
			br := tx.SendBatch(ctx, &b)
			if _, err := br.Exec(); err != nil {
				br.Close()
				return fmt.Errorf("purge: %w", err)
			}
			for _, i := range order {
				ids[i], found[i] = 0, bridge.WebhookRecord{}
				if err := br.QueryRow().Scan(&ids[i], &found[i].PaymentUnit, &found[i].ReadAsked); err != nil {
					if !errors.Is(err, pgx.ErrNoRows) {
						br.Close()
						return err
					}
					found[i].Seen = true
				}
			}
			return br.Close()
		})
	})
	if err != nil {
		return err
	}
	for i, w := range ws {
		w.found = found[i]
		if !found[i].Seen {
			w.raw.PrepareInsert(now)
			w.raw.ReceivedAt = w.raw.ReceivedAt.UTC().Truncate(time.Microsecond)
			w.raw.ID = ids[i]
		}
	}
	return nil
}

// SaveWebhookRegistration stores r, replacing the unit's registration if it
// has one. A zero CreatedAt is set from the clock; r is changed only when the
// write commits.
func (s *Store) SaveWebhookRegistration(ctx context.Context, r *bridge.WebhookRegistration) error {
	if err := r.Validate(); err != nil {
		return err
	}
	w := *r
	w.PrepareInsert(s.clock())
	var ta timeArgs
	createdAt := ta.at("CreatedAt", &w.CreatedAt)
	if ta.err != nil {
		return ta.err
	}
	// Repeatable: the upsert writes the same values again.
	err := s.retry(ctx, "save webhook registration", repeatable, func() error {
		_, err := s.pool.Exec(ctx, `INSERT INTO webhook_registrations (unit, id, url, secret, events, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (unit) DO UPDATE SET
				id = excluded.id, url = excluded.url, secret = excluded.secret,
				events = excluded.events, created_at = excluded.created_at`,
			w.Unit, w.ID, w.URL, w.Secret, w.Events, createdAt)
		return err
	})
	if err != nil {
		return fmt.Errorf("save webhook registration of %q: %w", r.Unit, err)
	}
	*r = w
	return nil
}

// WebhookRegistration returns the registration of unit.
func (s *Store) WebhookRegistration(ctx context.Context, unit string) (*bridge.WebhookRegistration, error) {
	return retried(ctx, s, "webhook registration", readOnly, func() (*bridge.WebhookRegistration, error) { return s.webhookRegistration(ctx, unit) })
}

func (s *Store) webhookRegistration(ctx context.Context, unit string) (*bridge.WebhookRegistration, error) {
	var (
		r         bridge.WebhookRegistration
		createdAt pgtype.Timestamptz
	)
	err := s.pool.QueryRow(ctx, `SELECT unit, id, url, secret, events, created_at
		FROM webhook_registrations WHERE unit = $1`, unit).Scan(&r.Unit, &r.ID, &r.URL, &r.Secret, &r.Events, &createdAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("webhook registration of %q: %w", unit, bridge.ErrNotFound)
	} else if err != nil {
		return nil, fmt.Errorf("webhook registration of %q: %w", unit, err)
	}
	r.CreatedAt = timeOf(createdAt)
	return &r, nil
}

// DeleteWebhookRegistration forgets the registration of unit. Forgetting one
// that is not stored is not an error, so that an unregistration that died
// halfway can simply be run again.
func (s *Store) DeleteWebhookRegistration(ctx context.Context, unit string) error {
	if err := s.retry(ctx, "delete webhook registration", repeatable, func() error {
		_, err := s.pool.Exec(ctx, `DELETE FROM webhook_registrations WHERE unit = $1`, unit)
		return err
	}); err != nil {
		return fmt.Errorf("delete webhook registration of %q: %w", unit, err)
	}
	return nil
}
