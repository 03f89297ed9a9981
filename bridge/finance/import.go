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
	var keys kustomKeys
	for _, r := range rep.Rows {
		date := cmp.Or(r.CaptureDate, r.SaleDate)
		l, warning := kustomLine(r.Type, r.OrderID, r.CaptureID, r.RefundID, r.Amount, r.Currency, r.PaymentReference, date)
		if warning != "" {
			imp.Warnings = append(imp.Warnings, fmt.Sprintf("%s line %d: %s", name, r.Line, warning))
		}
		l.Source, l.SourceLine = name, r.Line
		l.Key = keys.key(l, r.Type, r.CaptureID, r.RefundID, dateOnly(date), r.Amount)
		imp.Lines = append(imp.Lines, l)
	}
	imp.Warnings = append(imp.Warnings, keys.warnings...)
	for _, p := range rep.Payouts {
		imp.Payouts = append(imp.Payouts, kustomPayout(p.Payout, name))
	}
	return s.Store.ImportSettlement(ctx, imp)
}

// kustomLine maps a Kustom transaction. Kustom gives magnitudes and says
// the direction by type; the sign comes from klarna.SettlementSign, the same
// rule Kustom's totals follow, so the lines of a payout add up to it. Sales,
// returns and reversals are gross; fees, fee refunds and corrections are the
// fee; the rest (tax, commission, charges, credits, holdbacks, releases) is
// "other", signed as the payout sees it. A type Kustom does not document is
// kept as "other", as given, with a warning.
func kustomLine(typ, orderID, captureID, refundID string, amount int64, currency, payout, date string) (reconcile.Line, string) {
	l := reconcile.Line{Provider: reconcile.Kustom, Reference: orderID, PSPReference: cmp.Or(captureID, refundID),
		Currency: currency, PayoutID: payout, LedgerDate: dateOnly(date)}
	sign, err := klarna.SettlementSign(typ)
	if err != nil {
		l.Kind, l.Gross = reconcile.KindOther, amount
		return l, fmt.Sprintf("order %s: transaction type %q is not one Kustom documents; booked as other, %d as given", orderID, typ, amount)
	}
	v := sign * abs(amount)
	switch strings.ToUpper(typ) {
	case klarna.TxSale:
		l.Kind, l.Gross = reconcile.KindSale, v
	case klarna.TxReturn, klarna.TxReversal, klarna.TxReversalMerchantProtection:
		l.Kind, l.Gross = reconcile.KindReturn, v
	case klarna.TxFee, klarna.TxFeeRefund, klarna.TxCorrection:
		l.Kind, l.Fee = reconcile.KindFee, -v
	default:
		l.Kind, l.Gross = reconcile.KindOther, v
	}
	return l, ""
}

// kustomKeys names Kustom lines by the money they move: payout, type, order,
// capture, refund and amount. Kustom's rows carry no id of their own, so two
// real movements can look the same (two returns of 199.00 on one order
// without a refund_id): the second of a kind gets ":2", the third ":3", in
// the order the source lists them, and a warning says so. The same rows
// exported again get the same keys, so they never count twice; a first
// occurrence keeps the key it always had.
type kustomKeys struct {
	seen     map[string]int
	warnings []string
}

func (k *kustomKeys) key(l reconcile.Line, typ, captureID, refundID, date string, amount int64) string {
	if k.seen == nil {
		k.seen = map[string]int{}
	}
	base := fmt.Sprintf("kustom:%s:%s:%s:%s:%s:%d", l.PayoutID, typ, l.Reference, captureID, refundID, amount)
	if l.PayoutID == "" {
		// No payout reference (a report without it): the date narrows the
		// movement instead, so the key still does not depend on the file.
		base = fmt.Sprintf("kustom:%s:%s:%s:%s:%s:%d", date, typ, l.Reference, captureID, refundID, amount)
	}
	k.seen[base]++
	if n := k.seen[base]; n > 1 {
		k.warnings = append(k.warnings, fmt.Sprintf("%s line %d: the same %s of %d for order %s as an earlier line; both are kept as separate movements",
			l.Source, l.SourceLine, typ, amount, l.Reference))
		return fmt.Sprintf("%s:%d", base, n)
	}
	return base
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
