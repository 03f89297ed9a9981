-- Settlement lines and payouts imported from the providers' files and APIs,
-- the record of what was imported, and the persisted Report API cursors.
-- Money is in integer minor units.

CREATE TABLE settlement_lines (
	key           TEXT    NOT NULL PRIMARY KEY,
	provider      TEXT    NOT NULL,
	source        TEXT    NOT NULL,
	source_line   INTEGER NOT NULL,
	kind          TEXT    NOT NULL,
	reference     TEXT    NOT NULL,
	psp_reference TEXT    NOT NULL,
	msn           TEXT    NOT NULL,
	gross         INTEGER NOT NULL,
	fee           INTEGER NOT NULL,
	currency      TEXT    NOT NULL,
	payout_id     TEXT    NOT NULL,
	ledger_date   TEXT    NOT NULL,
	open          INTEGER NOT NULL,
	imported_at   INTEGER NOT NULL
) STRICT;

CREATE INDEX settlement_lines_date ON settlement_lines (ledger_date, provider);

CREATE TABLE settlement_payouts (
	provider TEXT    NOT NULL,
	id       TEXT    NOT NULL,
	msn      TEXT    NOT NULL,
	date     TEXT    NOT NULL,
	amount   INTEGER NOT NULL,
	currency TEXT    NOT NULL,
	gross    INTEGER NOT NULL,
	source   TEXT    NOT NULL,
	PRIMARY KEY (provider, id)
) STRICT;

CREATE INDEX settlement_payouts_date ON settlement_payouts (date);

CREATE TABLE settlement_imports (
	provider    TEXT    NOT NULL,
	hash        TEXT    NOT NULL,
	source      TEXT    NOT NULL,
	lines       INTEGER NOT NULL,
	warnings    TEXT    NOT NULL,
	imported_at INTEGER NOT NULL,
	PRIMARY KEY (provider, hash)
) STRICT;

CREATE TABLE report_cursors (
	key        TEXT    NOT NULL PRIMARY KEY,
	cursor     TEXT    NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;

CREATE INDEX payment_events_money ON payment_events (occurred_at) WHERE name IN ('CAPTURED', 'REFUNDED') AND success = 1;
