-- Payments and their history. Tables are STRICT so that a value of the wrong
-- type is rejected instead of being stored as something else. Money is in
-- integer minor units; times are UTC Unix nanoseconds.

CREATE TABLE payments (
	reference              TEXT    NOT NULL PRIMARY KEY,
	unit                   TEXT    NOT NULL,
	kco_order_id           TEXT    NOT NULL,
	attempt                INTEGER NOT NULL,
	amount_value           INTEGER NOT NULL,
	amount_currency        TEXT    NOT NULL,
	state                  TEXT    NOT NULL,
	create_idempotency_key TEXT    NOT NULL,
	create_request         BLOB,
	redirect_url           TEXT    NOT NULL,
	return_token           TEXT    NOT NULL,
	psp_reference          TEXT    NOT NULL,
	authorized             INTEGER NOT NULL,
	captured               INTEGER NOT NULL,
	refunded               INTEGER NOT NULL,
	cancelled              INTEGER NOT NULL,
	locale                 TEXT    NOT NULL,
	kco_order              BLOB,
	failure_reason         TEXT    NOT NULL,
	created_at             INTEGER NOT NULL,
	updated_at             INTEGER NOT NULL,
	version                INTEGER NOT NULL
) STRICT;

-- An attempt may be stored before its return token exists, so only non-empty
-- tokens are keys.
CREATE UNIQUE INDEX payments_return_token ON payments (return_token) WHERE return_token <> '';

-- Two concurrent redirects for the same order must not both create attempt N.
CREATE UNIQUE INDEX payments_unit_order_attempt ON payments (unit, kco_order_id, attempt);

CREATE INDEX payments_kco_order_id ON payments (kco_order_id, attempt);

CREATE TABLE payment_history (
	id         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	reference  TEXT    NOT NULL REFERENCES payments (reference),
	source     TEXT    NOT NULL,
	from_state TEXT    NOT NULL,
	to_state   TEXT    NOT NULL,
	detail     TEXT    NOT NULL,
	at         INTEGER NOT NULL
) STRICT;

CREATE INDEX payment_history_reference ON payment_history (reference, id);
