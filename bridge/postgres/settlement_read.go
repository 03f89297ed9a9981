package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"vippskco/bridge"
	"vippskco/bridge/reconcile"
)

// linesSQL selects settlement lines: those of the ledger days $1..$2
// (part 0), or those of days before (part -1) or after (part 1) the day
// $1 in a payout of the provider dated $2..$3; read in this
// order, the parts are in ledger date order. A condition every line read
// must meet (say, that its import is complete) is one more AND here. The
// payouts are an array computed once, so that no plan (not even one made
// on the statistics of an empty table, before a large import is
// analysed) looks the lines of each payout up one by one: there is no
// index on payout_id. Within a day and provider the lines come in the
// order the index gives, which keeps an import's lines together, so the
// reconciliation gets runs of lines that share their attributes.
func linesSQL(part int) string {
	where := `l.ledger_date >= $1 AND l.ledger_date <= $2`
	if part != 0 {
		op := "<"
		if part > 0 {
			op = ">"
		}
		where = `l.ledger_date ` + op + ` $1 AND l.payout_id <> ''
			AND l.provider || ' ' || l.payout_id = ANY (ARRAY(SELECT p.provider || ' ' || p.id FROM settlement_payouts p
				WHERE p.date >= $2 AND p.date <= $3))`
	}
	return `SELECT l.key, l.provider, l.source, l.source_line, l.kind, l.reference, l.psp_reference, l.msn,
		l.gross, l.fee, l.currency, l.payout_id, l.ledger_date, l.open
		FROM settlement_lines l
		WHERE ` + where + `
		ORDER BY l.ledger_date, l.provider`
}

// SettlementLines returns the lines of the ledger days from..to, ordered
// by provider, ledger date and key, as one slice: for a few lines. A
// reconciliation reads with EachSettlementLine.
func (s *Store) SettlementLines(ctx context.Context, from, to string) ([]reconcile.Line, error) {
	return retried(ctx, s, "settlement lines", readOnly, func() ([]reconcile.Line, error) { return s.settlementLines(ctx, from, to) })
}

func (s *Store) settlementLines(ctx context.Context, from, to string) ([]reconcile.Line, error) {
	rows, err := s.pool.Query(ctx, `SELECT key, provider, source, source_line, kind, reference, psp_reference, msn,
		gross, fee, currency, payout_id, ledger_date, open
		FROM settlement_lines WHERE ledger_date >= $1 AND ledger_date <= $2 ORDER BY provider, ledger_date, key`, from, to)
	if err != nil {
		return nil, fmt.Errorf("settlement lines: %w", err)
	}
	defer rows.Close()
	out := []reconcile.Line{}
	for rows.Next() {
		var (
			l reconcile.Line
		)
		if err := rows.Scan(&l.Key, &l.Provider, &l.Source, &l.SourceLine, &l.Kind, &l.Reference, &l.PSPReference, &l.MSN,
			&l.Gross, &l.Fee, &l.Currency, &l.PayoutID, &l.LedgerDate, &l.Open); err != nil {
			return nil, fmt.Errorf("settlement lines: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("settlement lines: %w", err)
	}
	return out, nil
}

// EachSettlementLine calls fn with each line q selects, reusing one Line:
// the lines of q's days by ledger date, provider, MSN, payout and key,
// then the lines of other days of q's payouts, likewise.
// A connection failure before the first line is retried; after it, the
// read ends with an error (fn has seen part of the lines).
func (s *Store) EachSettlementLine(ctx context.Context, q bridge.SettlementLineQuery, fn func(*reconcile.Line) error) error {
	if err := q.Validate(); err != nil {
		return err
	}
	var l reconcile.Line
	row := func(rows pgx.Rows) error {
		if err := rows.Scan(&l.Key, &l.Provider, &l.Source, &l.SourceLine, &l.Kind, &l.Reference, &l.PSPReference, &l.MSN,
			&l.Gross, &l.Fee, &l.Currency, &l.PayoutID, &l.LedgerDate, &l.Open); err != nil {
			return err
		}
		return fn(&l)
	}
	// Three reads, not one snapshot: they part the lines by ledger date,
	// which a stored line never changes, so none is read twice.
	for _, part := range []int{-1, 0, 1} {
		if part != 0 && q.PayoutsFrom == "" {
			continue
		}
		err := s.stream(ctx, "settlement lines", func(ctx context.Context) (pgx.Rows, error) {
			switch part {
			case -1:
				return s.pool.Query(ctx, linesSQL(part), q.From, q.PayoutsFrom, q.PayoutsTo)
			case 1:
				return s.pool.Query(ctx, linesSQL(part), q.To, q.PayoutsFrom, q.PayoutsTo)
			}
			return s.pool.Query(ctx, linesSQL(part), q.From, q.To)
		}, row)
		if err != nil {
			return err
		}
	}
	return nil
}

// stream runs a query and calls row for each of its rows. It retries the
// query while no row has been handed over; once one has, a failure is an
// error of the read (its caller has seen part of the rows). An error
// from row stops the read and is returned as it is.
func (s *Store) stream(ctx context.Context, what string, query func(context.Context) (pgx.Rows, error), row func(pgx.Rows) error) error {
	var delivered bool
	var rowErr error
	err := s.retry(ctx, what, readOnly, func() error {
		rows, err := query(ctx)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			delivered = true
			if err := row(rows); err != nil {
				rowErr = err
				return nil
			}
		}
		err = rows.Err()
		if err != nil && delivered {
			return &bridge.Error{Code: bridge.ECodeUnavailable, Reason: bridge.ReasonStoreUnavailable,
				Message: "the database connection broke during a read; try again in a moment", Err: err}
		}
		return err
	})
	if rowErr != nil {
		return rowErr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// movementsSQL selects the successful captures and refunds of our payments
// in [$1, $2); its conditions repeat the partial index
// payment_events_money's, so that the index serves it.
const movementsSQL = `FROM payment_events e JOIN payments p ON p.reference = e.reference
	WHERE e.name IN ('CAPTURED', 'REFUNDED') AND e.success AND e.occurred_at >= $1 AND e.occurred_at < $2`

// Movements returns the successful captures and refunds in [from, to).
func (s *Store) Movements(ctx context.Context, from, to time.Time) ([]bridge.Movement, error) {
	out := []bridge.Movement{}
	err := s.EachMovement(ctx, from, to, func(m *bridge.Movement) error {
		out = append(out, *m)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// EachMovement calls fn with each successful capture and refund in
// [from, to), by time, reusing one Movement; failures as EachSettlementLine.
func (s *Store) EachMovement(ctx context.Context, from, to time.Time, fn func(*bridge.Movement) error) error {
	var ta timeArgs
	f, t := ta.instant("from", &from), ta.instant("to", &to)
	if ta.err != nil {
		return ta.err
	}
	var (
		m    bridge.Movement
		name string
		at   pgtype.Timestamptz
	)
	return s.stream(ctx, "movements", func(ctx context.Context) (pgx.Rows, error) {
		return s.pool.Query(ctx, `SELECT e.reference, p.kco_order_id, p.unit, e.name, e.psp_reference,
			e.amount_value, e.amount_currency, e.occurred_at `+movementsSQL+` ORDER BY e.occurred_at, e.id`, f, t)
	}, func(rows pgx.Rows) error {
		if err := rows.Scan(&m.Reference, &m.KCOOrderID, &m.Unit, &name, &m.PSPReference, &m.Amount, &m.Currency, &at); err != nil {
			return err
		}
		m.Kind = bridge.MovementKind(name)
		m.At = timeOf(at)
		return fn(&m)
	})
}

// CountMovements is how many movements EachMovement gives for [from, to).
func (s *Store) CountMovements(ctx context.Context, from, to time.Time) (int, error) {
	var ta timeArgs
	f, t := ta.instant("from", &from), ta.instant("to", &to)
	if ta.err != nil {
		return 0, ta.err
	}
	return retried(ctx, s, "count movements", readOnly, func() (int, error) {
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) `+movementsSQL, f, t).Scan(&n); err != nil {
			return 0, fmt.Errorf("count movements: %w", err)
		}
		return n, nil
	})
}
