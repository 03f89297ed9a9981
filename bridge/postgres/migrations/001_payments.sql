-- Payments and their history. Money is bigint minor units; times are
-- timestamptz (microseconds, an instant regardless of the session's zone),
-- and a time that may be absent is NULL. Request and order documents are
-- bytea so that they read back byte for byte, as they were signed or sent.

CREATE TABLE payments (
	reference              text        NOT NULL PRIMARY KEY,
	unit                   text        NOT NULL,
	kco_order_id           text        NOT NULL,
	attempt                integer     NOT NULL,
	amount_value           bigint      NOT NULL,
	amount_currency        text        NOT NULL,
	state                  text        NOT NULL,
	create_idempotency_key text        NOT NULL,
	create_request         bytea,
	redirect_url           text        NOT NULL,
	return_token           text        NOT NULL,
	psp_reference          text        NOT NULL,
	authorized             bigint      NOT NULL,
	captured               bigint      NOT NULL,
	refunded               bigint      NOT NULL,
	cancelled              bigint      NOT NULL,
	locale                 text        NOT NULL,
	kco_order              bytea,
	failure_reason         text        NOT NULL,
	-- The poll schedule is part of the payment; the lease beside it is not,
	-- so claiming a poll changes neither version nor updated_at.
	next_poll_at           timestamptz,
	poll_owner             text        NOT NULL DEFAULT '',
	poll_lease_until       timestamptz,
	created_at             timestamptz NOT NULL,
	updated_at             timestamptz NOT NULL,
	version                bigint      NOT NULL
);

-- An attempt may be stored before its return token exists, so only non-empty
-- tokens are keys.
CREATE UNIQUE INDEX payments_return_token ON payments (return_token) WHERE return_token <> '';

-- Two concurrent redirects for the same order must not both create attempt N.
CREATE UNIQUE INDEX payments_unit_order_attempt ON payments (unit, kco_order_id, attempt);

CREATE INDEX payments_kco_order_id ON payments (kco_order_id, attempt);

-- The pollers' claim reads only the payments that have a poll scheduled.
CREATE INDEX payments_due_poll ON payments (next_poll_at) WHERE next_poll_at IS NOT NULL;

CREATE TABLE payment_history (
	id         bigserial   NOT NULL PRIMARY KEY,
	reference  text        NOT NULL REFERENCES payments (reference),
	source     text        NOT NULL,
	from_state text        NOT NULL,
	to_state   text        NOT NULL,
	detail     text        NOT NULL,
	at         timestamptz NOT NULL
);

CREATE INDEX payment_history_reference ON payment_history (reference, id);
