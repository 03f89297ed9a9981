-- One Vipps read per payment per gap, whichever channel asks: a claim by the
-- poller is the read (last_read_at), and a wish to read sooner (a webhook, a
-- page) is kept as poll_asked_at (and who asked, poll_asked_by), so that the poller's release does not push
-- back a poll asked for while it was reading. 0 means never.
ALTER TABLE payments ADD COLUMN last_read_at  INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN poll_asked_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN poll_asked_by TEXT    NOT NULL DEFAULT '';
