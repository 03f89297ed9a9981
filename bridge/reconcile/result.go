package reconcile

import (
	"encoding/json"
	"fmt"
	"time"
)

// Pass says how a match was made.
type Pass string

// Passes, in the order they run.
const (
	// PassID joined lines and movements on reference and pspReference, one
	// to one by amount or as a group with an exact sum.
	PassID Pass = "id"
	// PassReference joined a line and a movement without a usable
	// pspReference on reference, direction and exact amount.
	PassReference Pass = "reference"
	// PassGroup joined what was left of one reference and direction as
	// groups whose sums are exact: partial captures settled in one line, or
	// one capture settled in several.
	PassGroup Pass = "group"
	// PassFee holds fee lines for a transaction we know whose capture line
	// is not in this run (fees may be booked on a later day).
	PassFee Pass = "fee"
	// PassProvider holds Kustom lines of orders paid with Klarna: there is
	// no movement of ours to match, only the provider's word.
	PassProvider Pass = "provider"
	// PassUnitFee holds Vipps fee lines that name no payment (a service
	// fee, a fee correction): charged to the sales unit, counted in their
	// payout and day.
	PassUnitFee Pass = "unit_fee"
	// PassInformational holds lines that move no money (gross and fee
	// both zero), per reference: there is nothing to settle or to miss.
	PassInformational Pass = "informational"
)

// Match is money accounted for: settlement lines tied to our movements.
// Fee lines join the match of the capture they were charged for.
type Match struct {
	Pass      Pass     `json:"pass"`
	Provider  Provider `json:"provider"`
	Currency  string   `json:"currency"`
	Reference string   `json:"reference"`
	// Gross is the lines' settled amount without fees; for a match with
	// movements it equals their signed sum (captures +, refunds −).
	Gross int64 `json:"gross"`
	// Fee is the lines' fees, positive for a cost.
	Fee int64 `json:"fee"`
	// Lines are the settlement lines' keys, Movements the movements' ids.
	Lines     []string `json:"lines"`
	Movements []string `json:"movements"`
	// PayoutID is the payout the money went into: that of the first of
	// Lines that is in one (none while the lines wait for their payout).
	PayoutID string `json:"payout_id,omitempty"`
}

// MarshalJSON writes the match with its lists as [] when empty, never null.
func (m Match) MarshalJSON() ([]byte, error) {
	type plain Match
	p := plain(m)
	p.Lines, p.Movements = OrEmpty(p.Lines), OrEmpty(p.Movements)
	return json.Marshal(p)
}

// OrEmpty is s, or an empty slice when s is nil: a list in our JSON is
// [] when it has nothing, never null.
func OrEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Reason is an exception's reason code.
type Reason string

// Reasons, most severe first.
const (
	// ReasonPaidTwice: a KCO order we captured with Vipps also has Kustom
	// sale lines, so the shopper paid twice.
	ReasonPaidTwice Reason = "paid_twice"
	// ReasonPayoutMismatch: a payout is not the sum of its lines.
	ReasonPayoutMismatch Reason = "payout_mismatch"
	// ReasonCapturedNotSettled: a capture past its due time has no line.
	ReasonCapturedNotSettled Reason = "captured_not_settled"
	// ReasonRefundNotSettled: a refund past its due time has no line.
	ReasonRefundNotSettled Reason = "refund_not_settled"
	// ReasonAmountMismatch: lines and movements of one reference (and
	// pspReference when both have it) that do not sum to the same amount.
	ReasonAmountMismatch Reason = "amount_mismatch"
	// ReasonSettledUnknown: a Vipps line we cannot tie to any movement.
	ReasonSettledUnknown Reason = "settled_unknown"
	// ReasonDuplicateLine: a line whose key was already read, or a second
	// line for a provider transaction that is already settled.
	ReasonDuplicateLine Reason = "duplicate_line"
	// ReasonFeeMismatch: fees outside the unit's expected fee ± tolerance.
	ReasonFeeMismatch Reason = "fee_mismatch"
)

// Severity orders reasons for people: 0 is the most severe.
func (r Reason) Severity() int {
	switch r {
	case ReasonPaidTwice:
		return 0
	case ReasonPayoutMismatch:
		return 1
	case ReasonCapturedNotSettled:
		return 2
	case ReasonRefundNotSettled:
		return 3
	case ReasonAmountMismatch:
		return 4
	case ReasonSettledUnknown:
		return 5
	case ReasonDuplicateLine:
		return 6
	case ReasonFeeMismatch:
		return 7
	}
	return 8
}

// Exception is something that does not add up.
type Exception struct {
	Reason     Reason   `json:"reason"`
	Provider   Provider `json:"provider"`
	Reference  string   `json:"reference"`
	KCOOrderID string   `json:"kco_order_id"`
	Unit       string   `json:"unit"`
	MSN        string   `json:"msn"`
	PayoutID   string   `json:"payout_id"`
	// Date is the ledger date of the first line, or the ledger date a
	// movement should have settled on, or the payout date.
	Date      string   `json:"date"`
	LineKeys  []string `json:"line_keys"`
	Movements []string `json:"movements"`
	// Amount is what the provider settled (lines' gross, fees, or the
	// payout) and Expected what we expected, with the lines' signs.
	Amount   int64  `json:"amount"`
	Expected int64  `json:"expected"`
	Currency string `json:"currency"`
	// detail explains the exception (see Detail). For a settled_unknown
	// line of a reference we do not hold, unknown is set and detail is the
	// line's kind: its text is made when it is read, so that a file of a
	// million such lines does not hold a million sentences.
	detail  string
	unknown bool
}

// Detail explains the exception to people.
func (x Exception) Detail() string {
	if x.unknown {
		return fmt.Sprintf("%s of %s: none of our captures or refunds has reference %q in %s",
			kindName(Kind(x.detail)), money(x.Amount, x.Currency), x.Reference, x.Currency)
	}
	return x.detail
}

// MarshalJSON writes the exception's fields by their JSON names, with its
// Detail last; lists are [] when empty, never null.
func (x Exception) MarshalJSON() ([]byte, error) {
	type fields Exception // the same fields, without this method
	f := fields(x)
	f.LineKeys, f.Movements = OrEmpty(f.LineKeys), OrEmpty(f.Movements)
	return json.Marshal(struct {
		fields
		Detail string `json:"detail"`
	}{f, x.Detail()})
}

// Pending is a movement without a settlement line that is not yet missing:
// its due time has not passed or its ledger day is still open.
type Pending struct {
	Provider   Provider  `json:"provider"`
	Reference  string    `json:"reference"`
	KCOOrderID string    `json:"kco_order_id"`
	Unit       string    `json:"unit"`
	MSN        string    `json:"msn"`
	Movement   string    `json:"movement"`
	Kind       Kind      `json:"kind"`
	Amount     int64     `json:"amount"`
	Currency   string    `json:"currency"`
	At         time.Time `json:"at"`
	Due        time.Time `json:"due"`
	OpenDay    bool      `json:"open_day"`
}

// Totals sum settlement lines. Captured + Refunded + Other − Fees = Net,
// and Gross = Captured + Refunded + Other.
type Totals struct {
	// Lines counts the lines, Matched those in a match, and Exceptions the
	// exceptions that belong here.
	Lines      int `json:"lines"`
	Matched    int `json:"matched"`
	Exceptions int `json:"exceptions"`
	// Captured sums captures and sales (≥ 0 in a sane file), Refunded
	// refunds and returns (≤ 0), Other everything else but fees.
	Captured int64 `json:"captured"`
	Refunded int64 `json:"refunded"`
	Other    int64 `json:"other"`
	Gross    int64 `json:"gross"`
	Fees     int64 `json:"fees"`
	Net      int64 `json:"net"`
}

// DaySummary is one provider's lines of one ledger date in one currency.
type DaySummary struct {
	Provider Provider `json:"provider"`
	Currency string   `json:"currency"`
	Date     string   `json:"date"`
	Totals
}

// PayoutSummary is one payout and its lines. Reported says the provider
// reported the payout itself; without it only its lines are known.
type PayoutSummary struct {
	Provider Provider `json:"provider"`
	Currency string   `json:"currency"`
	ID       string   `json:"id"`
	MSN      string   `json:"msn"`
	// Date is the payout's date and From the first ledger date it covers:
	// the payout's From (or Date), or its earliest line's date if earlier.
	// For a payout only known by its lines, their first and last dates.
	Date string `json:"date"`
	From string `json:"from"`
	// Dates are the distinct ledger dates of its lines, in order.
	Dates []string `json:"dates"`
	// Opening is the balance carried into From; the payout is checked as
	// Paid == Opening + its lines' net (gross on gross settlement).
	Opening int64 `json:"opening"`
	// SameAs names the payout this one is a second reading of: the same
	// money, so Paid is 0 here and the payout is not checked.
	SameAs   string `json:"same_as"`
	Paid     int64  `json:"paid"`
	Reported bool   `json:"reported"`
	Totals
}

// MarshalJSON writes the payout with its dates as [] when empty, never
// null.
func (p PayoutSummary) MarshalJSON() ([]byte, error) {
	type plain PayoutSummary
	q := plain(p)
	q.Dates = OrEmpty(q.Dates)
	return json.Marshal(q)
}

// Result is the reconciliation of one input. Every line is in a match or
// an exception (or both, for a matched line whose fee is off); every
// movement is in at most one match, an exception or pending.
type Result struct {
	// Matches are ordered by reference for the references we hold (per
	// provider, currency and unit), then come the informational matches of
	// Vipps lines of references we don't hold and last Kustom's own orders,
	// each by provider, currency and reference.
	Matches []Match `json:"matches"`
	// Exceptions are ordered by severity, date and reference.
	Exceptions []Exception `json:"exceptions"`
	// Pending is ordered by due time.
	Pending []Pending `json:"pending"`
	// Days and Payouts are ordered by provider, currency and date (then id).
	Days    []DaySummary    `json:"days"`
	Payouts []PayoutSummary `json:"payouts"`
}
