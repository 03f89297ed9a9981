-- The poller's bookkeeping in a narrow table of its own. A payment's row
-- carries its KCO order and its create request (some 2 KB: two rows to a
-- page), and every claim and release of its poll rewrote that page and the
-- entries of the poll index: 137 pages of log for a claim and release of 64
-- payments. Here a row is some 70 bytes, and the same claim and release
-- write about 16. Every payment has exactly one row here, made with it.
--
-- Rows are kept in the order of the payments' creation (created_at, then
-- reference, the key), not of their references, which are random: a new
-- payment's row goes where the last ones went, on a page the other
-- redirects of the same commit write too, and the payments waiting now,
-- the recent ones, sit on a few pages together. Lookups by reference find
-- the creation time in payments first, a read.
--
-- next_poll_at is the payment's schedule (0: none), poll_owner and
-- poll_lease_until the lease of the poller reading it now, last_read_at
-- when it was last read (a claim, then the release's read), and
-- poll_asked_at / poll_asked_by an ask to read it sooner (a webhook, a
-- page) made since: see 006_poll_reads.sql.
CREATE TABLE payment_polls (
	created_at       INTEGER NOT NULL,
	reference        TEXT    NOT NULL REFERENCES payments (reference),
	next_poll_at     INTEGER NOT NULL,
	poll_owner       TEXT    NOT NULL,
	poll_lease_until INTEGER NOT NULL,
	last_read_at     INTEGER NOT NULL,
	poll_asked_at    INTEGER NOT NULL,
	poll_asked_by    TEXT    NOT NULL,
	PRIMARY KEY (created_at, reference)
) STRICT, WITHOUT ROWID;

INSERT INTO payment_polls (created_at, reference, next_poll_at, poll_owner, poll_lease_until, last_read_at, poll_asked_at, poll_asked_by)
	SELECT created_at, reference, next_poll_at, poll_owner, poll_lease_until, last_read_at, poll_asked_at, poll_asked_by FROM payments;

-- The poller's sweep reads only the payments that have a poll scheduled.
DROP INDEX payments_due_poll;
CREATE INDEX payment_polls_due ON payment_polls (next_poll_at, reference) WHERE next_poll_at <> 0;

ALTER TABLE payments DROP COLUMN next_poll_at;
ALTER TABLE payments DROP COLUMN poll_owner;
ALTER TABLE payments DROP COLUMN poll_lease_until;
ALTER TABLE payments DROP COLUMN last_read_at;
ALTER TABLE payments DROP COLUMN poll_asked_at;
ALTER TABLE payments DROP COLUMN poll_asked_by;
