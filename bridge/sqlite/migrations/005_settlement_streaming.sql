-- Payouts say which ledger dates they cover, the balance carried into
-- them, and whether they are a payout already stored read again from
-- another source (the Report API and a portal file).
ALTER TABLE settlement_payouts ADD COLUMN from_date TEXT    NOT NULL DEFAULT '';
ALTER TABLE settlement_payouts ADD COLUMN opening   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE settlement_payouts ADD COLUMN same_as   TEXT    NOT NULL DEFAULT '';

-- An import is stored in batches, each in its own short write transaction,
-- so that a million lines never hold the single writer for long. Its lines
-- are tagged with its id and stay invisible to readers while the id is in
-- settlement_pending_imports; the import's last transaction deletes that
-- row, which shows all its lines at once. Ids are never reused
-- (AUTOINCREMENT), so the lines of a completed import stay visible. Lines
-- stored before this migration have import_id 0.
ALTER TABLE settlement_lines ADD COLUMN import_id INTEGER NOT NULL DEFAULT 0;
CREATE INDEX settlement_lines_import ON settlement_lines (import_id);

CREATE TABLE settlement_pending_imports (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	provider   TEXT    NOT NULL,
	source     TEXT    NOT NULL,
	host       TEXT    NOT NULL,
	pid        INTEGER NOT NULL,
	started_at INTEGER NOT NULL,
	touched_at INTEGER NOT NULL
) STRICT;

-- Changes a pending import makes to lines stored before it (an open line
-- closed, a missing payout id filled in), applied when it completes.
CREATE TABLE settlement_pending_updates (
	import_id INTEGER NOT NULL,
	key       TEXT    NOT NULL,
	close     INTEGER NOT NULL,
	gross     INTEGER NOT NULL,
	fee       INTEGER NOT NULL,
	payout_id TEXT    NOT NULL,
	PRIMARY KEY (import_id, key)
) STRICT;
