package finance

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"vippskco/bridge"
	"vippskco/bridge/reconcile"
	"vippskco/klarna"
	"vippskco/vipps/settlement"
)

// ImportVippsFile imports a Vipps settlement report from the business
// portal (XML v3, CSV or XLSX; the format is read from the content). Gross,
// fee and net per transaction, fee signs normalised; each settlement's
// payout. Importing the same file twice changes nothing.
func (s *Service) ImportVippsFile(ctx context.Context, name string, data []byte) (bridge.ImportResult, []string, error) {
	rep, err := parseUnlessCancelled(ctx, func() (*settlement.Report, error) { return settlement.Parse(name, data) })
	if ctx.Err() != nil {
		return bridge.ImportResult{}, nil, ctx.Err()
	}
	if err != nil {
		return bridge.ImportResult{}, nil, &bridge.Error{Code: bridge.ECodeInvalid, Reason: "malformed_file", Message: err.Error(), Err: err}
	}
	imp := &bridge.SettlementImport{Provider: reconcile.Vipps, Source: name, Hash: hashOf(data), Warnings: rep.Warnings}
	for _, p := range rep.Check() {
		imp.Warnings = append(imp.Warnings, fmt.Sprint(p))
	}
	for _, st := range rep.Settlements {
		msn := cmp.Or(st.MSN, rep.MSN)
		cur := cmp.Or(st.Currency, rep.Currency, s.currencyOfMSN(msn))
		for _, t := range st.Transactions {
			date := cmp.Or(t.SalesDate, st.Date)
			imp.Lines = append(imp.Lines, reconcile.Line{
				Provider: reconcile.Vipps, Source: name, SourceLine: t.Line,
				Key:  vippsLineKey(t.TransactionID, t.Kind),
				Kind: reconcile.Kind(t.Kind), Reference: t.OrderID, PSPReference: t.TransactionID, MSN: msn,
				Gross: t.Gross, Fee: t.Fee, Currency: cur, PayoutID: st.ID, LedgerDate: date,
			})
		}
		if st.ID != "" {
			imp.Payouts = append(imp.Payouts, reconcile.Payout{
				Provider: reconcile.Vipps, ID: st.ID, MSN: msn, Date: st.Date, Amount: paidOut(st), Currency: cur,
				Gross: st.Type == settlement.TypeGross, Source: name,
			})
		}
	}
	res, err := s.Store.ImportSettlement(ctx, imp)
	return res, imp.Warnings, err
}

// paidOut is what a settlement paid out: the settled amount when the file
// states one, else its stated net (the CSV report states no settled
// amount), else the sum of its transactions' net.
func paidOut(st settlement.Settlement) int64 {
	switch {
	case st.Stated.Has(settlement.TotalSettled):
		return st.Settled
	case st.Stated.Has(settlement.TotalNet):
		return st.Net
	}
	var net int64
	for _, t := range st.Transactions {
		net += t.Net
	}
	return net
}

// vippsLineKey identifies one Vipps money movement whichever way it
// arrives (file or Report API): the transaction id is the Report API's
// pspReference, and differs for a capture and its refunds.
func vippsLineKey(pspReference, kind string) string {
	return "vipps:" + kind + ":" + pspReference
}

// parseUnlessCancelled runs a parser, which takes no context, and returns
// as soon as ctx ends (Ctrl-C on a large file) instead of when the parse
// does; the abandoned parse only reads memory and finishes on its own. A
// panic in the parser is an error for this file, not a crash.
func parseUnlessCancelled[T any](ctx context.Context, parse func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		// A parser that panics on hostile input must not take the server
		// down: outside the request's goroutine no HTTP recovery catches it.
		defer func() {
			if r := recover(); r != nil {
				done <- result{err: fmt.Errorf("the parser failed on this file: %v", r)}
			}
		}()
		v, err := parse()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// ImportKustomCSV imports a Kustom (Klarna) settlement CSV report. Amounts
// are decimal major units in the file and minor units here; opt sets the
// separator and column order when the file has no usable header.
func (s *Service) ImportKustomCSV(ctx context.Context, name string, data []byte, opt klarna.CSVOptions) (bridge.ImportResult, error) {
	rep, err := parseUnlessCancelled(ctx, func() (*klarna.SettlementCSV, error) {
		return klarna.ParseSettlementCSV(bytes.NewReader(data), name, opt)
	})
	if ctx.Err() != nil {
		return bridge.ImportResult{}, ctx.Err()
	}
	if err != nil {
		return bridge.ImportResult{}, &bridge.Error{Code: bridge.ECodeInvalid, Reason: "malformed_file", Message: err.Error(), Err: err}
	}
	imp := &bridge.SettlementImport{Provider: reconcile.Kustom, Source: name, Hash: hashOf(data)}
	for _, r := range rep.Rows {
		l := kustomLine(r.Type, r.OrderID, r.CaptureID, r.RefundID, r.Amount, r.Currency, r.PaymentReference, cmp.Or(r.CaptureDate, r.SaleDate))
		l.Source, l.SourceLine = name, r.Line
		l.Key = fmt.Sprintf("kustom:csv:%s:%d", imp.Hash[:16], r.Line)
		if r.PaymentReference != "" {
			l.Key = fmt.Sprintf("kustom:%s:%s:%s:%s:%s:%d", r.PaymentReference, r.Type, r.OrderID, r.CaptureID, r.RefundID, r.Amount)
		}
		imp.Lines = append(imp.Lines, l)
	}
	for _, p := range rep.Payouts {
		imp.Payouts = append(imp.Payouts, kustomPayout(p.Payout, name))
	}
	return s.Store.ImportSettlement(ctx, imp)
}

// kustomLine maps a Kustom transaction. Kustom gives magnitudes and says
// the direction by type: sales add, returns and reversals take away, fees
// are costs.
func kustomLine(typ, orderID, captureID, refundID string, amount int64, currency, payout, date string) reconcile.Line {
	l := reconcile.Line{Provider: reconcile.Kustom, Reference: orderID, PSPReference: cmp.Or(captureID, refundID),
		Currency: currency, PayoutID: payout, LedgerDate: dateOnly(date)}
	switch strings.ToUpper(typ) {
	case "SALE":
		l.Kind, l.Gross = "sale", amount
	case "RETURN", "REVERSAL":
		l.Kind, l.Gross = "return", -abs(amount)
	case "FEE":
		l.Kind, l.Fee = "fee", abs(amount)
	case "FEE_REFUND":
		l.Kind, l.Fee = "fee", -abs(amount)
	default:
		l.Kind, l.Gross = "other", amount
	}
	return l
}

func kustomPayout(p klarna.Payout, source string) reconcile.Payout {
	return reconcile.Payout{
		Provider: reconcile.Kustom, ID: p.PaymentReference, Date: p.PayoutDate.UTC().Format("2006-01-02"),
		Amount: p.Totals.SettlementAmount, Currency: p.CurrencyCode, Gross: p.MerchantSettlementType == "GROSS", Source: source,
	}
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// dateOnly keeps the YYYY-MM-DD of a date or date-time.
func dateOnly(s string) string {
	if len(s) >= 10 {
		return s[:10]
	}
	return s
}

func hashOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// currencyOfMSN is the configured currency of the unit with this MSN, for
// files (XLSX) that state none.
func (s *Service) currencyOfMSN(msn string) string {
	for _, u := range s.Units {
		if u.MSN == msn {
			return u.Currency
		}
	}
	return ""
}
