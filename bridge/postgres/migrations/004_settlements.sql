-- Settlement lines and payouts imported from the providers' files and APIs,
-- the record of what was imported, and the persisted Report API cursors.
-- Money is bigint minor units. Keys and YYYY-MM-DD days are text in the "C"
-- collation, so that ranges and order are those of the bytes, whatever the
-- database's collation.

CREATE TABLE settlement_lines (
	key           text COLLATE "C" NOT NULL PRIMARY KEY,
	provider      text COLLATE "C" NOT NULL,
	source        text        NOT NULL,
	source_line   integer     NOT NULL,
	kind          text        NOT NULL,
	reference     text        NOT NULL,
	psp_reference text        NOT NULL,
	msn           text        NOT NULL,
	gross         bigint      NOT NULL,
	fee           bigint      NOT NULL,
	currency      text        NOT NULL,
	payout_id     text        NOT NULL,
	ledger_date   text COLLATE "C" NOT NULL,
	open          boolean     NOT NULL,
	imported_at   timestamptz NOT NULL
);

CREATE INDEX settlement_lines_date ON settlement_lines (ledger_date, provider);

CREATE TABLE settlement_payouts (
	provider text COLLATE "C" NOT NULL,
	id       text COLLATE "C" NOT NULL,
	msn      text    NOT NULL,
	date     text COLLATE "C" NOT NULL,
	amount   bigint  NOT NULL,
	currency text    NOT NULL,
	gross    boolean NOT NULL,
	source   text    NOT NULL,
	PRIMARY KEY (provider, id)
);

CREATE INDEX settlement_payouts_date ON settlement_payouts (date);

CREATE TABLE settlement_imports (
	provider    text        NOT NULL,
	hash        text        NOT NULL,
	source      text        NOT NULL,
	lines       integer     NOT NULL,
	warnings    text[]      NOT NULL,
	imported_at timestamptz NOT NULL,
	PRIMARY KEY (provider, hash)
);

CREATE TABLE report_cursors (
	key        text        NOT NULL PRIMARY KEY,
	cursor     text        NOT NULL,
	updated_at timestamptz NOT NULL
);
