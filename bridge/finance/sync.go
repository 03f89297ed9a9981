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
	Error    string              `json:"error,omitempty"`
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
	msn := u.MSN
	if m := l.MSNs(); len(m) == 1 {
		msn = m[0]
	}
	imp := &bridge.SettlementImport{Provider: reconcile.Vipps, Source: res.Source}
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
		lines, payout := vippsLedgerDay(res.Source, l, msn, day, funds, fees, open)
		imp.Lines = append(imp.Lines, lines...)
		if payout != nil {
			imp.Payouts = append(imp.Payouts, *payout)
		}
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
			fmt.Fprintf(&hash, "%s/%s/%d;", e.PSPReference, e.EntryType, e.Amount)
		}
		for _, e := range fees {
			fmt.Fprintf(&hash, "%s/%s/%d;", e.PSPReference, e.EntryType, e.Amount)
		}
	}
	imp.Hash = hashOf([]byte(l.LedgerID + "|" + hash.String()))
	r, err := s.Store.ImportSettlement(ctx, imp)
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

// vippsLedgerDay turns one ledger day into settlement lines. Gross comes
// from the funds capture and refund entries, the fee from the fees
// capture-fee entries joined on pspReference (a fee booked on another day
// than its capture becomes a fee line of its own, joined later by the
// matcher); the day's payout is its payout-scheduled entry, and every line
// of the day belongs to it. Other entry types are kept as "other" lines
// with their sign, for finance to look at.
func vippsLedgerDay(source string, l vipps.Ledger, msn, day string, funds, fees []vipps.ReportEntry, open bool) ([]reconcile.Line, *reconcile.Payout) {
	var payout *reconcile.Payout
	for _, e := range funds {
		if e.EntryType == vipps.EntryPayoutScheduled || e.EntryType == vipps.EntryScheduledForPayout {
			payout = &reconcile.Payout{Provider: reconcile.Vipps, ID: e.PSPReference, MSN: msn, Date: day,
				Amount: -e.Amount, Currency: cmp.Or(e.Currency, l.Currency), Source: source}
		}
	}
	payoutID := ""
	if payout != nil {
		payoutID = payout.ID
	}
	var lines []reconcile.Line
	byPSP := map[string]int{}
	for i, e := range funds {
		line := reconcile.Line{Provider: reconcile.Vipps, Source: source, SourceLine: i + 1, Reference: e.Reference,
			PSPReference: e.PSPReference, MSN: msn, Currency: cmp.Or(e.Currency, l.Currency),
			PayoutID: payoutID, LedgerDate: cmp.Or(e.LedgerDate, day), Open: open}
		switch e.EntryType {
		case vipps.EntryCapture, vipps.EntryRefund:
			line.Kind, line.Gross = reconcile.Kind(e.EntryType), e.Amount
			line.Key = vippsLineKey(e.PSPReference, e.EntryType)
			byPSP[e.PSPReference] = len(lines)
		case vipps.EntryPayoutScheduled, vipps.EntryScheduledForPayout, vipps.EntryFeesRetained:
			// The payout itself, and the fees it retained, which the fee
			// lines below account for one by one.
			continue
		default:
			line.Kind, line.Gross = "other", e.Amount
			line.Key = "vipps:" + e.EntryType + ":" + l.LedgerID + ":" + e.PSPReference
		}
		lines = append(lines, line)
	}
	for i, e := range fees {
		if e.EntryType != vipps.EntryCaptureFee {
			continue
		}
		if j, ok := byPSP[e.PSPReference]; ok {
			lines[j].Fee += -e.Amount
			continue
		}
		lines = append(lines, reconcile.Line{Provider: reconcile.Vipps, Source: source, SourceLine: len(funds) + i + 1,
			Key: "vipps:fee:" + e.PSPReference, Kind: "fee", Reference: e.Reference, PSPReference: e.PSPReference,
			MSN: msn, Fee: -e.Amount, Currency: cmp.Or(e.Currency, l.Currency), PayoutID: payoutID,
			LedgerDate: cmp.Or(e.LedgerDate, day), Open: open})
	}
	return lines, payout
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
	r, err := s.Store.ImportSettlement(ctx, imp)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.Result = r
	return res
}
