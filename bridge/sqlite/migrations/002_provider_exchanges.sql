-- The provider log. reference has no foreign key: a request can be made, and
-- must be logged, before its payment is stored or when it belongs to none.
-- started_at is NULL for an exchange logged without a start time.

CREATE TABLE provider_exchanges (
	id               INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	reference        TEXT    NOT NULL,
	provider         TEXT    NOT NULL,
	operation        TEXT    NOT NULL,
	method           TEXT    NOT NULL,
	url              TEXT    NOT NULL,
	request_headers  TEXT    NOT NULL,
	request_body     TEXT    NOT NULL,
	status_code      INTEGER NOT NULL,
	response_headers TEXT    NOT NULL,
	response_body    TEXT    NOT NULL,
	error            TEXT    NOT NULL,
	attempt          INTEGER NOT NULL,
	started_at       INTEGER,
	duration_ns      INTEGER NOT NULL
) STRICT;

CREATE INDEX provider_exchanges_reference ON provider_exchanges (reference, id);
