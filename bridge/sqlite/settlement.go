package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"vippskco/bridge"
	"vippskco/bridge/reconcile"
)

// ImportSettlement stores an import's lines and payouts in one transaction.
// A known line key is left as it is, except that an open line becomes
// closed when it comes again closed, taking the closed day's gross and fee
// (a fee is often only known once the day closes); a known payout is left
// as it is. An import with a known (provider, hash) changes nothing.
func (s *Store) ImportSettlement(ctx context.Context, imp *bridge.SettlementImport) (bridge.ImportResult, error) {
	var res bridge.ImportResult
	if err := imp.Validate(); err != nil {
		return res, err
	}
	err := s.transact(ctx, func(tx *tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM settlement_imports WHERE provider = ? AND hash = ?`, imp.Provider, imp.Hash).Scan(&one)
		if err == nil {
			res.AlreadyImported = true
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err := insertLines(ctx, tx, imp, &res); err != nil {
			return err
		}
		for _, p := range imp.Payouts {
			r, err := tx.ExecContext(ctx, `INSERT INTO settlement_payouts (provider, id, msn, date, amount, currency, gross, source)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (provider, id) DO NOTHING`,
				p.Provider, p.ID, p.MSN, p.Date, p.Amount, p.Currency, boolInt(p.Gross), p.Source)
			if err != nil {
				return fmt.Errorf("payout %s: %w", p.ID, err)
			}
			if n, _ := r.RowsAffected(); n > 0 {
				res.NewPayouts++
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO settlement_imports (provider, hash, source, lines, warnings, imported_at)
			VALUES (?, ?, ?, ?, ?, ?)`, imp.Provider, imp.Hash, imp.Source, len(imp.Lines), strings.Join(imp.Warnings, "\n"), tx.now.UnixNano())
		return err
	})
	if err != nil {
		return res, fmt.Errorf("import %s: %w", imp.Source, err)
	}
	return res, nil
}

// insertLines inserts the lines with prepared statements: an import can
// hold a million lines.
func insertLines(ctx context.Context, tx *tx, imp *bridge.SettlementImport, res *bridge.ImportResult) error {
	ins, err := tx.PrepareContext(ctx, `INSERT INTO settlement_lines (key, provider, source, source_line, kind, reference,
		psp_reference, msn, gross, fee, currency, payout_id, ledger_date, open, imported_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`)
	if err != nil {
		return err
	}
	defer ins.Close()
	closeOpen, err := tx.PrepareContext(ctx, `UPDATE settlement_lines SET open = 0, gross = ?, fee = ?,
		payout_id = CASE WHEN payout_id = '' THEN ? ELSE payout_id END
		WHERE key = ? AND open = 1`)
	if err != nil {
		return err
	}
	defer closeOpen.Close()
	now := tx.now.UnixNano()
	for _, l := range imp.Lines {
		r, err := ins.ExecContext(ctx, l.Key, l.Provider, l.Source, l.SourceLine, l.Kind, l.Reference, l.PSPReference,
			l.MSN, l.Gross, l.Fee, l.Currency, l.PayoutID, l.LedgerDate, boolInt(l.Open), now)
		if err != nil {
			return fmt.Errorf("line %d: %w", l.SourceLine, err)
		}
		if n, _ := r.RowsAffected(); n > 0 {
			res.NewLines++
			continue
		}
		res.KnownLines++
		if !l.Open {
			r, err := closeOpen.ExecContext(ctx, l.Gross, l.Fee, l.PayoutID, l.Key)
			if err != nil {
				return fmt.Errorf("line %d: %w", l.SourceLine, err)
			}
			if n, _ := r.RowsAffected(); n > 0 {
				res.ClosedLines++
			}
		}
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// SettlementPayouts returns the payouts dated from..to.
func (s *Store) SettlementPayouts(ctx context.Context, from, to string) ([]reconcile.Payout, error) {
	out := []reconcile.Payout{}
	err := s.view(ctx, func(tx *tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT provider, id, msn, date, amount, currency, gross, source
			FROM settlement_payouts WHERE date >= ? AND date <= ? ORDER BY provider, date, id`, from, to)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p reconcile.Payout
			var gross int
			if err := rows.Scan(&p.Provider, &p.ID, &p.MSN, &p.Date, &p.Amount, &p.Currency, &gross, &p.Source); err != nil {
				return err
			}
			p.Gross = gross == 1
			out = append(out, p)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("settlement payouts: %w", err)
	}
	return out, nil
}

// ReportCursor returns the persisted cursor for key, or "".
func (s *Store) ReportCursor(ctx context.Context, key string) (string, error) {
	var c string
	err := s.view(ctx, func(tx *tx) error {
		err := tx.QueryRowContext(ctx, `SELECT cursor FROM report_cursors WHERE key = ?`, key).Scan(&c)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("report cursor %q: %w", key, err)
	}
	return c, nil
}

// SetReportCursor persists the cursor for key.
func (s *Store) SetReportCursor(ctx context.Context, key, cursor string) error {
	err := s.transact(ctx, func(tx *tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO report_cursors (key, cursor, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at`, key, cursor, tx.now.UnixNano())
		return err
	})
	if err != nil {
		return fmt.Errorf("report cursor %q: %w", key, err)
	}
	return nil
}
