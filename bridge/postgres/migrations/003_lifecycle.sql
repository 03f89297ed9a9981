-- The payment lifecycle: the Vipps event log, every raw input, the merchant
-- outbox, capture/cancel/refund operations, our webhook registrations at
-- Vipps and the webhook signatures already seen.
--
-- A lease is (owner, until); a NULL until is a lease that was never taken or
-- was released. Replicas take leases with SELECT ... FOR UPDATE SKIP LOCKED,
-- so two of them never hold one row at once.

CREATE TABLE payment_events (
	id              bigserial   NOT NULL PRIMARY KEY,
	reference       text        NOT NULL REFERENCES payments (reference),
	name            text        NOT NULL,
	psp_reference   text        NOT NULL,
	amount_value    bigint      NOT NULL,
	amount_currency text        NOT NULL,
	success         boolean     NOT NULL,
	idempotency_key text        NOT NULL,
	occurred_at     timestamptz,
	source          text        NOT NULL,
	recorded_at     timestamptz NOT NULL,
	-- Partial captures and refunds share a name but not a PSP reference.
	UNIQUE (reference, name, psp_reference)
);

-- Reconciliation reads the money that moved, by time.
CREATE INDEX payment_events_money ON payment_events (occurred_at) WHERE name IN ('CAPTURED', 'REFUNDED') AND success;

-- Raw inputs may name a payment we do not know, so reference has no foreign key.
CREATE TABLE raw_events (
	id          bigserial   NOT NULL PRIMARY KEY,
	reference   text        NOT NULL,
	unit        text        NOT NULL,
	source      text        NOT NULL,
	name        text        NOT NULL,
	body        bytea,
	received_at timestamptz NOT NULL
);

CREATE INDEX raw_events_reference ON raw_events (reference, id);

-- seq is the order of insertion: notifications created at the same instant
-- are delivered and listed in the order they were written.
CREATE TABLE notifications (
	id              text        NOT NULL PRIMARY KEY,
	seq             bigserial   NOT NULL UNIQUE,
	reference       text        NOT NULL REFERENCES payments (reference),
	type            text        NOT NULL,
	payload         bytea,
	created_at      timestamptz NOT NULL,
	attempts        integer     NOT NULL,
	next_attempt_at timestamptz,
	last_attempt_at timestamptz,
	last_status     integer     NOT NULL,
	last_error      text        NOT NULL,
	delivered_at    timestamptz,
	gave_up_at      timestamptz,
	lease_owner     text        NOT NULL,
	lease_until     timestamptz,
	version         bigint      NOT NULL
);

-- The deliverers' claim reads the pending notifications oldest first.
CREATE INDEX notifications_pending ON notifications (created_at, seq) WHERE delivered_at IS NULL AND gave_up_at IS NULL;
CREATE INDEX notifications_created ON notifications (created_at, seq);
CREATE INDEX notifications_reference ON notifications (reference, created_at, seq);

-- seq is the order of insertion, which is the order a payment's operations
-- run in: a claim waits for every pending operation stored before it.
CREATE TABLE operations (
	id                    text        NOT NULL PRIMARY KEY,
	seq                   bigserial   NOT NULL UNIQUE,
	reference             text        NOT NULL REFERENCES payments (reference),
	kind                  text        NOT NULL,
	idempotency_key       text        NOT NULL UNIQUE,
	request_hash          text        NOT NULL,
	amount_value          bigint      NOT NULL,
	amount_currency       text        NOT NULL,
	vipps_idempotency_key text        NOT NULL,
	source                text        NOT NULL,
	state                 text        NOT NULL,
	response_status       integer     NOT NULL,
	response_body         bytea,
	error                 text        NOT NULL,
	attempts              integer     NOT NULL,
	lease_owner           text        NOT NULL,
	lease_until           timestamptz,
	created_at            timestamptz NOT NULL,
	updated_at            timestamptz NOT NULL,
	version               bigint      NOT NULL
);

CREATE INDEX operations_reference ON operations (reference, created_at, seq);
-- A claim checks the other pending operations of the same payment, and
-- recovery reads the pending operations oldest first.
CREATE INDEX operations_pending_reference ON operations (reference, seq) WHERE state = 'pending';
CREATE INDEX operations_pending ON operations (created_at, seq) WHERE state = 'pending';

CREATE TABLE webhook_registrations (
	unit       text        NOT NULL PRIMARY KEY,
	id         text        NOT NULL,
	url        text        NOT NULL,
	secret     text        NOT NULL,
	events     text[],
	created_at timestamptz NOT NULL
);

-- Webhook signatures already accepted, kept until a replay of them would be
-- refused for its age anyway.
CREATE TABLE seen_webhooks (
	signature  text        NOT NULL PRIMARY KEY,
	keep_until timestamptz NOT NULL
);

CREATE INDEX seen_webhooks_keep_until ON seen_webhooks (keep_until);
