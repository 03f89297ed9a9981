package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"vippskco/bridge"
	"vippskco/bridge/reconcile"
)

// ImportSettlement stores an import's lines and payouts in one transaction.
// A known line key is left as it is, except that an open line becomes
// closed when it comes again closed, taking the closed day's gross and fee
// (a fee is often only known once the day closes); a known payout is left
// as it is. An import with a known (provider, hash) changes nothing.
//
// The import is recorded first: of two replicas importing one file at once,
// the second waits for the first and then finds it imported. The lines,
// which can be hundreds of thousands, are copied into a temporary table and
// merged with two statements; within one import a key is taken from its
// first line, as if the lines were stored one by one.
func (s *Store) ImportSettlement(ctx context.Context, imp *bridge.SettlementImport) (bridge.ImportResult, error) {
	var res bridge.ImportResult
	if err := imp.Validate(); err != nil {
		return res, err
	}
	err := s.transact(ctx, func(tx *tx) error {
		res = bridge.ImportResult{} // a transaction run again starts from nothing
		warnings := imp.Warnings
		if warnings == nil {
			warnings = []string{}
		}
		tag, err := tx.Exec(ctx, `INSERT INTO settlement_imports (provider, hash, source, lines, warnings, imported_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (provider, hash) DO NOTHING`,
			imp.Provider, imp.Hash, imp.Source, len(imp.Lines), warnings, tx.now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			res.AlreadyImported = true
			return nil
		}
		if err := mergeLines(ctx, tx, imp.Lines, &res); err != nil {
			return err
		}
		return insertPayouts(ctx, tx, imp.Payouts, &res)
	})
	if err != nil {
		return res, fmt.Errorf("import %s: %w", imp.Source, err)
	}
	return res, nil
}

// importLineColumns are the columns of the temporary table the lines are
// copied into; ord is the line's place in the import.
var importLineColumns = []string{"ord", "key", "provider", "source", "source_line", "kind", "reference",
	"psp_reference", "msn", "gross", "fee", "currency", "payout_id", "ledger_date", "open"}

// mergeLines copies lines into a temporary table that lives until the
// transaction ends, inserts the keys not stored yet, and closes the stored
// open lines that come again closed.
func mergeLines(ctx context.Context, tx *tx, lines []reconcile.Line, res *bridge.ImportResult) error {
	if len(lines) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `CREATE TEMPORARY TABLE settlement_import_lines (
		ord         integer NOT NULL,
		key         text COLLATE "C" NOT NULL,
		provider    text    NOT NULL,
		source      text    NOT NULL,
		source_line integer NOT NULL,
		kind        text    NOT NULL,
		reference   text    NOT NULL,
		psp_reference text  NOT NULL,
		msn         text    NOT NULL,
		gross       bigint  NOT NULL,
		fee         bigint  NOT NULL,
		currency    text    NOT NULL,
		payout_id   text    NOT NULL,
		ledger_date text    NOT NULL,
		open        boolean NOT NULL
	) ON COMMIT DROP`); err != nil {
		return fmt.Errorf("create temporary table: %w", err)
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"settlement_import_lines"}, importLineColumns,
		pgx.CopyFromSlice(len(lines), func(i int) ([]any, error) {
			l := &lines[i]
			return []any{i, l.Key, l.Provider, l.Source, l.SourceLine, l.Kind, l.Reference,
				l.PSPReference, l.MSN, l.Gross, l.Fee, l.Currency, l.PayoutID, l.LedgerDate, l.Open}, nil
		}))
	if err != nil {
		return fmt.Errorf("copy lines: %w", err)
	}
	// A key stored by a concurrent import is waited for and then skipped.
	tag, err := tx.Exec(ctx, `INSERT INTO settlement_lines (key, provider, source, source_line, kind, reference,
			psp_reference, msn, gross, fee, currency, payout_id, ledger_date, open, imported_at)
		SELECT DISTINCT ON (key) key, provider, source, source_line, kind, reference,
			psp_reference, msn, gross, fee, currency, payout_id, ledger_date, open, $1::timestamptz
		FROM settlement_import_lines ORDER BY key, ord
		ON CONFLICT (key) DO NOTHING`, tx.now)
	if err != nil {
		return fmt.Errorf("insert lines: %w", err)
	}
	res.NewLines = int(tag.RowsAffected())
	res.KnownLines = len(lines) - res.NewLines
	// The first closed line of a key closes it, keeping a payout already
	// known. A key whose first line was closed was stored closed and is not
	// open; one whose first line was open and a later one closed is closed
	// here, as storing the lines in order would have done.
	tag, err = tx.Exec(ctx, `UPDATE settlement_lines SET open = false, gross = c.gross, fee = c.fee,
			payout_id = CASE WHEN settlement_lines.payout_id = '' THEN c.payout_id ELSE settlement_lines.payout_id END
		FROM (
			SELECT DISTINCT ON (key) key, payout_id, gross, fee FROM settlement_import_lines
			WHERE NOT open ORDER BY key, ord
		) AS c
		WHERE settlement_lines.key = c.key AND settlement_lines.open`)
	if err != nil {
		return fmt.Errorf("close lines: %w", err)
	}
	res.ClosedLines = int(tag.RowsAffected())
	return nil
}

// insertPayouts stores the payouts not known yet, in one round trip.
func insertPayouts(ctx context.Context, tx *tx, payouts []reconcile.Payout, res *bridge.ImportResult) error {
	if len(payouts) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, p := range payouts {
		b.Queue(`INSERT INTO settlement_payouts (provider, id, msn, date, amount, currency, gross, source)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (provider, id) DO NOTHING`,
			p.Provider, p.ID, p.MSN, p.Date, p.Amount, p.Currency, p.Gross, p.Source)
	}
	br := tx.SendBatch(ctx, b)
	for _, p := range payouts {
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return fmt.Errorf("payout %s: %w", p.ID, err)
		}
		res.NewPayouts += int(tag.RowsAffected())
	}
	return br.Close()
}

// SettlementPayouts returns the payouts dated from..to.
func (s *Store) SettlementPayouts(ctx context.Context, from, to string) ([]reconcile.Payout, error) {
	return retried(ctx, s, "settlement payouts", readOnly, func() ([]reconcile.Payout, error) { return s.settlementPayouts(ctx, from, to) })
}

func (s *Store) settlementPayouts(ctx context.Context, from, to string) ([]reconcile.Payout, error) {
	rows, err := s.pool.Query(ctx, `SELECT provider, id, msn, date, amount, currency, gross, source
		FROM settlement_payouts WHERE date >= $1 AND date <= $2 ORDER BY provider, date, id`, from, to)
	if err != nil {
		return nil, fmt.Errorf("settlement payouts: %w", err)
	}
	defer rows.Close()
	out := []reconcile.Payout{}
	for rows.Next() {
		var p reconcile.Payout
		if err := rows.Scan(&p.Provider, &p.ID, &p.MSN, &p.Date, &p.Amount, &p.Currency, &p.Gross, &p.Source); err != nil {
			return nil, fmt.Errorf("settlement payouts: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("settlement payouts: %w", err)
	}
	return out, nil
}

// ReportCursor returns the persisted cursor for key, or "".
func (s *Store) ReportCursor(ctx context.Context, key string) (string, error) {
	return retried(ctx, s, "report cursor", readOnly, func() (string, error) { return s.reportCursor(ctx, key) })
}

func (s *Store) reportCursor(ctx context.Context, key string) (string, error) {
	var c string
	err := s.pool.QueryRow(ctx, `SELECT cursor FROM report_cursors WHERE key = $1`, key).Scan(&c)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("report cursor %q: %w", key, err)
	}
	return c, nil
}

// SetReportCursor persists the cursor for key.
func (s *Store) SetReportCursor(ctx context.Context, key, cursor string) error {
	now := s.clock()
	// Repeatable: the upsert writes the same cursor again.
	if err := s.retry(ctx, "set report cursor", repeatable, func() error {
		_, err := s.pool.Exec(ctx, `INSERT INTO report_cursors (key, cursor, updated_at) VALUES ($1, $2, $3)
			ON CONFLICT (key) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at`,
			key, cursor, now)
		return err
	}); err != nil {
		return fmt.Errorf("report cursor %q: %w", key, err)
	}
	return nil
}
