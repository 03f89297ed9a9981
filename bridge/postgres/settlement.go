package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"vippskco/bridge"
	"vippskco/bridge/reconcile"
)

// ImportSettlement stores an import in one transaction, draining its lines
// in batches of bridge.SettlementBatch: each batch is copied (COPY) into a
// temporary table and merged with a few statements, so memory is bounded
// by a batch whatever the size of the file. PostgreSQL's MVCC lets the
// shopper path write while the transaction runs; readers see the import
// only once it commits, and an import that fails, is cancelled or whose
// process dies leaves nothing.
//
// A known line key is left as it is, except that an open line becomes
// closed when it comes again closed, taking the closed day's gross and fee,
// and a line without a payout id takes the one it comes again with; see
// bridge.SettlementStore for payouts. Within one import a key is taken from
// its first line, as if the lines were stored one by one. An import with a
// known (provider, hash) changes nothing: it is recorded last, when the
// hash of a streamed file is known; of two replicas importing one file at
// once, the second waits for the first at its lines or at that record, and
// then finds it imported.
//
// A transaction whose connection broke is run again only while no line of
// a Stream was read: a stream cannot be replayed, so such an import fails
// with ReasonStoreUnavailable and a message saying to run it again, which
// is safe since importing is idempotent.
func (s *Store) ImportSettlement(ctx context.Context, imp *bridge.SettlementImport) (bridge.ImportResult, error) {
	var res bridge.ImportResult
	if err := imp.Validate(); err != nil {
		return res, err
	}
	if imp.Stream == nil {
		if err := imp.ValidateHash(); err != nil {
			return res, err
		}
	}
	var (
		streamErr error
		started   bool
	)
	err := s.transact(ctx, func(tx *tx) error {
		if started && imp.Stream != nil {
			return &bridge.Error{Code: bridge.ECodeUnavailable, Reason: bridge.ReasonStoreUnavailable,
				Message: "the database connection broke while the import was being stored; nothing of it was kept, " +
					"and a file being read cannot be read again here: run the import again (importing is idempotent)"}
		}
		started = true
		res = bridge.ImportResult{} // a transaction run again starts from nothing
		m := &merger{payouts: bridge.PayoutLines{}}
		batch := make([]reconcile.Line, 0, bridge.SettlementBatch)
		for l, err := range imp.AllLines() {
			if err == nil {
				err = bridge.ValidateSettlementLine(l)
			}
			if err != nil {
				streamErr = err
				return errStreamFailed
			}
			if batch = append(batch, l); len(batch) == cap(batch) {
				if err := m.merge(ctx, tx, batch, &res); err != nil {
					return err
				}
				batch = batch[:0]
			}
		}
		if err := m.merge(ctx, tx, batch, &res); err != nil {
			return err
		}
		if err := imp.ValidateHash(); err != nil {
			streamErr = err
			return errStreamFailed
		}
		warnings := imp.Warnings
		if warnings == nil {
			warnings = []string{}
		}
		tag, err := tx.Exec(ctx, `INSERT INTO settlement_imports (provider, hash, source, lines, warnings, imported_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (provider, hash) DO NOTHING`,
			imp.Provider, imp.Hash, imp.Source, res.NewLines+res.KnownLines, warnings, tx.now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errAlreadyImported
		}
		return insertPayouts(ctx, tx, imp.Payouts, m, &res)
	})
	switch {
	case errors.Is(err, errAlreadyImported):
		return bridge.ImportResult{AlreadyImported: true}, nil
	case errors.Is(err, errStreamFailed):
		err = streamErr
	}
	if err != nil {
		return bridge.ImportResult{}, fmt.Errorf("import %s: %w", imp.Source, err)
	}
	return res, nil
}

var (
	// errAlreadyImported rolls back an import whose hash is known.
	errAlreadyImported = errors.New("already imported")
	// errStreamFailed rolls back an import whose lines failed; the
	// failure itself is kept apart, so that a read error of the file is
	// never taken for a broken database connection and retried.
	errStreamFailed = errors.New("the import's lines failed")
)

// importLineColumns are the columns of the temporary table the lines are
// copied into; ord is the line's place in the import.
var importLineColumns = []string{"ord", "key", "provider", "source", "source_line", "kind", "reference",
	"psp_reference", "msn", "gross", "fee", "currency", "payout_id", "ledger_date", "open"}

// merger merges an import's batches of lines into settlement_lines.
type merger struct {
	created bool // the temporary table exists
	ord     int  // lines merged so far
	// payouts counts the incoming lines of each payout and where they are
	// stored, to recognise a payout read again from another source.
	payouts bridge.PayoutLines
}

// merge copies a batch into a temporary table that lives until the
// transaction ends, counts where its lines of each payout are stored,
// inserts the keys not stored yet, closes the stored open lines that come
// again closed, and fills in missing payout ids.
func (m *merger) merge(ctx context.Context, tx *tx, lines []reconcile.Line, res *bridge.ImportResult) error {
	if len(lines) == 0 {
		return nil
	}
	if !m.created {
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
		m.created = true
	} else if _, err := tx.Exec(ctx, `TRUNCATE settlement_import_lines`); err != nil {
		return fmt.Errorf("empty temporary table: %w", err)
	}
	base := m.ord
	m.ord += len(lines)
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"settlement_import_lines"}, importLineColumns,
		pgx.CopyFromSlice(len(lines), func(i int) ([]any, error) {
			l := &lines[i]
			return []any{base + i, l.Key, l.Provider, l.Source, l.SourceLine, l.Kind, l.Reference,
				l.PSPReference, l.MSN, l.Gross, l.Fee, l.Currency, l.PayoutID, l.LedgerDate, l.Open}, nil
		}))
	if err != nil {
		return fmt.Errorf("copy lines: %w", err)
	}
	if err := m.count(ctx, tx); err != nil {
		return err
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
	res.NewLines += int(tag.RowsAffected())
	res.KnownLines += len(lines) - int(tag.RowsAffected())
	if int(tag.RowsAffected()) == len(lines) {
		// Every line was a key of its own and not stored yet, so each is
		// stored as it came: none is open and comes again closed, none
		// lacks a payout id and comes again with one. The two statements
		// below would change nothing, but each looks up every line.
		return nil
	}
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
	res.ClosedLines += int(tag.RowsAffected())
	if _, err := tx.Exec(ctx, `UPDATE settlement_lines SET payout_id = c.payout_id
		FROM (
			SELECT DISTINCT ON (key) key, payout_id FROM settlement_import_lines
			WHERE payout_id <> '' ORDER BY key, ord
		) AS c
		WHERE settlement_lines.key = c.key AND settlement_lines.payout_id = ''`); err != nil {
		return fmt.Errorf("fill payout ids: %w", err)
	}
	return nil
}

// count adds the batch's lines with a payout id to m.payouts, before the
// batch is inserted: which are stored already, under which payout.
func (m *merger) count(ctx context.Context, tx *tx) error {
	// The stored payout id is looked up line by line in the primary key:
	// settlement_lines has no statistics yet while an import fills it in
	// its transaction, so a join was planned as a hash join that read the
	// whole table for every batch, making an import quadratic in its lines.
	rows, err := tx.Query(ctx, `SELECT t.payout_id,
			coalesce((SELECT s.payout_id FROM settlement_lines s WHERE s.key = t.key), ''), count(*)
		FROM settlement_import_lines t
		WHERE t.payout_id <> '' GROUP BY 1, 2`)
	if err != nil {
		return fmt.Errorf("count payout lines: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var incoming, stored string
		var n int
		if err := rows.Scan(&incoming, &stored, &n); err != nil {
			return fmt.Errorf("count payout lines: %w", err)
		}
		m.payouts.Count(incoming, stored, n)
	}
	return rows.Err()
}

// insertPayouts stores the payouts not known yet, with SameAs when their
// lines are all another payout's, and moves a known payout's From earlier
// when it comes again with an earlier one. A known payout without SameAs
// gets one when this import shows its lines all another's: the Report
// API's payout stored first from a window that held none of its lines,
// its lines already stored from the portal file's payout, is the same
// money, and must not be counted again.
func insertPayouts(ctx context.Context, tx *tx, payouts []reconcile.Payout, m *merger, res *bridge.ImportResult) error {
	for _, p := range payouts {
		var from, date, storedSameAs string
		err := tx.QueryRow(ctx, `SELECT from_date, date, same_as FROM settlement_payouts WHERE provider = $1 AND id = $2`,
			p.Provider, p.ID).Scan(&from, &date, &storedSameAs)
		if err == nil {
			if cmp.Or(p.From, p.Date) < cmp.Or(from, date) {
				if _, err := tx.Exec(ctx, `UPDATE settlement_payouts SET from_date = $1, opening = $2 WHERE provider = $3 AND id = $4`,
					cmp.Or(p.From, p.Date), p.Opening, p.Provider, p.ID); err != nil {
					return fmt.Errorf("payout %s: %w", p.ID, err)
				}
			}
			if storedSameAs != "" {
				continue
			}
			sameAs, err := payoutSameAs(ctx, tx, m, p)
			if err != nil {
				return fmt.Errorf("payout %s: %w", p.ID, err)
			}
			if sameAs != "" {
				if _, err := tx.Exec(ctx, `UPDATE settlement_payouts SET same_as = $1 WHERE provider = $2 AND id = $3 AND same_as = ''`,
					sameAs, p.Provider, p.ID); err != nil {
					return fmt.Errorf("payout %s: %w", p.ID, err)
				}
			}
			continue
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("payout %s: %w", p.ID, err)
		}
		sameAs := p.SameAs
		if sameAs == "" {
			if sameAs, err = payoutSameAs(ctx, tx, m, p); err != nil {
				return fmt.Errorf("payout %s: %w", p.ID, err)
			}
		}
		// A concurrent import of the same payout is waited for and then
		// skipped.
		tag, err := tx.Exec(ctx, `INSERT INTO settlement_payouts (provider, id, msn, date, amount, currency, gross, source,
				from_date, opening, same_as)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (provider, id) DO NOTHING`,
			p.Provider, p.ID, p.MSN, p.Date, p.Amount, p.Currency, p.Gross, p.Source, p.From, p.Opening, sameAs)
		if err != nil {
			return fmt.Errorf("payout %s: %w", p.ID, err)
		}
		res.NewPayouts += int(tag.RowsAffected())
	}
	return nil
}

// payoutSameAs is the stored payout that p repeats: the one every line of
// p in this import is stored under, when it paid the same amount in the
// same currency (or the payout that one repeats); "" for none.
func payoutSameAs(ctx context.Context, tx *tx, m *merger, p reconcile.Payout) (string, error) {
	other := m.payouts.SameAs(p.ID)
	if other == "" {
		return "", nil
	}
	var otherSameAs string
	err := tx.QueryRow(ctx, `SELECT same_as FROM settlement_payouts
		WHERE provider = $1 AND id = $2 AND currency = $3 AND amount = $4`, p.Provider, other, p.Currency, p.Amount).Scan(&otherSameAs)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", nil
	case err != nil:
		return "", err
	}
	return bridge.PayoutRepeats(p.ID, other, otherSameAs), nil
}

// SettlementPayouts returns the payouts dated from..to.
func (s *Store) SettlementPayouts(ctx context.Context, from, to string) ([]reconcile.Payout, error) {
	return retried(ctx, s, "settlement payouts", readOnly, func() ([]reconcile.Payout, error) { return s.settlementPayouts(ctx, from, to) })
}

func (s *Store) settlementPayouts(ctx context.Context, from, to string) ([]reconcile.Payout, error) {
	rows, err := s.pool.Query(ctx, `SELECT provider, id, msn, date, amount, currency, gross, source, from_date, opening, same_as
		FROM settlement_payouts WHERE date >= $1 AND date <= $2 ORDER BY provider, date, id`, from, to)
	if err != nil {
		return nil, fmt.Errorf("settlement payouts: %w", err)
	}
	defer rows.Close()
	out := []reconcile.Payout{}
	for rows.Next() {
		var p reconcile.Payout
		if err := rows.Scan(&p.Provider, &p.ID, &p.MSN, &p.Date, &p.Amount, &p.Currency, &p.Gross, &p.Source,
			&p.From, &p.Opening, &p.SameAs); err != nil {
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
