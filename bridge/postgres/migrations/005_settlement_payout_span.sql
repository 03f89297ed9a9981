-- Payouts say which ledger dates they cover (from_date..date; '' means
-- date), the balance carried into them, and whether they are a payout
-- already stored read again from another source (the Report API and a
-- portal file): same_as names it.
ALTER TABLE settlement_payouts
	ADD COLUMN from_date text COLLATE "C" NOT NULL DEFAULT '',
	ADD COLUMN opening   bigint NOT NULL DEFAULT 0,
	ADD COLUMN same_as   text COLLATE "C" NOT NULL DEFAULT '';
