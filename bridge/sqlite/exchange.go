package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"vippskco/bridge"
)

// AppendExchange adds ex to the provider log and sets its ID. ex.Reference
// may be empty or name a payment not stored yet: a request is logged whether
// or not it led to a payment.
//
// It returns once the exchange is committed, but the exchanges of callers
// that log at the same time are committed together (bridge.Batcher): every
// Vipps read of the poller is logged, and one commit each cost most of a
// poll.
func (s *Store) AppendExchange(ctx context.Context, ex *bridge.ProviderExchange) error {
	e := *ex
	if err := s.exchangeLog.Add(ctx, &e); err != nil {
		return fmt.Errorf("append %s %s exchange: %w", e.Provider, e.Operation, err)
	}
	*ex = e
	return nil
}

// appendExchanges inserts exchanges in one transaction and sets their IDs;
// they are changed only if it commits.
func (s *Store) appendExchanges(ctx context.Context, exs []*bridge.ProviderExchange) error {
	ids := make([]int64, len(exs))
	err := s.group(ctx, func(tx *tx) error {
		for i, ex := range exs {
			e := *ex
			if err := insertExchange(ctx, tx, &e); err != nil {
				return err
			}
			ids[i] = e.ID
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, ex := range exs {
		ex.ID = ids[i]
	}
	return nil
}

// Exchanges returns the provider log of a payment in the order it was
// written; the empty reference gives the exchanges that belong to no payment.
func (s *Store) Exchanges(ctx context.Context, reference string) ([]bridge.ProviderExchange, error) {
	var exs []bridge.ProviderExchange
	err := s.view(ctx, func(tx *tx) (err error) {
		exs, err = findExchanges(ctx, tx, reference)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("exchanges of %q: %w", reference, err)
	}
	return exs, nil
}

// insertExchange inserts ex and sets its ID.
func insertExchange(ctx context.Context, tx *tx, ex *bridge.ProviderExchange) error {
	startedAt, err := encodeTime("StartedAt", ex.StartedAt)
	if err != nil {
		return err
	}
	return tx.QueryRowContext(ctx, `INSERT INTO provider_exchanges (
		reference, provider, operation, method, url, request_headers, request_body,
		status_code, response_headers, response_body, error, attempt, started_at, duration_ns
	) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		ex.Reference, ex.Provider, ex.Operation, ex.Method, ex.URL, ex.RequestHeaders, ex.RequestBody,
		ex.StatusCode, ex.ResponseHeaders, ex.ResponseBody, ex.Error, ex.Attempt, startedAt, int64(ex.Duration),
	).Scan(&ex.ID)
}

// InsertExchange appends ex to the provider log inside the transaction,
// for bridge.WriteChange.
func (tx *tx) InsertExchange(ctx context.Context, ex *bridge.ProviderExchange) error {
	return insertExchange(ctx, tx, ex)
}

// findExchanges returns the exchanges of a reference by ID.
func findExchanges(ctx context.Context, tx *tx, reference string) ([]bridge.ProviderExchange, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, reference, provider, operation, method, url,
		request_headers, request_body, status_code, response_headers, response_body, error,
		attempt, started_at, duration_ns
		FROM provider_exchanges WHERE reference = ? ORDER BY id`, reference)
	if err != nil {
		return nil, err
	}
	defer rows.Close()

	exs := []bridge.ProviderExchange{}
	for rows.Next() {
		var (
			ex        bridge.ProviderExchange
			startedAt sql.NullInt64
			duration  int64
		)
		if err := rows.Scan(&ex.ID, &ex.Reference, &ex.Provider, &ex.Operation, &ex.Method, &ex.URL,
			&ex.RequestHeaders, &ex.RequestBody, &ex.StatusCode, &ex.ResponseHeaders, &ex.ResponseBody, &ex.Error,
			&ex.Attempt, &startedAt, &duration); err != nil {
			return nil, err
		}
		ex.StartedAt = decodeTime(startedAt)
		ex.Duration = time.Duration(duration)
		exs = append(exs, ex)
	}
	return exs, rows.Err()
}

// PurgeExchanges deletes up to limit exchanges that started before before,
// oldest first. Old rows have the lowest ids, so the walk in id order
// finds them first.
func (s *Store) PurgeExchanges(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, bridge.Errorf(bridge.ECodeInvalid, "", "purge limit %d must be positive", limit)
	}
	cutoff, err := encodeTime("before", before)
	if err != nil {
		return 0, err
	}
	if cutoff == nil {
		return 0, nil
	}
	var n int64
	err = s.group(ctx, func(tx *tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM provider_exchanges WHERE id IN (
			SELECT id FROM provider_exchanges WHERE started_at < ? ORDER BY id LIMIT ?)`, cutoff, limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("purge provider exchanges: %w", err)
	}
	return int(n), nil
}
