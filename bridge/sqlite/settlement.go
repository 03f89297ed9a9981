package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"vippskco/bridge"
	"vippskco/bridge/reconcile"
)

// ImportSettlement stores an import in batches of bridge.SettlementBatch
// lines, each batch in its own short write transaction, so that a million
// lines never hold the single writer (and with it every payment write) for
// longer than one batch. It is all or nothing as readers see it: the
// import is registered in settlement_pending_imports, its new lines are
// tagged with its id, and SettlementLines shows no line whose import_id is
// pending; changes to lines stored before it (an open line closed, a
// missing payout id filled in) and its payouts wait in
// settlement_pending_updates and are applied by the last transaction,
// which also removes the pending mark and so shows every line at once.
//
// An import that fails or is cancelled deletes what it staged before it
// returns. One whose process died (SIGKILL, power loss) is cleared by the
// next import: at once when that runs on the same host and the process is
// gone, else importLease after the dead import's last batch. Until then a
// new import that meets its lines fails with a clear error; nothing
// half-imported is ever shown.
//
// A known line key is left as it is, except that an open line becomes
// closed when it comes again closed, taking the closed day's gross and fee,
// and a line without a payout id takes the one it comes again with; see
// bridge.SettlementStore for payouts. An import with a known (provider,
// hash) changes nothing.
func (s *Store) ImportSettlement(ctx context.Context, imp *bridge.SettlementImport) (bridge.ImportResult, error) {
	if err := imp.Validate(); err != nil {
		return bridge.ImportResult{}, err
	}
	if imp.Stream == nil {
		if err := imp.ValidateHash(); err != nil {
			return bridge.ImportResult{}, err
		}
	}
	res, err := s.importSettlement(ctx, imp)
	if err != nil {
		return bridge.ImportResult{}, fmt.Errorf("import %s: %w", imp.Source, err)
	}
	return res, nil
}

// importLease is how long after its last batch an import whose process
// cannot be checked (another host) is taken for dead and cleared.
const importLease = 2 * time.Minute

// errAlreadyImported ends an import whose hash is known: what it staged is
// discarded.
var errAlreadyImported = errors.New("already imported")

func (s *Store) importSettlement(ctx context.Context, imp *bridge.SettlementImport) (res bridge.ImportResult, err error) {
	if err := s.clearAbandonedImports(ctx); err != nil {
		return res, err
	}
	restore, err := s.tuneWriter(ctx)
	if err != nil {
		return res, err
	}
	defer restore()
	id, err := s.beginImport(ctx, imp)
	if err != nil {
		return res, err
	}
	defer func() {
		if err != nil {
			// A cancelled import still clears what it staged.
			if derr := s.discardImport(context.WithoutCancel(ctx), id); derr != nil {
				err = fmt.Errorf("%w (and clearing what it stored failed: %v; the next import clears it)", err, derr)
			}
			if errors.Is(err, errAlreadyImported) {
				res, err = bridge.ImportResult{AlreadyImported: true}, nil
			}
		}
	}()
	st := &staging{id: id, payouts: bridge.PayoutLines{}}
	batch := make([]reconcile.Line, 0, bridge.SettlementBatch)
	for l, lerr := range imp.AllLines() {
		if lerr != nil {
			return res, lerr
		}
		if err := bridge.ValidateSettlementLine(l); err != nil {
			return res, err
		}
		if batch = append(batch, l); len(batch) == cap(batch) {
			if err := s.stageLines(ctx, st, batch, &res); err != nil {
				return res, err
			}
			batch = batch[:0]
		}
	}
	if err := s.stageLines(ctx, st, batch, &res); err != nil {
		return res, err
	}
	if err := imp.ValidateHash(); err != nil {
		return res, err
	}
	if err := s.completeImport(ctx, st, imp, &res); err != nil {
		return res, err
	}
	return res, nil
}

// staging is what an import in progress knows besides the store.
type staging struct {
	id int64
	// payouts counts the incoming lines of each payout and where they are
	// stored, to recognise a payout read again from another source.
	payouts bridge.PayoutLines
}

// importCacheKiB is the page cache of the writer while it imports: the
// default 2 MiB makes a million-line import re-read and spill index pages
// for every batch, which is most of its time.
const importCacheKiB = 64 << 10

// tuneWriter gives the single writer connection a page cache fit for an
// import, and statement journals in memory (a multi-row insert writes
// one), and returns what restores its own cache size.
func (s *Store) tuneWriter(ctx context.Context) (restore func(), err error) {
	var old int64
	if err := s.write.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&old); err != nil {
		return nil, fmt.Errorf("cache size: %w", err)
	}
	if _, err := s.write.ExecContext(ctx, fmt.Sprintf(`PRAGMA cache_size = -%d`, importCacheKiB)); err != nil {
		return nil, fmt.Errorf("cache size: %w", err)
	}
	if _, err := s.write.ExecContext(ctx, `PRAGMA temp_store = MEMORY`); err != nil {
		return nil, fmt.Errorf("temp store: %w", err)
	}
	return func() {
		// The writer is one connection for the life of the store: give
		// the memory back to the rest of the service.
		_, _ = s.write.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf(`PRAGMA cache_size = %d`, old))
	}, nil
}

// beginImport registers a pending import and returns its id.
func (s *Store) beginImport(ctx context.Context, imp *bridge.SettlementImport) (int64, error) {
	host, _ := os.Hostname()
	var id int64
	err := s.transact(ctx, func(tx *tx) error {
		now := tx.now.UnixNano()
		r, err := tx.ExecContext(ctx, `INSERT INTO settlement_pending_imports (provider, source, host, pid, started_at, touched_at)
			VALUES (?, ?, ?, ?, ?, ?)`, imp.Provider, imp.Source, host, os.Getpid(), now, now)
		if err != nil {
			return err
		}
		id, err = r.LastInsertId()
		return err
	})
	return id, err
}

// clearAbandonedImports discards the pending imports whose process is gone
// or that made no progress for importLease.
func (s *Store) clearAbandonedImports(ctx context.Context) error {
	host, _ := os.Hostname()
	type pending struct {
		id, pid int64
		host    string
		touched int64
	}
	var all []pending
	err := s.view(ctx, func(tx *tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, pid, host, touched_at FROM settlement_pending_imports`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p pending
			if err := rows.Scan(&p.id, &p.pid, &p.host, &p.touched); err != nil {
				return err
			}
			all = append(all, p)
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("pending imports: %w", err)
	}
	stale := s.now().Add(-importLease).UnixNano()
	for _, p := range all {
		dead := p.host == host && int(p.pid) != os.Getpid() && processGone(int(p.pid))
		if dead || p.touched < stale {
			if err := s.discardImport(ctx, p.id); err != nil {
				return fmt.Errorf("clear abandoned import %d: %w", p.id, err)
			}
		}
	}
	return nil
}

// discardImport deletes a pending import's lines, a batch per
// transaction, then its staged updates and its mark.
func (s *Store) discardImport(ctx context.Context, id int64) error {
	for {
		var n int64
		err := s.transact(ctx, func(tx *tx) error {
			r, err := tx.ExecContext(ctx, `DELETE FROM settlement_lines WHERE rowid IN
				(SELECT rowid FROM settlement_lines WHERE import_id = ? LIMIT ?)`, id, bridge.SettlementBatch)
			if err != nil {
				return err
			}
			n, err = r.RowsAffected()
			return err
		})
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	return s.transact(ctx, func(tx *tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM settlement_pending_updates WHERE import_id = ?`, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM settlement_pending_imports WHERE id = ?`, id)
		return err
	})
}

// stageLines stores one batch of an import in one transaction: new keys
// as lines tagged with the import, inserted insertRows at a time, and
// changes to lines stored before it as pending updates. The batch's keys
// are looked up first, lookupKeys at a time, so that each line is known to
// be new or stored before it is written.
func (s *Store) stageLines(ctx context.Context, st *staging, batch []reconcile.Line, res *bridge.ImportResult) error {
	if len(batch) == 0 {
		return nil
	}
	return s.transact(ctx, func(tx *tx) error {
		r, err := tx.ExecContext(ctx, `UPDATE settlement_pending_imports SET touched_at = ? WHERE id = ?`, tx.now.UnixNano(), st.id)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return errors.New("another import took this one for abandoned and cleared it (it made no progress for too long); run it again")
		}
		stored, err := lookupLines(ctx, tx, batch)
		if err != nil {
			return err
		}
		fresh := make([]reconcile.Line, 0, len(batch))
		inBatch := map[string]int{} // key → its place in fresh
		for _, l := range batch {
			if i, ok := inBatch[l.Key]; ok {
				// New in this batch and here again: as storing the lines
				// one by one would.
				res.KnownLines++
				st.payouts.Count(l.PayoutID, "", 1)
				f := &fresh[i]
				switch {
				case f.Open && !l.Open:
					f.Open, f.Gross, f.Fee = false, l.Gross, l.Fee
					f.PayoutID = cmp.Or(f.PayoutID, l.PayoutID)
					res.ClosedLines++
				case f.PayoutID == "" && l.PayoutID != "":
					f.PayoutID = l.PayoutID
				}
				continue
			}
			k, ok := stored[l.Key]
			if !ok {
				inBatch[l.Key] = len(fresh)
				fresh = append(fresh, l)
				res.NewLines++
				st.payouts.Count(l.PayoutID, "", 1)
				continue
			}
			res.KnownLines++
			switch {
			case k.importID == st.id:
				// Stored by this import: not shown yet, so changed at once.
				st.payouts.Count(l.PayoutID, "", 1)
				if err := updateOwnLine(ctx, tx, st.id, l, k.open, k.payoutID, res); err != nil {
					return err
				}
			case k.pendingSource.Valid:
				return bridge.Errorf(bridge.ECodeConflict, "import_in_progress",
					"%s line %d: its key %s is being stored by another import (%s, started %s) that has not finished; "+
						"run this one again once it has (an import whose process is gone is cleared by the next one)",
					l.Source, l.SourceLine, l.Key, k.pendingSource.String, fromNanos(k.pendingSince.Int64).Format(time.RFC3339))
			default:
				st.payouts.Count(l.PayoutID, k.payoutID, 1)
				if err := stageUpdate(ctx, tx, st.id, l, k.open, k.payoutID); err != nil {
					return err
				}
			}
			// What this line did to the stored one, for a later line of
			// the same key in this batch.
			if k.open && !l.Open {
				k.open = false
			}
			k.payoutID = cmp.Or(k.payoutID, l.PayoutID)
			stored[l.Key] = k
		}
		return insertLines(ctx, tx, st.id, fresh)
	})
}

// Statement sizes of a batch: keys looked up, and lines inserted, by one
// statement (SQLite allows 32766 parameters).
const (
	lookupKeys = 500
	insertRows = 100
)

// storedLine is what a batch needs of a line already stored.
type storedLine struct {
	importID      int64
	open          bool
	payoutID      string
	pendingSource sql.NullString // set when the line's import is pending
	pendingSince  sql.NullInt64
}

// lookupLines returns the stored lines of the batch's keys.
func lookupLines(ctx context.Context, tx *tx, batch []reconcile.Line) (map[string]storedLine, error) {
	out := map[string]storedLine{}
	args := make([]any, 0, lookupKeys)
	for start := 0; start < len(batch); start += lookupKeys {
		part := batch[start:min(start+lookupKeys, len(batch))]
		args = args[:0]
		for _, l := range part {
			args = append(args, l.Key)
		}
		rows, err := tx.QueryContext(ctx, `SELECT l.key, l.import_id, l.open, l.payout_id, p.source, p.started_at
			FROM settlement_lines l LEFT JOIN settlement_pending_imports p ON p.id = l.import_id
			WHERE l.key IN (?`+strings.Repeat(", ?", len(part)-1)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("look up lines: %w", err)
		}
		for rows.Next() {
			var key string
			var k storedLine
			var open int
			if err := rows.Scan(&key, &k.importID, &open, &k.payoutID, &k.pendingSource, &k.pendingSince); err != nil {
				rows.Close()
				return nil, fmt.Errorf("look up lines: %w", err)
			}
			k.open = open == 1
			out[key] = k
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("look up lines: %w", err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("look up lines: %w", err)
		}
	}
	return out, nil
}

// insertLines inserts new lines tagged with the import, insertRows to a
// statement. The keys are known to be new: a conflict is an error, never a
// line silently dropped.
func insertLines(ctx context.Context, tx *tx, importID int64, lines []reconcile.Line) error {
	const cols = 16
	stmt := func(n int) string {
		return `INSERT INTO settlement_lines (key, provider, source, source_line, kind, reference,
			psp_reference, msn, gross, fee, currency, payout_id, ledger_date, open, imported_at, import_id) VALUES ` +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?), ", n), ", ")
	}
	var full *sql.Stmt
	if len(lines) >= insertRows {
		var err error
		if full, err = tx.PrepareContext(ctx, stmt(insertRows)); err != nil {
			return err
		}
		defer full.Close()
	}
	now := tx.now.UnixNano()
	args := make([]any, 0, insertRows*cols)
	for start := 0; start < len(lines); start += insertRows {
		part := lines[start:min(start+insertRows, len(lines))]
		args = args[:0]
		for _, l := range part {
			args = append(args, l.Key, l.Provider, l.Source, l.SourceLine, l.Kind, l.Reference, l.PSPReference,
				l.MSN, l.Gross, l.Fee, l.Currency, l.PayoutID, l.LedgerDate, boolInt(l.Open), now, importID)
		}
		var err error
		if len(part) == insertRows {
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, stmt(len(part)), args...)
		}
		if err != nil {
			return fmt.Errorf("lines %d to %d: %w", part[0].SourceLine, part[len(part)-1].SourceLine, err)
		}
	}
	return nil
}

// updateOwnLine applies a line that comes again within one import to the
// line the import stored, as storing the lines one by one would.
func updateOwnLine(ctx context.Context, tx *tx, id int64, l reconcile.Line, open bool, payoutID string, res *bridge.ImportResult) error {
	switch {
	case open && !l.Open:
		if _, err := tx.ExecContext(ctx, `UPDATE settlement_lines SET open = 0, gross = ?, fee = ?,
			payout_id = CASE WHEN payout_id = '' THEN ? ELSE payout_id END WHERE key = ? AND import_id = ?`,
			l.Gross, l.Fee, l.PayoutID, l.Key, id); err != nil {
			return fmt.Errorf("line %d: %w", l.SourceLine, err)
		}
		res.ClosedLines++
	case payoutID == "" && l.PayoutID != "":
		if _, err := tx.ExecContext(ctx, `UPDATE settlement_lines SET payout_id = ? WHERE key = ? AND import_id = ?`,
			l.PayoutID, l.Key, id); err != nil {
			return fmt.Errorf("line %d: %w", l.SourceLine, err)
		}
	}
	return nil
}

// stageUpdate records what a line that comes again changes in the line
// stored before this import; completeImport applies it. The first closed
// line of a key closes it; the first payout id fills a missing one.
func stageUpdate(ctx context.Context, tx *tx, id int64, l reconcile.Line, open bool, payoutID string) error {
	var err error
	switch {
	case open && !l.Open:
		_, err = tx.ExecContext(ctx, `INSERT INTO settlement_pending_updates (import_id, key, close, gross, fee, payout_id)
			VALUES (?, ?, 1, ?, ?, ?) ON CONFLICT (import_id, key) DO UPDATE SET close = 1, gross = excluded.gross, fee = excluded.fee,
			payout_id = CASE WHEN payout_id = '' THEN excluded.payout_id ELSE payout_id END WHERE close = 0`,
			id, l.Key, l.Gross, l.Fee, l.PayoutID)
	case payoutID == "" && l.PayoutID != "":
		_, err = tx.ExecContext(ctx, `INSERT INTO settlement_pending_updates (import_id, key, close, gross, fee, payout_id)
			VALUES (?, ?, 0, 0, 0, ?) ON CONFLICT (import_id, key) DO UPDATE SET
			payout_id = CASE WHEN payout_id = '' THEN excluded.payout_id ELSE payout_id END`,
			id, l.Key, l.PayoutID)
	}
	if err != nil {
		return fmt.Errorf("line %d: %w", l.SourceLine, err)
	}
	return nil
}

// completeImport is an import's last transaction: unless its hash is
// known, it applies the staged updates, stores the payouts, records the
// import and removes the pending mark, which shows its lines.
func (s *Store) completeImport(ctx context.Context, st *staging, imp *bridge.SettlementImport, res *bridge.ImportResult) error {
	return s.transact(ctx, func(tx *tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM settlement_imports WHERE provider = ? AND hash = ?`, imp.Provider, imp.Hash).Scan(&one)
		if err == nil {
			return errAlreadyImported
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		r, err := tx.ExecContext(ctx, `UPDATE settlement_lines SET open = 0, gross = u.gross, fee = u.fee,
				payout_id = CASE WHEN settlement_lines.payout_id = '' THEN u.payout_id ELSE settlement_lines.payout_id END
			FROM settlement_pending_updates u
			WHERE u.import_id = ? AND u.close = 1 AND u.key = settlement_lines.key AND settlement_lines.open = 1`, st.id)
		if err != nil {
			return fmt.Errorf("close lines: %w", err)
		}
		n, _ := r.RowsAffected()
		res.ClosedLines += int(n)
		if _, err := tx.ExecContext(ctx, `UPDATE settlement_lines SET payout_id = u.payout_id
			FROM settlement_pending_updates u
			WHERE u.import_id = ? AND u.payout_id <> '' AND u.key = settlement_lines.key AND settlement_lines.payout_id = ''`, st.id); err != nil {
			return fmt.Errorf("fill payout ids: %w", err)
		}
		for _, p := range imp.Payouts {
			if err := storePayout(ctx, tx, st, p, res); err != nil {
				return fmt.Errorf("payout %s: %w", p.ID, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO settlement_imports (provider, hash, source, lines, warnings, imported_at)
			VALUES (?, ?, ?, ?, ?, ?)`, imp.Provider, imp.Hash, imp.Source, res.NewLines+res.KnownLines,
			strings.Join(imp.Warnings, "\n"), tx.now.UnixNano()); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM settlement_pending_updates WHERE import_id = ?`, st.id); err != nil {
			return err
		}
		r, err = tx.ExecContext(ctx, `DELETE FROM settlement_pending_imports WHERE id = ?`, st.id)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return errors.New("another import took this one for abandoned and cleared it (it made no progress for too long); run it again")
		}
		return nil
	})
}

// storePayout stores a new payout, with SameAs when its lines are all
// another payout's, or moves a known payout's From earlier. A known payout
// without SameAs gets one when this import shows its lines all another's:
// the Report API's payout stored first from a window that held none of its
// lines (a sync from its payout day on), its lines already stored from the
// portal file's payout, is the same money, and must not be counted again.
func storePayout(ctx context.Context, tx *tx, st *staging, p reconcile.Payout, res *bridge.ImportResult) error {
	var from, date, storedSameAs string
	err := tx.QueryRowContext(ctx, `SELECT from_date, date, same_as FROM settlement_payouts WHERE provider = ? AND id = ?`,
		p.Provider, p.ID).Scan(&from, &date, &storedSameAs)
	if err == nil {
		if cmp.Or(p.From, p.Date) < cmp.Or(from, date) {
			if _, err := tx.ExecContext(ctx, `UPDATE settlement_payouts SET from_date = ?, opening = ? WHERE provider = ? AND id = ?`,
				cmp.Or(p.From, p.Date), p.Opening, p.Provider, p.ID); err != nil {
				return err
			}
		}
		if storedSameAs != "" {
			return nil
		}
		sameAs, err := payoutSameAs(ctx, tx, st, p)
		if err != nil || sameAs == "" {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE settlement_payouts SET same_as = ? WHERE provider = ? AND id = ? AND same_as = ''`,
			sameAs, p.Provider, p.ID)
		return err
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	sameAs := p.SameAs
	if sameAs == "" {
		if sameAs, err = payoutSameAs(ctx, tx, st, p); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO settlement_payouts (provider, id, msn, date, amount, currency, gross, source,
			from_date, opening, same_as) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.Provider, p.ID, p.MSN, p.Date, p.Amount, p.Currency, boolInt(p.Gross), p.Source, p.From, p.Opening, sameAs); err != nil {
		return err
	}
	res.NewPayouts++
	return nil
}

// payoutSameAs is the stored payout that p repeats: the one every line of
// p in this import is stored under, when it paid the same amount in the
// same currency (or the payout that one repeats); "" for none.
func payoutSameAs(ctx context.Context, tx *tx, st *staging, p reconcile.Payout) (string, error) {
	other := st.payouts.SameAs(p.ID)
	if other == "" {
		return "", nil
	}
	var otherSameAs string
	err := tx.QueryRowContext(ctx, `SELECT same_as FROM settlement_payouts
		WHERE provider = ? AND id = ? AND currency = ? AND amount = ?`, p.Provider, other, p.Currency, p.Amount).Scan(&otherSameAs)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", nil
	case err != nil:
		return "", err
	}
	return bridge.PayoutRepeats(p.ID, other, otherSameAs), nil
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
		rows, err := tx.QueryContext(ctx, `SELECT provider, id, msn, date, amount, currency, gross, source, from_date, opening, same_as
			FROM settlement_payouts WHERE date >= ? AND date <= ? ORDER BY provider, date, id`, from, to)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p reconcile.Payout
			var gross int
			if err := rows.Scan(&p.Provider, &p.ID, &p.MSN, &p.Date, &p.Amount, &p.Currency, &gross, &p.Source,
				&p.From, &p.Opening, &p.SameAs); err != nil {
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
