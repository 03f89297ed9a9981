package finance

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"strings"

	"vippskco/bridge"
	"vippskco/bridge/reconcile"
	"vippskco/klarna"
	"vippskco/vipps/settlement"
)

// Progress, when not nil, is called by an import with the number of lines
// handed to the store so far. The store writes them in batches of
// bridge.SettlementBatch, so all but the last batch of them are stored.
type Progress func(lines int)

// MaxSpooledXLSX is the largest XLSX file an import takes. An XLSX is a
// zip, which is read from its end: a stream (an upload) is written to a
// temporary file first, never held in memory.
const MaxSpooledXLSX = 256 << 20

// ImportVippsFile imports a Vipps settlement report from the business
// portal (XML v3, CSV or XLSX; the format is read from the content). Gross,
// fee and net per transaction, fee signs normalised; each settlement's
// payout. Importing the same file twice changes nothing.
//
// The file is read once, from r, as the store takes its lines: a CSV or an
// XML report is parsed as it is read into batches of the store, so memory
// does not grow with the file; an XLSX is written to a temporary file (at
// most MaxSpooledXLSX) and parsed from there, a settlement at a time. The hash
// that recognises the file again is that of the bytes read. A file that
// fails to parse stores nothing.
func (s *Service) ImportVippsFile(ctx context.Context, name string, r io.Reader, progress Progress) (bridge.ImportResult, []string, error) {
	done, err := s.startImport()
	if err != nil {
		return bridge.ImportResult{}, nil, err
	}
	defer done()
	h := sha256.New()
	br := bufio.NewReaderSize(io.TeeReader(r, h), settlement.SniffLen)
	head, err := br.Peek(settlement.SniffLen)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return bridge.ImportResult{}, nil, err
	}
	format, err := settlement.Sniff(name, head)
	if err != nil {
		return bridge.ImportResult{}, nil, malformed(err)
	}
	imp := &bridge.SettlementImport{Provider: reconcile.Vipps, Source: name}
	m := &vippsMapper{s: s, name: name, nets: map[settlementKey]int64{}}
	var parse func(fn func(settlement.Settlement, settlement.Transaction) error) (*settlement.Report, []settlement.Problem, error)
	switch format {
	case settlement.FormatCSV:
		parse = func(fn func(settlement.Settlement, settlement.Transaction) error) (*settlement.Report, []settlement.Problem, error) {
			return settlement.ParseCSVFunc(&csvRecordGuard{r: br, max: MaxCSVRecord, source: name}, name, fn)
		}
	case settlement.FormatXML:
		parse = func(fn func(settlement.Settlement, settlement.Transaction) error) (*settlement.Report, []settlement.Problem, error) {
			return settlement.ParseXMLFunc(br, name, fn)
		}
	case settlement.FormatXLSX:
		f, size, err := spool(br, MaxSpooledXLSX)
		if err != nil {
			return bridge.ImportResult{}, nil, err
		}
		defer f.Close()
		parse = func(fn func(settlement.Settlement, settlement.Transaction) error) (*settlement.Report, []settlement.Problem, error) {
			return settlement.ParseXLSXFunc(f, size, name, fn)
		}
	}
	imp.Stream = func(yield func(reconcile.Line, error) bool) {
		var rep *settlement.Report
		var problems []settlement.Problem
		lines := parseLines(func(emit func(reconcile.Line) bool) error {
			var err error
			rep, problems, err = parse(func(st settlement.Settlement, t settlement.Transaction) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				if !emit(m.line(st, t)) {
					return errStopped
				}
				return nil
			})
			if err == nil {
				_, err = io.Copy(io.Discard, br) // the hash covers the whole file
			}
			return err
		})
		if !storeLines(ctx, lines, yield, progress) {
			return
		}
		imp.Hash = hex.EncodeToString(h.Sum(nil))
		imp.Warnings = append(imp.Warnings, rep.Warnings...)
		for _, p := range problems {
			imp.Warnings = append(imp.Warnings, fmt.Sprint(p))
		}
		imp.Payouts = m.payouts(rep)
	}
	res, err := s.importSettlement(ctx, imp)
	if err != nil {
		return bridge.ImportResult{}, nil, err
	}
	return res, imp.Warnings, nil
}

// errStopped ends a parse whose lines the store no longer takes.
var errStopped = errors.New("the import stopped taking lines")

// malformed is a file that does not parse: the caller's to fix.
func malformed(err error) error {
	return &bridge.Error{Code: bridge.ECodeInvalid, Reason: "malformed_file", Message: err.Error(), Err: err}
}

// storeLines passes a file's parsed lines to the store's yield, counting
// them for progress. A parse error is the file's (malformed) unless the
// import was cancelled. It reports whether every line was taken and the
// parse succeeded: only then may the caller complete the import.
func storeLines(ctx context.Context, lines iter.Seq2[reconcile.Line, error], yield func(reconcile.Line, error) bool, progress Progress) bool {
	n := 0
	for l, err := range lines {
		if err != nil {
			if ctx.Err() == nil {
				err = malformed(err)
			} else {
				err = ctx.Err()
			}
			yield(reconcile.Line{}, err)
			return false
		}
		if !yield(l, nil) {
			return false
		}
		if n++; progress != nil {
			progress(n)
		}
	}
	return true
}

// spool copies r into a temporary file, removed when the file is closed,
// refusing more than limit bytes.
func spool(r io.Reader, limit int64) (*spooled, int64, error) {
	f, err := os.CreateTemp("", "vippskco-import-*")
	if err != nil {
		return nil, 0, err
	}
	sf := &spooled{File: f}
	n, err := io.Copy(f, io.LimitReader(r, limit+1))
	switch {
	case err != nil:
		sf.Close()
		return nil, 0, err
	case n > limit:
		sf.Close()
		return nil, 0, bridge.Errorf(bridge.ECodeInvalid, "file_too_large", "an XLSX file can be at most %d MiB", limit>>20)
	}
	return sf, n, nil
}

// spooled is a temporary file that Close also removes.
type spooled struct{ *os.File }

func (f *spooled) Close() error {
	err := f.File.Close()
	if rerr := os.Remove(f.Name()); err == nil {
		err = rerr
	}
	return err
}

// settlementKey names a settlement in a file: an id may repeat across
// sales units in the portal's table.
type settlementKey struct{ msn, id string }

// vippsMapper turns a Vipps file's transactions into lines and its
// settlements into payouts, keeping of the file only each settlement's
// net so far.
type vippsMapper struct {
	s    *Service
	name string
	nets map[settlementKey]int64
}

func (m *vippsMapper) line(st settlement.Settlement, t settlement.Transaction) reconcile.Line {
	msn := cmp.Or(t.MSN, st.MSN) // the unit the payment was made in
	cur := cmp.Or(st.Currency, m.s.currencyOfMSN(msn))
	m.nets[settlementKey{msn, st.ID}] += t.Net
	return reconcile.Line{
		Provider: reconcile.Vipps, Source: m.name, SourceLine: t.Line,
		Key:  vippsLineKey(t.TransactionID, t.Kind),
		Kind: reconcile.Kind(t.Kind), Reference: t.OrderID, PSPReference: t.TransactionID, MSN: msn,
		Gross: t.Gross, Fee: t.Fee, Currency: cur, PayoutID: st.ID, LedgerDate: cmp.Or(t.SalesDate, st.Date),
	}
}

// payouts are the report's settlements as payouts, once every transaction
// is read.
func (m *vippsMapper) payouts(rep *settlement.Report) []reconcile.Payout {
	var out []reconcile.Payout
	for _, st := range rep.Settlements {
		if st.ID == "" {
			continue
		}
		msn := cmp.Or(st.MSN, rep.MSN)
		out = append(out, reconcile.Payout{
			Provider: reconcile.Vipps, ID: st.ID, MSN: msn, Date: st.Date, Amount: paidOut(st, m.nets[settlementKey{st.MSN, st.ID}]),
			Currency: cmp.Or(st.Currency, rep.Currency, m.s.currencyOfMSN(msn)), Gross: st.Type == settlement.TypeGross, Source: m.name,
		})
	}
	return out
}

// paidOut is what a settlement paid out: the settled amount when the file
// states one, else its stated net (the CSV report states no settled
// amount), else net, the sum of its transactions' net.
func paidOut(st settlement.Settlement, net int64) int64 {
	switch {
	case st.Stated.Has(settlement.TotalSettled):
		return st.Settled
	case st.Stated.Has(settlement.TotalNet):
		return st.Net
	}
	return net
}

// vippsLineKey identifies one Vipps money movement whichever way it
// arrives (file or Report API): the transaction id is the Report API's
// pspReference, and differs for a capture and its refunds.
func vippsLineKey(pspReference, kind string) string {
	return "vipps:" + kind + ":" + pspReference
}

// ImportKustomCSV imports a Kustom (Klarna) settlement CSV report. Amounts
// are decimal major units in the file and minor units here; opt sets the
// separator and column order when the file has no usable header. The file
// is read once, row by row, as the store takes its lines; its hash is that
// of the bytes read. A file that fails to parse stores nothing.
func (s *Service) ImportKustomCSV(ctx context.Context, name string, r io.Reader, opt klarna.CSVOptions, progress Progress) (bridge.ImportResult, error) {
	done, err := s.startImport()
	if err != nil {
		return bridge.ImportResult{}, err
	}
	defer done()
	h := sha256.New()
	tee := io.TeeReader(r, h)
	sr, err := klarna.NewSettlementCSVReader(&csvRecordGuard{r: tee, max: MaxCSVRecord, source: name}, name, opt)
	if err != nil {
		if ctx.Err() != nil {
			return bridge.ImportResult{}, ctx.Err()
		}
		return bridge.ImportResult{}, malformed(err)
	}
	imp := &bridge.SettlementImport{Provider: reconcile.Kustom, Source: name}
	var keys kustomKeys
	imp.Stream = func(yield func(reconcile.Line, error) bool) {
		lines := parseLines(func(emit func(reconcile.Line) bool) error {
			for {
				if err := ctx.Err(); err != nil {
					return err
				}
				row, err := sr.Read()
				if err == io.EOF {
					_, err = io.Copy(io.Discard, tee) // the hash covers the whole file
					return err
				}
				if err != nil {
					return err
				}
				date := cmp.Or(row.CaptureDate, row.SaleDate)
				l, warning := kustomLine(row.Type, row.OrderID, row.CaptureID, row.RefundID, row.Amount, row.Currency, row.PaymentReference, date)
				if warning != "" {
					imp.Warnings = append(imp.Warnings, fmt.Sprintf("%s line %d: %s", name, row.Line, warning))
				}
				l.Source, l.SourceLine = name, row.Line
				l.Key = keys.key(l, row.Type, row.CaptureID, row.RefundID, dateOnly(date), row.Amount)
				if !emit(l) {
					return errStopped
				}
			}
		})
		if !storeLines(ctx, lines, yield, progress) {
			return
		}
		imp.Hash = hex.EncodeToString(h.Sum(nil))
		imp.Warnings = append(imp.Warnings, keys.warnings...)
		for _, p := range sr.Payouts() {
			imp.Payouts = append(imp.Payouts, kustomPayout(p.Payout, name))
		}
	}
	return s.importSettlement(ctx, imp)
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
