package vippstest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Test-side wire types of the Report API.

type wireLedger struct {
	LedgerID          string `json:"ledgerId"`
	Currency          string `json:"currency"`
	PayoutBankAccount struct {
		Scheme string `json:"scheme"`
		ID     string `json:"id"`
	} `json:"payoutBankAccount"`
	Owner struct {
		Scheme string `json:"scheme"`
		ID     string `json:"id"`
	} `json:"owner"`
	SettlesForRecipientHandles []string `json:"settlesForRecipientHandles"`
}

type wireEntry struct {
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

type wireReportPage struct {
	Items    []wireEntry `json:"items"`
	Cursor   *string     `json:"cursor"`
	HasMore  *bool       `json:"hasMore"`
	TryLater bool        `json:"tryLater"`
}

// midnight1 ends ledger date 2026-03-02 in Oslo (UTC+1 in March).
var midnight1 = time.Date(2026, 3, 2, 23, 0, 0, 0, time.UTC)

// pay creates, approves and captures value in full.
func (h *harness) pay(ref string, value int64) {
	h.t.Helper()
	h.mustCreate(ref, value)
	h.forceApprove(ref)
	h.mod(h.capture(ref, "cap-"+ref, value))
}

// advanceTo moves the clock and fetches a fresh token, since an hour-old
// token is expired.
func (h *harness) advanceTo(t time.Time) {
	h.t.Helper()
	h.clock.Set(t)
	h.token = h.fetchToken(h.unit)
}

func (h *harness) ledgers(query string) (int, []byte) {
	h.t.Helper()
	return h.call(http.MethodGet, "/settlement/v1/ledgers"+query, nil, nil)
}

func (h *harness) reportGet(path string) (wireReportPage, http.Header) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.srv.URL()+path, nil)
	require.NoError(h.t, err)
	req.Header = h.headers(nil)
	resp, err := noRedirect.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	var p wireReportPage
	require.Equal(h.t, http.StatusOK, resp.StatusCode, path)
	require.NoError(h.t, json.NewDecoder(resp.Body).Decode(&p))
	require.NotNil(h.t, p.Items, "items must be a list, never null")
	return p, resp.Header
}

func (h *harness) day(ledgerID, topic, date, cursor string) wireReportPage {
	h.t.Helper()
	path := "/report/v2/ledgers/" + ledgerID + "/" + topic + "/dates/" + date
	if cursor != "" {
		path += "?cursor=" + url.QueryEscape(cursor)
	}
	p, _ := h.reportGet(path)
	require.NotNil(h.t, p.HasMore, "the dates endpoint always says hasMore")
	return p
}

func (h *harness) feed(ledgerID, topic, cursor string) (wireReportPage, http.Header) {
	h.t.Helper()
	path := "/report/v2/ledgers/" + ledgerID + "/" + topic + "/feed"
	if cursor != "" {
		path += "?cursor=" + url.QueryEscape(cursor)
	}
	p, hdr := h.reportGet(path)
	require.NotNil(h.t, p.Cursor, "the feed always has a cursor")
	require.NotEmpty(h.t, *p.Cursor)
	return p, hdr
}

func types(es []wireEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.EntryType
	}
	return out
}

func amounts(es []wireEntry) []int64 {
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.Amount
	}
	return out
}

// requireRunningBalance checks that each entry starts where the previous
// one ended and moves by its amount.
func requireRunningBalance(t *testing.T, es []wireEntry, start int64) {
	t.Helper()
	bal := start
	for i, e := range es {
		require.Equal(t, bal, e.BalanceBefore, "entry %d (%s) balanceBefore", i, e.EntryType)
		require.Equal(t, e.BalanceBefore+e.Amount, e.BalanceAfter, "entry %d (%s) balanceAfter", i, e.EntryType)
		bal = e.BalanceAfter
	}
}

func TestReportLedgers(t *testing.T) {
	h := newHarness(t, Options{})
	status, body := h.ledgers("")
	require.Equal(t, http.StatusOK, status, string(body))
	var out struct {
		Items  []wireLedger `json:"items"`
		Cursor string       `json:"cursor"`
	}
	require.NoError(t, json.Unmarshal(body, &out))
	require.Len(t, out.Items, 1, "a sales unit's keys see its own ledger only")
	l := out.Items[0]
	assert.Equal(t, h.srv.LedgerID(testUnit.MSN), l.LedgerID)
	assert.Equal(t, "NOK", l.Currency)
	assert.Equal(t, []string{"api:123456"}, l.SettlesForRecipientHandles)
	assert.Equal(t, "BBAN:NO", l.PayoutBankAccount.Scheme)
	assert.Len(t, l.PayoutBankAccount.ID, 11)
	assert.Equal(t, "business:NO:ORG", l.Owner.Scheme)
	assert.Len(t, l.Owner.ID, 9)
	assert.Empty(t, out.Cursor)

	status, body = h.ledgers("?settlesForRecipientHandles=api:654321")
	require.Equal(t, http.StatusOK, status, string(body))
	require.NoError(t, json.Unmarshal(body, &out))
	assert.Empty(t, out.Items, "the other unit's ledger is not visible")

	status, body = h.ledgers("?cursor=bm9wZQ")
	requireFields(t, status, body, "cursor")

	status, body = h.call(http.MethodGet, "/settlement/v1/ledgers", nil, map[string]string{"Authorization": ""})
	apimMessage(t, status, body, http.StatusUnauthorized)

	all := h.srv.Ledgers()
	require.Len(t, all, 2)
	assert.Equal(t, []string{testUnit.MSN}, all[0].MSNs)
	assert.Equal(t, []string{otherUnit.MSN}, all[1].MSNs)
}

func TestReportDayCloseFeesAndPayout(t *testing.T) {
	h := newHarness(t, Options{})
	id := h.srv.LedgerID(testUnit.MSN)
	h.pay("report-order-1", 10000)
	h.pay("report-order-2", 20000)
	h.mod(h.refund("report-order-2", "refund-1", 5000))
	h.pay("report-order-3", 200) // fee 3.5 øre rounds up to 4

	p := h.day(id, TopicFunds, "2026-03-02", "")
	assert.True(t, p.TryLater, "the day is open")
	assert.False(t, *p.HasMore)
	assert.Nil(t, p.Cursor, "no cursor without hasMore")
	assert.Equal(t, []string{"capture", "capture", "refund", "capture"}, types(p.Items))
	assert.Equal(t, []int64{10000, 20000, -5000, 200}, amounts(p.Items))

	snap, ok := h.srv.Payment("report-order-1")
	require.True(t, ok)
	captured := snap.Events[len(snap.Events)-1]
	require.Equal(t, EventCaptured, captured.Name)
	first := p.Items[0]
	assert.Equal(t, captured.PSPReference, first.PSPReference, "the capture entry carries the CAPTURED event's pspReference")
	assert.Equal(t, "report-order-1", first.Reference)
	assert.Equal(t, "api:123456", *first.RecipientHandle)
	assert.Equal(t, "2026-03-02T10:00:00.000000Z", first.Time)
	assert.Equal(t, "NOK", first.Currency)

	fees := h.day(id, TopicFees, "2026-03-02", "")
	assert.Equal(t, []string{"capture-fee", "capture-fee", "capture-fee"}, types(fees.Items))
	assert.Equal(t, []int64{-175, -350, -4}, amounts(fees.Items), "1.75 %, negative, rounded half up")
	assert.Equal(t, p.Items[0].PSPReference, fees.Items[0].PSPReference, "a fee shares its capture's pspReference")
	assert.Equal(t, p.Items[1].PSPReference, fees.Items[1].PSPReference)

	h.advanceTo(midnight1.Add(-time.Second))
	assert.True(t, h.day(id, TopicFunds, "2026-03-02", "").TryLater, "open until midnight in Oslo")

	h.advanceTo(midnight1)
	p = h.day(id, TopicFunds, "2026-03-02", "")
	assert.False(t, p.TryLater, "closed at midnight in Oslo")
	assert.Equal(t, []string{"capture", "capture", "refund", "capture", "fees-retained", "payout-scheduled"}, types(p.Items))
	requireRunningBalance(t, p.Items, 0)
	retained, payout := p.Items[4], p.Items[5]
	assert.Equal(t, int64(-529), retained.Amount)
	assert.Equal(t, int64(-(25200 - 529)), payout.Amount)
	assert.Equal(t, int64(0), payout.BalanceAfter, "the payout empties the ledger")
	assert.Equal(t, id+"-2000001", payout.PSPReference)
	assert.Equal(t, "Vipps utbet. 2000001 Vippsnr 123456", payout.Reference)
	assert.Nil(t, payout.RecipientHandle)
	assert.Equal(t, "2026-03-02", payout.LedgerDate)
	assert.Equal(t, "2026-03-02T23:00:00.000000Z", payout.Time)

	fees = h.day(id, TopicFees, "2026-03-02", "")
	assert.Equal(t, []int64{-175, -350, -4, 529}, amounts(fees.Items), "fees-retained mirrors the funds entry")
	assert.Equal(t, retained.PSPReference, fees.Items[3].PSPReference)
	requireRunningBalance(t, fees.Items, 0)

	next := h.day(id, TopicFunds, "2026-03-03", "")
	assert.True(t, next.TryLater)
	assert.Empty(t, next.Items)
}

func TestReportDayPages(t *testing.T) {
	h := newHarness(t, Options{})
	h.srv.SetReportPageSize(2)
	id := h.srv.LedgerID(testUnit.MSN)
	for _, ref := range []string{"page-order-1", "page-order-2", "page-order-3"} {
		h.pay(ref, 10000)
	}
	h.advanceTo(midnight1.Add(time.Hour))

	var all []wireEntry
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		p := h.day(id, TopicFunds, "2026-03-02", cursor)
		assert.False(t, p.TryLater)
		assert.LessOrEqual(t, len(p.Items), 2)
		all = append(all, p.Items...)
		if !*p.HasMore {
			assert.Nil(t, p.Cursor)
			break
		}
		require.NotNil(t, p.Cursor)
		cursor = *p.Cursor
	}
	assert.Equal(t, []string{"capture", "capture", "capture", "fees-retained", "payout-scheduled"}, types(all))

	// A cursor is bound to its ledger, topic and date.
	require.NotEmpty(t, cursor)
	status, body := h.call(http.MethodGet, "/report/v2/ledgers/"+id+"/fees/dates/2026-03-02?cursor="+url.QueryEscape(cursor), nil, nil)
	requireFields(t, status, body, "cursor")
}

func TestReportFeed(t *testing.T) {
	h := newHarness(t, Options{})
	h.srv.SetReportPageSize(2)
	id := h.srv.LedgerID(testUnit.MSN)
	h.pay("feed-order-1", 10000)
	h.pay("feed-order-2", 10000)
	h.pay("feed-order-3", 10000)

	var seen []wireEntry
	cursor := ""
	for {
		p, hdr := h.feed(id, TopicFunds, cursor)
		assert.Equal(t, "2", hdr.Get("Vipps-Feed-Page-Size"))
		assert.Nil(t, p.HasMore, "the feed has no hasMore")
		seen = append(seen, p.Items...)
		cursor = *p.Cursor // persisted after every page
		if p.TryLater {
			break
		}
	}
	assert.Equal(t, []string{"capture", "capture", "capture"}, types(seen))

	p, _ := h.feed(id, TopicFunds, cursor)
	assert.True(t, p.TryLater)
	assert.Empty(t, p.Items, "caught up")
	assert.Equal(t, cursor, *p.Cursor, "the cursor stays where it was")

	// The next day: the close and a new capture arrive, only they.
	h.advanceTo(midnight1.Add(9 * time.Hour))
	h.pay("feed-order-4", 5000)
	p, _ = h.feed(id, TopicFunds, cursor)
	require.False(t, p.TryLater)
	assert.Equal(t, []string{"fees-retained", "payout-scheduled"}, types(p.Items))
	p, _ = h.feed(id, TopicFunds, *p.Cursor)
	assert.True(t, p.TryLater)
	assert.Equal(t, []string{"capture"}, types(p.Items))
	assert.Equal(t, "feed-order-4", p.Items[0].Reference)
	assert.Equal(t, "2026-03-03", p.Items[0].LedgerDate)
	requireRunningBalance(t, seen, 0)

	h.srv.SetReportPageSize(0)
	_, hdr := h.feed(id, TopicFees, "")
	assert.Equal(t, "1000", hdr.Get("Vipps-Feed-Page-Size"))

	status, body := h.call(http.MethodGet, "/report/v2/ledgers/"+id+"/fees/feed?cursor="+url.QueryEscape(cursor), nil, nil)
	requireFields(t, status, body, "cursor")
}

func TestReportNoPayoutOnNegativeBalance(t *testing.T) {
	h := newHarness(t, Options{})
	id := h.srv.LedgerID(testUnit.MSN)
	h.pay("neg-order-1", 10000)
	h.advanceTo(midnight1.Add(8 * time.Hour)) // 2026-03-03
	h.mod(h.refund("neg-order-1", "refund-neg-1", 10000))
	h.advanceTo(midnight1.Add(32 * time.Hour)) // 2026-03-04
	h.pay("neg-order-2", 30000)
	h.advanceTo(midnight1.Add(48 * time.Hour)) // 2026-03-05, 00:00

	d2 := h.day(id, TopicFunds, "2026-03-03", "")
	assert.False(t, d2.TryLater)
	assert.Equal(t, []string{"refund"}, types(d2.Items), "a negative balance pays nothing")
	assert.Equal(t, int64(-10000), d2.Items[0].BalanceAfter)

	d3 := h.day(id, TopicFunds, "2026-03-04", "")
	assert.Equal(t, []string{"capture", "fees-retained", "payout-scheduled"}, types(d3.Items))
	assert.Equal(t, int64(-525), d3.Items[1].Amount)
	assert.Equal(t, int64(-(30000 - 10000 - 525)), d3.Items[2].Amount, "the carried balance is netted")
	assert.Equal(t, int64(0), d3.Items[2].BalanceAfter)
	assert.Equal(t, id+"-2000002", d3.Items[2].PSPReference)
}

func TestReportSharedLedger(t *testing.T) {
	h := newHarness(t, Options{})
	h.srv.ShareLedger(testUnit.MSN, otherUnit.MSN)
	id := h.srv.LedgerID(testUnit.MSN)
	require.Equal(t, id, h.srv.LedgerID(otherUnit.MSN))
	require.Len(t, h.srv.Ledgers(), 1)

	h.pay("shared-order-1", 10000)
	other := &harness{t: t, srv: h.srv, clock: h.clock, unit: otherUnit}
	other.token = other.fetchToken(otherUnit)
	other.pay("shared-order-2", 20000)

	for _, hh := range []*harness{h, other} {
		status, body := hh.ledgers("?settlesForRecipientHandles=api:" + hh.unit.MSN)
		require.Equal(t, http.StatusOK, status, string(body))
		var out struct{ Items []wireLedger }
		require.NoError(t, json.Unmarshal(body, &out))
		require.Len(t, out.Items, 1)
		assert.Equal(t, id, out.Items[0].LedgerID)
		assert.Equal(t, []string{"api:123456", "api:654321"}, out.Items[0].SettlesForRecipientHandles)
	}

	h.advanceTo(midnight1)
	p := h.day(id, TopicFunds, "2026-03-02", "")
	assert.Equal(t, []string{"capture", "capture", "fees-retained", "payout-scheduled"}, types(p.Items))
	assert.Equal(t, "api:123456", *p.Items[0].RecipientHandle)
	assert.Equal(t, "api:654321", *p.Items[1].RecipientHandle)
	assert.Equal(t, int64(-(30000 - 525)), p.Items[3].Amount)

	assert.Panics(t, func() { h.srv.ShareLedger("111111", testUnit.MSN) }, "a unit with entries cannot move")
}

func TestReportAccessAndValidation(t *testing.T) {
	h := newHarness(t, Options{})
	otherID := h.srv.LedgerID(otherUnit.MSN)
	id := h.srv.LedgerID(testUnit.MSN)
	tests := []struct {
		name, path string
		status     int
		field      string
	}{
		{"unknown ledger", "/report/v2/ledgers/999/funds/dates/2026-03-02", 404, ""},
		{"another unit's ledger", "/report/v2/ledgers/" + otherID + "/funds/feed", 404, ""},
		{"unknown topic", "/report/v2/ledgers/" + id + "/money/feed", 400, "topic"},
		{"bad date", "/report/v2/ledgers/" + id + "/funds/dates/2026-02-30", 400, "ledgerDate"},
		{"short date", "/report/v2/ledgers/" + id + "/funds/dates/2026-3-2", 400, "ledgerDate"},
		{"garbage cursor", "/report/v2/ledgers/" + id + "/funds/feed?cursor=bm9wZQ", 400, "cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := h.call(http.MethodGet, tt.path, nil, nil)
			if tt.field != "" {
				requireFields(t, status, body, tt.field)
				return
			}
			p := decodeProblem(t, body)
			assert.Equal(t, tt.status, status)
			assert.Equal(t, tt.status, p.Status)
		})
	}
	status, body := h.call(http.MethodGet, "/report/v2/ledgers/"+id+"/funds/feed", nil, map[string]string{"Merchant-Serial-Number": ""})
	requireFields(t, status, body, "Merchant-Serial-Number")
	assert.Positive(t, h.srv.Calls(OpReportFeed))
}

func TestReportAddEntryAndFee(t *testing.T) {
	h := newHarness(t, Options{})
	h.srv.SetFee(250, 100) // 2.5 % + 1 kr
	id := h.srv.LedgerID(testUnit.MSN)
	h.pay("fee-order-1", 10001) // 250.025 → 250, + 100
	h.srv.AddReportEntry(testUnit.MSN, TopicFunds, ReportEntryFake{
		EntryType: "capture", Reference: "unknown-to-shop", Amount: 5000, RecipientHandle: "api:123456",
	})
	h.srv.AddReportEntry(testUnit.MSN, TopicFees, ReportEntryFake{EntryType: "service-fee", Amount: -99})

	fees := h.srv.ReportEntries(testUnit.MSN, TopicFees)
	require.Len(t, fees, 2)
	assert.Equal(t, int64(-350), fees[0].Amount)
	assert.Equal(t, "service-fee", fees[1].EntryType)
	assert.NotEmpty(t, fees[1].PSPReference)
	assert.Equal(t, "2026-03-02", fees[1].LedgerDate)

	h.advanceTo(midnight1)
	p := h.day(id, TopicFunds, "2026-03-02", "")
	assert.Equal(t, []string{"capture", "capture", "fees-retained", "payout-scheduled"}, types(p.Items))
	assert.Equal(t, int64(-449), p.Items[2].Amount)
	assert.Equal(t, int64(-(15001 - 449)), p.Items[3].Amount, "planted entries count in the payout")

	assert.Panics(t, func() { h.srv.AddReportEntry(testUnit.MSN, "money", ReportEntryFake{EntryType: "x"}) })
	assert.Panics(t, func() { h.srv.SetFee(-1, 0) })
}

func TestReportFeeRounding(t *testing.T) {
	r := &reportState{feeBPS: 175}
	for _, tt := range []struct{ amount, want int64 }{
		{10000, 175}, {200, 4}, {199, 3}, {49900, 873}, {1, 0}, {29, 1}, {28, 0},
		{10_000_000_000_000_049, 175_000_000_000_001}, // no overflow: 1.75 % of 10^16 + 49 is 1.75·10^14 + 0.8575
	} {
		assert.Equal(t, tt.want, r.fee(tt.amount), "fee of %d", tt.amount)
	}
}

func TestOsloLedgerDates(t *testing.T) {
	// Summer time: 22:30 UTC is 00:30 the next day in Oslo.
	assert.Equal(t, "2026-07-02", osloDate(time.Date(2026, 7, 1, 22, 30, 0, 0, time.UTC)))
	assert.Equal(t, "2026-01-01", osloDate(time.Date(2025, 12, 31, 23, 30, 0, 0, time.UTC)))
	end, ok := closeTime("2026-03-28") // the night summer time starts
	require.True(t, ok)
	assert.Equal(t, time.Date(2026, 3, 28, 23, 0, 0, 0, time.UTC), end.UTC())
	end, ok = closeTime("2026-03-29")
	require.True(t, ok)
	assert.Equal(t, time.Date(2026, 3, 29, 22, 0, 0, 0, time.UTC), end.UTC())
}
