package klarna

// The settlement report as CSV (klarna.md §6): the Merchant Portal, the
// SFTP drop and GET /settlements/v1/reports/payout-with-transactions give
// it. Amounts are decimal major units ("100.00", "-12.5"); they are read
// into int64 minor units by an exact parser, never through a float. The
// dot is the only decimal point; an amount that may be a thousand grouped
// with a dot ("1.500" in a currency of two or no decimals) is refused with
// its line and column (see parseDecimal). Which
// columns appear, and in which order, the merchant chooses in the Portal's
// Report Configurator, so columns are found by name (or by the order the
// caller configures), never by position.
//
// No real report was available (SOURCES.md): the column names come from
// Klarna's field list, the separator is either ';' (one third party says
// the Portal writes semicolons) or ',', and the payout's summary fields,
// when the file has them, are read as further columns on each transaction
// row, all rows of one payment_reference carrying the same values.

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// CSVOptions say how to read a settlement CSV.
type CSVOptions struct {
	// Separator is ';' or ','; 0 means: look at the first line and take the
	// one that occurs more often there outside quotes.
	Separator rune
	// Columns are the column names in file order, as configured in the
	// Report Configurator, for a file without a header row. nil means the
	// first row is the header. Unknown and empty names mark columns that
	// are skipped. If the file starts with a row that spells exactly these
	// names, it is taken as a header and skipped.
	Columns []string
}

// SettlementRow is one transaction line of the report. Strings are as the
// file has them, trimmed; a column the file lacks leaves its field empty.
type SettlementRow struct {
	// Line is the 1-based line of the file where the row starts.
	Line int
	// Type is the transaction type in upper case (SALE, FEE, RETURN, …).
	Type               string
	CaptureDate        string
	SaleDate           string
	OrderID            string
	ShortOrderID       string
	CaptureID          string
	MerchantReference1 string
	MerchantReference2 string
	// Amount is the magnitude in minor units of Currency; the sign
	// convention is the API's (see Transaction).
	Amount int64
	// Currency is posting_currency, upper case.
	Currency                 string
	RefundID                 string
	PurchaseCountry          string
	ShippingCountry          string
	PaymentReference         string
	DetailedType             string
	MerchantCaptureReference string
	MerchantRefundReference  string
	ReversalReference        string
	InitialPaymentMethodType string
	// TaxRate is the tax_rate column as written (the rate of VAT on a fee).
	TaxRate string
	// TaxAmount is the VAT on a fee in minor units (tax_amount or
	// vat_amount column); 0 when the column is absent or the cell empty.
	TaxAmount int64
}

// CSVPayout is a payout as the summary columns of a report describe it.
type CSVPayout struct {
	Payout
	SubmerchantID string
	// Line is the first line that carried it.
	Line int
	// Rows counts the transaction rows that carried it.
	Rows int
}

// SettlementCSV is a parsed report.
type SettlementCSV struct {
	Source    string
	Separator rune
	// Columns are the file's column names, normalised (lower case, '_' for
	// blanks and hyphens); "" for an unnamed column.
	Columns []string
	Rows    []SettlementRow
	// Payouts are the payouts of the summary columns, in the order they
	// first appear; nil when the file has no total_* column.
	Payouts []CSVPayout
}

// CSVError is a report that cannot be read: a malformed line, a missing
// column, a bad amount.
type CSVError struct {
	Source string
	Line   int    // 0 when the error is not about one line
	Column string // the column at fault, if known
	Err    error
}

func (e *CSVError) Error() string {
	var b strings.Builder
	b.WriteString("klarna: settlement CSV ")
	b.WriteString(e.Source)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Column != "" {
		b.WriteString(": column " + e.Column)
	}
	b.WriteString(": " + e.Err.Error())
	return b.String()
}

func (e *CSVError) Unwrap() error { return e.Err }

// ParseSettlementCSV reads a whole report. source names the file in
// errors. Every problem is a *CSVError with the line; nothing is skipped
// or read as zero.
func ParseSettlementCSV(r io.Reader, source string, opt CSVOptions) (*SettlementCSV, error) {
	sr, err := NewSettlementCSVReader(r, source, opt)
	if err != nil {
		return nil, err
	}
	out := &SettlementCSV{Source: source, Separator: sr.Separator(), Columns: sr.Columns()}
	// Rows are gathered in chunks and copied once into a slice of the exact
	// size: append's growth would copy a big report several times over.
	const chunkRows = 4096
	var chunks [][]SettlementRow
	cur := make([]SettlementRow, 0, 64)
	n := 0
	for {
		row, err := sr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(cur) == cap(cur) && cap(cur) >= chunkRows {
			chunks = append(chunks, cur)
			cur = make([]SettlementRow, 0, chunkRows)
		}
		cur = append(cur, row)
		n++
	}
	if len(chunks) == 0 {
		out.Rows = cur
	} else {
		out.Rows = make([]SettlementRow, 0, n)
		for _, c := range chunks {
			out.Rows = append(out.Rows, c...)
		}
		out.Rows = append(out.Rows, cur...)
	}
	out.Payouts = sr.Payouts()
	return out, nil
}

// Column indexes of the fields the reader knows.
const (
	colType = iota
	colCaptureDate
	colSaleDate
	colOrderID
	colShortOrderID
	colCaptureID
	colMerchantReference1
	colMerchantReference2
	colAmount
	colCurrency
	colRefundID
	colPurchaseCountry
	colShippingCountry
	colPaymentReference
	colDetailedType
	colMerchantCaptureReference
	colMerchantRefundReference
	colReversalReference
	colInitialPaymentMethodType
	colTaxRate
	colTaxAmount
	colPayoutDate
	colSettlementCurrency
	colMerchantID
	colMerchantSettlementType
	colSubmerchantID
	numRowCols
)

var rowColumnNames = map[string]int{
	"type":                        colType,
	"capture_date":                colCaptureDate,
	"sale_date":                   colSaleDate,
	"order_id":                    colOrderID,
	"short_order_id":              colShortOrderID,
	"capture_id":                  colCaptureID,
	"merchant_reference1":         colMerchantReference1,
	"merchant_reference2":         colMerchantReference2,
	"amount":                      colAmount,
	"posting_currency":            colCurrency,
	"currency":                    colCurrency,
	"currency_code":               colCurrency,
	"refund_id":                   colRefundID,
	"purchase_country":            colPurchaseCountry,
	"shipping_country":            colShippingCountry,
	"payment_reference":           colPaymentReference,
	"detailed_type":               colDetailedType,
	"merchant_capture_reference":  colMerchantCaptureReference,
	"merchant_refund_reference":   colMerchantRefundReference,
	"reversal_reference":          colReversalReference,
	"initial_payment_method_type": colInitialPaymentMethodType,
	"tax_rate":                    colTaxRate,
	"vat_rate":                    colTaxRate,
	"tax_amount":                  colTaxAmount,
	"vat_amount":                  colTaxAmount,
	"payout_date":                 colPayoutDate,
	"settlement_currency":         colSettlementCurrency,
	"merchant_id":                 colMerchantID,
	"merchant_settlement_type":    colMerchantSettlementType,
	"submerchant_id":              colSubmerchantID,
}

var requiredColumns = []struct {
	col  int
	name string
}{{colType, "type"}, {colOrderID, "order_id"}, {colAmount, "amount"}, {colCurrency, "posting_currency"}}

// SettlementCSVReader reads a report row by row, for files too big to hold.
type SettlementCSVReader struct {
	source  string
	sep     rune
	cr      *csv.Reader
	columns []string
	idx     [numRowCols]int
	totals  []int // column of each totalsFields entry, -1 if absent
	// pending is a first row that was read to look for a header and turned
	// out to be data.
	pending []string
	pendLn  int
	payouts []CSVPayout
	byRef   map[string]int
	// sums hold each payout's summary as first read, to compare later rows.
	sums []string
}

// NewSettlementCSVReader reads the header (unless opt.Columns is set) and
// prepares to read rows.
func NewSettlementCSVReader(r io.Reader, source string, opt CSVOptions) (*SettlementCSVReader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	sep := opt.Separator
	if sep == 0 {
		var err error
		if sep, err = sniffSeparator(br); err != nil {
			return nil, &CSVError{Source: source, Line: 1, Err: err}
		}
	}
	if sep != ';' && sep != ',' {
		return nil, &CSVError{Source: source, Err: fmt.Errorf("separator %q: want ';' or ','", sep)}
	}
	cr := csv.NewReader(br)
	cr.Comma = sep
	cr.ReuseRecord = true
	sr := &SettlementCSVReader{source: source, sep: sep, cr: cr, byRef: map[string]int{}}

	var names []string
	if opt.Columns == nil {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil, &CSVError{Source: source, Err: errors.New("empty file: no header row")}
		}
		if err != nil {
			return nil, sr.readError(err)
		}
		names = normaliseColumns(rec)
	} else {
		if len(opt.Columns) == 0 {
			return nil, &CSVError{Source: source, Err: errors.New("CSVOptions.Columns is empty")}
		}
		names = normaliseColumns(opt.Columns)
		cr.FieldsPerRecord = len(names)
		rec, err := cr.Read()
		switch {
		case err == io.EOF:
		case err != nil:
			return nil, sr.readError(err)
		default:
			line, _ := cr.FieldPos(0)
			if !equalStrings(normaliseColumns(rec), names) {
				sr.pending = append([]string(nil), rec...)
				sr.pendLn = line
			}
		}
	}
	if err := sr.setColumns(names); err != nil {
		return nil, err
	}
	return sr, nil
}

func (sr *SettlementCSVReader) setColumns(names []string) error {
	sr.columns = names
	for i := range sr.idx {
		sr.idx[i] = -1
	}
	seen := map[string]bool{}
	for i, n := range names {
		if n == "" {
			continue
		}
		if seen[n] {
			return &CSVError{Source: sr.source, Line: 1, Column: n, Err: errors.New("column appears twice")}
		}
		seen[n] = true
		if c, ok := rowColumnNames[n]; ok {
			if sr.idx[c] >= 0 {
				return &CSVError{Source: sr.source, Line: 1, Column: n, Err: fmt.Errorf("column is the same as %s", names[sr.idx[c]])}
			}
			sr.idx[c] = i
		}
	}
	var missing []string
	for _, rc := range requiredColumns {
		if sr.idx[rc.col] < 0 {
			missing = append(missing, rc.name)
		}
	}
	if len(missing) > 0 {
		return &CSVError{Source: sr.source, Line: 1, Err: fmt.Errorf("required column(s) missing: %s (columns: %s)", strings.Join(missing, ", "), strings.Join(names, ","))}
	}
	sr.totals = make([]int, len(totalsFields))
	hasTotals := false
	for i, f := range totalsFields {
		sr.totals[i] = -1
		for j, n := range names {
			if n == f.csv {
				sr.totals[i] = j
				hasTotals = true
			}
		}
	}
	if !hasTotals {
		sr.totals = nil
	}
	return nil
}

// Separator is the separator in use.
func (sr *SettlementCSVReader) Separator() rune { return sr.sep }

// Columns are the normalised column names.
func (sr *SettlementCSVReader) Columns() []string { return append([]string(nil), sr.columns...) }

// Payouts are the payouts the summary columns described so far.
func (sr *SettlementCSVReader) Payouts() []CSVPayout {
	if sr.totals == nil {
		return nil
	}
	return append([]CSVPayout(nil), sr.payouts...)
}

// Read returns the next row, or io.EOF after the last.
func (sr *SettlementCSVReader) Read() (SettlementRow, error) {
	var rec []string
	var line int
	if sr.pending != nil {
		rec, line = sr.pending, sr.pendLn
		sr.pending = nil
	} else {
		var err error
		rec, err = sr.cr.Read()
		if err == io.EOF {
			return SettlementRow{}, io.EOF
		}
		if err != nil {
			return SettlementRow{}, sr.readError(err)
		}
		line, _ = sr.cr.FieldPos(0)
	}
	return sr.row(rec, line)
}

func (sr *SettlementCSVReader) readError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &CSVError{Source: sr.source, Line: pe.Line, Err: pe.Err}
	}
	return &CSVError{Source: sr.source, Err: err}
}

func (sr *SettlementCSVReader) cell(rec []string, c int) string {
	i := sr.idx[c]
	if i < 0 {
		return ""
	}
	return strings.TrimSpace(rec[i])
}

func (sr *SettlementCSVReader) row(rec []string, line int) (SettlementRow, error) {
	fail := func(col string, err error) (SettlementRow, error) {
		return SettlementRow{}, &CSVError{Source: sr.source, Line: line, Column: col, Err: err}
	}
	if line == 1 && len(rec) > 0 {
		rec[0] = strings.TrimPrefix(rec[0], "\ufeff")
	}
	row := SettlementRow{
		Line:                     line,
		Type:                     strings.ToUpper(sr.cell(rec, colType)),
		CaptureDate:              sr.cell(rec, colCaptureDate),
		SaleDate:                 sr.cell(rec, colSaleDate),
		OrderID:                  sr.cell(rec, colOrderID),
		ShortOrderID:             sr.cell(rec, colShortOrderID),
		CaptureID:                sr.cell(rec, colCaptureID),
		MerchantReference1:       sr.cell(rec, colMerchantReference1),
		MerchantReference2:       sr.cell(rec, colMerchantReference2),
		Currency:                 strings.ToUpper(sr.cell(rec, colCurrency)),
		RefundID:                 sr.cell(rec, colRefundID),
		PurchaseCountry:          sr.cell(rec, colPurchaseCountry),
		ShippingCountry:          sr.cell(rec, colShippingCountry),
		PaymentReference:         sr.cell(rec, colPaymentReference),
		DetailedType:             sr.cell(rec, colDetailedType),
		MerchantCaptureReference: sr.cell(rec, colMerchantCaptureReference),
		MerchantRefundReference:  sr.cell(rec, colMerchantRefundReference),
		ReversalReference:        sr.cell(rec, colReversalReference),
		InitialPaymentMethodType: sr.cell(rec, colInitialPaymentMethodType),
		TaxRate:                  sr.cell(rec, colTaxRate),
	}
	if !isTypeToken(row.Type) {
		return fail("type", fmt.Errorf("%q is not a transaction type", excerpt([]byte(row.Type), 40)))
	}
	if !isCurrency(row.Currency) {
		return fail("posting_currency", fmt.Errorf("%q is not an ISO 4217 currency code", excerpt([]byte(row.Currency), 40)))
	}
	exp := currencyExponent(row.Currency)
	amount, err := parseDecimal(sr.cell(rec, colAmount), exp)
	if err != nil {
		return fail("amount", err)
	}
	row.Amount = amount
	if (row.Type == TxSale || row.Type == TxReturn) && row.OrderID == "" {
		return fail("order_id", fmt.Errorf("empty on a %s row", row.Type))
	}
	for _, d := range []struct {
		name, v string
	}{{"capture_date", row.CaptureDate}, {"sale_date", row.SaleDate}} {
		if d.v != "" {
			if _, err := parseReportTime(d.v); err != nil {
				return fail(d.name, err)
			}
		}
	}
	if v := sr.cell(rec, colTaxAmount); v != "" {
		if row.TaxAmount, err = parseDecimal(v, exp); err != nil {
			return fail(sr.columns[sr.idx[colTaxAmount]], err)
		}
	}
	if sr.totals != nil {
		if err := sr.summary(rec, &row, line); err != nil {
			return SettlementRow{}, err
		}
	}
	return row, nil
}

// summary reads the payout columns of a row. A row whose summary cells are
// all empty carries no summary; otherwise every total column must hold an
// amount, and all rows of one payment reference must agree.
func (sr *SettlementCSVReader) summary(rec []string, row *SettlementRow, line int) error {
	fail := func(col string, err error) error {
		return &CSVError{Source: sr.source, Line: line, Column: col, Err: err}
	}
	empty := true
	for _, i := range sr.totals {
		if i >= 0 && strings.TrimSpace(rec[i]) != "" {
			empty = false
			break
		}
	}
	if empty {
		return nil
	}
	p := CSVPayout{Line: line, Rows: 1, SubmerchantID: sr.cell(rec, colSubmerchantID)}
	p.PaymentReference = row.PaymentReference
	p.MerchantID = sr.cell(rec, colMerchantID)
	p.MerchantSettlementType = strings.ToUpper(sr.cell(rec, colMerchantSettlementType))
	p.CurrencyCode = strings.ToUpper(sr.cell(rec, colSettlementCurrency))
	if p.CurrencyCode == "" {
		p.CurrencyCode = row.Currency
	} else if !isCurrency(p.CurrencyCode) {
		return fail("settlement_currency", fmt.Errorf("%q is not an ISO 4217 currency code", excerpt([]byte(p.CurrencyCode), 40)))
	}
	if v := sr.cell(rec, colPayoutDate); v != "" {
		t, err := parseReportTime(v)
		if err != nil {
			return fail("payout_date", err)
		}
		p.PayoutDate = t
	}
	exp := currencyExponent(p.CurrencyCode)
	var key strings.Builder
	key.WriteString(p.CurrencyCode + "|" + p.MerchantID + "|" + p.MerchantSettlementType + "|" + p.SubmerchantID + "|" + p.PayoutDate.String())
	for i, f := range totalsFields {
		c := sr.totals[i]
		if c < 0 {
			continue
		}
		n, err := parseDecimal(rec[c], exp)
		if err != nil {
			return fail(f.csv, err)
		}
		*f.get(&p.Totals) = n
		fmt.Fprintf(&key, "|%d", n)
	}
	if at, ok := sr.byRef[p.PaymentReference]; ok {
		if sr.sums[at] != key.String() {
			return fail("", fmt.Errorf("payout %q: summary differs from line %d", p.PaymentReference, sr.payouts[at].Line))
		}
		sr.payouts[at].Rows++
		return nil
	}
	sr.byRef[p.PaymentReference] = len(sr.payouts)
	sr.payouts = append(sr.payouts, p)
	sr.sums = append(sr.sums, key.String())
	return nil
}

// sniffSeparator looks at the first non-empty line and picks ';' or ','.
func sniffSeparator(br *bufio.Reader) (rune, error) {
	var line []byte
	for n := 512; ; n *= 2 {
		if n > br.Size() {
			n = br.Size()
		}
		b, err := br.Peek(n)
		trimmed := bytes.TrimLeft(b, "\r\n")
		if i := bytes.IndexByte(trimmed, '\n'); i >= 0 {
			line = trimmed[:i]
			break
		}
		if err != nil || n == br.Size() {
			if len(bytes.TrimSpace(b)) == 0 {
				return 0, errors.New("empty file")
			}
			line = trimmed
			break
		}
	}
	semi, comma := 0, 0
	quoted := false
	for _, c := range line {
		switch c {
		case '"':
			quoted = !quoted
		case ';':
			if !quoted {
				semi++
			}
		case ',':
			if !quoted {
				comma++
			}
		}
	}
	switch {
	case semi == 0 && comma == 0:
		return 0, errors.New("cannot tell the separator: the first line has neither ';' nor ','")
	case semi >= comma:
		return ';', nil
	default:
		return ',', nil
	}
}

// normaliseColumns lower-cases the names, trims them, drops a byte-order
// mark and writes blanks and hyphens as '_'.
func normaliseColumns(rec []string) []string {
	out := make([]string, len(rec))
	for i, n := range rec {
		if i == 0 {
			n = strings.TrimPrefix(n, "\ufeff")
		}
		n = strings.ToLower(strings.TrimSpace(n))
		n = strings.Map(func(r rune) rune {
			if r == ' ' || r == '-' {
				return '_'
			}
			return r
		}, n)
		out[i] = n
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func isTypeToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func isCurrency(s string) bool {
	return len(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' && s[2] >= 'A' && s[2] <= 'Z'
}

// currencyExponent is the number of minor-unit digits of an ISO 4217
// currency: 2 unless listed.
func currencyExponent(cur string) int {
	switch cur {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF":
		return 0
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return 3
	}
	return 2
}

// parseDecimal reads a decimal in major units ("100.00", "-12.5", "7")
// exactly into minor units with exp decimals. It accepts an optional sign,
// digits, and '.' with at least one digit after it; more decimals than the
// currency has are accepted only if they are zeros. Anything else (a
// decimal comma, a thousands separator, an exponent, spaces inside, an
// empty cell) is an error, as is a value outside int64.
//
// A dot followed by exactly three digits, after one to three digits not
// starting with 0 ("1.500", "12.000"), is ambiguous: a decimal point, or a
// thousands separator from a locale that groups with dots. The currency
// settles it when it has three decimals (KWD, BHD…): "1.500" is then 1.500.
// Otherwise it is refused rather than read as 1.50 (or, in a currency
// without decimals, "1.000" as 1), a grouped thousand shrunk a
// thousandfold; "1234.500" and "0.500" are decimals.
func parseDecimal(s string, exp int) (int64, error) {
	orig := s
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty amount")
	}
	neg := false
	if s[0] == '-' || s[0] == '+' {
		neg = s[0] == '-'
		s = s[1:]
	}
	whole, frac, dot := strings.Cut(s, ".")
	bad := func(why string) (int64, error) {
		return 0, fmt.Errorf("amount %q: %s", excerpt([]byte(orig), 40), why)
	}
	if whole == "" {
		return bad("no digits before the decimal point")
	}
	if dot && frac == "" {
		return bad("no digits after the decimal point")
	}
	for _, part := range [2]string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if c := part[i]; c < '0' || c > '9' {
				if c == ',' {
					return bad("a comma is neither a decimal point nor allowed as a thousands separator")
				}
				return bad("not a decimal number")
			}
		}
	}
	if exp < 3 && len(frac) == 3 && len(whole) <= 3 && whole[0] != '0' && strings.Trim(frac[exp:], "0") == "" {
		return bad(fmt.Sprintf("ambiguous: a dot and three digits is %s.%s with the dot as the decimal point, or %s%s with it grouping thousands; write it with %d decimals",
			whole, frac[:exp], whole, frac, exp))
	}
	for len(frac) > exp && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	if len(frac) > exp {
		return bad(fmt.Sprintf("more than %d decimals", exp))
	}
	var mag uint64
	digit := func(d uint64) bool {
		if mag > (math.MaxUint64-d)/10 {
			return false
		}
		mag = mag*10 + d
		return true
	}
	for i := 0; i < len(whole); i++ {
		if !digit(uint64(whole[i] - '0')) {
			return bad("out of range")
		}
	}
	for i := 0; i < exp; i++ {
		d := uint64(0)
		if i < len(frac) {
			d = uint64(frac[i] - '0')
		}
		if !digit(d) {
			return bad("out of range")
		}
	}
	limit := uint64(math.MaxInt64)
	if neg {
		limit++
	}
	if mag > limit {
		return bad("out of range")
	}
	if neg {
		return int64(-mag), nil
	}
	return int64(mag), nil
}

// formatDecimal writes minor units as a decimal in major units, the
// inverse of parseDecimal.
func formatDecimal(minor int64, exp int) string {
	mag := uint64(minor)
	sign := ""
	if minor < 0 {
		sign = "-"
		mag = -mag
	}
	s := fmt.Sprintf("%0*d", exp+1, mag)
	if exp == 0 {
		return sign + s
	}
	return sign + s[:len(s)-exp] + "." + s[len(s)-exp:]
}

var reportTimeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"}

// parseReportTime reads a report date: RFC 3339, a date and time without
// zone (taken as UTC), or a bare date.
func parseReportTime(s string) (time.Time, error) {
	for _, l := range reportTimeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date (want 2006-01-02, 2006-01-02 15:04:05 or RFC 3339)", excerpt([]byte(s), 40))
}
