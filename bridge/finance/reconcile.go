package finance

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"

	"vippskco/bridge"
	"vippskco/bridge/reconcile"
)

// contextDays is how far before and after a period a reconciliation reads
// movements and settlement lines, so that what is settled across the
// period's edges is matched: a Klarna order's authorization lives 28 days
// (a Kustom sale may come that long after our Vipps capture), Vipps
// settles T+2 and Kustom pays within days. The engine reports only what
// belongs to the period (reconcile.Config From and To).
const contextDays = 35

// Reconciliation is one run of the matcher over a period.
type Reconciliation struct {
	From  string    `json:"from"`
	To    string    `json:"to"`
	RanAt time.Time `json:"ran_at"`
	reconcile.Result
}

// MarshalJSON writes the reconciliation in snake_case with every list []
// when empty, never null: the API's GET /api/v1/reconciliation and the
// command line's reconcile -format json both write this.
func (r Reconciliation) MarshalJSON() ([]byte, error) {
	type plain Reconciliation
	p := plain(r)
	p.Matches = reconcile.OrEmpty(p.Matches)
	p.Exceptions = reconcile.OrEmpty(p.Exceptions)
	p.Pending = reconcile.OrEmpty(p.Pending)
	p.Days = reconcile.OrEmpty(p.Days)
	p.Payouts = reconcile.OrEmpty(p.Payouts)
	return json.Marshal(p)
}

// Reconcile matches our captures and refunds against the settlement lines
// and payouts imported, and reports on the period from..to (YYYY-MM-DD,
// Oslo days, inclusive): the exceptions, days and payouts dated in it, and
// the matches and pending movements whose earliest movement is. It reads a
// context wider than the period: the movements and lines of contextDays
// before and after it, and every line of the payouts dated in it, whatever
// its ledger date. It reads only what is stored, so running it again gives
// the same answer until new data arrives; days a provider still has open
// are matched but not judged.
//
// The lines stream from the store into a reconcile.Matcher, which keeps a
// line in a few dozen bytes; the movements are kept as the matcher needs
// them, one string allocation each.
func (s *Service) Reconcile(ctx context.Context, from, to string) (*Reconciliation, error) {
	start, err := time.ParseInLocation("2006-01-02", from, oslo)
	if err != nil {
		return nil, bridge.Errorf(bridge.ECodeInvalid, "bad_from", "from must be a date YYYY-MM-DD, not %q", from)
	}
	end, err := time.ParseInLocation("2006-01-02", to, oslo)
	if err != nil {
		return nil, bridge.Errorf(bridge.ECodeInvalid, "bad_to", "to must be a date YYYY-MM-DD, not %q", to)
	}
	if end.Before(start) {
		return nil, bridge.Errorf(bridge.ECodeInvalid, "bad_range", "to (%s) is before from (%s)", to, from)
	}
	if end.Sub(start) > 400*24*time.Hour {
		return nil, bridge.Errorf(bridge.ECodeInvalid, "bad_range", "a reconciliation covers at most 400 days")
	}
	winStart, winEnd := start.AddDate(0, 0, -contextDays), end.AddDate(0, 0, contextDays)

	cfg := reconcile.Config{
		Now:          s.now(),
		Location:     oslo,
		SettleWithin: map[reconcile.Provider]time.Duration{reconcile.Vipps: 72 * time.Hour, reconcile.Kustom: 96 * time.Hour},
		ExpectedFee:  map[string]reconcile.FeeModel{},
		From:         from,
		To:           to,
	}
	msnOf := map[string]string{}
	for _, u := range s.Units {
		msnOf[u.ID] = u.MSN
		if u.ExpectedFee != (reconcile.FeeModel{}) {
			cfg.ExpectedFee[u.MSN] = u.ExpectedFee
		}
	}
	ms, err := s.movements(ctx, winStart, winEnd.AddDate(0, 0, 1), msnOf)
	if err != nil {
		return nil, err
	}
	m := reconcile.NewMatcher(cfg, ms)
	q := bridge.SettlementLineQuery{
		From: winStart.Format("2006-01-02"), To: winEnd.Format("2006-01-02"),
		PayoutsFrom: from, PayoutsTo: to,
	}
	err = s.Store.EachSettlementLine(ctx, q, func(l *reconcile.Line) error {
		m.Add(*l)
		return nil
	})
	if err != nil {
		return nil, err
	}
	payouts, err := s.Store.SettlementPayouts(ctx, from, to)
	if err != nil {
		return nil, err
	}
	res, err := m.Run(payouts)
	if err != nil {
		return nil, err
	}
	s.Metrics.Reconciled(res.Exceptions)
	return &Reconciliation{From: from, To: to, RanAt: cfg.Now, Result: *res}, nil
}

// movements reads our captures and refunds of [from, to) as the matcher
// keeps them. A movement costs the reconcile.Movement and one string, its
// ID (reference/kind/pspReference), of which its reference, its
// pspReference and, when the reference holds it, its KCO order id are
// parts; units, MSNs, kinds and currencies are shared. The slice is sized
// by a count first, so a million movements are not copied as it grows.
func (s *Service) movements(ctx context.Context, from, to time.Time, msnOf map[string]string) ([]reconcile.Movement, error) {
	n, err := s.Store.CountMovements(ctx, from, to)
	if err != nil {
		return nil, err
	}
	ms := make([]reconcile.Movement, 0, n)
	shared := map[string]string{}
	share := func(v string) string {
		if c, ok := shared[v]; ok {
			return c
		}
		v = strings.Clone(v)
		shared[v] = v
		return v
	}
	err = s.Store.EachMovement(ctx, from, to, func(m *bridge.Movement) error {
		id := m.Reference + "/" + m.Kind + "/" + m.PSPReference
		ref := id[:len(m.Reference)]
		kco := m.KCOOrderID
		if i := strings.Index(ref, kco); kco != "" && i >= 0 {
			kco = ref[i : i+len(kco)]
		} else {
			kco = strings.Clone(kco)
		}
		unit := share(m.Unit)
		ms = append(ms, reconcile.Movement{
			ID: id, Provider: reconcile.Vipps, Reference: ref, KCOOrderID: kco, Unit: unit, MSN: msnOf[unit],
			Kind: reconcile.Kind(share(m.Kind)), PSPReference: id[len(id)-len(m.PSPReference):],
			Amount: m.Amount, Currency: share(m.Currency), At: m.At,
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ms, nil
}

// WriteCSV writes the exceptions first, then the payouts and the days, as
// one CSV finance can open in a spreadsheet: one section column, amounts in
// major units with two decimals (a decimal point, so that no locale reads
// them as thousands).
func (r *Reconciliation) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	// A write error (the reader went away) ends the export at once rather
	// than after formatting every row.
	var err error
	write := func(rec ...string) {
		if err == nil {
			err = cw.Write(rec)
		}
	}
	// Text that came from a provider's file (payout ids, references,
	// details quoting them) must not open as a formula: t neutralises it.
	// Numbers we format (major, strconv.Itoa) are written as they are.
	t := textCell
	write("section", "reason", "provider", "date", "payout_id", "reference", "kco_order_id", "unit", "msn",
		"currency", "amount", "expected", "gross", "fees", "net", "paid", "lines", "matched", "exceptions", "detail")
	for i := 0; i < len(r.Exceptions) && err == nil; i++ {
		e := &r.Exceptions[i]
		write("exception", t(string(e.Reason)), t(string(e.Provider)), t(e.Date), t(e.PayoutID), t(e.Reference), t(e.KCOOrderID),
			t(e.Unit), t(e.MSN), t(e.Currency), major(e.Amount), major(e.Expected), "", "", "", "", "", "", "", t(e.Detail()))
	}
	for i := 0; i < len(r.Payouts) && err == nil; i++ {
		p := &r.Payouts[i]
		write("payout", "", t(string(p.Provider)), t(p.Date), t(p.ID), "", "", "", t(p.MSN), t(p.Currency), "", "",
			major(p.Gross), major(p.Fees), major(p.Net), major(p.Paid), strconv.Itoa(p.Lines), strconv.Itoa(p.Matched), strconv.Itoa(p.Exceptions), "")
	}
	for i := 0; i < len(r.Days) && err == nil; i++ {
		d := &r.Days[i]
		write("day", "", t(string(d.Provider)), t(d.Date), "", "", "", "", "", t(d.Currency), "", "",
			major(d.Gross), major(d.Fees), major(d.Net), "", strconv.Itoa(d.Lines), strconv.Itoa(d.Matched), strconv.Itoa(d.Exceptions), "")
	}
	for i := 0; i < len(r.Pending) && err == nil; i++ {
		p := &r.Pending[i]
		write("pending", t(string(p.Kind)), t(string(p.Provider)), p.Due.In(oslo).Format("2006-01-02"), "", t(p.Reference),
			t(p.KCOOrderID), t(p.Unit), t(p.MSN), t(p.Currency), major(p.Amount), "", "", "", "", "", "", "", "", "not yet due")
	}
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// textCell keeps a text cell from being read as a formula by a
// spreadsheet (CSV injection): a cell that starts with =, +, -, @, a tab
// or a carriage return gets a leading single quote, which Excel,
// LibreOffice and Google Sheets show as text. Every text cell of a finance
// CSV goes through it; the numbers we format ourselves do not, so that a
// negative amount stays a number.
func textCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// major formats minor units as a decimal in major units, "-1490.00"; it
// is exact for every int64.
func major(v int64) string {
	var b [24]byte
	out := b[:0]
	u := uint64(v)
	if v < 0 {
		out = append(out, '-')
		u = -u
	}
	out = strconv.AppendUint(out, u/100, 10)
	out = append(out, '.', byte('0'+u%100/10), byte('0'+u%10))
	return string(out)
}
