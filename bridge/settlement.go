package bridge

import (
	"time"

	"vippskco/bridge/reconcile"
)

// SettlementImport is one file or one API pull.
type SettlementImport struct {
	Provider reconcile.Provider
	Source   string
	// Hash is the SHA-256 of the file, or of the API pages, hex.
	Hash     string
	Lines    []reconcile.Line
	Payouts  []reconcile.Payout
	Warnings []string
}

// ImportResult says what an import changed.
type ImportResult struct {
	NewLines        int  `json:"new_lines"`
	KnownLines      int  `json:"known_lines"`
	NewPayouts      int  `json:"new_payouts"`
	ClosedLines     int  `json:"closed_lines"`
	AlreadyImported bool `json:"already_imported"`
}

// Movement is money we know moved at Vipps: a successful CAPTURED or
// REFUNDED event of one of our payments.
type Movement struct {
	Reference    string
	KCOOrderID   string
	Unit         string
	Kind         string // capture or refund
	PSPReference string
	Amount       int64
	Currency     string
	At           time.Time
}
