package finance

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"time"

	"vippskco/bridge"
	"vippskco/bridge/reconcile"
	"vippskco/klarna"
	"vippskco/vipps"
)

// ReportAPI is what the bridge uses of the Vipps Report API.
type ReportAPI interface {
	ListLedgers(ctx context.Context, msn string) ([]vipps.Ledger, error)
	LedgerDay(ctx context.Context, ledgerID, topic, date, cursor string) (*vipps.ReportPage, error)
}

// KustomSettlementsAPI is what the bridge uses of the Kustom Settlements API.
type KustomSettlementsAPI interface {
	AllPayouts(ctx context.Context, q klarna.PayoutQuery) iter.Seq2[klarna.Payout, error]
	AllTransactions(ctx context.Context, q klarna.TransactionQuery) iter.Seq2[klarna.Transaction, error]
}

// SyncResult says what a pull from the providers' APIs brought.
type SyncResult struct {
	Provider reconcile.Provider  `json:"provider"`
	Source   string              `json:"source"`
	Days     []string            `json:"days,omitempty"`
	OpenDays []string            `json:"open_days,omitempty"`
	Result   bridge.ImportResult `json:"result"`
	// Warnings are what the import found odd but kept, e.g. a day whose
	// fee lines do not add up to the fees Vipps retained.
	Warnings []string `json:"warnings,omitempty"`
	Error    string   `json:"error,omitempty"`
}

// oslo is where Vipps ledger days run from midnight to midnight.
var oslo = func() *time.Location {
	l, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		return time.UTC
	}
	return l
}()

// SyncSettlements pulls the settlements of from..to (YYYY-MM-DD) from the
// Vipps Report API (every ledger of every unit, funds and fees day by day,
// honouring hasMore and tryLater) and the Kustom Settlements API. Days Vipps
// still has open are imported as open and pulled again later; the last
// closed day per ledger is kept as the ledger's cursor, so a sync without
// a from starts after it. Every pull is an idempotent import.
func (s *Service) SyncSettlements(ctx context.Context, from, to string) ([]SyncResult, error) {
	if to == "" {
		to = s.now().In(oslo).Format("2006-01-02")
	}
	var out []SyncResult
	seenLedgers := map[string]bool{}
	for _, id := range s.unitIDs() {
		u := s.Units[id]
		if u.Report == nil {
			if u.ReportOff != "" {
				out = append(out, SyncResult{Provider: reconcile.Vipps, Source: "report-api:" + u.ID, Error: u.ReportOff})
			}
			continue
		}
		ledgers, err := u.Report.ListLedgers(ctx, u.MSN)
		if err != nil {
			out = append(out, SyncResult{Provider: reconcile.Vipps, Source: "report-api:" + u.ID, Error: err.Error()})
			continue
		}
		for _, l := range ledgers {
			if seenLedgers[l.LedgerID] {
				continue // several MSNs on one ledger
			}
			seenLedgers[l.LedgerID] = true
			out = append(out, s.syncLedger(ctx, u, l, from, to))
		}
	}
	if s.Kustom != nil {
		out = append(out, s.syncKustom(ctx, from, to))
	}
	return out, nil
}

func (s *Service) unitIDs() []string {
	return slices.Sorted(maps.Keys(s.Units))
}

func (s *Service) syncLedger(ctx context.Context, u *Unit, l vipps.Ledger, from, to string) SyncResult {
	res := SyncResult{Provider: reconcile.Vipps, Source: "report-api:" + l.LedgerID}
	cursorKey := "vipps-ledger-closed:" + l.LedgerID
	start := from
	if start == "" {
		last, err := s.Store.ReportCursor(ctx, cursorKey)
		if err != nil {
			res.Error = err.Error()
			return res
		}
		start = s.now().In(oslo).AddDate(0, 0, -7).Format("2006-01-02")
		if last != "" {
			start = nextDay(last)
		}
	}
	var days []vippsDay
	var hash strings.Builder
	lastClosed := ""
	for day := start; day <= to; day = nextDay(day) {
		funds, openF, err := s.ledgerDay(ctx, u.Report, l.LedgerID, vipps.TopicFunds, day)
		if err != nil {
			res.Error = err.Error()
			break
		}
		fees, openS, err := s.ledgerDay(ctx, u.Report, l.LedgerID, vipps.TopicFees, day)
		if err != nil {
			res.Error = err.Error()
			break
		}
		open := openF || openS
		days = append(days, vippsDay{Date: day, Funds: funds, Fees: fees, Open: open})
		res.Days = append(res.Days, day)
		if open {
			res.OpenDays = append(res.OpenDays, day)
		} else if len(res.OpenDays) == 0 {
			// The cursor only moves over closed days with no open day
			// before them: days run in order, so this is the last of them.
			lastClosed = day
		}
		fmt.Fprintf(&hash, "%s:%t:%d:%d;", day, open, len(funds), len(fees))
		for _, e := range funds {
			fmt.Fprintf(&hash, "%s/%s/%d/%d/%s;", e.PSPReference, e.EntryType, e.Amount, e.BalanceBefore, e.RecipientHandle)
		}
		for _, e := range fees {
			fmt.Fprintf(&hash, "%s/%s/%d/%d/%s;", e.PSPReference, e.EntryType, e.Amount, e.BalanceBefore, e.RecipientHandle)
		}
	}
	imp, err := vippsLedgerDays(res.Source, l, u.MSN, days)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.Warnings = imp.Warnings
	imp.Hash = hashOf([]byte(l.LedgerID + "|" + hash.String()))
	r, err := s.importSettlement(ctx, imp)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.Result = r
	if lastClosed != "" && res.Error == "" {
		if err := s.Store.SetReportCursor(ctx, cursorKey, lastClosed); err != nil {
			res.Error = err.Error()
		}
	}
	return res
}

// ledgerDay reads one topic of one ledger day, all pages.
func (s *Service) ledgerDay(ctx context.Context, api ReportAPI, ledgerID, topic, day string) ([]vipps.ReportEntry, bool, error) {
	var all []vipps.ReportEntry
	open, cursor := false, ""
	for range 10000 {
		page, err := api.LedgerDay(ctx, ledgerID, topic, day, cursor)
		if err != nil {
			return nil, false, fmt.Errorf("ledger %s %s %s: %w", ledgerID, topic, day, err)
		}
		all = append(all, page.Items...)
		open = open || page.TryLater
		if !page.HasMore {
			return all, open, nil
		}
		cursor = page.Cursor
	}
	return nil, false, fmt.Errorf("ledger %s %s %s: too many pages", ledgerID, topic, day)
}

// vippsDay is one ledger date of one ledger as the Report API lists it: its
// funds and fees entries in booking order, and whether Vipps still has it
// open (tryLater).
type vippsDay struct {
	Date        string
	Funds, Fees []vipps.ReportEntry
	Open        bool
}

// vippsLedgerDays turns the ledger dates of one sync, in date order, into
// settlement lines and payouts.
//
// Lines. Funds capture and refund entries are capture and refund lines
// (gross), keyed by pspReference as in the portal files. Every fees entry
// but the mirrors of what funds already shows (fees-retained,
// fees-invoiced) is a fee line whose Fee is minus its amount: capture-fee,
// service-fee, correction and types Vipps adds later cost what they take
// (Fee > 0), a credit note gives back (Fee < 0). A capture-fee whose capture
// is on the same date is folded into the capture line's Fee instead (all of
// them, when a capture's fee is split), so that the line equals the portal
// file's. Other funds entries are "other" lines with their sign; the funds
// fees-retained is no line (the fee lines account for it, and a warning
// says when they do not), nor is the payout itself.
//
// Keys identify one money movement and do not depend on which days a sync
// reads: a fee line's key is its type, pspReference, ledger date and its
// occurrence among the entries of that type and pspReference on that date
// in the order Vipps lists them, so a capture fee split in two is two
// lines, and the same date read again (also open, then closed) gives the
// same keys.
//
// MSN. A line's MSN is its entry's recipientHandle: "api:<MSN>" gives the
// MSN, a Vippsnummer or MyShop handle ("NO:…", "DK:…", "FI:…") is kept as
// it is; an entry without one takes the ledger's MSN when it settles for
// exactly one, else unitMSN. A payout's MSN is the ledger's single MSN, or
// empty when the ledger settles for several.
//
// Payouts. A payout (the payout-scheduled entry) covers every ledger date
// since the previous payout of this sync: days without a payout (refunds
// above captures, weekly or monthly settlement) have their lines in the
// next payout, whose From is the first of those dates. Its Opening is the
// balance carried into From: the funds balanceBefore of the first funds
// entry from From on, plus, when the payout is net of fees (a funds
// fees-retained within its dates), the fees balanceBefore of the first fees
// entry from From on: the fees booked before From and not yet retained,
// which this payout retains but whose fee lines are on earlier dates. So
// Opening plus the net of the payout's lines (their gross, for a gross
// payout) is its amount, however the dates are split between syncs. Lines
// of dates after the sync's last payout have no payout: the next sync's
// first payout carries them in through its Opening.
//
// Gross. A payout is gross-settled when no fees-retained is among its funds
// entries but its dates have fees (a fees-invoiced entry or fee lines):
// the fees were not taken from it. Refunds are deducted either way.
func vippsLedgerDays(source string, l vipps.Ledger, unitMSN string, days []vippsDay) (*bridge.SettlementImport, error) {
	imp := &bridge.SettlementImport{Provider: reconcile.Vipps, Source: source}
	ledgerMSN := unitMSN
	payoutMSN := ""
	if m := l.MSNs(); len(m) == 1 {
		ledgerMSN, payoutMSN = m[0], m[0]
	}
	msnOf := func(e vipps.ReportEntry) string {
		if e.RecipientHandle == "" {
			return ledgerMSN
		}
		if msn, ok := strings.CutPrefix(e.RecipientHandle, "api:"); ok && msn != "" {
			return msn
		}
		return e.RecipientHandle
	}
	currencyOf := func(e vipps.ReportEntry) string { return cmp.Or(e.Currency, l.Currency) }

	var (
		span      = -1  // index in days of the first date of the current payout, -1 before any
		unpaid    []int // indexes in imp.Lines of lines since the previous payout
		retained  bool  // the span has a funds fees-retained
		invoiced  bool  // the span has a fees fees-invoiced
		spanFees  int64 // the span's fee lines and folded fees
		feeRun    int64 // fees not yet retained, as the fee lines add them up
		feeKnown  bool  // feeRun holds the carried fees balance
		entry     int   // entry number within the sync, for SourceLine
		overflow  error // the first sum that did not fit
		addAmount = func(a, b int64, what string) int64 {
			v, ok := addMoney(a, b)
			if !ok && overflow == nil {
				overflow = fmt.Errorf("ledger %s: %s does not fit in 64 bits; nothing of this sync is stored", l.LedgerID, what)
			}
			return v
		}
	)
	for di, d := range days {
		if span < 0 {
			span, retained, invoiced, spanFees = di, false, false, 0
		}
		var payout *reconcile.Payout
		var dayRetained int64 // what the date's funds fees-retained took, positive
		dayHasRetained := false
		byPSP := map[string]int{} // capture and refund lines of the date, by pspReference
		seen := map[string]int{}  // occurrences of a topic, entry type and pspReference on the date
		occurrence := func(topic string, e vipps.ReportEntry) int {
			k := topic + "\x00" + e.EntryType + "\x00" + e.PSPReference
			seen[k]++
			return seen[k]
		}
		for _, e := range d.Funds {
			entry++
			line := reconcile.Line{Provider: reconcile.Vipps, Source: source, SourceLine: entry, Reference: e.Reference,
				PSPReference: e.PSPReference, MSN: msnOf(e), Currency: currencyOf(e),
				LedgerDate: cmp.Or(e.LedgerDate, d.Date), Open: d.Open}
			switch e.EntryType {
			case vipps.EntryPayoutScheduled, vipps.EntryScheduledForPayout:
				if payout != nil {
					imp.Warnings = append(imp.Warnings, fmt.Sprintf("ledger %s %s: payouts %s and %s on one date; the lines of the date are in the last",
						l.LedgerID, d.Date, payout.ID, e.PSPReference))
				}
				payout = &reconcile.Payout{Provider: reconcile.Vipps, ID: e.PSPReference, MSN: payoutMSN, Date: d.Date,
					Amount: -e.Amount, Currency: currencyOf(e), Source: source}
				continue
			case vipps.EntryFeesRetained:
				retained, dayHasRetained = true, true
				dayRetained = addAmount(dayRetained, -e.Amount, "the fees retained on "+d.Date)
				continue
			case vipps.EntryCapture, vipps.EntryRefund:
				line.Kind, line.Gross = reconcile.Kind(e.EntryType), e.Amount
				line.Key = vippsLineKey(e.PSPReference, e.EntryType)
				byPSP[e.PSPReference] = len(imp.Lines)
			default:
				line.Kind, line.Gross = reconcile.KindOther, e.Amount
				line.Key = "vipps:" + e.EntryType + ":" + l.LedgerID + ":" + e.PSPReference
				if n := occurrence(vipps.TopicFunds, e); n > 1 {
					line.Key += fmt.Sprintf(":%s:%d", line.LedgerDate, n)
				}
			}
			unpaid = append(unpaid, len(imp.Lines))
			imp.Lines = append(imp.Lines, line)
		}
		// The fees of the date come after its funds in SourceLine; a
		// fees-retained of the date is checked against them below, as
		// Vipps retains a date's fees when it closes the date.
		for _, e := range d.Fees {
			entry++
			if !feeKnown {
				// The fees booked before this sync and not yet retained.
				feeRun, feeKnown = -e.BalanceBefore, true
			}
			switch e.EntryType {
			case vipps.EntryFeesRetained:
				continue // the mirror of the funds entry
			case vipps.EntryFeesInvoiced:
				invoiced = true
				continue // gross settlement: the fees go on an invoice
			}
			fee := -e.Amount
			feeRun = addAmount(feeRun, fee, "the fees not yet retained on "+d.Date)
			spanFees = addAmount(spanFees, fee, "the fees up to "+d.Date)
			if j, ok := byPSP[e.PSPReference]; ok && e.EntryType == vipps.EntryCaptureFee {
				imp.Lines[j].Fee = addAmount(imp.Lines[j].Fee, fee, "the fee of "+e.PSPReference+" on "+d.Date)
				continue
			}
			date := cmp.Or(e.LedgerDate, d.Date)
			unpaid = append(unpaid, len(imp.Lines))
			imp.Lines = append(imp.Lines, reconcile.Line{Provider: reconcile.Vipps, Source: source, SourceLine: entry,
				Key:  fmt.Sprintf("vipps:%s:%s:%s:%d", e.EntryType, e.PSPReference, date, occurrence(vipps.TopicFees, e)),
				Kind: reconcile.KindFee, Reference: e.Reference, PSPReference: e.PSPReference, MSN: msnOf(e),
				Fee: fee, Currency: currencyOf(e), LedgerDate: date, Open: d.Open})
		}
		if dayHasRetained {
			if feeKnown && dayRetained != feeRun {
				imp.Warnings = append(imp.Warnings, fmt.Sprintf("ledger %s %s: fees retained %s, but the fee lines not yet retained come to %s",
					l.LedgerID, d.Date, minorString(dayRetained), minorString(feeRun)))
			}
			feeRun = addAmount(feeRun, -dayRetained, "the fees retained on "+d.Date)
		}
		if payout == nil {
			continue
		}
		payout.From = days[span].Date
		payout.Gross = !retained && (invoiced || spanFees != 0)
		payout.Opening = openingOf(days[span:di+1], vipps.TopicFunds)
		if retained {
			payout.Opening = addAmount(payout.Opening, openingOf(days[span:di+1], vipps.TopicFees), "the balance carried into "+payout.From)
		}
		for _, j := range unpaid {
			imp.Lines[j].PayoutID = payout.ID
		}
		imp.Payouts = append(imp.Payouts, *payout)
		unpaid, span = nil, -1
	}
	if overflow != nil {
		return nil, overflow
	}
	return imp, nil
}

// openingOf is the balance of topic before the first of days: the
// balanceBefore of the first entry of that topic on the first date that
// has one; 0 when none has.
func openingOf(days []vippsDay, topic string) int64 {
	for _, d := range days {
		es := d.Funds
		if topic == vipps.TopicFees {
			es = d.Fees
		}
		if len(es) > 0 {
			return es[0].BalanceBefore
		}
	}
	return 0
}

// addMoney adds two amounts of minor units, reporting false when the sum
// does not fit in an int64.
func addMoney(a, b int64) (int64, bool) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, false
	}
	return s, true
}

// minorString writes minor units as a two-decimal amount, for messages.
func minorString(v int64) string {
	sign := ""
	u := uint64(v)
	if v < 0 {
		sign, u = "-", -uint64(v)
	}
	return fmt.Sprintf("%s%d.%02d", sign, u/100, u%100)
}

func nextDay(day string) string {
	t, err := time.Parse("2006-01-02", day)
	if err != nil {
		return "9999-12-31"
	}
	return t.AddDate(0, 0, 1).Format("2006-01-02")
}

// syncKustom pulls the Kustom payouts of from..to and their transactions.
// An order paid through us must never be in them; the matcher says so when
// one is.
func (s *Service) syncKustom(ctx context.Context, from, to string) SyncResult {
	res := SyncResult{Provider: reconcile.Kustom, Source: "settlements-api"}
	if from == "" {
		from = s.now().AddDate(0, 0, -7).Format("2006-01-02")
	}
	start, err1 := time.Parse("2006-01-02", from)
	end, err2 := time.Parse("2006-01-02", to)
	if err1 != nil || err2 != nil {
		res.Error = "dates must be YYYY-MM-DD"
		return res
	}
	imp := &bridge.SettlementImport{Provider: reconcile.Kustom, Source: res.Source}
	var hash strings.Builder
	var keys kustomKeys
	for p, err := range s.Kustom.AllPayouts(ctx, klarna.PayoutQuery{Start: start, End: end.Add(24*time.Hour - time.Second)}) {
		if err != nil {
			res.Error = err.Error()
			return res
		}
		imp.Payouts = append(imp.Payouts, kustomPayout(p, res.Source))
		res.Days = append(res.Days, p.PayoutDate.UTC().Format("2006-01-02"))
		for t, err := range s.Kustom.AllTransactions(ctx, klarna.TransactionQuery{PaymentReference: p.PaymentReference}) {
			if err != nil {
				res.Error = err.Error()
				return res
			}
			date := t.CaptureDate.UTC().Format("2006-01-02")
			l, warning := kustomLine(t.Type, t.OrderID, t.CaptureID, t.RefundID, t.Amount, t.CurrencyCode, p.PaymentReference, date)
			if warning != "" {
				imp.Warnings = append(imp.Warnings, warning)
			}
			l.Source, l.SourceLine = res.Source, len(imp.Lines)+1
			l.Key = keys.key(l, t.Type, t.CaptureID, t.RefundID, date, t.Amount)
			imp.Lines = append(imp.Lines, l)
			fmt.Fprintf(&hash, "%s;", l.Key)
		}
	}
	imp.Warnings = append(imp.Warnings, keys.warnings...)
	imp.Hash = hashOf([]byte("kustom|" + from + "|" + to + "|" + hash.String()))
	r, err := s.importSettlement(ctx, imp)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.Result = r
	return res
}
