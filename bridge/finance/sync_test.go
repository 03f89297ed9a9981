package finance

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/reconcile"
	"vippskco/bridge/sqlite"
	"vippskco/vipps"
)

// ledgerAPI is a Report API of one ledger whose entries a test books date
// by date, with the running balances Vipps keeps per topic. It serves the
// dates in pages of pageSize entries, so the sync has to follow cursors.
type ledgerAPI struct {
	ledger   vipps.Ledger
	entries  map[string]map[string][]vipps.ReportEntry // date → topic → entries, in booking order
	balance  map[string]int64                          // topic → balance
	open     map[string]bool
	pageSize int
}

func newLedgerAPI(id string, handles ...string) *ledgerAPI {
	return &ledgerAPI{
		ledger:   vipps.Ledger{LedgerID: id, Currency: "NOK", SettlesForRecipientHandles: handles},
		entries:  map[string]map[string][]vipps.ReportEntry{},
		balance:  map[string]int64{},
		open:     map[string]bool{},
		pageSize: 3,
	}
}

// book adds an entry to topic on date, keeping the topic's balance.
func (a *ledgerAPI) book(topic, date, typ, psp, ref, handle string, amount int64) {
	if a.entries[date] == nil {
		a.entries[date] = map[string][]vipps.ReportEntry{}
	}
	before := a.balance[topic]
	a.balance[topic] += amount
	a.entries[date][topic] = append(a.entries[date][topic], vipps.ReportEntry{
		PSPReference: psp, LedgerDate: date, EntryType: typ, Reference: ref, Currency: "NOK",
		Amount: amount, BalanceBefore: before, BalanceAfter: a.balance[topic], RecipientHandle: handle,
	})
}

func (a *ledgerAPI) funds(date, typ, psp, ref string, amount int64) {
	a.book(vipps.TopicFunds, date, typ, psp, ref, "api:"+a.ledger.MSNs()[0], amount)
}

func (a *ledgerAPI) fee(date, typ, psp, ref string, amount int64) {
	a.book(vipps.TopicFees, date, typ, psp, ref, "api:"+a.ledger.MSNs()[0], amount)
}

// payout books what Vipps books when it closes a date with a payout: the
// fees retained (funds, with its mirror in fees) and the payout-scheduled
// entry that takes the funds balance to zero. retained 0 books no
// fees-retained (gross settlement).
func (a *ledgerAPI) payout(date, id string, retained int64) {
	if retained != 0 {
		a.book(vipps.TopicFunds, date, vipps.EntryFeesRetained, "fr-"+id, "", "", -retained)
		a.book(vipps.TopicFees, date, vipps.EntryFeesRetained, "fr-"+id, "", "", retained)
	}
	a.book(vipps.TopicFunds, date, vipps.EntryPayoutScheduled, a.ledger.LedgerID+"-"+id, "Vipps utbet. "+id, "", -a.balance[vipps.TopicFunds])
}

func (a *ledgerAPI) ListLedgers(context.Context, string) ([]vipps.Ledger, error) {
	return []vipps.Ledger{a.ledger}, nil
}

func (a *ledgerAPI) LedgerDay(_ context.Context, ledgerID, topic, date, cursor string) (*vipps.ReportPage, error) {
	if ledgerID != a.ledger.LedgerID {
		return nil, vipps.ErrInvalidInput
	}
	off := 0
	if cursor != "" {
		var err error
		if off, err = strconv.Atoi(cursor); err != nil {
			return nil, err
		}
	}
	all := a.entries[date][topic]
	end := min(off+a.pageSize, len(all))
	p := &vipps.ReportPage{Items: slices.Clone(all[off:end]), HasMore: end < len(all), TryLater: a.open[date]}
	if p.HasMore {
		p.Cursor = strconv.Itoa(end)
	}
	return p, nil
}

// recordingStore is a real SQLite store that also keeps every import it
// was given, to see the payouts' From and Opening as the sync hands them
// over.
type recordingStore struct {
	*sqlite.Store
	imports []*bridge.SettlementImport
}

func (r *recordingStore) ImportSettlement(ctx context.Context, imp *bridge.SettlementImport) (bridge.ImportResult, error) {
	r.imports = append(r.imports, imp)
	return r.Store.ImportSettlement(ctx, imp)
}

// payouts are the payouts of every import so far, by id.
func (r *recordingStore) payouts() map[string]reconcile.Payout {
	out := map[string]reconcile.Payout{}
	for _, imp := range r.imports {
		for _, p := range imp.Payouts {
			out[p.ID] = p
		}
	}
	return out
}

func newSyncService(t *testing.T, units ...*Unit) (*Service, *recordingStore) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), "file:"+filepath.Join(t.TempDir(), "fin.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	rs := &recordingStore{Store: st}
	s := &Service{Store: rs, Units: map[string]*Unit{}}
	for _, u := range units {
		s.Units[u.ID] = u
	}
	return s, rs
}

func syncOnce(t *testing.T, s *Service, from, to string) SyncResult {
	t.Helper()
	res, err := s.SyncSettlements(t.Context(), from, to)
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.Empty(t, res[0].Error)
	return res[0]
}

// storedLines are the stored Vipps lines by key.
func storedLines(t *testing.T, rs *recordingStore) map[string]reconcile.Line {
	t.Helper()
	lines, err := rs.SettlementLines(t.Context(), "2000-01-01", "2100-01-01")
	require.NoError(t, err)
	out := map[string]reconcile.Line{}
	for _, l := range lines {
		out[l.Key] = l
	}
	return out
}

// payoutBalance is what the accountant checks of a payout: the balance it
// carried in plus its stored lines (their net, or gross when the payout is
// gross), which must be what it paid.
func payoutBalance(p reconcile.Payout, lines map[string]reconcile.Line) (sum int64, n int) {
	sum = p.Opening
	for _, l := range lines {
		if l.PayoutID != p.ID {
			continue
		}
		n++
		sum += l.Gross
		if !p.Gross {
			sum -= l.Fee
		}
	}
	return sum, n
}

const (
	day1 = "2026-03-02"
	day2 = "2026-03-03"
	day3 = "2026-03-04"
	day4 = "2026-03-05"
	day5 = "2026-03-06"
	day6 = "2026-03-07"
)

// Case 1: day 1 refunds exceed captures by 200 (no payout); day 2 captures
// 500 and pays out 300. Read in one sync, the lines of both days are in the
// payout, which covers day 1..day 2 from a zero balance. Read day by day,
// day 1's lines stay without payout and the payout carries day 1's −200 in
// as its Opening. Either way the payout is its Opening plus its lines.
func TestSyncCarriedBalance(t *testing.T) {
	build := func() *ledgerAPI {
		a := newLedgerAPI("L1", "api:123456")
		a.funds(day1, vipps.EntryCapture, "c1", "order-1", 10000)
		a.funds(day1, vipps.EntryRefund, "r1", "order-0", -30000)
		a.funds(day2, vipps.EntryCapture, "c2", "order-2", 50000)
		a.payout(day2, "2000001", 0)
		return a
	}

	t.Run("one sync", func(t *testing.T) {
		s, rs := newSyncService(t, &Unit{ID: "u", MSN: "123456", Currency: "NOK", Report: build()})
		res := syncOnce(t, s, day1, day2)
		require.Equal(t, 3, res.Result.NewLines)
		p := rs.payouts()["L1-2000001"]
		require.Equal(t, day1, p.From)
		require.Equal(t, day2, p.Date)
		require.Equal(t, int64(0), p.Opening)
		require.Equal(t, int64(30000), p.Amount)
		require.False(t, p.Gross)
		require.Equal(t, "123456", p.MSN)
		lines := storedLines(t, rs)
		for _, k := range []string{"vipps:capture:c1", "vipps:refund:r1", "vipps:capture:c2"} {
			require.Equal(t, p.ID, lines[k].PayoutID, k)
		}
		sum, n := payoutBalance(p, lines)
		require.Equal(t, 3, n)
		require.Equal(t, p.Amount, sum)
	})

	t.Run("day by day", func(t *testing.T) {
		s, rs := newSyncService(t, &Unit{ID: "u", MSN: "123456", Currency: "NOK", Report: build()})
		first := syncOnce(t, s, day1, day1)
		require.Equal(t, 2, first.Result.NewLines)
		require.Zero(t, first.Result.NewPayouts)
		lines := storedLines(t, rs)
		require.Empty(t, lines["vipps:capture:c1"].PayoutID, "no payout yet")
		require.Empty(t, lines["vipps:refund:r1"].PayoutID)

		second := syncOnce(t, s, day2, day2)
		require.Equal(t, 1, second.Result.NewLines)
		p := rs.payouts()["L1-2000001"]
		require.Equal(t, day2, p.From)
		require.Equal(t, int64(-20000), p.Opening, "day 1 carried −200 into day 2")
		lines = storedLines(t, rs)
		require.Empty(t, lines["vipps:capture:c1"].PayoutID, "day 1 is in the Opening, not in the lines")
		require.Equal(t, p.ID, lines["vipps:capture:c2"].PayoutID)
		sum, n := payoutBalance(p, lines)
		require.Equal(t, 1, n)
		require.Equal(t, p.Amount, sum)
	})

	// The same with fees: day 1's capture fee is retained with day 2's, so
	// a payout read alone carries day 1's unretained fee in as well.
	t.Run("day by day with fees", func(t *testing.T) {
		a := newLedgerAPI("L1", "api:123456")
		a.funds(day1, vipps.EntryCapture, "c1", "order-1", 10000)
		a.fee(day1, vipps.EntryCaptureFee, "c1", "order-1", -200)
		a.funds(day1, vipps.EntryRefund, "r1", "order-0", -30000)
		a.funds(day2, vipps.EntryCapture, "c2", "order-2", 50000)
		a.fee(day2, vipps.EntryCaptureFee, "c2", "order-2", -900)
		a.payout(day2, "2000001", 1100)
		s, rs := newSyncService(t, &Unit{ID: "u", MSN: "123456", Currency: "NOK", Report: a})
		syncOnce(t, s, day1, day1)
		res := syncOnce(t, s, day2, day2)
		require.Empty(t, res.Warnings, "the retained 11.00 is day 1's 2.00 carried in and day 2's 9.00")
		p := rs.payouts()["L1-2000001"]
		require.Equal(t, int64(28900), p.Amount)
		require.Equal(t, int64(-20000-200), p.Opening, "funds −200.00 and fees −2.00 carried in")
		sum, _ := payoutBalance(p, storedLines(t, rs))
		require.Equal(t, p.Amount, sum)
	})
}

// Case 2: weekly settlement. Five ledger dates of captures (their fees
// retained on the fifth) and a refund, one payout on the fifth date: it
// covers all five dates. A sixth date after the payout stays without one.
func TestSyncWeeklyPayout(t *testing.T) {
	a := newLedgerAPI("L1", "api:123456")
	for i, d := range []string{day1, day2, day3, day4, day5} {
		psp := "c" + strconv.Itoa(i+1)
		a.funds(d, vipps.EntryCapture, psp, "order-"+psp, 100000)
		a.fee(d, vipps.EntryCaptureFee, psp, "order-"+psp, -2000)
	}
	a.funds(day3, vipps.EntryRefund, "r1", "order-c1", -50000)
	a.payout(day5, "2000007", 10000)
	a.funds(day6, vipps.EntryCapture, "c6", "order-c6", 7000)

	s, rs := newSyncService(t, &Unit{ID: "u", MSN: "123456", Currency: "NOK", Report: a})
	res := syncOnce(t, s, day1, day6)
	require.Empty(t, res.Warnings)
	p := rs.payouts()["L1-2000007"]
	require.Equal(t, day1, p.From)
	require.Equal(t, day5, p.Date)
	require.Equal(t, int64(0), p.Opening)
	require.Equal(t, int64(5*100000-50000-5*2000), p.Amount)
	lines := storedLines(t, rs)
	sum, n := payoutBalance(p, lines)
	require.Equal(t, 6, n, "five captures (fees folded in) and the refund")
	require.Equal(t, p.Amount, sum)
	require.Equal(t, int64(2000), lines["vipps:capture:c3"].Fee)
	require.Empty(t, lines["vipps:capture:c6"].PayoutID, "after the last payout")
	require.Equal(t, day6, lines["vipps:capture:c6"].LedgerDate)
}

// Case 8: gross settlement. The fees go on an invoice (fees-invoiced, no
// fees-retained), so the payout is the gross of its lines, the refund
// deducted; fees not yet invoiced from before do not enter its Opening.
func TestSyncGrossSettlement(t *testing.T) {
	a := newLedgerAPI("L1", "api:123456")
	a.balance[vipps.TopicFees] = -3000 // earlier fees, still to be invoiced
	a.funds(day1, vipps.EntryCapture, "c1", "order-1", 100000)
	a.fee(day1, vipps.EntryCaptureFee, "c1", "order-1", -2000)
	a.funds(day1, vipps.EntryCapture, "c2", "order-2", 200000)
	a.fee(day1, vipps.EntryCaptureFee, "c2", "order-2", -4000)
	a.funds(day1, vipps.EntryRefund, "r1", "order-1", -50000)
	a.fee(day1, vipps.EntryFeesInvoiced, "inv-1", "", 9000)
	a.payout(day1, "2000002", 0)

	s, rs := newSyncService(t, &Unit{ID: "u", MSN: "123456", Currency: "NOK", Report: a})
	res := syncOnce(t, s, day1, day1)
	require.Empty(t, res.Warnings)
	p := rs.payouts()["L1-2000002"]
	require.True(t, p.Gross)
	require.Equal(t, int64(0), p.Opening)
	require.Equal(t, int64(250000), p.Amount, "gross 3000.00 less the 500.00 refund")
	lines := storedLines(t, rs)
	require.Len(t, lines, 3, "fees-invoiced is no line")
	sum, n := payoutBalance(p, lines)
	require.Equal(t, 3, n)
	require.Equal(t, p.Amount, sum)
	require.Equal(t, int64(6000), lines["vipps:capture:c1"].Fee+lines["vipps:capture:c2"].Fee, "the fees are still on the lines")
}

// Case 9: every fee type is a fee line. A capture fee split in two for a
// capture of an earlier date gives two lines with distinct keys; a capture
// fee split in two on the capture's date counts both in the capture's Fee;
// a service fee costs, a credit note gives back. The payout is the lines'
// net, the fees-retained is no line, and reading the date again, alone,
// finds the same keys.
func TestSyncEveryFeeType(t *testing.T) {
	a := newLedgerAPI("L1", "api:123456")
	a.funds(day1, vipps.EntryCapture, "c0", "order-0", 200000)
	a.funds(day2, vipps.EntryCapture, "c1", "order-1", 100000)
	a.fee(day2, vipps.EntryCaptureFee, "c0", "order-0", -2000)
	a.fee(day2, vipps.EntryCaptureFee, "c0", "order-0", -1500)
	a.fee(day2, vipps.EntryCaptureFee, "c1", "order-1", -1000)
	a.fee(day2, vipps.EntryCaptureFee, "c1", "order-1", -800)
	a.fee(day2, vipps.EntryServiceFee, "sf1", "", -50000)
	a.fee(day2, vipps.EntryCreditNote, "cn1", "", 10000)
	a.fee(day2, "surprise-fee", "x1", "", -100)
	a.payout(day2, "2000003", 2000+1500+1000+800+50000-10000+100)

	s, rs := newSyncService(t, &Unit{ID: "u", MSN: "123456", Currency: "NOK", Report: a})
	res := syncOnce(t, s, day1, day2)
	require.Empty(t, res.Warnings)
	lines := storedLines(t, rs)
	want := map[string]int64{
		"vipps:capture-fee:c0:" + day2 + ":1":  2000,
		"vipps:capture-fee:c0:" + day2 + ":2":  1500,
		"vipps:service-fee:sf1:" + day2 + ":1": 50000,
		"vipps:credit-note:cn1:" + day2 + ":1": -10000,
		"vipps:surprise-fee:x1:" + day2 + ":1": 100,
	}
	for k, fee := range want {
		require.Contains(t, lines, k)
		require.Equal(t, reconcile.KindFee, lines[k].Kind, k)
		require.Equal(t, fee, lines[k].Fee, k)
		require.Zero(t, lines[k].Gross, k)
	}
	require.Equal(t, int64(1800), lines["vipps:capture:c1"].Fee, "both halves of the split fee")
	require.Len(t, lines, 2+len(want))
	p := rs.payouts()["L1-2000003"]
	require.False(t, p.Gross)
	sum, n := payoutBalance(p, lines)
	require.Equal(t, len(lines), n)
	require.Equal(t, p.Amount, sum)

	again := syncOnce(t, s, day2, day2)
	require.Zero(t, again.Result.NewLines, "the same date read again gives the same keys")
	require.Equal(t, 1+len(want), again.Result.KnownLines)
	p = rs.imports[len(rs.imports)-1].Payouts[0]
	require.Equal(t, int64(200000), p.Opening, "day 1's capture carried in")
	sum, _ = payoutBalance(p, linesOfDate(lines, day2))
	require.Equal(t, p.Amount, sum)
}

func linesOfDate(lines map[string]reconcile.Line, date string) map[string]reconcile.Line {
	out := map[string]reconcile.Line{}
	for k, l := range lines {
		if l.LedgerDate == date {
			out[k] = l
		}
	}
	return out
}

// When the fee lines of a date do not add up to the fees Vipps retained
// that date, the sync says so, naming the date and both sums; the lines are
// stored as Vipps lists them.
func TestSyncWarnsWhenFeesRetainedDiffer(t *testing.T) {
	a := newLedgerAPI("L1", "api:123456")
	a.funds(day1, vipps.EntryCapture, "c1", "order-1", 100000)
	a.fee(day1, vipps.EntryCaptureFee, "c1", "order-1", -2000)
	a.payout(day1, "2000004", 2500)

	s, rs := newSyncService(t, &Unit{ID: "u", MSN: "123456", Currency: "NOK", Report: a})
	res := syncOnce(t, s, day1, day1)
	require.Equal(t, []string{"ledger L1 " + day1 + ": fees retained 25.00, but the fee lines not yet retained come to 20.00"}, res.Warnings)
	require.Len(t, storedLines(t, rs), 1)
}

// Case 10: a ledger settling for two sales units. Each line takes the MSN
// of its entry's recipientHandle, also when both units use one reference;
// a Vippsnummer handle is kept as it is; an entry without a handle falls
// back to the unit's MSN (the ledger has no single one), and so has the
// payout no MSN.
func TestSyncMSNPerEntry(t *testing.T) {
	a := newLedgerAPI("L1", "api:111111", "api:222222")
	a.book(vipps.TopicFunds, day1, vipps.EntryCapture, "c1", "order-1", "api:111111", 10000)
	a.book(vipps.TopicFees, day1, vipps.EntryCaptureFee, "c1", "order-1", "api:111111", -200)
	a.book(vipps.TopicFunds, day1, vipps.EntryCapture, "c2", "order-1", "api:222222", 7000)
	a.book(vipps.TopicFees, day1, vipps.EntryCaptureFee, "c2-late", "order-9", "api:222222", -100)
	a.book(vipps.TopicFunds, day1, vipps.EntryCapture, "c3", "shop-1", "NO:57860", 3000)
	a.book(vipps.TopicFunds, day1, vipps.EntryCapture, "c4", "order-4", "", 1000)
	a.payout(day1, "2000005", 300)

	s, rs := newSyncService(t, &Unit{ID: "u", MSN: "111111", Currency: "NOK", Report: a})
	syncOnce(t, s, day1, day1)
	lines := storedLines(t, rs)
	require.Equal(t, "111111", lines["vipps:capture:c1"].MSN)
	require.Equal(t, "222222", lines["vipps:capture:c2"].MSN)
	require.Equal(t, "order-1", lines["vipps:capture:c2"].Reference)
	require.Equal(t, "222222", lines["vipps:capture-fee:c2-late:"+day1+":1"].MSN)
	require.Equal(t, "NO:57860", lines["vipps:capture:c3"].MSN)
	require.Equal(t, "111111", lines["vipps:capture:c4"].MSN, "no handle: the unit's MSN")
	p := rs.payouts()["L1-2000005"]
	require.Empty(t, p.MSN, "a ledger of two units")
	sum, _ := payoutBalance(p, lines)
	require.Equal(t, p.Amount, sum)
}

// Random ledgers, synced in random stretches of dates: captures with their
// fees on the same date or a later one, refunds, service fees and credit
// notes, and a payout on some dates when the balance allows one (otherwise
// the balance, negative or not yet due, carries over), as Vipps books them.
// Whatever the split between syncs, every line is stored once, and every
// payout is its Opening plus its stored lines.
func TestSyncRandomLedgersBalance(t *testing.T) {
	for seed := range int64(40) {
		rnd := rand.New(rand.NewPCG(uint64(seed), 7))
		a := newLedgerAPI("L1", "api:123456")
		var dates []string
		wantLines := 0
		var delayed []vipps.ReportEntry // capture fees booked on the next date
		n := 0
		for d := range 12 {
			date := time.Date(2026, 3, 2+d, 0, 0, 0, 0, time.UTC).Format("2006-01-02")
			dates = append(dates, date)
			for _, e := range delayed {
				a.fee(date, vipps.EntryCaptureFee, e.PSPReference, e.Reference, e.Amount)
				wantLines++
			}
			delayed = nil
			for range rnd.IntN(4) {
				n++
				psp, ref := "c"+strconv.Itoa(n), "order-"+strconv.Itoa(n)
				amount := 100 + rnd.Int64N(100000)
				a.funds(date, vipps.EntryCapture, psp, ref, amount)
				wantLines++
				fee := -(amount*175/10000 + 1)
				switch rnd.IntN(3) {
				case 0: // fee split in two, the same date: both folded into the capture
					a.fee(date, vipps.EntryCaptureFee, psp, ref, fee/2)
					a.fee(date, vipps.EntryCaptureFee, psp, ref, fee-fee/2)
				case 1:
					a.fee(date, vipps.EntryCaptureFee, psp, ref, fee)
				default: // fee delay: split on the next date, two fee lines
					delayed = append(delayed, vipps.ReportEntry{PSPReference: psp, Reference: ref, Amount: fee / 2},
						vipps.ReportEntry{PSPReference: psp, Reference: ref, Amount: fee - fee/2})
				}
			}
			for range rnd.IntN(3) {
				n++
				a.funds(date, vipps.EntryRefund, "r"+strconv.Itoa(n), "order-x", -(100 + rnd.Int64N(60000)))
				wantLines++
			}
			if rnd.IntN(5) == 0 {
				n++
				a.fee(date, vipps.EntryServiceFee, "sf"+strconv.Itoa(n), "", -rnd.Int64N(5000))
				wantLines++
			}
			if rnd.IntN(6) == 0 {
				n++
				a.fee(date, vipps.EntryCreditNote, "cn"+strconv.Itoa(n), "", rnd.Int64N(3000))
				wantLines++
			}
			funds, fees := a.balance[vipps.TopicFunds], a.balance[vipps.TopicFees]
			if rnd.IntN(3) > 0 && funds > 0 && funds+fees > 0 {
				a.payout(date, strconv.Itoa(2000000+d), -fees)
			}
		}

		s, rs := newSyncService(t, &Unit{ID: "u", MSN: "123456", Currency: "NOK", Report: a})
		for i := 0; i < len(dates); {
			j := min(len(dates), i+1+rnd.IntN(5))
			res := syncOnce(t, s, dates[i], dates[j-1])
			require.Empty(t, res.Warnings, "seed %d", seed)
			i = j
		}
		lines := storedLines(t, rs)
		require.Len(t, lines, wantLines, "seed %d: every line stored once", seed)
		inPayouts := 0
		for id, p := range rs.payouts() {
			sum, k := payoutBalance(p, lines)
			require.Equal(t, p.Amount, sum, "seed %d payout %s (%s..%s, opening %d)", seed, id, p.From, p.Date, p.Opening)
			inPayouts += k
		}
		for _, imp := range rs.imports {
			last := ""
			for _, p := range imp.Payouts {
				last = max(last, p.Date)
			}
			for _, l := range imp.Lines {
				if l.PayoutID == "" {
					require.Greater(t, l.LedgerDate, last, "seed %d: %s is before its sync's last payout but in none", seed, l.Key)
				}
			}
		}
		require.NotZero(t, inPayouts)
	}
}

// Fees that do not fit in an int64 when added up fail the sync of that
// ledger with an error, and nothing of it is stored.
func TestSyncRefusesOverflowingSums(t *testing.T) {
	a := newLedgerAPI("L1", "api:123456")
	a.funds(day1, vipps.EntryCapture, "c1", "order-1", 10000)
	a.fee(day1, vipps.EntryCaptureFee, "c1", "order-1", -math.MaxInt64)
	a.balance[vipps.TopicFees] = 0
	a.fee(day1, vipps.EntryCaptureFee, "c1", "order-1", -math.MaxInt64)

	s, rs := newSyncService(t, &Unit{ID: "u", MSN: "123456", Currency: "NOK", Report: a})
	res, err := s.SyncSettlements(t.Context(), day1, day1)
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.Contains(t, res[0].Error, "ledger L1: the fees not yet retained on "+day1+" does not fit in 64 bits")
	require.Empty(t, rs.imports)
	require.Empty(t, storedLines(t, rs))
}
