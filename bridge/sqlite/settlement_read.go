package sqlite

import (
	"context"
	"fmt"
	"time"

	"vippskco/bridge"
	"vippskco/bridge/reconcile"
)

// linesSQL selects settlement lines: those of the ledger days ?1..?2
// (part 0), or those of days before (part -1) or after (part 1) the day
// ?1 in a payout of the provider dated ?2..?3; read in this
// order, the parts are in ledger date order. A condition every line read
// must meet (say, that its import is complete) is one more AND here. Each part
// is a range of the index on (ledger_date, provider), read without a
// sort: ties are in rowid order, the order lines were stored in, which
// keeps a file's settlements (a unit's payout of a day) together, so the
// reconciliation gets runs of lines that share their attributes.
// importComplete is the condition a line's import has finished: an import
// stores its lines in short transactions, and they are not shown until its
// last one removes it from settlement_pending_imports.
func importComplete(table string) string {
	return table + `.import_id NOT IN (SELECT id FROM settlement_pending_imports)`
}

func linesSQL(part int) string {
	where := `l.ledger_date >= ?1 AND l.ledger_date <= ?2`
	if part != 0 {
		op := "<"
		if part > 0 {
			op = ">"
		}
		where = `l.ledger_date ` + op + ` ?1 AND l.payout_id <> ''
			AND EXISTS (SELECT 1 FROM settlement_payouts p
				WHERE p.provider = l.provider AND p.id = l.payout_id AND p.date >= ?2 AND p.date <= ?3)`
	}
	return `SELECT l.key, l.provider, l.source, l.source_line, l.kind, l.reference, l.psp_reference, l.msn,
		l.gross, l.fee, l.currency, l.payout_id, l.ledger_date, l.open
		FROM settlement_lines l
		WHERE ` + where + ` AND ` + importComplete("l") + `
		ORDER BY l.ledger_date, l.provider, l.rowid`
}

// SettlementLines returns the lines of the ledger days from..to, ordered
// by provider, ledger date and key, as one slice: for a few lines. A
// reconciliation reads with EachSettlementLine.
func (s *Store) SettlementLines(ctx context.Context, from, to string) ([]reconcile.Line, error) {
	out := []reconcile.Line{}
	err := s.view(ctx, func(tx *tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT key, provider, source, source_line, kind, reference, psp_reference, msn,
			gross, fee, currency, payout_id, ledger_date, open
			FROM settlement_lines WHERE ledger_date >= ? AND ledger_date <= ? AND `+importComplete("settlement_lines")+`
			ORDER BY provider, ledger_date, key`, from, to)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var l reconcile.Line
			var open int
			if err := rows.Scan(&l.Key, &l.Provider, &l.Source, &l.SourceLine, &l.Kind, &l.Reference, &l.PSPReference, &l.MSN,
				&l.Gross, &l.Fee, &l.Currency, &l.PayoutID, &l.LedgerDate, &open); err != nil {
				return err
			}
			l.Open = open == 1
			out = append(out, l)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("settlement lines: %w", err)
	}
	return out, nil
}

// EachSettlementLine calls fn with each line q selects, in one read
// transaction, reusing one Line: the lines of q's days by ledger date and
// provider, then the lines of other days of q's payouts, likewise.
func (s *Store) EachSettlementLine(ctx context.Context, q bridge.SettlementLineQuery, fn func(*reconcile.Line) error) error {
	if err := q.Validate(); err != nil {
		return err
	}
	err := s.view(ctx, func(tx *tx) error {
		var l reconcile.Line
		var open int
		for _, part := range []int{-1, 0, 1} {
			if part != 0 && q.PayoutsFrom == "" {
				continue
			}
			args := []any{q.From, q.To}
			switch part {
			case -1:
				args = []any{q.From, q.PayoutsFrom, q.PayoutsTo}
			case 1:
				args = []any{q.To, q.PayoutsFrom, q.PayoutsTo}
			}
			rows, err := tx.QueryContext(ctx, linesSQL(part), args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				if err := rows.Scan(&l.Key, &l.Provider, &l.Source, &l.SourceLine, &l.Kind, &l.Reference, &l.PSPReference, &l.MSN,
					&l.Gross, &l.Fee, &l.Currency, &l.PayoutID, &l.LedgerDate, &open); err != nil {
					rows.Close()
					return err
				}
				l.Open = open == 1
				if err := fn(&l); err != nil {
					rows.Close()
					return callerError{err}
				}
			}
			if err := rows.Close(); err != nil {
				return err
			}
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if ce, ok := err.(callerError); ok {
		return ce.err
	}
	if err != nil {
		return fmt.Errorf("settlement lines: %w", err)
	}
	return nil
}

// callerError carries an error of a caller's function out of a read
// unwrapped: it is the caller's, not the store's.
type callerError struct{ err error }

func (e callerError) Error() string { return e.err.Error() }

// movementsSQL selects the successful captures and refunds of our payments
// in [?1, ?2); its conditions repeat the partial index
// payment_events_money's, so that the index serves it.
const movementsSQL = `FROM payment_events e JOIN payments p ON p.reference = e.reference
	WHERE e.name IN ('CAPTURED', 'REFUNDED') AND e.success = 1 AND e.occurred_at >= ?1 AND e.occurred_at < ?2`

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
// [from, to), by time, in one read transaction, reusing one Movement.
func (s *Store) EachMovement(ctx context.Context, from, to time.Time, fn func(*bridge.Movement) error) error {
	f, t, err := movementRange(from, to)
	if err != nil {
		return err
	}
	err = s.view(ctx, func(tx *tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT e.reference, p.kco_order_id, p.unit, e.name, e.psp_reference,
			e.amount_value, e.amount_currency, e.occurred_at `+movementsSQL+` ORDER BY e.occurred_at, e.id`, f, t)
		if err != nil {
			return err
		}
		defer rows.Close()
		var m bridge.Movement
		var name string
		var at int64
		for rows.Next() {
			if err := rows.Scan(&m.Reference, &m.KCOOrderID, &m.Unit, &name, &m.PSPReference, &m.Amount, &m.Currency, &at); err != nil {
				return err
			}
			m.Kind = bridge.MovementKind(name)
			m.At = fromNanos(at)
			if err := fn(&m); err != nil {
				return callerError{err}
			}
		}
		return rows.Err()
	})
	if ce, ok := err.(callerError); ok {
		return ce.err
	}
	if err != nil {
		return fmt.Errorf("movements: %w", err)
	}
	return nil
}

// CountMovements is how many movements EachMovement gives for [from, to).
func (s *Store) CountMovements(ctx context.Context, from, to time.Time) (int, error) {
	f, t, err := movementRange(from, to)
	if err != nil {
		return 0, err
	}
	var n int
	err = s.view(ctx, func(tx *tx) error {
		return tx.QueryRowContext(ctx, `SELECT count(*) `+movementsSQL, f, t).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("count movements: %w", err)
	}
	return n, nil
}

// movementRange is [from, to) as stored instants.
func movementRange(from, to time.Time) (int64, int64, error) {
	f, err := nanos("from", from)
	if err != nil {
		return 0, 0, err
	}
	t, err := nanos("to", to)
	if err != nil {
		return 0, 0, err
	}
	return f, t, nil
}
