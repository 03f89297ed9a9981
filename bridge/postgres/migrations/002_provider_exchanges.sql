-- The provider log. reference has no foreign key: a request can be made, and
-- must be logged, before its payment is stored or when it belongs to none.
-- The bodies are bytea because they are what a provider sent, which text
-- would refuse when it is not valid UTF-8 or holds a NUL byte.

CREATE TABLE provider_exchanges (
	id               bigserial   NOT NULL PRIMARY KEY,
	reference        text        NOT NULL,
	provider         text        NOT NULL,
	operation        text        NOT NULL,
	method           text        NOT NULL,
	url              text        NOT NULL,
	request_headers  text        NOT NULL,
	request_body     bytea       NOT NULL,
	status_code      integer     NOT NULL,
	response_headers text        NOT NULL,
	response_body    bytea       NOT NULL,
	error            text        NOT NULL,
	attempt          integer     NOT NULL,
	started_at       timestamptz,
	duration_ns      bigint      NOT NULL
);

CREATE INDEX provider_exchanges_reference ON provider_exchanges (reference, id);
