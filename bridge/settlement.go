package bridge

import "time"

// Settlement providers.
const (
	ProviderVipps  = "vipps"
	ProviderKustom = "kustom"
)

// SettlementLine is one line of a provider's settlement, from a file or an
// API, in integer minor units. Gross is signed (captures and sales +,
// refunds and returns −); Fee is a cost, positive, whatever sign the source
// used. Key identifies the line across imports, so importing the same file
// or feed page twice changes nothing.
type SettlementLine struct {
	Provider   string
	Source     string
	SourceLine int
	Key        string
	// Kind is capture, refund, fee, sale, return or other.
	Kind         string
	Reference    string
	PSPReference string
	MSN          string
	Gross        int64
	Fee          int64
	Currency     string
	PayoutID     string
	// LedgerDate is the settlement day, YYYY-MM-DD.
	LedgerDate string
	// Open marks a line of a day the provider has not closed yet
	// (tryLater); it is matched but not yet judged.
	Open       bool
	ImportedAt time.Time
}

// SettlementPayout is one payout: what the provider paid (or invoiced) for
// a settlement, which must equal the sum of its lines.
type SettlementPayout struct {
	Provider string
	ID       string
	MSN      string
	Date     string
	Amount   int64
	Currency string
	// Gross is true for gross settlement: fees are invoiced, not deducted.
	Gross  bool
	Source string
}

// SettlementImport is one file or one API pull.
type SettlementImport struct {
	Provider string
	Source   string
	// Hash is the SHA-256 of the file, or of the API pages, hex.
	Hash     string
	Lines    []SettlementLine
	Payouts  []SettlementPayout
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
