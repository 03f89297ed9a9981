-- The capture deadline Vipps gives a reservation (captureGuaranteedUntil:
-- 14 days for MobilePay in Denmark and Finland, 180 in Norway, or the card's
-- shorter guarantee; NULL: not known), and how far the merchant has been
-- told about it: '' not yet, 'near' warned before it, 'passed' told that it
-- passed. The partial index keeps the deadline watcher's scan to the
-- reservations still waiting for a notice.
ALTER TABLE payments ADD COLUMN capture_guaranteed_until timestamptz;
ALTER TABLE payments ADD COLUMN capture_deadline_notice  text NOT NULL DEFAULT '';
CREATE INDEX payments_capture_deadline ON payments (capture_guaranteed_until)
    WHERE state = 'AUTHORIZED' AND capture_guaranteed_until IS NOT NULL AND capture_deadline_notice <> 'passed';
