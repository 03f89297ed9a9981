package finance

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/reconcile"
	"vippskco/bridge/sqlite"
	"vippskco/klarna"
	"vippskco/vipps"
)

var propertySeed = flag.Uint64("finance.seed", 0, "seed of TestSettlementProperty (0: a new one each run)")

// TestSettlementProperty builds random months of Vipps MobilePay ledgers
// and our payments, imports them through the Report API and through portal
// files in a random order, some of it more than once, and reconciles the
// month. The ledgers have carried balances (a day whose refunds exceed its
// captures pays nothing out), payouts of several days, split and late
// fees, a service fee, partial captures and refunds, and two sales units on
// one ledger. Planted in each are one of every discrepancy finance must
// see: a capture and a refund Vipps never settled, a settled amount that
// is not ours, a line for a payment we never made, a payout short of its
// lines, and a KCO order paid with Vipps and again with Klarna. Each must
// be found with its reason, nothing else may be flagged, and every other
// payout must balance to the øre.
func TestSettlementProperty(t *testing.T) {
	seed := *propertySeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	rounds := 6
	if testing.Short() {
		rounds = 2
	}
	for r := range uint64(rounds) {
		s := seed + r
		t.Run(fmt.Sprintf("seed=%d", s), func(t *testing.T) {
			t.Logf("reproduce with: go test ./bridge/finance -run 'TestSettlementProperty/seed=%d$' -finance.seed=%d", s, s)
			checkSettlementWorld(t, newPropWorld(s))
		})
	}
}

var propUnits = []struct{ id, msn string }{{"shop-a", "100001"}, {"shop-b", "100002"}}

// propFee is shop-a's fee model; shop-b has none, so its fees are not
// checked (but must still be accounted for in payouts).
var propFee = reconcile.FeeModel{Bps: 175, Fixed: 100}

type propMove struct {
	ref, kco, unit, msn, kind, psp string
	amount                         int64
	day                            int // of November 2026
	at                             time.Time
}

type propPayout struct {
	id             string
	from, to       int // days covered
	amount, net    int64
	opening        int64
	fileable       bool // a portal file can describe it exactly
	lines          []propLine
	planted, short bool
}

// propLine is one funds capture or refund line as a portal file shows it.
type propLine struct {
	move *propMove
	ref  string
	msn  string
	psp  string
	kind string
	day  int
	// gross is signed, fee positive.
	gross, fee int64
}

type excKey struct {
	reason reconcile.Reason
	ref    string
}

type propWorld struct {
	seed     uint64
	moves    []*propMove
	funds    map[string][]vipps.ReportEntry
	fees     map[string][]vipps.ReportEntry
	payouts  []*propPayout
	planted  map[excKey]bool
	kustom   string
	lastDay  int
	fileable []*propPayout
}

func day(d int) string { return fmt.Sprintf("2026-11-%02d", d) }

func newPropWorld(seed uint64) *propWorld {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	w := &propWorld{seed: seed, funds: map[string][]vipps.ReportEntry{}, fees: map[string][]vipps.ReportEntry{},
		planted: map[excKey]bool{}, lastDay: 30}
	n := 30 + rng.IntN(20)
	for k := 1; k <= n; k++ {
		u := propUnits[rng.IntN(len(propUnits))]
		ref, kco := fmt.Sprintf("ws-order%03d-1", k), fmt.Sprintf("order%03d", k)
		d := 1 + rng.IntN(24)
		captured := int64(0)
		for c := range 1 + btoi(rng.IntN(4) == 0) {
			amt := int64(1000 + rng.IntN(300000))
			captured += amt
			w.moves = append(w.moves, &propMove{ref: ref, kco: kco, unit: u.id, msn: u.msn, kind: "capture",
				psp: fmt.Sprintf("cap-%03d-%d", k, c), amount: amt, day: d + c})
		}
		if rng.IntN(3) == 0 {
			amt := 1 + rng.Int64N(captured)
			w.moves = append(w.moves, &propMove{ref: ref, kco: kco, unit: u.id, msn: u.msn, kind: "refund",
				psp: fmt.Sprintf("ref-%03d", k), amount: amt, day: d + 2 + rng.IntN(3)})
		}
	}
	oslo := mustOslo()
	for i, m := range w.moves {
		m.at = time.Date(2026, 11, m.day, 9, i%60, 0, 0, oslo)
	}

	// The plants. Movements are picked by kind, each a different one.
	pick := func(kind string, not map[*propMove]bool) *propMove {
		for range 1000 {
			m := w.moves[rng.IntN(len(w.moves))]
			if m.kind == kind && !not[m] {
				return m
			}
		}
		panic("no movement to plant on")
	}
	used := map[*propMove]bool{}
	missingCapture := pick("capture", used)
	used[missingCapture] = true
	w.planted[excKey{reconcile.ReasonCapturedNotSettled, missingCapture.ref}] = true
	missingRefund := (*propMove)(nil)
	for _, m := range w.moves {
		if m.kind == "refund" && !used[m] && m.ref != missingCapture.ref {
			missingRefund = m
			break
		}
	}
	if missingRefund != nil {
		used[missingRefund] = true
		w.planted[excKey{reconcile.ReasonRefundNotSettled, missingRefund.ref}] = true
	}
	var wrong *propMove
	for wrong == nil || wrong.ref == missingCapture.ref || missingRefund != nil && wrong.ref == missingRefund.ref {
		wrong = pick("capture", used)
	}
	used[wrong] = true
	w.planted[excKey{reconcile.ReasonAmountMismatch, wrong.ref}] = true
	var twice *propMove
	for twice == nil || twice.ref == wrong.ref || twice.ref == missingCapture.ref || missingRefund != nil && twice.ref == missingRefund.ref {
		twice = pick("capture", used)
	}
	w.planted[excKey{reconcile.ReasonPaidTwice, twice.ref}] = true
	w.planted[excKey{reconcile.ReasonSettledUnknown, "ws-stranger-1"}] = true

	// The ledger, day by day.
	type feeEntry struct {
		psp, ref, msn string
		amount        int64 // positive cost
		day           int
		typ           string
	}
	var feeEntries []feeEntry
	settled := []*propLine{}
	for _, m := range w.moves {
		if m == missingCapture || m == missingRefund {
			continue
		}
		gross := m.amount
		if m.kind == "refund" {
			gross = -gross
		}
		if m == wrong {
			gross += 1000
		}
		l := &propLine{move: m, ref: m.ref, msn: m.msn, psp: m.psp, kind: m.kind, day: m.day, gross: gross}
		settled = append(settled, l)
		if m.kind != "capture" {
			continue
		}
		fee := propFee.Expected(m.amount)
		if m.unit != "shop-a" {
			fee = m.amount * 2 / 100
		}
		fd := m.day
		if rng.IntN(4) == 0 && fd < w.lastDay {
			fd++ // booked the day after the capture
		}
		if rng.IntN(3) == 0 && fee > 1 {
			part := 1 + rng.Int64N(fee-1)
			feeEntries = append(feeEntries, feeEntry{m.psp, m.ref, m.msn, part, fd, vipps.EntryCaptureFee},
				feeEntry{m.psp, m.ref, m.msn, fee - part, fd, vipps.EntryCaptureFee})
		} else {
			feeEntries = append(feeEntries, feeEntry{m.psp, m.ref, m.msn, fee, fd, vipps.EntryCaptureFee})
		}
		if fd == m.day {
			l.fee = fee
		}
	}
	stranger := &propLine{ref: "ws-stranger-1", msn: propUnits[0].msn, psp: "cap-stranger", kind: "capture", day: 10, gross: 5000}
	settled = append(settled, stranger)
	feeEntries = append(feeEntries, feeEntry{"svc-2026-11", "", propUnits[0].msn, 2500, 15, vipps.EntryServiceFee})

	byDay := map[int][]*propLine{}
	for _, l := range settled {
		byDay[l.day] = append(byDay[l.day], l)
	}
	feesByDay := map[int][]feeEntry{}
	for _, f := range feeEntries {
		feesByDay[f.day] = append(feesByDay[f.day], f)
	}
	var bal int64
	from := 1
	opening := int64(0)
	var cur []propLine
	lateFee := false // a fee of the current payout's days is not on its capture's line
	shortDone := false
	payoutNo := 0
	for d := 1; d <= w.lastDay; d++ {
		ds := day(d)
		ls := byDay[d]
		slices.SortFunc(ls, func(a, b *propLine) int { return strings.Compare(a.psp, b.psp) })
		if d == from {
			opening = bal
		}
		add := func(topic map[string][]vipps.ReportEntry, typ, psp, ref, handle string, amount int64, track bool) {
			e := vipps.ReportEntry{PSPReference: psp, Time: time.Date(2026, 11, d, 12, len(topic[ds]), 0, 0, time.UTC),
				LedgerDate: ds, EntryType: typ, Reference: ref, Currency: "NOK", Amount: amount, RecipientHandle: handle}
			if track {
				e.BalanceBefore, e.BalanceAfter = bal, bal+amount
				bal += amount
			}
			topic[ds] = append(topic[ds], e)
		}
		for _, l := range ls {
			add(w.funds, l.kind, l.psp, l.ref, "api:"+l.msn, l.gross, true)
			cur = append(cur, *l)
			if l.kind == "capture" && l.fee == 0 && l.move != nil {
				lateFee = true
			}
		}
		var feeSum int64
		for _, f := range feesByDay[d] {
			add(w.fees, f.typ, f.psp, f.ref, "api:"+f.msn, -f.amount, false)
			feeSum += f.amount
			if f.typ != vipps.EntryCaptureFee || !slices.ContainsFunc(ls, func(l *propLine) bool { return l.psp == f.psp }) {
				lateFee = true
			}
		}
		if feeSum != 0 {
			add(w.funds, vipps.EntryFeesRetained, "fr-"+ds, "", "", -feeSum, true)
			add(w.fees, vipps.EntryFeesRetained, "fr-"+ds, "", "", feeSum, false)
		}
		if bal > 0 && (rng.IntN(100) < 45 || d == w.lastDay) {
			payoutNo++
			p := &propPayout{id: fmt.Sprintf("L1-2000%03d", payoutNo), from: from, to: d, amount: bal, opening: opening, lines: cur}
			if !shortDone && d >= 12 {
				shortDone, p.short, p.amount = true, true, bal-500
				w.planted[excKey{reconcile.ReasonPayoutMismatch, p.id}] = true
			}
			p.net = bal - opening
			add(w.funds, vipps.EntryPayoutScheduled, p.id, fmt.Sprintf("Vipps utbet. %d", 2000000+payoutNo), "", -p.amount, true)
			// A portal report is one sales unit's settlement; a payout of a
			// ledger shared by two units is not one file.
			oneUnit := !slices.ContainsFunc(cur, func(l propLine) bool { return l.msn != cur[0].msn })
			p.fileable = opening == 0 && !lateFee && !p.short && len(cur) > 0 && oneUnit
			w.payouts = append(w.payouts, p)
			if p.fileable {
				w.fileable = append(w.fileable, p)
			}
			from, cur, lateFee = d+1, nil, false
		}
	}

	// Kustom: orders paid with Klarna, and one we also captured with Vipps.
	var b strings.Builder
	b.WriteString("type,order_id,capture_id,amount,posting_currency,capture_date\n")
	for k := range 5 {
		fmt.Fprintf(&b, "SALE,klarna-%03d,kc-%03d,%d.00,NOK,2026-11-%02d\n", k, k, 100+k, 3+k)
		fmt.Fprintf(&b, "FEE,klarna-%03d,kc-%03d,1.50,NOK,2026-11-%02d\n", k, k, 3+k)
	}
	fmt.Fprintf(&b, "SALE,%s,kc-twice,%d.%02d,NOK,2026-11-%02d\n", twice.kco, twice.amount/100, twice.amount%100, min(twice.day+1, 28))
	w.kustom = b.String()
	return w
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func mustOslo() *time.Location {
	l, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		panic(err)
	}
	return l
}

// portalCSV writes payout p as the business portal's CSV settlement report.
func (p *propPayout) portalCSV() string {
	var b strings.Builder
	dmy := func(d int) string { return fmt.Sprintf("%02d.11.2026", d) }
	amt := func(v int64) string {
		sign := ""
		if v < 0 {
			sign, v = "-", -v
		}
		return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
	}
	var gross, fee, refund int64
	for _, l := range p.lines {
		if l.gross >= 0 {
			gross += l.gross
		} else {
			refund += l.gross
		}
		fee += l.fee
	}
	b.WriteString("OrganizationNumber,MerchantName\n918713867,Vipps AS\n")
	b.WriteString("Name,VisitingAddress,Postbox,Zipno,Place,Country,CompanyNumber\n")
	b.WriteString("Vipps AS,Dronning Eufemias Gate 42,,0191,Oslo,Norway,918713867\n")
	b.WriteString("SettlementInfo,SalesUnitName,SaleUnitNumber,SettlementDate,SettlementID,SettlementAccount,Gross,Currency,Fee,Refund,Net,NumberOfTransactions\n")
	setID := strings.TrimPrefix(p.id, "L1-")
	fmt.Fprintf(&b, "SettlementInfo,Shop,%s,%s,%s,15039794613,%s,NOK,%s,%s,%s,%d\n", p.lines[0].msn, dmy(p.to), setID,
		amt(gross), amt(-fee), amt(refund), amt(gross+refund-fee), len(p.lines))
	b.WriteString("FeeInfo,SettlementDate,SaleUnitName,SaleUnitNumber,FeeAccount,Fee,Currency\n")
	b.WriteString("TransactionInfo,SalesDate,SaleUnitName,SaleUnitNumber,TransactionId,SettlementId,OrderID,SettlementDate,Gross,Currency,Fee,Refund,Net\n")
	for _, l := range p.lines {
		g, r := l.gross, int64(0)
		if g < 0 {
			g, r = 0, l.gross
		}
		fmt.Fprintf(&b, "TransactionInfo,%s,Shop,%s,%s,%s,%s,%s,%s,NOK,%s,%s,%s\n", dmy(l.day), l.msn, l.psp, setID, l.ref,
			dmy(p.to), amt(g), amt(-l.fee), amt(r), amt(g+r-l.fee))
	}
	return b.String()
}

// propReport is the Report API of the world's one ledger, which settles for
// both sales units, paged three entries at a time so that cursors are used.
type propReport struct{ w *propWorld }

func (r propReport) ListLedgers(_ context.Context, msn string) ([]vipps.Ledger, error) {
	return []vipps.Ledger{{LedgerID: "L1", Currency: "NOK",
		SettlesForRecipientHandles: []string{"api:" + propUnits[0].msn, "api:" + propUnits[1].msn}}}, nil
}

func (r propReport) LedgerDay(_ context.Context, ledgerID, topic, date, cursor string) (*vipps.ReportPage, error) {
	if ledgerID != "L1" {
		return nil, fmt.Errorf("no ledger %q", ledgerID)
	}
	all := r.w.funds[date]
	if topic == vipps.TopicFees {
		all = r.w.fees[date]
	}
	start := 0
	if cursor != "" {
		if _, err := fmt.Sscanf(cursor, "at-%d", &start); err != nil {
			return nil, fmt.Errorf("bad cursor %q", cursor)
		}
	}
	end := min(start+3, len(all))
	page := &vipps.ReportPage{Items: slices.Clone(all[start:end])}
	if end < len(all) {
		page.HasMore, page.Cursor = true, fmt.Sprintf("at-%d", end)
	}
	return page, nil
}

func checkSettlementWorld(t *testing.T, w *propWorld) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, "file:"+filepath.Join(t.TempDir(), "fin.db"), nil)
	require.NoError(t, err)
	defer st.Close()
	seedMovements(t, st, w.moves)

	api := propReport{w}
	s := &Service{Store: st, Units: map[string]*Unit{
		"shop-a": {ID: "shop-a", MSN: propUnits[0].msn, Currency: "NOK", Report: api, ExpectedFee: propFee},
		"shop-b": {ID: "shop-b", MSN: propUnits[1].msn, Currency: "NOK", Report: api},
	}, Now: func() time.Time { return time.Date(2026, 12, 20, 12, 0, 0, 0, time.UTC) }}

	// The imports, in a random order, some of them twice.
	rng := rand.New(rand.NewPCG(w.seed, 7))
	var steps []func() error
	sync := func(from, to int) func() error {
		return func() error {
			res, err := s.SyncSettlements(ctx, day(from), day(to))
			if err != nil {
				return err
			}
			for _, r := range res {
				if r.Error != "" {
					return fmt.Errorf("sync %s..%s: %s", day(from), day(to), r.Error)
				}
			}
			return nil
		}
	}
	steps = append(steps, sync(1, w.lastDay))
	for range 2 {
		a := 1 + rng.IntN(w.lastDay)
		b := a + rng.IntN(w.lastDay-a+1)
		steps = append(steps, sync(a, b))
	}
	for _, p := range w.fileable {
		if rng.IntN(2) == 0 {
			continue
		}
		name, data := "settlement-"+p.id+".csv", []byte(p.portalCSV())
		for range 1 + rng.IntN(2) {
			steps = append(steps, func() error { _, _, err := s.ImportVippsFile(ctx, name, bytes.NewReader(data), nil); return err })
		}
	}
	for range 1 + rng.IntN(2) {
		steps = append(steps, func() error {
			_, err := s.ImportKustomCSV(ctx, "kustom.csv", strings.NewReader(w.kustom), klarna.CSVOptions{}, nil)
			return err
		})
	}
	rng.Shuffle(len(steps), func(i, j int) { steps[i], steps[j] = steps[j], steps[i] })
	for i, step := range steps {
		require.NoError(t, step(), "import step %d", i)
	}

	r, err := s.Reconcile(ctx, day(1), day(w.lastDay))
	require.NoError(t, err)

	got := map[excKey]bool{}
	var extra []string
	for _, x := range r.Exceptions {
		k := excKey{x.Reason, x.Reference}
		if x.Reason == reconcile.ReasonPayoutMismatch {
			k.ref = x.PayoutID
		}
		got[k] = true
		if !w.planted[k] {
			b, _ := json.Marshal(x)
			extra = append(extra, string(b))
		}
	}
	var missed []string
	for k := range w.planted {
		if !got[k] {
			missed = append(missed, fmt.Sprintf("%s %s", k.reason, k.ref))
		}
	}
	sort.Strings(missed)
	require.Empty(t, missed, "planted discrepancies not found")
	require.Empty(t, extra, "flagged although nothing was planted there")

	// Every payout balances to the øre: what it paid is what it carried in
	// plus its lines, the planted short one excepted.
	want := map[string]*propPayout{}
	for _, p := range w.payouts {
		want[p.id] = p
	}
	byID := map[string]reconcile.PayoutSummary{}
	for _, ps := range r.Payouts {
		byID[ps.ID] = ps
	}
	seen := 0
	for _, ps := range r.Payouts {
		p := want[ps.ID]
		if ps.Provider != reconcile.Vipps || p == nil {
			continue // Kustom's, or a portal file's own id
		}
		seen++
		if ps.SameAs != "" {
			// Read from a portal file first: that payout holds the money,
			// and this one is only a second reading of it, paid once.
			require.Zero(t, ps.Paid, "payout %s is the same money as %s and pays nothing more", ps.ID, ps.SameAs)
			ps = byID[ps.SameAs]
			require.Equal(t, strings.TrimPrefix(p.id, "L1-"), ps.ID, "payout %s is the same money as its file's settlement", p.id)
		}
		require.Equal(t, p.amount, ps.Paid, "payout %s paid", p.id)
		if !p.short {
			require.Equal(t, p.amount, ps.Opening+ps.Net, "payout %s: carried balance plus its lines", p.id)
		}
	}
	require.Equal(t, len(w.payouts), seen, "every payout of the ledger is in the reconciliation")
}

// seedMovements stores our payments and the captures and refunds Vipps
// confirmed for them, as the state machine would have.
func seedMovements(t *testing.T, st bridge.Store, moves []*propMove) {
	ctx := context.Background()
	byRef := map[string][]*propMove{}
	var refs []string
	for _, m := range moves {
		if byRef[m.ref] == nil {
			refs = append(refs, m.ref)
		}
		byRef[m.ref] = append(byRef[m.ref], m)
	}
	for _, ref := range refs {
		ms := byRef[ref]
		m0 := ms[0]
		created := m0.at.Add(-time.Hour)
		p := &bridge.Payment{Reference: ref, Unit: m0.unit, KCOOrderID: m0.kco, Attempt: 1,
			Amount: bridge.Money{Value: 1, Currency: "NOK"}, State: bridge.StatePending,
			CreateIdempotencyKey: "idem-" + ref, CreateRequest: json.RawMessage(`{}`),
			ReturnToken: "token-" + ref, Locale: "nb-NO", Order: json.RawMessage(`{}`),
			CreatedAt: created, UpdatedAt: created}
		require.NoError(t, st.InsertPayment(ctx, p))
		var evs []bridge.PaymentEvent
		for _, m := range ms {
			name := "CAPTURED"
			if m.kind == "refund" {
				name = "REFUNDED"
			}
			evs = append(evs, bridge.PaymentEvent{Name: name, PSPReference: m.psp, Amount: bridge.Money{Value: m.amount, Currency: "NOK"},
				Success: true, IdempotencyKey: "key-" + m.psp, OccurredAt: m.at, Source: "webhook"})
		}
		require.NoError(t, st.Commit(ctx, &bridge.Change{Payment: p, Events: evs}))
	}
}
