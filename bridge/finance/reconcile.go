package finance

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"

	"vippskco/bridge"
	"vippskco/bridge/reconcile"
)

// settleSlack is how far past a period's end settlement lines are read:
// Vipps settles T+2 (MobilePay T+1), Kustom pays a banking day later, so a
// capture on the last day of the period is settled within it.
const settleSlack = 7

// Reconciliation is one run of the matcher over a period.
type Reconciliation struct {
	From, To string
	RanAt    time.Time
	reconcile.Result
}

// Reconcile matches our captures and refunds of from..to (YYYY-MM-DD,
// Oslo days) against the settlement lines and payouts imported for them
// (and the days after, where they settle). It reads only what is stored,
// so running it again gives the same answer until new data arrives; days
// a provider still has open are matched but not judged.
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
	linesTo := end.AddDate(0, 0, settleSlack).Format("2006-01-02")
	lines, err := s.Store.SettlementLines(ctx, from, linesTo)
	if err != nil {
		return nil, err
	}
	payouts, err := s.Store.SettlementPayouts(ctx, from, linesTo)
	if err != nil {
		return nil, err
	}
	moves, err := s.Store.Movements(ctx, start, end.AddDate(0, 0, 1))
	if err != nil {
		return nil, err
	}
	cfg := reconcile.Config{
		Now:          s.now(),
		Location:     oslo,
		SettleWithin: map[reconcile.Provider]time.Duration{reconcile.Vipps: 72 * time.Hour, reconcile.Kustom: 96 * time.Hour},
		ExpectedFee:  map[string]reconcile.FeeModel{},
	}
	msnOf := map[string]string{}
	for _, u := range s.Units {
		msnOf[u.ID] = u.MSN
		if u.ExpectedFee != (reconcile.FeeModel{}) {
			cfg.ExpectedFee[u.MSN] = u.ExpectedFee
		}
	}
	ms := make([]reconcile.Movement, len(moves))
	for i, m := range moves {
		ms[i] = reconcile.Movement{
			ID: m.Reference + "/" + m.Kind + "/" + m.PSPReference, Provider: reconcile.Vipps, Reference: m.Reference,
			KCOOrderID: m.KCOOrderID, Unit: m.Unit, MSN: msnOf[m.Unit], Kind: reconcile.Kind(m.Kind),
			PSPReference: m.PSPReference, Amount: m.Amount, Currency: m.Currency, At: m.At,
		}
	}
	res, err := reconcile.Run(cfg, ms, lines, payouts)
	if err != nil {
		return nil, err
	}
	s.Metrics.Reconciled(res.Exceptions)
	return &Reconciliation{From: from, To: to, RanAt: cfg.Now, Result: *res}, nil
}

// WriteCSV writes the exceptions first, then the payouts and the days, as
// one CSV finance can open in a spreadsheet: one section column, amounts in
// major units with two decimals (a decimal point, so that no locale reads
// them as thousands).
func (r *Reconciliation) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"section", "reason", "provider", "date", "payout_id", "reference", "kco_order_id", "unit", "msn",
		"currency", "amount", "expected", "gross", "fees", "net", "paid", "lines", "matched", "exceptions", "detail"})
	for _, e := range r.Exceptions {
		_ = cw.Write([]string{"exception", string(e.Reason), string(e.Provider), e.Date, e.PayoutID, e.Reference, e.KCOOrderID,
			e.Unit, e.MSN, e.Currency, major(e.Amount), major(e.Expected), "", "", "", "", "", "", "", e.Detail})
	}
	for _, p := range r.Payouts {
		_ = cw.Write([]string{"payout", "", string(p.Provider), p.Date, p.ID, "", "", "", p.MSN, p.Currency, "", "",
			major(p.Gross), major(p.Fees), major(p.Net), major(p.Paid), strconv.Itoa(p.Lines), strconv.Itoa(p.Matched), strconv.Itoa(p.Exceptions), ""})
	}
	for _, d := range r.Days {
		_ = cw.Write([]string{"day", "", string(d.Provider), d.Date, "", "", "", "", "", d.Currency, "", "",
			major(d.Gross), major(d.Fees), major(d.Net), "", strconv.Itoa(d.Lines), strconv.Itoa(d.Matched), strconv.Itoa(d.Exceptions), ""})
	}
	for _, p := range r.Pending {
		_ = cw.Write([]string{"pending", string(p.Kind), string(p.Provider), p.Due.In(oslo).Format("2006-01-02"), "", p.Reference,
			p.KCOOrderID, p.Unit, p.MSN, p.Currency, major(p.Amount), "", "", "", "", "", "", "", "", "not yet due"})
	}
	cw.Flush()
	return cw.Error()
}

// major formats minor units as a decimal in major units, "-1490.00".
func major(v int64) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}
