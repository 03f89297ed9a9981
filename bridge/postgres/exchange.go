package postgres

import (
	"context"
	"fmt"
	"github.com/jackc/pgx/v5"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"vippskco/bridge"
)

// AppendExchange adds ex to the provider log and sets its ID. ex.Reference
// may be empty or name a payment not stored yet: a request is logged whether
// or not it led to a payment. ex is changed only when the insert commits.
//
// It returns once the exchange is committed, but the exchanges of callers
// that log at the same time are committed together (bridge.Batcher): every
// Vipps read of the poller is logged.
func (s *Store) AppendExchange(ctx context.Context, ex *bridge.ProviderExchange) error {
	e := *ex
	var ta timeArgs
	ta.at("StartedAt", &e.StartedAt)
	if ta.err != nil {
		return ta.err
	}
	if err := s.exchangeLog.Add(ctx, &e); err != nil {
		return fmt.Errorf("append %s %s exchange: %w", e.Provider, e.Operation, err)
	}
	*ex = e
	return nil
}

// appendExchanges inserts exchanges in one transaction and sets their IDs;
// they are changed only if it commits. A commit whose outcome is lost is
// not repeated (it would log them twice); its callers get the error.
func (s *Store) appendExchanges(ctx context.Context, exs []*bridge.ProviderExchange) error {
	ids := make([]int64, len(exs))
	err := s.retry(ctx, "append exchanges", once, func() error {
		return s.transactOnce(ctx, func(tx *tx) error {
			var b pgx.Batch
			for _, e := range exs {
				args, err := exchangeInsertArgs(e)
				if err != nil {
					return err
				}
				b.Queue(insertExchangeSQL, args...)
			}
			br := tx.SendBatch(ctx, &b)
			for i := range exs {
				if err := br.QueryRow().Scan(&ids[i]); err != nil {
					br.Close()
					return err
				}
			}
			return br.Close()
		})
	})
	if err != nil {
		return err
	}
	for i, e := range exs {
		e.ID = ids[i]
	}
	return nil
}

const insertExchangeSQL = `INSERT INTO provider_exchanges (
	reference, provider, operation, method, url, request_headers, request_body,
	status_code, response_headers, response_body, error, attempt, started_at, duration_ns
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id`

// exchangeInsertArgs are insertExchangeSQL's arguments for e; its start is
// set to what the column keeps of it.
func exchangeInsertArgs(e *bridge.ProviderExchange) ([]any, error) {
	var ta timeArgs
	startedAt := ta.at("StartedAt", &e.StartedAt)
	return []any{e.Reference, e.Provider, e.Operation, e.Method, e.URL, e.RequestHeaders, []byte(e.RequestBody),
		e.StatusCode, e.ResponseHeaders, []byte(e.ResponseBody), e.Error, e.Attempt, startedAt, int64(e.Duration)}, ta.err
}

// InsertExchange appends ex to the provider log inside the transaction,
// for bridge.WriteChange.
func (tx *tx) InsertExchange(ctx context.Context, ex *bridge.ProviderExchange) error {
	args, err := exchangeInsertArgs(ex)
	if err != nil {
		return err
	}
	return tx.QueryRow(ctx, insertExchangeSQL, args...).Scan(&ex.ID)
}

// Exchanges returns the provider log of a payment in the order it was
// written; the empty reference gives the exchanges that belong to no payment.
func (s *Store) Exchanges(ctx context.Context, reference string) ([]bridge.ProviderExchange, error) {
	return retried(ctx, s, "exchanges", readOnly, func() ([]bridge.ProviderExchange, error) { return s.exchanges(ctx, reference) })
}

func (s *Store) exchanges(ctx context.Context, reference string) ([]bridge.ProviderExchange, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, reference, provider, operation, method, url,
		request_headers, request_body, status_code, response_headers, response_body, error,
		attempt, started_at, duration_ns
		FROM provider_exchanges WHERE reference = $1 ORDER BY id`, reference)
	if err != nil {
		return nil, fmt.Errorf("exchanges of %q: %w", reference, err)
	}
	defer rows.Close()

	exs := []bridge.ProviderExchange{}
	for rows.Next() {
		var (
			ex                        bridge.ProviderExchange
			requestBody, responseBody []byte
			startedAt                 pgtype.Timestamptz
			duration                  int64
		)
		if err := rows.Scan(&ex.ID, &ex.Reference, &ex.Provider, &ex.Operation, &ex.Method, &ex.URL,
			&ex.RequestHeaders, &requestBody, &ex.StatusCode, &ex.ResponseHeaders, &responseBody, &ex.Error,
			&ex.Attempt, &startedAt, &duration); err != nil {
			return nil, fmt.Errorf("exchanges of %q: %w", reference, err)
		}
		ex.RequestBody, ex.ResponseBody = string(requestBody), string(responseBody)
		ex.StartedAt = timeOf(startedAt)
		ex.Duration = time.Duration(duration)
		exs = append(exs, ex)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("exchanges of %q: %w", reference, err)
	}
	return exs, nil
}

// PurgeExchanges deletes up to limit exchanges that started before before,
// oldest first. Rows another replica is purging at the same time are
// skipped, not waited for.
func (s *Store) PurgeExchanges(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, bridge.Errorf(bridge.ECodeInvalid, "", "purge limit %d must be positive", limit)
	}
	if before.IsZero() {
		return 0, nil
	}
	var ta timeArgs
	cutoff := ta.at("before", &before)
	if ta.err != nil {
		return 0, ta.err
	}
	// Repeatable: deleting what is older than a time again deletes the rest.
	return retried(ctx, s, "purge exchanges", repeatable, func() (int, error) {
		tag, err := s.pool.Exec(ctx, `DELETE FROM provider_exchanges WHERE id IN (
			SELECT id FROM provider_exchanges WHERE started_at < $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)`, cutoff, limit)
		if err != nil {
			return 0, fmt.Errorf("purge provider exchanges: %w", err)
		}
		return int(tag.RowsAffected()), nil
	})
}
