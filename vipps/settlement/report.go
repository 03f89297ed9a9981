package settlement

import (
	"errors"
	"fmt"
	"time"
)

// Formats a Report can come from.
const (
	FormatXML  = "xml"
	FormatCSV  = "csv"
	FormatXLSX = "xlsx"
)

// Settlement types as the XML v3 SettlementType states them. A net settlement
// pays out the net amount (fees deducted); a gross settlement pays out the
// gross amount and the fees are invoiced separately.
const (
	TypeNet   = "Net"
	TypeGross = "Gross"
)

// Transaction kinds.
const (
	KindCapture = "capture"
	KindRefund  = "refund"
)

// Report is one settlement file, whatever its format, in integer minor units
// with the fee sign normalised (positive = cost to the merchant).
//
// A file may cover several sales units (an XML report may hold several
// SettlementDetailsInfo blocks, a portal XLSX several Vippsnummer). MSN,
// SalesUnit, OrganizationNumber and Currency are set only when they are the same
// for every settlement in the file and are empty otherwise; each Settlement
// carries its own.
type Report struct {
	Format string // FormatXML, FormatCSV or FormatXLSX
	Source string // the name given to the parser, used in errors and warnings

	MSN                string // Merchant-Serial-Number (Vippsnummer) of the sales unit
	SalesUnit          string // sales unit name
	OrganizationName   string
	OrganizationNumber string
	Currency           string // ISO 4217; empty for XLSX, which states no currency

	From, To string // report period, YYYY-MM-DD, when the file states it

	Settlements []Settlement
	Fees        []Fee // invoiced fees listed apart from transactions (XML FeeDetailsInfo, CSV FeeInfo)

	// Warnings are defects the parser recognised and handled in a documented
	// way instead of failing (see the package documentation). Each starts with
	// "source:line:".
	Warnings []string
}

// Settlement is one settlement (one payout or invoice) with its transactions
// and the totals the file itself states for it.
//
// The totals use the XML v3 meaning: Gross = Capture + Refund, Net = Gross - Fee,
// Refund is negative, Fee is positive for a cost. Not every format states every
// total; Stated says which ones the file gave, and a total not stated is zero.
type Settlement struct {
	ID        string
	Date      string // settlement date, YYYY-MM-DD
	Type      string // TypeNet, TypeGross, or "" when the file does not say
	MSN       string
	SalesUnit string
	Currency  string // empty for XLSX
	Account   string // the bank account the payout goes to

	Transactions []Transaction

	Capture, Refund, Gross, Fee, Net int64
	Settled                          int64 // paid out (net settlement) or invoiced (gross settlement)
	Stated                           Total // which of the totals above the file states

	Line int // where the settlement's totals are: SettlementInfo element or row, XLSX payout row
}

// Total names one of a Settlement's stated totals; Totals combine as bits.
type Total uint8

// The totals a Settlement can state.
const (
	TotalCapture Total = 1 << iota
	TotalRefund
	TotalGross
	TotalFee
	TotalNet
	TotalSettled
)

var totalNames = []struct {
	t    Total
	name string
}{
	{TotalCapture, "Capture"},
	{TotalRefund, "Refund"},
	{TotalGross, "Gross"},
	{TotalFee, "Fee"},
	{TotalNet, "Net"},
	{TotalSettled, "Settled"},
}

// Has reports whether every total in u is in t.
func (t Total) Has(u Total) bool { return t&u == u }

func (t Total) String() string {
	s := ""
	for _, n := range totalNames {
		if t.Has(n.t) {
			if s != "" {
				s += "|"
			}
			s += n.name
		}
	}
	if s == "" {
		return "none"
	}
	return s
}

// Transaction is one settled capture or refund.
type Transaction struct {
	// Line is the 1-based line (CSV), row (XLSX) or line of the TransactionInfo
	// element (XML) it was read from.
	Line int

	// Time is the transaction time in Europe/Oslo. Only XML states a time; it
	// is the zero Time for CSV and XLSX.
	Time      time.Time
	SalesDate string // YYYY-MM-DD (for XML, the date of Time in Oslo)

	TransactionID string // the movement id (the Report API's pspReference)
	OrderID       string // the ePayment reference / eCom orderId; may be empty (Vippsnummer payments)
	Kind          string // KindCapture or KindRefund

	Gross int64 // signed: a capture is positive, a refund negative
	Fee   int64 // positive = cost to the merchant, whatever sign the format uses
	Net   int64 // Gross - Fee

	SettlementID string // as the transaction's own line states it

	// MSN is the sales unit (Merchant-Serial-Number) the transaction was
	// made in, as its own line states it where the format has one per
	// transaction (CSV SaleUnitNumber), else its settlement's. A CSV
	// settlement may hold transactions of another unit; reconciliation
	// matches each under its own.
	MSN string
}

// Fee is an invoiced fee line listed apart from the transactions.
type Fee struct {
	Line     int
	Date     string // YYYY-MM-DD
	ID       string // FeeID (XML); empty for CSV
	Amount   int64  // positive = cost to the merchant
	Currency string
	Account  string
	Type     string // FeeType (XML); empty for CSV
	MSN      string
}

// Errors that ParseError may wrap, for errors.Is.
var (
	// ErrUnsupportedVersion means the file is a Vipps settlement report in a
	// version this package does not read (XML 2.0, legacy .xls, PDF).
	ErrUnsupportedVersion = errors.New("unsupported settlement report version")
	// ErrUnknownFormat means Parse could not tell the file's format.
	ErrUnknownFormat = errors.New("not a Vipps settlement file (expected XML v3, CSV or XLSX)")
)

// ParseError is the error every parser returns for malformed input: which
// file, which line (CSV line, XLSX row, XML line; 0 when the error concerns
// the file as a whole), which field, and what is wrong.
type ParseError struct {
	Source string
	Line   int
	Field  string
	Err    error
}

func (e *ParseError) Error() string {
	s := e.Source
	if e.Line > 0 {
		s += fmt.Sprintf(":%d", e.Line)
	}
	if e.Field != "" {
		s += ": " + e.Field
	}
	return s + ": " + e.Err.Error()
}

func (e *ParseError) Unwrap() error { return e.Err }

func errAt(source string, line int, field string, format string, args ...any) *ParseError {
	return &ParseError{Source: source, Line: line, Field: field, Err: fmt.Errorf(format, args...)}
}

func warnAt(source string, line int, format string, args ...any) string {
	return fmt.Sprintf("%s:%d: ", source, line) + fmt.Sprintf(format, args...)
}

// summarise fills the report-level MSN, SalesUnit and Currency when every
// settlement agrees, and leaves them empty otherwise.
func (r *Report) summarise() {
	same := func(get func(*Settlement) string) string {
		v := ""
		for i := range r.Settlements {
			s := get(&r.Settlements[i])
			if i == 0 {
				v = s
			} else if s != v {
				return ""
			}
		}
		return v
	}
	if len(r.Settlements) == 0 {
		return
	}
	r.MSN = same(func(s *Settlement) string { return s.MSN })
	r.SalesUnit = same(func(s *Settlement) string { return s.SalesUnit })
	r.Currency = same(func(s *Settlement) string { return s.Currency })
}
