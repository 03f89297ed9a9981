package vipps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vippskco/vipps/vippstest"
)

// The second sales unit of the shared-ledger test.
var otherCreds = Credentials{ClientID: "client-other", ClientSecret: "secret-other", SubscriptionKey: "sub-other", MSN: "654321"}

// reportFake is the vippstest fake with our sales unit, a settable clock
// and a client whose observer keeps every exchange.
type reportFake struct {
	t     *testing.T
	srv   *vippstest.Server
	clock *vippstest.Clock
	c     *Client

	mu        sync.Mutex
	exchanges []Exchange
}

// reportDay1 is a Monday morning in Oslo (UTC+1 in March).
var reportDay1 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func newReportFake(t *testing.T) *reportFake {
	t.Helper()
	f := &reportFake{t: t, clock: vippstest.NewClock(reportDay1)}
	f.srv = vippstest.NewServer(vippstest.Options{Now: f.clock.Now, Seed: 7})
	t.Cleanup(f.srv.Close)
	f.srv.AddSalesUnit(vippstest.SalesUnit{MSN: testMSN, ClientID: testClientID, ClientSecret: testClientSecret, SubscriptionKey: testSubscriptionKey})
	f.srv.AddSalesUnit(vippstest.SalesUnit{MSN: otherCreds.MSN, ClientID: otherCreds.ClientID, ClientSecret: otherCreds.ClientSecret, SubscriptionKey: otherCreds.SubscriptionKey})
	f.c = f.client(Credentials{ClientID: testClientID, ClientSecret: testClientSecret, SubscriptionKey: testSubscriptionKey, MSN: testMSN})
	return f
}

func (f *reportFake) client(creds Credentials) *Client {
	cfg := testConfig(f.srv.URL(), &sleeper{})
	cfg.Credentials = creds
	cfg.Now = f.clock.Now
	cfg.Observer = func(_ context.Context, ex Exchange) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.exchanges = append(f.exchanges, ex)
	}
	return newTestClient(f.t, cfg)
}

// pay creates, approves and captures value in full with client c.
func (f *reportFake) pay(c *Client, ref string, value int64) {
	f.t.Helper()
	ctx := context.Background()
	_, err := c.CreatePayment(ctx, "create-"+ref, CreatePaymentRequest{
		Amount: Amount{Currency: NOK, Value: value}, PaymentMethod: PaymentMethod{Type: "WALLET"},
		Reference: ref, UserFlow: UserFlowWebRedirect, ReturnURL: "https://shop.example/return/" + ref,
	})
	require.NoError(f.t, err)
	require.NoError(f.t, f.srv.Approve(ref))
	_, err = c.Capture(ctx, ref, "capture-"+ref, Amount{Currency: NOK, Value: value})
	require.NoError(f.t, err)
}

// reportExchanges returns the Report API exchanges seen so far.
func (f *reportFake) reportExchanges() []Exchange {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Exchange
	for _, ex := range f.exchanges {
		if ex.Op == "ledgers" || ex.Op == "report-date" || ex.Op == "report-feed" {
			out = append(out, ex)
		}
	}
	return out
}

func entryTypes(es []ReportEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.EntryType
	}
	return out
}

// requireDayBalances checks a closed funds day: balances run, the payout
// is the last entry, and it equals the balance before it.
func requireDayBalances(t *testing.T, day []ReportEntry) ReportEntry {
	t.Helper()
	require.NotEmpty(t, day)
	for i, e := range day {
		require.Equal(t, e.BalanceBefore+e.Amount, e.BalanceAfter, "entry %d", i)
		if i > 0 {
			require.Equal(t, day[i-1].BalanceAfter, e.BalanceBefore, "entry %d", i)
		}
	}
	payout := day[len(day)-1]
	require.Equal(t, EntryPayoutScheduled, payout.EntryType)
	require.Equal(t, payout.BalanceBefore, -payout.Amount, "the payout is the day's balance")
	require.Zero(t, payout.BalanceAfter)
	return payout
}

func TestReportAgainstFake(t *testing.T) {
	f := newReportFake(t)
	ctx := context.Background()
	c := f.c
	f.srv.SetReportPageSize(2)

	// Day 1: three captures and a partial refund.
	f.pay(c, "report-order-1", 10000)
	f.pay(c, "report-order-2", 49900)
	f.pay(c, "report-order-3", 20000)
	_, err := c.Refund(ctx, "report-order-2", "refund-report-order-2", Amount{Currency: NOK, Value: 9900})
	require.NoError(t, err)

	ledgers, err := c.ListLedgers(ctx, "")
	require.NoError(t, err)
	require.Len(t, ledgers, 1)
	ledger := ledgers[0]
	assert.Equal(t, []string{testMSN}, ledger.MSNs())
	assert.Equal(t, "NOK", ledger.Currency)
	assert.Equal(t, "BBAN:NO", ledger.PayoutBankAccount.Scheme)
	assert.NotEmpty(t, ledger.PayoutBankAccount.ID)
	assert.Equal(t, "business:NO:ORG", ledger.Owner.Scheme)
	filtered, err := c.ListLedgers(ctx, testMSN)
	require.NoError(t, err)
	assert.Equal(t, ledgers, filtered)
	id := ledger.LedgerID

	// While day 1 is open: items so far, tryLater, pages of two.
	page, err := c.LedgerDay(ctx, id, TopicFunds, "2026-03-02", "")
	require.NoError(t, err)
	assert.True(t, page.TryLater)
	assert.True(t, page.HasMore)
	assert.NotEmpty(t, page.Cursor)
	assert.Len(t, page.Items, 2)
	open, isOpen, err := AllOfDay(ctx, c, id, TopicFunds, "2026-03-02")
	require.NoError(t, err)
	assert.True(t, isOpen)
	assert.Equal(t, []string{"capture", "capture", "capture", "refund"}, entryTypes(open))

	// Feed up to now, persisting the cursor after each page.
	var stored []ReportEntry
	cursor := ""
	for range 10 {
		p, err := c.Feed(ctx, id, TopicFunds, cursor)
		require.NoError(t, err)
		assert.Equal(t, 2, p.PageSize)
		require.NotEmpty(t, p.Cursor)
		stored, cursor = append(stored, p.Items...), p.Cursor
		if p.TryLater {
			break
		}
	}
	assert.Equal(t, open, stored)

	// Day 2: the clock passes midnight in Oslo, and one more capture.
	f.clock.Set(time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC))
	f.pay(c, "report-order-4", 5000)

	day1, isOpen, err := AllOfDay(ctx, c, id, TopicFunds, "2026-03-02")
	require.NoError(t, err)
	assert.False(t, isOpen, "day 1 is closed")
	assert.Equal(t, []string{"capture", "capture", "capture", "refund", "fees-retained", "payout-scheduled"}, entryTypes(day1))
	payout := requireDayBalances(t, day1)
	assert.Equal(t, int64(10000+49900+20000-9900-175-873-350), -payout.Amount)
	n, ok := payout.PayoutNumber()
	require.True(t, ok)
	assert.Equal(t, id+"-"+n, payout.PSPReference)
	assert.Equal(t, "Vipps utbet. "+n+" Vippsnr "+testMSN, payout.Reference)
	assert.Empty(t, payout.RecipientHandle)

	fees, isOpen, err := AllOfDay(ctx, c, id, TopicFees, "2026-03-02")
	require.NoError(t, err)
	assert.False(t, isOpen)
	assert.Equal(t, []string{"capture-fee", "capture-fee", "capture-fee", "fees-retained"}, entryTypes(fees))

	// Join funds and fees on pspReference: gross, fee (negative), net.
	events, err := c.GetEvents(ctx, "report-order-2")
	require.NoError(t, err)
	var capturedPSP string
	for _, ev := range events {
		if ev.Name == EventCaptured {
			capturedPSP = ev.PSPReference
		}
	}
	feeOf := map[string]int64{}
	for _, e := range fees {
		if e.EntryType == EntryCaptureFee {
			assert.Negative(t, e.Amount, "capture fees are negative")
			feeOf[e.PSPReference] += e.Amount
		}
	}
	var gross, feeSum int64
	for _, e := range day1 {
		switch e.EntryType {
		case EntryCapture:
			gross += e.Amount
			feeSum += feeOf[e.PSPReference]
			assert.Equal(t, "api:"+testMSN, e.RecipientHandle)
			assert.Equal(t, "2026-03-02", e.LedgerDate)
		case EntryRefund:
			gross += e.Amount
			assert.Negative(t, e.Amount)
			assert.Zero(t, feeOf[e.PSPReference], "refunds carry no fee")
		case EntryFeesRetained:
			assert.Equal(t, feeSum, e.Amount, "fees retained are the day's capture fees")
		}
		if e.Reference == "report-order-2" && e.EntryType == EntryCapture {
			assert.Equal(t, capturedPSP, e.PSPReference, "the capture entry carries the CAPTURED event's pspReference")
			assert.Equal(t, int64(-873), feeOf[e.PSPReference], "1.75 % of 499.00 rounded half up")
			assert.Equal(t, reportDay1, e.Time)
		}
	}
	assert.Equal(t, -payout.Amount, gross+feeSum, "net = gross + fees")

	// The persisted cursor brings only what is new: the close of day 1 and
	// day 2's capture.
	var fresh []ReportEntry
	for range 10 {
		p, err := c.Feed(ctx, id, TopicFunds, cursor)
		require.NoError(t, err)
		fresh, cursor = append(fresh, p.Items...), p.Cursor
		if p.TryLater {
			break
		}
	}
	assert.Equal(t, []string{"fees-retained", "payout-scheduled", "capture"}, entryTypes(fresh))
	assert.Equal(t, "report-order-4", fresh[2].Reference)
	p, err := c.Feed(ctx, id, TopicFunds, cursor)
	require.NoError(t, err)
	assert.True(t, p.TryLater)
	assert.Empty(t, p.Items)
	assert.Equal(t, cursor, p.Cursor)

	day2, isOpen, err := AllOfDay(ctx, c, id, TopicFunds, "2026-03-03")
	require.NoError(t, err)
	assert.True(t, isOpen, "today is open")
	assert.Equal(t, []string{"capture"}, entryTypes(day2))

	_, err = c.LedgerDay(ctx, "999999", TopicFunds, "2026-03-02", "")
	require.Error(t, err)
	assert.True(t, IsNotFound(err), "%v", err)
	_, err = c.Feed(ctx, f.srv.LedgerID(otherCreds.MSN), TopicFunds, "")
	assert.True(t, IsNotFound(err), "another unit's ledger is not ours: %v", err)

	t.Run("requests and responses match the spec", func(t *testing.T) {
		validateReportExchanges(t, f.reportExchanges())
	})
}

func TestReportSharedLedgerAgainstFake(t *testing.T) {
	f := newReportFake(t)
	f.srv.ShareLedger(testMSN, otherCreds.MSN)
	ctx := context.Background()
	other := f.client(otherCreds)
	f.pay(f.c, "shared-order-1", 10000)
	f.pay(other, "shared-order-2", 30000)

	mine, err := f.c.ListLedgers(ctx, testMSN)
	require.NoError(t, err)
	theirs, err := other.ListLedgers(ctx, otherCreds.MSN)
	require.NoError(t, err)
	require.Len(t, mine, 1)
	assert.Equal(t, mine, theirs, "both units see the one ledger")
	assert.Equal(t, []string{testMSN, otherCreds.MSN}, mine[0].MSNs())

	f.clock.Set(time.Date(2026, 3, 2, 23, 0, 0, 0, time.UTC)) // midnight in Oslo
	day, isOpen, err := AllOfDay(ctx, other, mine[0].LedgerID, TopicFunds, "2026-03-02")
	require.NoError(t, err)
	assert.False(t, isOpen)
	payout := requireDayBalances(t, day)
	assert.Equal(t, int64(40000-175-525), -payout.Amount, "one payout for both units")
	var handles []string
	for _, e := range day {
		if e.EntryType == EntryCapture {
			handles = append(handles, e.RecipientHandle)
		}
	}
	assert.Equal(t, []string{"api:" + testMSN, "api:" + otherCreds.MSN}, handles)
}

// reportAPI records the Report API requests it gets (with their queries)
// and answers with handle.
type reportAPI struct {
	mu     sync.Mutex
	got    []*http.Request
	handle func(w http.ResponseWriter, r *http.Request, n int)
}

func (a *reportAPI) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.got = append(a.got, r.Clone(context.Background()))
	n := len(a.got)
	a.mu.Unlock()
	a.handle(w, r, n)
}

func (a *reportAPI) requests() []*http.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.got)
}

const ledgerItem = `{"ledgerId":"302321","currency":"NOK","payoutBankAccount":{"scheme":"BBAN:NO","id":"86011117947"},"owner":{"scheme":"business:NO:ORG","id":"987654321"},"settlesForRecipientHandles":["api:123456","NO:99999"]}`

func TestReportHeadersAndPaths(t *testing.T) {
	api := &reportAPI{handle: func(w http.ResponseWriter, r *http.Request, _ int) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/settlement/v1/ledgers"):
			jsonReply(w, 200, `{"items":[`+ledgerItem+`]}`)
		case strings.HasSuffix(r.URL.Path, "/feed"):
			w.Header().Set("Vipps-Feed-Page-Size", "1000")
			jsonReply(w, 200, `{"items":[],"cursor":"c2","tryLater":true}`)
		default:
			jsonReply(w, 200, `{"items":[],"hasMore":false,"tryLater":false}`)
		}
	}}
	ts := newPrefixedTestServer(t, "/sandbox/vipps", api.serve)
	c := newTestClient(t, testConfig(ts.URL(), &sleeper{}))
	ctx := context.Background()

	ledgers, err := c.ListLedgers(ctx, testMSN)
	require.NoError(t, err)
	require.Len(t, ledgers, 1)
	assert.Equal(t, []string{"123456"}, ledgers[0].MSNs(), "Vippsnummer handles are not MSNs")
	_, err = c.LedgerDay(ctx, "302321", TopicFees, "2026-03-02", "a+b/c==")
	require.NoError(t, err)
	page, err := c.Feed(ctx, "302 321", TopicFunds, "c1")
	require.NoError(t, err)
	assert.Equal(t, 1000, page.PageSize)
	assert.Equal(t, "c2", page.Cursor)

	reqs := api.requests()
	require.Len(t, reqs, 3)
	want := []struct{ path, rawQuery string }{
		{"/sandbox/vipps/settlement/v1/ledgers", "settlesForRecipientHandles=api%3A123456"},
		{"/sandbox/vipps/report/v2/ledgers/302321/fees/dates/2026-03-02", "cursor=a%2Bb%2Fc%3D%3D"},
		{"/sandbox/vipps/report/v2/ledgers/302%20321/funds/feed", "cursor=c1"},
	}
	for i, r := range reqs {
		assert.Equal(t, http.MethodGet, r.Method)
		assert.Equal(t, want[i].path, r.URL.EscapedPath())
		assert.Equal(t, want[i].rawQuery, r.URL.RawQuery)
		assert.Equal(t, "Bearer token-1", r.Header.Get("Authorization"))
		assert.Equal(t, testSubscriptionKey, r.Header.Get("Ocp-Apim-Subscription-Key"))
		assert.Equal(t, testMSN, r.Header.Get("Merchant-Serial-Number"))
		assert.Equal(t, testSystem.Name, r.Header.Get("Vipps-System-Name"))
		assert.Equal(t, testSystem.Version, r.Header.Get("Vipps-System-Version"))
		assert.Equal(t, testSystem.PluginName, r.Header.Get("Vipps-System-Plugin-Name"))
		assert.Equal(t, testSystem.PluginVersion, r.Header.Get("Vipps-System-Plugin-Version"))
		assert.Empty(t, r.Header.Get("Idempotency-Key"), "reads carry no idempotency key")
	}
	assert.Equal(t, 1, ts.tokensIssued(), "one token serves every call")
}

func TestListLedgersFollowsCursor(t *testing.T) {
	api := &reportAPI{handle: func(w http.ResponseWriter, r *http.Request, n int) {
		switch r.URL.Query().Get("cursor") {
		case "":
			jsonReply(w, 200, `{"items":[`+ledgerItem+`],"cursor":"page2"}`)
		case "page2":
			jsonReply(w, 200, `{"items":[{"ledgerId":"302322","currency":"NOK","settlesForRecipientHandles":["api:654321"]}],"cursor":""}`)
		}
	}}
	ts := newTestServer(t, api.serve)
	c := newTestClient(t, testConfig(ts.URL(), &sleeper{}))
	ledgers, err := c.ListLedgers(context.Background(), "")
	require.NoError(t, err)
	require.Len(t, ledgers, 2)
	assert.Equal(t, "302322", ledgers[1].LedgerID)
	reqs := api.requests()
	require.Len(t, reqs, 2)
	assert.Empty(t, reqs[0].URL.RawQuery)
	assert.Equal(t, "cursor=page2", reqs[1].URL.RawQuery, "with a cursor no other parameter is sent")

	loop := &reportAPI{handle: func(w http.ResponseWriter, r *http.Request, n int) {
		jsonReply(w, 200, `{"items":[`+ledgerItem+`],"cursor":"same"}`)
	}}
	ts = newTestServer(t, loop.serve)
	c = newTestClient(t, testConfig(ts.URL(), &sleeper{}))
	_, err = c.ListLedgers(context.Background(), "")
	require.ErrorContains(t, err, "a second time")
}

// entryJSON is one Transaction with the amount written as given.
func entryJSON(amount string) string {
	return `{"pspReference":"3343121302","time":"2026-03-02T10:00:00.000000Z","ledgerDate":"2026-03-02","entryType":"capture","reference":"acme-order-1","currency":"NOK","amount":` + amount + `,"balanceBefore":0,"balanceAfter":49900,"recipientHandle":"api:123456"}`
}

func TestReportEntryDecoding(t *testing.T) {
	tests := []struct {
		name    string
		item    string
		want    int64
		wantErr string
	}{
		{"number", entryJSON("49900"), 49900, ""},
		{"string", entryJSON(`"49900"`), 49900, ""},
		{"negative number", entryJSON("-175"), -175, ""},
		{"negative string", entryJSON(`"-175"`), -175, ""},
		{"decimal", entryJSON("499.00"), 0, "amount: 499.00 is not an integer number of minor units"},
		{"decimal string", entryJSON(`"499.5"`), 0, "not an integer number of minor units"},
		{"exponent", entryJSON("4.99e4"), 0, "not an integer"},
		{"empty string", entryJSON(`""`), 0, "not an integer"},
		{"null", entryJSON("null"), 0, "amount: missing"},
		{"out of range", entryJSON("99999999999999999999"), 0, "out of range"},
		{"no balance", `{"pspReference":"1","time":"2026-03-02T10:00:00Z","ledgerDate":"2026-03-02","entryType":"capture","amount":1,"balanceAfter":1}`, 0, "balanceBefore: missing"},
		{"bad time", strings.Replace(entryJSON("1"), "2026-03-02T10:00:00.000000Z", "yesterday", 1), 0, "time"},
		{"bad ledger date", strings.Replace(entryJSON("1"), `"ledgerDate":"2026-03-02"`, `"ledgerDate":"02.03.2026"`, 1), 0, "ledgerDate"},
		{"no entry type", strings.Replace(entryJSON("1"), `"entryType":"capture"`, `"entryType":null`, 1), 0, "entryType"},
		{"unknown entry type kept", strings.Replace(entryJSON("-100"), `"capture"`, `"chargeback-fee"`, 1), -100, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
				jsonReply(w, 200, `{"items":[`+tt.item+`],"hasMore":false,"tryLater":false}`)
			})
			c := newTestClient(t, testConfig(ts.URL(), &sleeper{}))
			page, err := c.LedgerDay(context.Background(), "302321", TopicFunds, "2026-03-02", "")
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Contains(t, err.Error(), "item 0")
				return
			}
			require.NoError(t, err)
			require.Len(t, page.Items, 1)
			e := page.Items[0]
			assert.Equal(t, tt.want, e.Amount)
			assert.Equal(t, time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC), e.Time)
		})
	}
}

func TestReportPageRules(t *testing.T) {
	tests := []struct {
		name    string
		call    func(c *Client) (*ReportPage, error)
		body    string
		want    *ReportPage
		wantErr string
	}{
		{
			name: "day with hasMore and no cursor",
			call: func(c *Client) (*ReportPage, error) {
				return c.LedgerDay(context.Background(), "1", TopicFunds, "2026-03-02", "")
			},
			body: `{"items":[],"hasMore":true,"tryLater":false}`, wantErr: "no cursor",
		},
		{
			name: "day open with items",
			call: func(c *Client) (*ReportPage, error) {
				return c.LedgerDay(context.Background(), "1", TopicFunds, "2026-03-02", "")
			},
			body: `{"items":[` + entryJSON("1") + `],"hasMore":true,"cursor":"x","tryLater":true}`,
			want: &ReportPage{HasMore: true, TryLater: true, Cursor: "x"},
		},
		{
			name: "feed entries without a cursor",
			call: func(c *Client) (*ReportPage, error) { return c.Feed(context.Background(), "1", TopicFees, "c0") },
			body: `{"items":[` + entryJSON("1") + `],"tryLater":false}`, wantErr: "without a cursor",
		},
		{
			name: "feed caught up without a cursor keeps the position",
			call: func(c *Client) (*ReportPage, error) { return c.Feed(context.Background(), "1", TopicFees, "c0") },
			body: `{"items":[],"tryLater":true}`,
			want: &ReportPage{Cursor: "c0", TryLater: true},
		},
		{
			name: "undecodable body",
			call: func(c *Client) (*ReportPage, error) { return c.Feed(context.Background(), "1", TopicFees, "") },
			body: `{"items":{}}`, wantErr: "decoding the 200 response",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request) { jsonReply(w, 200, tt.body) })
			page, err := tt.call(newTestClient(t, testConfig(ts.URL(), &sleeper{})))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want.Cursor, page.Cursor)
			assert.Equal(t, tt.want.HasMore, page.HasMore)
			assert.Equal(t, tt.want.TryLater, page.TryLater)
		})
	}
}

func TestReportInputValidation(t *testing.T) {
	ts := newTestServer(t, okAPI)
	c := newTestClient(t, testConfig(ts.URL(), &sleeper{}))
	ctx := context.Background()
	calls := map[string]func() error{
		"bad MSN filter": func() error { _, err := c.ListLedgers(ctx, "12ab"); return err },
		"no ledger":      func() error { _, err := c.LedgerDay(ctx, "", TopicFunds, "2026-03-02", ""); return err },
		"bad topic":      func() error { _, err := c.LedgerDay(ctx, "1", "money", "2026-03-02", ""); return err },
		"bad date":       func() error { _, err := c.LedgerDay(ctx, "1", TopicFunds, "2026-3-2", ""); return err },
		"impossible day": func() error { _, err := c.LedgerDay(ctx, "1", TopicFunds, "2026-02-30", ""); return err },
		"feed topic":     func() error { _, err := c.Feed(ctx, "1", "Funds", ""); return err },
		"all of day":     func() error { _, _, err := AllOfDay(ctx, c, "1", TopicFees, "today"); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			require.ErrorIs(t, call(), ErrInvalidInput)
		})
	}
	assert.Empty(t, ts.apiRequests(), "nothing invalid is sent")
}

func TestReportErrors(t *testing.T) {
	t.Run("404 problem", func(t *testing.T) {
		ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(404)
			io.WriteString(w, `{"type":"https://httpstatuses.io/404","title":"Not Found","detail":"No ledger \"1\" is available to these API keys.","status":404,"traceId":"00-abc-01"}`)
		})
		c := newTestClient(t, testConfig(ts.URL(), &sleeper{}))
		_, err := c.LedgerDay(context.Background(), "1", TopicFunds, "2026-03-02", "")
		require.True(t, IsNotFound(err), "%v", err)
		var e *Error
		require.True(t, errors.As(err, &e))
		assert.Equal(t, "00-abc-01", e.TraceID)
		assert.Len(t, ts.apiRequests(), 1, "a 404 is final")
	})

	t.Run("429 then 200", func(t *testing.T) {
		s := &sleeper{}
		api := &reportAPI{handle: func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 1 {
				w.Header().Set("Retry-After", "3")
				jsonReply(w, 429, `{"statusCode":429,"message":"Rate limit is exceeded. Try again in 3 seconds."}`)
				return
			}
			jsonReply(w, 200, `{"items":[],"cursor":"c","tryLater":true}`)
		}}
		ts := newTestServer(t, api.serve)
		c := newTestClient(t, testConfig(ts.URL(), s))
		page, err := c.Feed(context.Background(), "1", TopicFunds, "")
		require.NoError(t, err)
		assert.Equal(t, "c", page.Cursor)
		assert.Equal(t, []time.Duration{3 * time.Second}, s.recorded())
		assert.Len(t, api.requests(), 2)
	})

	t.Run("429 with a long Retry-After is returned", func(t *testing.T) {
		s := &sleeper{}
		ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "3600")
			jsonReply(w, 429, `{"statusCode":429,"message":"Rate limit is exceeded. Try again in 3600 seconds."}`)
		})
		c := newTestClient(t, testConfig(ts.URL(), s))
		_, err := c.ListLedgers(context.Background(), "")
		var e *Error
		require.True(t, errors.As(err, &e), "%v", err)
		assert.Equal(t, 429, e.StatusCode)
		assert.Empty(t, s.recorded())
	})

	t.Run("500 on a read is retried", func(t *testing.T) {
		api := &reportAPI{handle: func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 1 {
				jsonReply(w, 500, `{"errorCode":100001,"errorMessage":"boom","contextId":"ctx-1"}`)
				return
			}
			jsonReply(w, 200, `{"items":[],"hasMore":false,"tryLater":true}`)
		}}
		ts := newTestServer(t, api.serve)
		c := newTestClient(t, testConfig(ts.URL(), &sleeper{}))
		entries, open, err := AllOfDay(context.Background(), c, "1", TopicFunds, "2026-03-02")
		require.NoError(t, err)
		assert.Empty(t, entries)
		assert.True(t, open)
	})
}

func TestAllOfDayStopsOnRepeatedCursor(t *testing.T) {
	ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		jsonReply(w, 200, `{"items":[`+entryJSON("1")+`],"hasMore":true,"cursor":"again","tryLater":false}`)
	})
	c := newTestClient(t, testConfig(ts.URL(), &sleeper{}))
	_, _, err := AllOfDay(context.Background(), c, "1", TopicFunds, "2026-03-02")
	require.ErrorContains(t, err, "a second time")
}

func TestPayoutNumber(t *testing.T) {
	tests := []struct {
		e    ReportEntry
		want string
		ok   bool
	}{
		{ReportEntry{EntryType: EntryPayoutScheduled, PSPReference: "12345-2000023"}, "2000023", true},
		{ReportEntry{EntryType: EntryScheduledForPayout, PSPReference: "12345-2000023"}, "2000023", true},
		{ReportEntry{EntryType: EntryCapture, PSPReference: "12345-2000023"}, "", false},
		{ReportEntry{EntryType: EntryPayoutScheduled, PSPReference: "2000023"}, "", false},
	}
	for _, tt := range tests {
		got, ok := tt.e.PayoutNumber()
		assert.Equal(t, tt.want, got)
		assert.Equal(t, tt.ok, ok)
	}
}

// reportSpec loads the Report API spec with the deltas notes/vipps.md §9.6
// and §7.1 document applied: entry types the spec lacks (payout-scheduled,
// which replaced scheduled-for-payout, service-fee, credit-note) and a
// recipientHandle that may be null (payouts have none). Its examples are
// not checked: the deprecated /report/v1 operation gives a number as the
// example of a string parameter, which plays no part in validation.
func reportSpec(t *testing.T, withDeltas bool) *openapi3.T {
	t.Helper()
	doc := loadSpec(t, "report/swagger.yaml")
	if withDeltas {
		tx := doc.Components.Schemas["Transaction"].Value
		entryType := tx.Properties["entryType"].Value
		entryType.Enum = append(entryType.Enum, EntryPayoutScheduled, EntryServiceFee, EntryCreditNote)
		tx.Properties["recipientHandle"].Value.Nullable = true
	}
	return doc
}

// validateReportExchanges checks each request against the Report API spec
// (path, parameters, headers) and each answer against its response schema.
func validateReportExchanges(t *testing.T, exchanges []Exchange) {
	t.Helper()
	require.NotEmpty(t, exchanges)
	u, err := url.Parse(exchanges[0].URL)
	require.NoError(t, err)
	v := newValidator(t, reportSpec(t, true), u.Scheme+"://"+u.Host, openapi3.DisableExamplesValidation())
	ops := map[string]bool{}
	for _, ex := range exchanges {
		ops[ex.Op] = true
		req, err := http.NewRequest(ex.Method, ex.URL, nil)
		require.NoError(t, err)
		req.Header = ex.RequestHeaders.Clone()
		route, params, err := v.router.FindRoute(req)
		require.NoError(t, err, "%s has no route in the spec", ex.URL)
		in := &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{MultiError: true, AuthenticationFunc: bearerPresent},
		}
		require.NoError(t, openapi3filter.ValidateRequest(context.Background(), in), "request %s", ex.URL)
		resp := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in,
			Status:                 ex.StatusCode,
			Header:                 ex.ResponseHeaders,
			Body:                   io.NopCloser(bytes.NewReader(ex.ResponseBody)),
			Options:                &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true},
		}
		require.NoError(t, openapi3filter.ValidateResponse(context.Background(), resp), "response of %s: %s", ex.URL, ex.ResponseBody)
	}
	assert.Equal(t, map[string]bool{"ledgers": true, "report-date": true, "report-feed": true}, ops)
}

// TestReportSpecDeltas shows that the deltas are real and that the
// validation has teeth: the unpatched spec rejects a payout entry, and a
// wrong topic is no route.
func TestReportSpecDeltas(t *testing.T) {
	base := "http://127.0.0.1:1"
	body := `{"items":[{"pspReference":"30123456-2000001","time":"2026-03-02T23:00:00.000000Z","ledgerDate":"2026-03-02","entryType":"payout-scheduled","reference":"Vipps utbet. 2000001 Vippsnr 123456","currency":"NOK","amount":-100,"balanceBefore":100,"balanceAfter":0,"recipientHandle":null}],"hasMore":false,"tryLater":false}`
	for _, withDeltas := range []bool{false, true} {
		t.Run(fmt.Sprintf("deltas=%v", withDeltas), func(t *testing.T) {
			v := newValidator(t, reportSpec(t, withDeltas), base, openapi3.DisableExamplesValidation())
			req, err := http.NewRequest(http.MethodGet, base+"/report/v2/ledgers/30123456/funds/dates/2026-03-02", nil)
			require.NoError(t, err)
			route, params, err := v.router.FindRoute(req)
			require.NoError(t, err)
			in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route}
			err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
				RequestValidationInput: in, Status: 200,
				Header: http.Header{"Content-Type": {"application/json"}},
				Body:   io.NopCloser(strings.NewReader(body)),
			})
			if withDeltas {
				require.NoError(t, err)
			} else {
				require.Error(t, err, "the spec still says scheduled-for-payout")
			}

			bad, err := http.NewRequest(http.MethodGet, base+"/report/v2/ledgers/30123456/money/feed", nil)
			require.NoError(t, err)
			route, params, err = v.router.FindRoute(bad)
			require.NoError(t, err)
			err = openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{Request: bad, PathParams: params, Route: route})
			require.Error(t, err, "topic money is not in the spec's enum")
		})
	}
}
