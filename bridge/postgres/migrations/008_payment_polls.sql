-- The poller's bookkeeping in a narrow table of its own. Every claim and
-- release of a poll updated the payment's row: a new version of the whole
-- row (its KCO order and create request included) and, since next_poll_at
-- is indexed, new entries in each of the table's six indexes. Here a claim
-- writes a row of some 100 bytes in place (fillfactor leaves room on its
-- page, so a claim, which changes no indexed column, is a heap-only
-- update), and a release an entry in the two indexes of this table. Every
-- payment has exactly one row here, made in the same statement as it.
--
-- next_poll_at is the payment's schedule (NULL: none), poll_owner and
-- poll_lease_until the lease of the poller reading it now, last_read_at
-- when it was last read (a claim, then the release's read), and
-- poll_asked_at / poll_asked_by an ask to read it sooner (a webhook, a
-- page) made since: see 006_poll_reads.sql.
CREATE TABLE payment_polls (
	reference        text        NOT NULL PRIMARY KEY REFERENCES payments (reference),
	next_poll_at     timestamptz,
	poll_owner       text        NOT NULL DEFAULT '',
	poll_lease_until timestamptz,
	last_read_at     timestamptz,
	poll_asked_at    timestamptz,
	poll_asked_by    text        NOT NULL DEFAULT ''
) WITH (fillfactor = 50);

INSERT INTO payment_polls (reference, next_poll_at, poll_owner, poll_lease_until, last_read_at, poll_asked_at, poll_asked_by)
	SELECT reference, next_poll_at, poll_owner, poll_lease_until, last_read_at, poll_asked_at, poll_asked_by FROM payments;

-- The pollers' claim reads only the payments that have a poll scheduled.
DROP INDEX payments_due_poll;
CREATE INDEX payment_polls_due ON payment_polls (next_poll_at) WHERE next_poll_at IS NOT NULL;

ALTER TABLE payments
	DROP COLUMN next_poll_at,
	DROP COLUMN poll_owner,
	DROP COLUMN poll_lease_until,
	DROP COLUMN last_read_at,
	DROP COLUMN poll_asked_at,
	DROP COLUMN poll_asked_by;
