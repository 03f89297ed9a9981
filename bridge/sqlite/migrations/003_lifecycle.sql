-- The payment lifecycle: polling under leases, the Vipps event log, every raw
-- input, the merchant outbox, capture/cancel/refund operations, our webhook
-- registrations at Vipps and the webhook signatures already seen.
--
-- In these tables a time that may be absent is NOT NULL and 0 means none, so
-- that "free or expired" is one comparison (lease_until <= now).

ALTER TABLE payments ADD COLUMN next_poll_at     INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN poll_owner       TEXT    NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN poll_lease_until INTEGER NOT NULL DEFAULT 0;

-- The poller's sweep reads only the payments that have a poll scheduled.
CREATE INDEX payments_due_poll ON payments (next_poll_at, reference) WHERE next_poll_at <> 0;

CREATE TABLE payment_events (
	id              INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	reference       TEXT    NOT NULL REFERENCES payments (reference),
	name            TEXT    NOT NULL,
	psp_reference   TEXT    NOT NULL,
	amount_value    INTEGER NOT NULL,
	amount_currency TEXT    NOT NULL,
	success         INTEGER NOT NULL,
	idempotency_key TEXT    NOT NULL,
	occurred_at     INTEGER NOT NULL,
	source          TEXT    NOT NULL,
	recorded_at     INTEGER NOT NULL,
	-- Partial captures and refunds share a name but not a PSP reference.
	UNIQUE (reference, name, psp_reference)
) STRICT;

-- Raw inputs may name a payment we do not know, so reference has no foreign key.
CREATE TABLE raw_events (
	id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	reference   TEXT    NOT NULL,
	unit        TEXT    NOT NULL,
	source      TEXT    NOT NULL,
	name        TEXT    NOT NULL,
	body        BLOB,
	received_at INTEGER NOT NULL
) STRICT;

CREATE INDEX raw_events_reference ON raw_events (reference, id);

CREATE TABLE notifications (
	id              TEXT    NOT NULL PRIMARY KEY,
	reference       TEXT    NOT NULL REFERENCES payments (reference),
	type            TEXT    NOT NULL,
	payload         BLOB,
	created_at      INTEGER NOT NULL,
	attempts        INTEGER NOT NULL,
	next_attempt_at INTEGER NOT NULL,
	last_attempt_at INTEGER NOT NULL,
	last_status     INTEGER NOT NULL,
	last_error      TEXT    NOT NULL,
	delivered_at    INTEGER NOT NULL,
	gave_up_at      INTEGER NOT NULL,
	lease_owner     TEXT    NOT NULL,
	lease_until     INTEGER NOT NULL,
	version         INTEGER NOT NULL
) STRICT;

-- Claiming reads the pending notifications oldest first; rowid, which every
-- index carries, orders those created at the same instant as written.
CREATE INDEX notifications_pending ON notifications (created_at) WHERE delivered_at = 0 AND gave_up_at = 0;
CREATE INDEX notifications_reference ON notifications (reference, created_at);

CREATE TABLE operations (
	id                    TEXT    NOT NULL PRIMARY KEY,
	reference             TEXT    NOT NULL REFERENCES payments (reference),
	kind                  TEXT    NOT NULL,
	idempotency_key       TEXT    NOT NULL UNIQUE,
	request_hash          TEXT    NOT NULL,
	amount_value          INTEGER NOT NULL,
	amount_currency       TEXT    NOT NULL,
	vipps_idempotency_key TEXT    NOT NULL,
	source                TEXT    NOT NULL,
	state                 TEXT    NOT NULL,
	response_status       INTEGER NOT NULL,
	response_body         BLOB,
	error                 TEXT    NOT NULL,
	attempts              INTEGER NOT NULL,
	lease_owner           TEXT    NOT NULL,
	lease_until           INTEGER NOT NULL,
	created_at            INTEGER NOT NULL,
	updated_at            INTEGER NOT NULL,
	version               INTEGER NOT NULL
) STRICT;

-- A claim checks the other pending operations of the same payment.
CREATE INDEX operations_reference ON operations (reference, created_at);
-- Recovery reads the pending operations oldest first.
CREATE INDEX operations_pending ON operations (created_at) WHERE state = 'pending';

CREATE TABLE webhook_registrations (
	unit       TEXT    NOT NULL PRIMARY KEY,
	id         TEXT    NOT NULL,
	url        TEXT    NOT NULL,
	secret     TEXT    NOT NULL,
	events     TEXT    NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;

-- Webhook signatures already accepted, kept until a replay of them would be
-- refused for its age anyway.
CREATE TABLE seen_webhooks (
	signature  TEXT    NOT NULL PRIMARY KEY,
	keep_until INTEGER NOT NULL
) STRICT;

CREATE INDEX seen_webhooks_keep_until ON seen_webhooks (keep_until);
