package reconcile

import "time"

// Provider names who moved or settled the money.
type Provider string

// Providers. Vipps MobilePay is the payment method this service runs, so we
// hold a movement for every krone it should settle. Kustom (Klarna) settles
// the orders shoppers paid with Klarna, which are Kustom's business; its
// lines are only checked for orders we also took Vipps money for.
const (
	Vipps  Provider = "vipps"
	Kustom Provider = "kustom"
)

// Kind is what a movement or a settlement line is.
type Kind string

// Kinds. Movements are captures or refunds. Vipps settles captures and
// refunds, Kustom sales and returns; both charge fees, and anything else
// (corrections, top-ups, holdbacks) is other.
const (
	KindCapture Kind = "capture"
	KindRefund  Kind = "refund"
	KindSale    Kind = "sale"
	KindReturn  Kind = "return"
	KindFee     Kind = "fee"
	KindOther   Kind = "other"
)

// Movement is a capture or refund we made and the provider confirmed: money
// we expect to see settled.
type Movement struct {
	// ID is the store's identity for the movement (an operation id); the
	// result names movements by it, so it should be unique.
	ID       string
	Provider Provider
	// Reference is the provider's order reference, for Vipps the ePayment
	// reference (ws-<kcoOrderID>-<attempt>).
	Reference  string
	KCOOrderID string
	// Unit is the sales unit's name and MSN its Vipps merchant serial number.
	Unit string
	MSN  string
	// Kind is KindCapture or KindRefund; anything but KindRefund is taken
	// as a capture.
	Kind Kind
	// PSPReference is the provider's id of this capture or refund (the
	// pspReference of the Vipps event), empty when we did not learn it.
	PSPReference string
	// Amount is positive for captures and refunds alike.
	Amount   int64
	Currency string
	At       time.Time
}

// Line is one line of a provider's settlement: a settled capture, refund,
// sale, return or fee.
type Line struct {
	Provider Provider
	// Source and SourceLine say where the line was read (a file name or an
	// API feed, and the line or entry number there), for people.
	Source     string
	SourceLine int
	// Key is the line's unique identity, the one an idempotent import
	// deduplicates on. Two lines with one Key are one line read twice.
	Key  string
	Kind Kind
	// Reference is the Vipps reference (eCom orderId) or the Kustom
	// order_id. A line without one is joined by PSPReference if it can be.
	Reference string
	// PSPReference is the provider's transaction id: the Vipps pspReference
	// (a fee shares its capture's), the Kustom capture_id or refund_id.
	PSPReference string
	MSN          string
	// Gross is signed: captures and sales positive, refunds and returns
	// negative. A fee line has Gross zero and its cost in Fee.
	Gross int64
	// Fee is what the provider charged for the line, positive for a cost,
	// whatever sign the source file used.
	Fee      int64
	Currency string
	PayoutID string
	// LedgerDate is the provider's settlement date, YYYY-MM-DD.
	LedgerDate string
	// Open says the provider reported the line's day as still open (Vipps
	// tryLater): more lines may come, so nothing is yet missing that day.
	Open bool
}

// Payout is one transfer a provider made (or scheduled) to the merchant.
// Its lines are the lines of the same provider and currency whose PayoutID
// is its ID.
type Payout struct {
	Provider Provider
	ID       string
	MSN      string
	// Date is the payout's date, YYYY-MM-DD.
	Date string
	// From is the first ledger date the payout covers (YYYY-MM-DD); a
	// payout covers the whole ledger dates From..Date. Empty means Date.
	From string
	// Opening is the balance carried into From from before it (the Report
	// API's balanceBefore of From's first entry): a day whose refunds
	// exceed its captures pays nothing out and carries a negative balance
	// into the next payout. The payout is Opening plus its lines.
	Opening int64
	// SameAs names a payout already stored (of the same provider) that is
	// this one read again from another source: the same money, so it is
	// not checked or counted a second time.
	SameAs string
	// Amount is what was paid out, positive.
	Amount   int64
	Currency string
	// Gross marks gross settlement: fees are invoiced separately, so the
	// payout is the sum of its lines' gross (refunds included) rather than
	// their net.
	Gross bool
	// Source says where the payout was read (a file name or an API), for
	// people.
	Source string
}

// FeeModel is what a sales unit is charged per capture: Bps basis points
// of the captured amount (rounded half away from zero) plus Fixed, with
// Tolerance minor units of slack per capture for the provider's rounding.
type FeeModel struct {
	Bps       int64 `yaml:"bps"`
	Fixed     int64 `yaml:"fixed"`
	Tolerance int64 `yaml:"tolerance"`
}

// Expected is the fee the model charges for one capture of gross. gross ×
// Bps must fit in an int64, which it does for any real payment; the engine
// itself checks that it does.
func (f FeeModel) Expected(gross int64) int64 {
	v, _ := f.expected(gross)
	return v
}

// expected is Expected and whether no step of it overflowed.
func (f FeeModel) expected(gross int64) (int64, bool) {
	v, ok := mulChecked(gross, f.Bps)
	q, r := v/10000, v%10000
	if 2*r >= 10000 {
		q++
	} else if 2*r <= -10000 {
		q--
	}
	q, ok2 := addChecked(q, f.Fixed)
	return q, ok && ok2
}

// Day is one provider ledger day of one sales unit (MSN; empty for Kustom).
type Day struct {
	Provider Provider
	MSN      string
	Date     string
}

// DefaultSettleWithin is how long after a capture or refund its
// settlement line is due when Config.SettleWithin does not say: Vipps
// settles T+2, so the data is there on the second day and the money on the
// third.
const DefaultSettleWithin = 72 * time.Hour

// Config is what Run needs besides the data.
type Config struct {
	// Now is the moment of the run; a movement is only missing once Now is
	// past its due time.
	Now time.Time
	// SettleWithin is, per provider, how long after a movement its
	// settlement line is due; DefaultSettleWithin when absent.
	SettleWithin map[Provider]time.Duration
	// Location is the providers' ledger time zone (Europe/Oslo), which
	// decides a movement's ledger date; UTC when nil.
	Location *time.Location
	// ExpectedFee is the fee model per MSN. Lines of a unit without a model
	// are not fee-checked.
	ExpectedFee map[string]FeeModel
	// From and To (YYYY-MM-DD, inclusive) are the period the run reports
	// on; empty means no bound. The input may (and should) reach beyond
	// them, so that what is settled across the period's edges is matched;
	// the Result then keeps only what belongs to the period: exceptions and
	// days by their Date, payouts by their date, pending movements and
	// matches by the ledger date of their earliest movement (or line).
	From, To string
	// OpenDays are ledger days the provider has not closed yet, besides
	// the days of lines marked Open. Lines of an open day are matched, but
	// money missing from that day (unsettled movements, short payouts,
	// fees not yet charged) is pending, not an exception.
	OpenDays []Day
}

func (c *Config) settleWithin(p Provider) time.Duration {
	if d, ok := c.SettleWithin[p]; ok {
		return d
	}
	return DefaultSettleWithin
}
