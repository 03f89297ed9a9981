package vipps

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The Report API tells a merchant what Vipps MobilePay booked on its
// ledgers: every capture, refund and fee, and the payouts to the bank. It
// exists in production only (the test environment has no settlements), and
// a sales unit reads it with its ordinary keys and token.
//
// Amounts in it are signed integer minor units. There is no gross, fee or
// net field: gross and fee come from joining the funds topic's capture and
// refund entries with the fees topic's capture-fee entries on
// PSPReference, and a payout is the funds topic's payout-scheduled entry.

const (
	ledgersPath       = "/settlement/v1/ledgers"
	reportLedgersPath = "/report/v2/ledgers"
)

// The two topics of a ledger.
const (
	// TopicFunds is the money: captures, refunds, fees retained and payouts.
	TopicFunds = "funds"
	// TopicFees details the fees charged, one or more per capture.
	TopicFees = "fees"
)

// Entry types the Report API documents. New ones may appear without
// notice, so ReportEntry.EntryType keeps whatever Vipps sends; book an
// unknown type by the sign of its amount.
const (
	EntryCapture                 = "capture"
	EntryRefund                  = "refund"
	EntryFeesRetained            = "fees-retained" // net settlement: negative in funds, positive mirror in fees
	EntryFeesInvoiced            = "fees-invoiced" // gross settlement
	EntryPayoutScheduled         = "payout-scheduled"
	EntryScheduledForPayout      = "scheduled-for-payout" // the name the Report API spec still gives payout-scheduled
	EntryPayoutAborted           = "payout-aborted"
	EntryRetainedDisputedCapture = "retained-disputed-capture"
	EntryReturnedDisputedCapture = "returned-disputed-capture"
	EntryCorrection              = "correction"
	EntryTopUp                   = "top-up"
	EntryCreditNote              = "credit-note"
	EntryCaptureFee              = "capture-fee"
	EntryServiceFee              = "service-fee"
)

// FeedPageSizeHeader is the response header in which the feed states its
// page size.
const FeedPageSizeHeader = "Vipps-Feed-Page-Size"

// recipientHandlePrefix marks an ePayment or eCom MSN among a ledger's
// recipient handles; Vippsnummer and MyShop use a country code instead
// ("NO:123455").
const recipientHandlePrefix = "api:"

// Ledger is an account at Vipps MobilePay that settles for one or more
// sales units and pays out to one bank account. Usually one ledger serves
// one MSN, but several MSNs can share a ledger. The ledger id is not shown
// in the merchant portal.
type Ledger struct {
	LedgerID          string            `json:"ledgerId"`
	Currency          string            `json:"currency"`
	PayoutBankAccount LedgerBankAccount `json:"payoutBankAccount"`
	Owner             LedgerOwner       `json:"owner"`
	// SettlesForRecipientHandles names the points of sale the ledger
	// settles for: "api:<MSN>" for ePayment and eCom sales units,
	// "NO:<number>" (or DK:, FI:) for a Vippsnummer or MyShop.
	SettlesForRecipientHandles []string `json:"settlesForRecipientHandles"`
}

// LedgerBankAccount is where a ledger's payouts go, e.g. scheme "BBAN:NO"
// and the account number as ID.
type LedgerBankAccount struct {
	Scheme string `json:"scheme"`
	ID     string `json:"id"`
}

// LedgerOwner is the organisation that owns a ledger, e.g. scheme
// "business:NO:ORG" and the organisation number as ID.
type LedgerOwner struct {
	Scheme string `json:"scheme"`
	ID     string `json:"id"`
}

// MSNs returns the Merchant-Serial-Numbers the ledger settles for: its
// "api:" recipient handles without the prefix. Vippsnummer handles are
// left out.
func (l Ledger) MSNs() []string {
	var out []string
	for _, h := range l.SettlesForRecipientHandles {
		if msn, ok := strings.CutPrefix(h, recipientHandlePrefix); ok && msn != "" {
			out = append(out, msn)
		}
	}
	return out
}

// ReportPage is one page of a ledger date or of the feed.
type ReportPage struct {
	Items []ReportEntry
	// Cursor fetches the next page. On a ledger date it is set only when
	// HasMore is. On the feed it is always set: persist it after the page's
	// items are stored, and resume from it, or entries are read twice or
	// never.
	Cursor string
	// HasMore (ledger dates only) says that another page follows now.
	HasMore bool
	// TryLater on a ledger date says the date is still open: the items
	// (there may be some) are not yet the whole day; ask again in at least
	// half an hour, and keep paging now while HasMore is also set. On the
	// feed it says the reader has caught up; wait at least a second (Vipps
	// asks for hourly polling, avoiding the first ten minutes of the hour).
	TryLater bool
	// PageSize is the feed's page size from the Vipps-Feed-Page-Size
	// header; 0 when the header is absent.
	PageSize int
}

// ReportEntry is one movement on a ledger (the Report API's Transaction).
type ReportEntry struct {
	// PSPReference identifies the movement (formerly transactionId). A
	// capture-fee shares it with its capture; a payout's is
	// "<ledgerId>-<payout number>".
	PSPReference string
	Time         time.Time // when it was booked, UTC
	LedgerDate   string    // YYYY-MM-DD, the settlement day it belongs to
	// EntryType is one of the Entry* constants or a type Vipps added since;
	// it is kept as sent.
	EntryType string
	// Reference is the payment's reference (the eCom orderId), or for a
	// payout the bank text.
	Reference string
	Currency  string
	// Amount, BalanceBefore and BalanceAfter are signed minor units.
	Amount        int64
	BalanceBefore int64
	BalanceAfter  int64
	// RecipientHandle is the sales unit, "api:<MSN>" or "NO:<number>";
	// empty when Vipps sends none (payouts, fees retained).
	RecipientHandle string
}

// PayoutNumber returns the payout number that Vipps embeds in a payout
// entry's PSPReference ("<ledgerId>-<payout number>"), and false for any
// other entry.
func (e ReportEntry) PayoutNumber() (string, bool) {
	if e.EntryType != EntryPayoutScheduled && e.EntryType != EntryScheduledForPayout {
		return "", false
	}
	i := strings.LastIndexByte(e.PSPReference, '-')
	if i < 0 || !isDigits(e.PSPReference[i+1:]) {
		return "", false
	}
	return e.PSPReference[i+1:], true
}

// ListLedgers returns the ledgers the sales unit's keys may read
// (GET /settlement/v1/ledgers), following the cursor through every page.
// With msn set, only the ledgers that settle for that MSN are asked for
// (settlesForRecipientHandles=api:<msn>).
func (c *Client) ListLedgers(ctx context.Context, msn string) ([]Ledger, error) {
	q := url.Values{}
	if msn != "" {
		if !isDigits(msn) || len(msn) < 4 || len(msn) > 6 {
			return nil, fmt.Errorf("%w: MSN %q: must be 4 to 6 digits", ErrInvalidInput, msn)
		}
		q.Set("settlesForRecipientHandles", recipientHandlePrefix+msn)
	}
	var out []Ledger
	seen := map[string]bool{}
	for {
		path := ledgersPath
		if len(q) > 0 {
			path += "?" + q.Encode()
		}
		r := &request{op: "ledgers", method: http.MethodGet, path: path, auth: true, resendable: true}
		var page struct {
			Items  []Ledger `json:"items"`
			Cursor string   `json:"cursor"`
		}
		if err := c.call(ctx, r, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if page.Cursor == "" {
			return out, nil
		}
		if seen[page.Cursor] {
			return nil, fmt.Errorf("vipps: GET %s: the ledger cursor %q came back a second time", ledgersPath, page.Cursor)
		}
		seen[page.Cursor] = true
		// With a cursor no other parameter is needed: it carries the filter.
		q = url.Values{"cursor": {page.Cursor}}
	}
}

// LedgerDay reads one page of a ledger date
// (GET /report/v2/ledgers/{ledgerId}/{topic}/dates/{date}); cursor is ""
// for the first page and the previous page's Cursor after that. topic is
// TopicFunds or TopicFees, date is YYYY-MM-DD. A ledger date runs from
// midnight to midnight in the merchant's time zone unless Vipps configured
// another cutoff.
//
// A date that is not yet closed answers with TryLater, not with an error.
// A 404 (IsNotFound) means the ledger does not exist or is not the
// caller's; the spec's older advice to read 404 as "try later" no longer
// holds. AllOfDay reads every page.
func (c *Client) LedgerDay(ctx context.Context, ledgerID, topic, date, cursor string) (*ReportPage, error) {
	if err := checkLedgerTopic(ledgerID, topic); err != nil {
		return nil, err
	}
	if d, err := time.Parse(time.DateOnly, date); err != nil || d.Format(time.DateOnly) != date {
		return nil, fmt.Errorf("%w: ledger date %q: must be YYYY-MM-DD", ErrInvalidInput, date)
	}
	path := apiPath(reportLedgersPath, ledgerID, topic) + "/dates/" + date + cursorQuery(cursor)
	page, err := c.reportPage(ctx, "report-date", path)
	if err != nil {
		return nil, err
	}
	if page.HasMore && page.Cursor == "" {
		return nil, fmt.Errorf("vipps: GET %s: hasMore is true but the answer has no cursor to continue with", path)
	}
	return page, nil
}

// Feed reads the next page of a ledger topic's feed
// (GET /report/v2/ledgers/{ledgerId}/{topic}/feed), a continuous stream of
// every entry in the order Vipps booked them. cursor is "" to start from
// the beginning, else the Cursor of the last page read.
//
// The feed's data never changes (corrections come as new entries) and its
// cursor is always present. Callers must store each page's items and its
// Cursor together, in one transaction, before asking for the next page:
// the cursor is the only record of how far the feed was read. TryLater
// means the reader has caught up; the next call with the same cursor
// returns only entries booked since.
func (c *Client) Feed(ctx context.Context, ledgerID, topic, cursor string) (*ReportPage, error) {
	if err := checkLedgerTopic(ledgerID, topic); err != nil {
		return nil, err
	}
	path := apiPath(reportLedgersPath, ledgerID, topic) + "/feed" + cursorQuery(cursor)
	page, err := c.reportPage(ctx, "report-feed", path)
	if err != nil {
		return nil, err
	}
	if page.Cursor == "" {
		if len(page.Items) > 0 {
			return nil, fmt.Errorf("vipps: GET %s: the feed answered %d entries without a cursor, so the position after them cannot be kept", path, len(page.Items))
		}
		// Nothing was read, so the position is where it was.
		page.Cursor = cursor
	}
	return page, nil
}

// AllOfDay reads every page of a ledger date, following the cursor while
// HasMore is set. open reports that some page said TryLater: the date is
// not closed and must be read again later (at least half an hour later);
// the entries returned are what was booked so far.
func AllOfDay(ctx context.Context, c *Client, ledgerID, topic, date string) (entries []ReportEntry, open bool, err error) {
	cursor := ""
	seen := map[string]bool{}
	for {
		page, err := c.LedgerDay(ctx, ledgerID, topic, date, cursor)
		if err != nil {
			return nil, false, err
		}
		entries = append(entries, page.Items...)
		open = open || page.TryLater
		if !page.HasMore {
			return entries, open, nil
		}
		if seen[page.Cursor] {
			return nil, false, fmt.Errorf("vipps: ledger %s %s %s: the cursor %q came back a second time", ledgerID, topic, date, page.Cursor)
		}
		seen[page.Cursor] = true
		cursor = page.Cursor
	}
}

func checkLedgerTopic(ledgerID, topic string) error {
	if ledgerID == "" {
		return fmt.Errorf("%w: a ledger id is required", ErrInvalidInput)
	}
	if topic != TopicFunds && topic != TopicFees {
		return fmt.Errorf("%w: topic %q: must be %q or %q", ErrInvalidInput, topic, TopicFunds, TopicFees)
	}
	return nil
}

func cursorQuery(cursor string) string {
	if cursor == "" {
		return ""
	}
	return "?" + url.Values{"cursor": {cursor}}.Encode()
}

// reportPageJSON is the answer of the dates and feed endpoints.
type reportPageJSON struct {
	Items    []reportEntryJSON `json:"items"`
	Cursor   string            `json:"cursor"`
	HasMore  bool              `json:"hasMore"`
	TryLater bool              `json:"tryLater"`
}

// reportEntryJSON is a Transaction as sent. The amounts are kept raw so
// that they are read as integers, never through float64.
type reportEntryJSON struct {
	PSPReference    string          `json:"pspReference"`
	Time            string          `json:"time"`
	LedgerDate      string          `json:"ledgerDate"`
	EntryType       string          `json:"entryType"`
	Reference       string          `json:"reference"`
	Currency        string          `json:"currency"`
	Amount          json.RawMessage `json:"amount"`
	BalanceBefore   json.RawMessage `json:"balanceBefore"`
	BalanceAfter    json.RawMessage `json:"balanceAfter"`
	RecipientHandle string          `json:"recipientHandle"`
}

func (c *Client) reportPage(ctx context.Context, op, path string) (*ReportPage, error) {
	r := &request{op: op, method: http.MethodGet, path: path, auth: true, resendable: true}
	res, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	var raw reportPageJSON
	if err := c.decodeJSON(r, res, &raw); err != nil {
		return nil, err
	}
	page := &ReportPage{Cursor: raw.Cursor, HasMore: raw.HasMore, TryLater: raw.TryLater}
	if v := res.header.Get(FeedPageSizeHeader); v != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
			page.PageSize = n
		}
	}
	page.Items = make([]ReportEntry, 0, len(raw.Items))
	for i, item := range raw.Items {
		e, err := item.entry()
		if err != nil {
			return nil, fmt.Errorf("vipps: GET %s: item %d (pspReference %q): %w", path, i, item.PSPReference, err)
		}
		page.Items = append(page.Items, e)
	}
	return page, nil
}

// entry checks and converts one Transaction. The fields reconciliation
// rests on (amounts, balances, time, ledger date, entry type) are
// required: a missing one is an error, never a zero.
func (j reportEntryJSON) entry() (ReportEntry, error) {
	e := ReportEntry{
		PSPReference:    j.PSPReference,
		LedgerDate:      j.LedgerDate,
		EntryType:       j.EntryType,
		Reference:       j.Reference,
		Currency:        j.Currency,
		RecipientHandle: j.RecipientHandle,
	}
	if e.EntryType == "" {
		return ReportEntry{}, errors.New("no entryType")
	}
	if d, err := time.Parse(time.DateOnly, j.LedgerDate); err != nil || d.Format(time.DateOnly) != j.LedgerDate {
		return ReportEntry{}, fmt.Errorf("ledgerDate %q is not YYYY-MM-DD", j.LedgerDate)
	}
	t, err := time.Parse(time.RFC3339Nano, j.Time)
	if err != nil {
		return ReportEntry{}, fmt.Errorf("time %q is not an RFC 3339 timestamp", j.Time)
	}
	e.Time = t.UTC()
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  *int64
	}{
		{"amount", j.Amount, &e.Amount},
		{"balanceBefore", j.BalanceBefore, &e.BalanceBefore},
		{"balanceAfter", j.BalanceAfter, &e.BalanceAfter},
	} {
		v, err := minorUnits(f.raw)
		if err != nil {
			return ReportEntry{}, fmt.Errorf("%s: %w", f.name, err)
		}
		*f.dst = v
	}
	return e, nil
}

// minorUnits reads an amount in minor units. The spec types money as a JSON
// number; a string holding an integer is accepted too. Anything that is not
// a whole number (12.5, 1e3, "100.00") is rejected rather than rounded: a
// decimal here most likely means major units.
func minorUnits(raw json.RawMessage) (int64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return 0, errors.New("missing")
	}
	text := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return 0, fmt.Errorf("%s is not a JSON string: %w", raw, err)
		}
	}
	if !isDigits(strings.TrimPrefix(text, "-")) {
		return 0, fmt.Errorf("%s is not an integer number of minor units", raw)
	}
	v, err := json.Number(text).Int64()
	if err != nil {
		return 0, fmt.Errorf("%s is out of range for minor units", raw)
	}
	return v, nil
}
