package vippstest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // ledger dates are Oslo dates, also on hosts without a zoneinfo database
)

// The fake's Report API serves ledgers and their entries, generated from
// the money the fake really moved:
//
//   - every successful capture books a funds "capture" entry (+amount) and
//     a fees "capture-fee" entry (−fee) with the pspReference of the
//     CAPTURED event;
//   - every successful refund books a funds "refund" entry (−amount), with
//     no fee, as at Vipps today;
//   - when a ledger date (midnight to midnight, Europe/Oslo) is over by the
//     injected clock, and the funds balance less the fees not yet retained
//     is positive, the date gets a funds "fees-retained" entry (−fees, with
//     a positive mirror in fees) and then a "payout-scheduled" entry that
//     takes the balance to zero (net settlement). A date whose balance is
//     not positive pays nothing and its balance carries over.
//
// Dates are closed lazily, in date order, before anything is booked or
// read, so the feed lists entries in the order Vipps would have booked
// them. Each sales unit has its own ledger unless ShareLedger put several
// on one.

// Report topics and the entry types the fake books.
const (
	TopicFunds = "funds"
	TopicFees  = "fees"

	EntryCapture         = "capture"
	EntryRefund          = "refund"
	EntryCaptureFee      = "capture-fee"
	EntryFeesRetained    = "fees-retained"
	EntryPayoutScheduled = "payout-scheduled"
)

const (
	defaultReportPageSize = 1000
	defaultFeeBPS         = 175 // 1.75 %
	firstPayoutNumber     = 2000001
	feedPageSizeHeader    = "Vipps-Feed-Page-Size"
	// reportTimeFormat is how the Report API writes times: UTC with
	// microseconds.
	reportTimeFormat = "2006-01-02T15:04:05.000000Z"
)

// oslo is the merchants' time zone, which ledger dates follow.
var oslo = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		panic("vippstest: loading Europe/Oslo: " + err.Error())
	}
	return loc
}()

var ledgerDatePattern = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

// ReportEntryFake is one entry on a fake ledger, as the Report API serves
// it. Amounts are signed minor units.
type ReportEntryFake struct {
	PSPReference string
	Time         time.Time
	LedgerDate   string // YYYY-MM-DD
	EntryType    string
	Reference    string
	Currency     string
	Amount       int64
	// BalanceBefore and BalanceAfter are kept running by the fake; what
	// AddReportEntry is given is ignored.
	BalanceBefore int64
	BalanceAfter  int64
	// RecipientHandle is "api:<MSN>" for payment entries; "" is served as
	// null, as for payouts.
	RecipientHandle string
}

// Ledger describes a fake ledger.
type Ledger struct {
	ID            string
	Currency      string
	MSNs          []string // the sales units it settles for
	PayoutAccount string   // BBAN:NO account number
	OrgNumber     string
}

// reportState is the Report API's part of the server, guarded by s.mu. The
// zero value is made ready by reports().
type reportState struct {
	ready      bool
	pageSize   int
	feeBPS     int64
	feeFixed   int64
	nextPayout int64
	ledgerOf   map[string]*ledger // by MSN
	ledgers    map[string]*ledger // by ledger id
}

type ledger struct {
	id      string
	msns    []string
	entries map[string][]ReportEntryFake // by topic, in booking order
	balance map[string]int64             // by topic
	open    map[string]bool              // ledger dates with entries, not yet closed
	closed  map[string]bool
}

func (s *Server) reports() *reportState {
	r := &s.report
	if !r.ready {
		*r = reportState{
			ready:      true,
			pageSize:   defaultReportPageSize,
			feeBPS:     defaultFeeBPS,
			nextPayout: firstPayoutNumber,
			ledgerOf:   map[string]*ledger{},
			ledgers:    map[string]*ledger{},
		}
	}
	return r
}

// ledgerFor returns the ledger that settles for msn, creating the unit's
// own ledger on first use. Its id is derived from the MSN, so it is stable.
func (r *reportState) ledgerFor(msn string) *ledger {
	if l, ok := r.ledgerOf[msn]; ok {
		return l
	}
	l := &ledger{
		id:      "30" + msn,
		msns:    []string{msn},
		entries: map[string][]ReportEntryFake{},
		balance: map[string]int64{},
		open:    map[string]bool{},
		closed:  map[string]bool{},
	}
	r.ledgerOf[msn] = l
	r.ledgers[l.id] = l
	return l
}

// sortedLedgers lists the ledgers by id, after giving every sales unit one.
func (s *Server) sortedLedgers() []*ledger {
	r := s.reports()
	for msn := range s.units {
		r.ledgerFor(msn)
	}
	out := make([]*ledger, 0, len(r.ledgers))
	for _, l := range r.ledgers {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b *ledger) int { return strings.Compare(a.id, b.id) })
	return out
}

func (l *ledger) hasEntries() bool {
	return len(l.entries[TopicFunds])+len(l.entries[TopicFees]) > 0
}

func (l *ledger) handles() []string {
	out := make([]string, len(l.msns))
	for i, msn := range l.msns {
		out[i] = "api:" + msn
	}
	return out
}

// book appends e to topic, keeping the balance running.
func (l *ledger) book(topic string, e ReportEntryFake) {
	e.BalanceBefore = l.balance[topic]
	l.balance[topic] += e.Amount
	e.BalanceAfter = l.balance[topic]
	l.entries[topic] = append(l.entries[topic], e)
	if !l.closed[e.LedgerDate] {
		l.open[e.LedgerDate] = true
	}
}

func (s *Server) ledgerCurrency(l *ledger) string {
	if u, ok := s.units[l.msns[0]]; ok {
		return u.Currency
	}
	return "NOK"
}

func (l *ledger) info(currency string) Ledger {
	return Ledger{
		ID:            l.id,
		Currency:      currency,
		MSNs:          slices.Clone(l.msns),
		PayoutAccount: "8601" + zeroPad(l.msns[0], 7),
		OrgNumber:     "9" + zeroPad(l.msns[0], 8),
	}
}

func zeroPad(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return strings.Repeat("0", n-len(s)) + s
}

// osloDate is the ledger date of t.
func osloDate(t time.Time) string { return t.In(oslo).Format(time.DateOnly) }

// closeTime is the midnight (Oslo) that ends ledger date d.
func closeTime(d string) (time.Time, bool) {
	t, err := time.ParseInLocation(time.DateOnly, d, oslo)
	if err != nil || t.Format(time.DateOnly) != d {
		return time.Time{}, false
	}
	return time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, oslo), true
}

// fee is the capture fee in minor units: bps basis points of amount,
// rounded half up, plus the fixed part. Integer arithmetic only.
func (r *reportState) fee(amount int64) int64 {
	q, rem := amount/10000, amount%10000
	return q*r.feeBPS + (rem*r.feeBPS+5000)/10000 + r.feeFixed
}

// closeLedgerDates closes every ledger date that is over at now, oldest
// first, booking fees retained and payouts.
func (s *Server) closeLedgerDates(now time.Time) {
	type due struct {
		date string
		l    *ledger
	}
	var dues []due
	for _, l := range s.reports().ledgers {
		for d := range l.open {
			if at, ok := closeTime(d); ok && !now.Before(at) {
				dues = append(dues, due{d, l})
			}
		}
	}
	slices.SortFunc(dues, func(a, b due) int {
		if c := strings.Compare(a.date, b.date); c != 0 {
			return c
		}
		return strings.Compare(a.l.id, b.l.id)
	})
	for _, d := range dues {
		s.closeDate(d.l, d.date)
	}
}

func (s *Server) closeDate(l *ledger, d string) {
	r := s.reports()
	at, _ := closeTime(d)
	at = at.UTC()
	delete(l.open, d)
	l.closed[d] = true
	funds := l.balance[TopicFunds]
	retain := min(l.balance[TopicFees], 0) // fees not yet retained, negative
	payout := funds + retain
	if funds <= 0 || payout <= 0 {
		return // no settlement; the balance carries over
	}
	currency := s.ledgerCurrency(l)
	if retain < 0 {
		psp := s.newPSPReference()
		l.book(TopicFunds, ReportEntryFake{PSPReference: psp, Time: at, LedgerDate: d, EntryType: EntryFeesRetained, Currency: currency, Amount: retain})
		l.book(TopicFees, ReportEntryFake{PSPReference: psp, Time: at, LedgerDate: d, EntryType: EntryFeesRetained, Currency: currency, Amount: -retain})
	}
	n := r.nextPayout
	r.nextPayout++
	l.book(TopicFunds, ReportEntryFake{
		PSPReference: l.id + "-" + strconv.FormatInt(n, 10),
		Time:         at,
		LedgerDate:   d,
		EntryType:    EntryPayoutScheduled,
		Reference:    fmt.Sprintf("Vipps utbet. %d Vippsnr %s", n, l.msns[0]),
		Currency:     currency,
		Amount:       -payout,
	})
}

// bookMovement books a successful capture or refund on the sales unit's
// ledger. emit calls it for every event, with s.mu held.
func (s *Server) bookMovement(p *payment, ev Event) {
	if !ev.Success || (ev.Name != EventCaptured && ev.Name != EventRefunded) {
		return
	}
	s.closeLedgerDates(ev.Timestamp)
	r := s.reports()
	l := r.ledgerFor(p.msn)
	e := ReportEntryFake{
		PSPReference:    ev.PSPReference,
		Time:            ev.Timestamp.UTC(),
		LedgerDate:      osloDate(ev.Timestamp),
		Reference:       p.reference,
		Currency:        ev.Amount.Currency,
		RecipientHandle: "api:" + p.msn,
	}
	if ev.Name == EventRefunded {
		e.EntryType, e.Amount = EntryRefund, -ev.Amount.Value
		l.book(TopicFunds, e)
		return
	}
	e.EntryType, e.Amount = EntryCapture, ev.Amount.Value
	l.book(TopicFunds, e)
	if fee := r.fee(ev.Amount.Value); fee > 0 {
		e.EntryType, e.Amount = EntryCaptureFee, -fee
		l.book(TopicFees, e)
	}
}

// Configuration and inspection.

// SetFee sets the capture fee for captures from now on: bps basis points
// of the amount (175 = 1.75 %, the default), rounded half up to the minor
// unit, plus fixed minor units (default 0).
func (s *Server) SetFee(bps, fixed int64) {
	if bps < 0 || bps > 10000 || fixed < 0 {
		panic(fmt.Sprintf("vippstest: SetFee(%d, %d): bps must be 0 to 10000 and fixed not negative", bps, fixed))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reports()
	r.feeBPS, r.feeFixed = bps, fixed
}

// SetReportPageSize sets how many items one page of the Report API holds
// (ledgers, ledger dates and the feed); n <= 0 restores the default, 1000.
func (s *Server) SetReportPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		n = defaultReportPageSize
	}
	s.reports().pageSize = n
}

// ShareLedger makes msns settle on one ledger, the first MSN's, as Vipps
// can configure for several ePayment sales units. Call it before money
// moves on the others: it panics when one of them already has entries on
// a ledger of its own.
func (s *Server) ShareLedger(msns ...string) {
	if len(msns) == 0 {
		panic("vippstest: ShareLedger: no MSN given")
	}
	for _, msn := range msns {
		if !msnPattern.MatchString(msn) {
			panic("vippstest: ShareLedger: MSN must match ^[0-9]{4,6}$, got " + strconv.Quote(msn))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reports()
	target := r.ledgerFor(msns[0])
	for _, msn := range msns[1:] {
		old := r.ledgerOf[msn]
		if old == target {
			continue
		}
		if old != nil {
			if old.hasEntries() {
				panic("vippstest: ShareLedger: MSN " + msn + " already has entries on ledger " + old.id)
			}
			old.msns = slices.DeleteFunc(old.msns, func(m string) bool { return m == msn })
			if len(old.msns) == 0 {
				delete(r.ledgers, old.id)
			}
		}
		target.msns = append(target.msns, msn)
		r.ledgerOf[msn] = target
	}
}

// Ledgers lists every ledger by id; each sales unit has one.
func (s *Server) Ledgers() []Ledger {
	s.mu.Lock()
	defer s.mu.Unlock()
	ls := s.sortedLedgers()
	out := make([]Ledger, len(ls))
	for i, l := range ls {
		out[i] = l.info(s.ledgerCurrency(l))
	}
	return out
}

// LedgerID returns the id of the ledger that settles for msn.
func (s *Server) LedgerID(msn string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reports().ledgerFor(msn).id
}

// ReportEntries returns the entries of the ledger that settles for msn in
// one topic, in booking order, with the dates that are over closed first.
func (s *Server) ReportEntries(msn, topic string) []ReportEntryFake {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLedgerDates(s.now())
	return slices.Clone(s.reports().ledgerFor(msn).entries[topic])
}

// AddReportEntry books e on the ledger that settles for ledgerMSN in topic
// (TopicFunds or TopicFees), to plant what the payments do not explain: a
// capture Vipps knows and the shop does not, a wrong fee, a correction. A
// zero Time is now, an empty LedgerDate the Oslo date of Time, an empty
// PSPReference a new one, an empty Currency the ledger's. The entry counts
// in the running balance and, if its date is still open, in that date's
// payout. It panics on an unknown topic or a malformed date.
func (s *Server) AddReportEntry(ledgerMSN, topic string, e ReportEntryFake) {
	if topic != TopicFunds && topic != TopicFees {
		panic("vippstest: AddReportEntry: topic must be funds or fees, got " + strconv.Quote(topic))
	}
	if !msnPattern.MatchString(ledgerMSN) {
		panic("vippstest: AddReportEntry: MSN must match ^[0-9]{4,6}$, got " + strconv.Quote(ledgerMSN))
	}
	if e.EntryType == "" {
		panic("vippstest: AddReportEntry: EntryType is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.closeLedgerDates(now)
	l := s.reports().ledgerFor(ledgerMSN)
	if e.Time.IsZero() {
		e.Time = now
	}
	e.Time = e.Time.UTC()
	if e.LedgerDate == "" {
		e.LedgerDate = osloDate(e.Time)
	}
	if _, ok := closeTime(e.LedgerDate); !ok {
		panic("vippstest: AddReportEntry: LedgerDate must be YYYY-MM-DD, got " + strconv.Quote(e.LedgerDate))
	}
	if e.PSPReference == "" {
		e.PSPReference = s.newPSPReference()
	}
	if e.Currency == "" {
		e.Currency = s.ledgerCurrency(l)
	}
	l.book(topic, e)
}

// HTTP.

// schemeIDJSON is a bank account or an organisation: an id in a scheme.
type schemeIDJSON struct {
	Scheme string `json:"scheme"`
	ID     string `json:"id"`
}

type ledgerJSON struct {
	LedgerID                   string       `json:"ledgerId"`
	Currency                   string       `json:"currency"`
	PayoutBankAccount          schemeIDJSON `json:"payoutBankAccount"`
	Owner                      schemeIDJSON `json:"owner"`
	SettlesForRecipientHandles []string     `json:"settlesForRecipientHandles"`
}

type ledgersJSON struct {
	Items  []ledgerJSON `json:"items"`
	Cursor string       `json:"cursor,omitempty"`
}

type reportEntryJSON struct {
	PSPReference    string  `json:"pspReference"`
	Time            string  `json:"time"`
	LedgerDate      string  `json:"ledgerDate"`
	EntryType       string  `json:"entryType"`
	Reference       string  `json:"reference"`
	Currency        string  `json:"currency"`
	Amount          int64   `json:"amount"`
	BalanceBefore   int64   `json:"balanceBefore"`
	BalanceAfter    int64   `json:"balanceAfter"`
	RecipientHandle *string `json:"recipientHandle"`
}

// datePageJSON is a page of the dates endpoint; the cursor is there only
// with hasMore.
type datePageJSON struct {
	Items    []reportEntryJSON `json:"items"`
	Cursor   string            `json:"cursor,omitempty"`
	HasMore  bool              `json:"hasMore"`
	TryLater bool              `json:"tryLater"`
}

// feedPageJSON is a page of the feed; its cursor is always there.
type feedPageJSON struct {
	Items    []reportEntryJSON `json:"items"`
	Cursor   string            `json:"cursor"`
	TryLater bool              `json:"tryLater"`
}

func (e ReportEntryFake) toJSON() reportEntryJSON {
	out := reportEntryJSON{
		PSPReference:  e.PSPReference,
		Time:          e.Time.UTC().Format(reportTimeFormat),
		LedgerDate:    e.LedgerDate,
		EntryType:     e.EntryType,
		Reference:     e.Reference,
		Currency:      e.Currency,
		Amount:        e.Amount,
		BalanceBefore: e.BalanceBefore,
		BalanceAfter:  e.BalanceAfter,
	}
	if e.RecipientHandle != "" {
		h := e.RecipientHandle
		out.RecipientHandle = &h
	}
	return out
}

func entriesJSON(es []ReportEntryFake) []reportEntryJSON {
	out := make([]reportEntryJSON, len(es))
	for i, e := range es {
		out[i] = e.toJSON()
	}
	return out
}

// reportCursor is what the fake's cursors hold, base64-encoded JSON like
// the real ones. It names what it pages through, so that a cursor is not
// accepted for another ledger, topic, date or filter.
type reportCursor struct {
	LedgerID   string `json:"ledgerId,omitempty"`
	Topic      string `json:"topic,omitempty"`
	LedgerDate string `json:"ledgerDate,omitempty"`
	Filter     string `json:"settlesForRecipientHandles,omitempty"`
	Offset     int    `json:"offset"`
}

func (rc reportCursor) encode() string {
	return base64.StdEncoding.EncodeToString(marshalJSON(rc))
}

func decodeCursor(raw string) (reportCursor, bool) {
	b, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return reportCursor{}, false
	}
	var rc reportCursor
	if json.Unmarshal(b, &rc) != nil || rc.Offset < 0 {
		return reportCursor{}, false
	}
	return rc, true
}

func (c *call) badCursor() response {
	return c.invalid(field("cursor", "The cursor is not valid for this request."))
}

// page cuts one page out of n items from offset.
func page(offset, size, n int) (from, to int) {
	from = min(offset, n)
	return from, min(from+size, n)
}

// handleLedgers is GET /settlement/v1/ledgers: the ledgers that settle
// for the caller's sales unit.
func (s *Server) handleLedgers(c *call) response {
	q := c.r.URL.Query()
	filter, offset := q.Get("settlesForRecipientHandles"), 0
	if raw := q.Get("cursor"); raw != "" {
		rc, ok := decodeCursor(raw)
		if !ok || rc.LedgerID != "" || rc.Topic != "" {
			return c.badCursor()
		}
		// The cursor carries the filter, as at Vipps.
		filter, offset = rc.Filter, rc.Offset
	}
	var visible []*ledger
	for _, l := range s.sortedLedgers() {
		if c.seesLedger(l) && (filter == "" || slices.Contains(l.handles(), filter)) {
			visible = append(visible, l)
		}
	}
	from, to := page(offset, s.reports().pageSize, len(visible))
	out := ledgersJSON{Items: make([]ledgerJSON, 0, to-from)}
	for _, l := range visible[from:to] {
		info := l.info(s.ledgerCurrency(l))
		out.Items = append(out.Items, ledgerJSON{
			LedgerID:                   info.ID,
			Currency:                   info.Currency,
			PayoutBankAccount:          schemeIDJSON{Scheme: "BBAN:NO", ID: info.PayoutAccount},
			Owner:                      schemeIDJSON{Scheme: "business:NO:ORG", ID: info.OrgNumber},
			SettlesForRecipientHandles: l.handles(),
		})
	}
	if to < len(visible) {
		out.Cursor = reportCursor{Filter: filter, Offset: to}.encode()
	}
	return jsonResponse(http.StatusOK, out)
}

// reportLedger resolves {ledgerId} and {topic}: a ledger that does not
// exist or does not settle for the caller is 404, as at Vipps.
func (s *Server) reportLedger(c *call) (*ledger, string, response, bool) {
	id, topic := c.r.PathValue("ledgerId"), c.r.PathValue("topic")
	if topic != TopicFunds && topic != TopicFees {
		return nil, "", c.invalid(field("topic", "The field topic must be one of: funds, fees.")), false
	}
	s.sortedLedgers() // every sales unit has its ledger
	l, ok := s.reports().ledgers[id]
	if !ok || !c.seesLedger(l) {
		return nil, "", c.problem(http.StatusNotFound, "Not Found", "No ledger "+strconv.Quote(id)+" is available to these API keys.", nil), false
	}
	s.closeLedgerDates(s.now())
	return l, topic, response{}, true
}

// handleReportDate is GET /report/v2/ledgers/{ledgerId}/{topic}/dates/{ledgerDate}.
// A date that is not over yet answers with what is booked so far and
// tryLater; a closed date answers in full.
func (s *Server) handleReportDate(c *call) response {
	date := c.r.PathValue("ledgerDate")
	end, ok := closeTime(date)
	if !ledgerDatePattern.MatchString(date) || !ok {
		return c.invalid(field("ledgerDate", "The field ledgerDate must be a date in the format YYYY-MM-DD."))
	}
	l, topic, resp, ok := s.reportLedger(c)
	if !ok {
		return resp
	}
	offset := 0
	if raw := c.r.URL.Query().Get("cursor"); raw != "" {
		rc, ok := decodeCursor(raw)
		if !ok || rc.LedgerID != l.id || rc.Topic != topic || rc.LedgerDate != date {
			return c.badCursor()
		}
		offset = rc.Offset
	}
	var day []ReportEntryFake
	for _, e := range l.entries[topic] {
		if e.LedgerDate == date {
			day = append(day, e)
		}
	}
	from, to := page(offset, s.reports().pageSize, len(day))
	out := datePageJSON{
		Items:    entriesJSON(day[from:to]),
		HasMore:  to < len(day),
		TryLater: s.now().Before(end),
	}
	if out.HasMore {
		out.Cursor = reportCursor{LedgerID: l.id, Topic: topic, LedgerDate: date, Offset: to}.encode()
	}
	return jsonResponse(http.StatusOK, out)
}

// handleReportFeed is GET /report/v2/ledgers/{ledgerId}/{topic}/feed: every
// entry in booking order. The cursor is always returned; tryLater says the
// reader has caught up.
func (s *Server) handleReportFeed(c *call) response {
	l, topic, resp, ok := s.reportLedger(c)
	if !ok {
		return resp
	}
	offset := 0
	if raw := c.r.URL.Query().Get("cursor"); raw != "" {
		rc, ok := decodeCursor(raw)
		if !ok || rc.LedgerID != l.id || rc.Topic != topic || rc.LedgerDate != "" {
			return c.badCursor()
		}
		offset = rc.Offset
	}
	all := l.entries[topic]
	size := s.reports().pageSize
	from, to := page(offset, size, len(all))
	out := feedPageJSON{
		Items:    entriesJSON(all[from:to]),
		Cursor:   reportCursor{LedgerID: l.id, Topic: topic, Offset: to}.encode(),
		TryLater: to >= len(all),
	}
	resp = jsonResponse(http.StatusOK, out)
	resp.header.Set(feedPageSizeHeader, strconv.Itoa(size))
	return resp
}
