package settlement

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// ParseCSV reads a Vipps settlement report in CSV.
//
// The main form is the multi-section file of the Vipps sample
// (settlement-report.csv): header blocks "OrganizationNumber,MerchantName" and
// "Name,VisitingAddress,…" each followed by their data row, then rows whose first
// field names their type, each type with its own header row:
//
//	SettlementInfo,SalesUnitName,SaleUnitNumber,SettlementDate,SettlementID,SettlementAccount,Gross,Currency,Fee,Refund,Net,NumberOfTransactions
//	FeeInfo,SettlementDate,SaleUnitName,SaleUnitNumber,FeeAccount,Fee,Currency
//	TransactionInfo,SalesDate,SaleUnitName,SaleUnitNumber,TransactionId,SettlementId,OrderID,SettlementDate,Gross,Currency,Fee,Refund,Net
//
// Dates are DD.MM.YYYY, amounts major units with a decimal point, fees
// negative (normalised to positive = cost). Columns are found by name. In this
// format Gross holds captures only (a refund row has Gross 0.00 and its amount
// under Refund), so the SettlementInfo Gross is stored as Settlement.Capture;
// the file states no Gross in the XML sense and no settled amount.
//
// Defects of the sample are handled explicitly and reported in
// Report.Warnings, never repaired silently (see the package documentation):
// a row with exactly one field more than its header is accepted only when
// joining two adjacent fields at one amount column gives a valid decimal-comma
// amount ("16450" + "62" → 16450,62); a Net that leaves out the refund is kept
// as stated; transaction rows whose SaleUnitNumber, SettlementId or
// SettlementDate differ from their SettlementInfo are kept as stated. Any other
// field-count mismatch is an error.
//
// A CSV export of the portal table (Norwegian columns Salgsdato, …,
// Oppgjørskonto; comma or semicolon separated) is read like ParseXLSX reads
// the workbook.
func ParseCSV(r io.Reader, source string) (*Report, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, _ := br.Peek(3); bytes.Equal(b, []byte("\uFEFF")) {
		_, _ = br.Discard(3)
	}
	rep := &Report{Format: FormatCSV, Source: source}
	head, _ := br.Peek(64 << 10)
	if comma, ok := sniffPortalCSV(head); ok {
		return parsePortalCSV(br, comma, rep)
	}
	p := &csvParser{source: source, rep: rep, sections: map[string]*csvSection{}, dates: map[string]string{},
		byID: map[string]*csvSettlement{}, devs: map[string]*deviation{}}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvErr(source, err)
		}
		line, _ := cr.FieldPos(0)
		if err := p.record(rec, line); err != nil {
			return nil, err
		}
	}
	if err := p.finish(); err != nil {
		return nil, err
	}
	return rep, nil
}

func csvErr(source string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &ParseError{Source: source, Line: pe.Line, Err: fmt.Errorf("malformed CSV: %w", pe.Err)}
	}
	return &ParseError{Source: source, Err: err}
}

// csvSpec describes one kind of row: its columns (all required) and which
// of them are amounts.
type csvSpec struct {
	cols    []string
	amounts []string
	typed   bool // rows start with the kind's name; otherwise a header block
}

const (
	rowSettlement  = "SettlementInfo"
	rowFee         = "FeeInfo"
	rowTransaction = "TransactionInfo"
	rowOrg         = "OrganizationNumber"
	rowVipps       = "Name"
)

var csvSpecs = map[string]csvSpec{
	rowSettlement: {typed: true,
		cols: []string{"SalesUnitName", "SaleUnitNumber", "SettlementDate", "SettlementID", "SettlementAccount",
			"Gross", "Currency", "Fee", "Refund", "Net", "NumberOfTransactions"},
		amounts: []string{"Gross", "Fee", "Refund", "Net"}},
	rowFee: {typed: true,
		cols:    []string{"SettlementDate", "SaleUnitName", "SaleUnitNumber", "FeeAccount", "Fee", "Currency"},
		amounts: []string{"Fee"}},
	rowTransaction: {typed: true,
		cols: []string{"SalesDate", "SaleUnitName", "SaleUnitNumber", "TransactionId", "SettlementId", "OrderID",
			"SettlementDate", "Gross", "Currency", "Fee", "Refund", "Net"},
		amounts: []string{"Gross", "Fee", "Refund", "Net"}},
	rowOrg:   {cols: []string{"OrganizationNumber", "MerchantName"}},
	rowVipps: {cols: []string{"Name", "VisitingAddress", "Postbox", "Zipno", "Place", "Country", "CompanyNumber"}},
}

// csvSection is a header row as read: where each column is in the record.
type csvSection struct {
	kind   string
	line   int
	width  int            // fields a data row must have
	index  map[string]int // column name as the spec spells it → field index
	amount map[int]string // field index → column name, for amount columns
}

type csvRow struct {
	p       *csvParser
	sec     *csvSection
	rec     []string
	line    int
	commaAt int // field index of a joined decimal-comma amount, or -1
}

func (r *csvRow) get(col string) string {
	return r.rec[r.sec.index[col]]
}

func (r *csvRow) err(col, format string, args ...any) error {
	return r.p.errf(r.line, col, format, args...)
}

func (r *csvRow) amount(col string) (int64, error) {
	i := r.sec.index[col]
	syn := dotDecimal
	if i == r.commaAt {
		syn = commaDecimal
	}
	v, err := parseMinor(r.rec[i], syn)
	if err != nil {
		return 0, r.err(col, "%v", err)
	}
	return v, nil
}

func (r *csvRow) required(col string) (string, error) {
	v := r.get(col)
	if v == "" {
		return "", r.err(col, "empty")
	}
	return v, nil
}

func (r *csvRow) date(col string) (string, error) {
	in := r.get(col)
	if d, ok := r.p.dates[in]; ok {
		return d, nil
	}
	d, err := textDate(in)
	if err != nil {
		return "", r.err(col, "%v", err)
	}
	if len(r.p.dates) < 4096 { // a report spans few distinct dates
		r.p.dates[in] = d
	}
	return d, nil
}

func (r *csvRow) currency(col string) (string, error) {
	c, err := currencyCode(r.get(col))
	if err != nil {
		return "", r.err(col, "%v", err)
	}
	return c, nil
}

type csvSettlement struct {
	Settlement
	ids   map[string]int // TransactionId → line
	numTx int
	gross int64 // the file's Gross (captures)
	fee   int64 // the file's Fee (negative)
}

type csvTx struct {
	Transaction
	line                int
	unitNumber, setDate string
	currency            string
	netExcludesRefund   bool
	fileNet, fileRefund int64
}

type csvWarning struct {
	line int
	msg  string
}

type csvParser struct {
	source   string
	rep      *Report
	sections map[string]*csvSection
	block    string // the header block whose data rows come next
	blockRow int    // data rows read in that block

	settlements []*csvSettlement
	byID        map[string]*csvSettlement
	pending     []csvTx // transactions whose SettlementId no SettlementInfo row had (yet)
	warnings    []csvWarning
	dates       map[string]string
	devs        map[string]*deviation
	devOrder    []string
}

func (p *csvParser) errf(line int, field, format string, args ...any) error {
	return errAt(p.source, line, field, format, args...)
}

func (p *csvParser) warn(line int, format string, args ...any) {
	p.warnings = append(p.warnings, csvWarning{line, fmt.Sprintf(format, args...)})
}

func (p *csvParser) record(rec []string, line int) error {
	kind := rec[0]
	spec, known := csvSpecs[kind]
	switch {
	case known && spec.typed:
		p.block = ""
		if len(rec) > 1 && isColumn(spec, rec[1]) {
			return p.header(kind, spec, rec, line)
		}
		sec := p.sections[kind]
		if sec == nil {
			return p.errf(line, kind, "data row before its header row")
		}
		return p.data(sec, rec, line)
	case known:
		p.block, p.blockRow = kind, 0
		return p.header(kind, spec, rec, line)
	case p.block != "":
		p.blockRow++
		if p.blockRow > 1 {
			return p.errf(line, p.block, "more than one data row under the %s header (line %d)", p.block, p.sections[p.block].line)
		}
		return p.data(p.sections[p.block], rec, line)
	}
	if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
		return nil
	}
	return p.errf(line, "", "unrecognised row starting with %q", truncate(kind, 40))
}

// canonicalColumn returns the spec's spelling of a header name, which is
// matched without regard to case ("TransactionId" and "SettlementID" both
// occur in the sample).
func canonicalColumn(spec csvSpec, name string) string {
	for _, c := range spec.cols {
		if strings.EqualFold(c, name) {
			return c
		}
	}
	return name
}

func isColumn(spec csvSpec, name string) bool {
	for _, c := range spec.cols {
		if strings.EqualFold(c, name) {
			return true
		}
	}
	return false
}

func (p *csvParser) header(kind string, spec csvSpec, rec []string, line int) error {
	if prev, ok := p.sections[kind]; ok {
		return p.errf(line, kind, "second header row (the first is at line %d)", prev.line)
	}
	sec := &csvSection{kind: kind, line: line, width: len(rec), index: map[string]int{}, amount: map[int]string{}}
	start := 0
	if spec.typed {
		start = 1
	}
	for i := start; i < len(rec); i++ {
		name := canonicalColumn(spec, rec[i])
		if _, dup := sec.index[name]; dup {
			return p.errf(line, rec[i], "column appears twice in the %s header", kind)
		}
		if !isColumn(spec, rec[i]) {
			p.warn(line, "%s header: unknown column %q ignored", kind, rec[i])
		}
		sec.index[name] = i
	}
	var missing []string
	for _, c := range spec.cols {
		if _, ok := sec.index[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return p.errf(line, kind, "header lacks the column(s) %s", strings.Join(missing, ", "))
	}
	for _, c := range spec.amounts {
		sec.amount[sec.index[c]] = c
	}
	p.sections[kind] = sec
	return nil
}

func (p *csvParser) data(sec *csvSection, rec []string, line int) error {
	row := &csvRow{p: p, sec: sec, rec: rec, line: line, commaAt: -1}
	if len(rec) != sec.width {
		fixed, at, ok := joinDecimalComma(sec, rec)
		if !ok {
			return p.errf(line, sec.kind, "%d fields, the header at line %d has %d", len(rec), sec.line, sec.width)
		}
		p.warn(line, "%s row has %d fields for %d columns: joined %q and %q into %s %s,%s (an unquoted decimal comma)",
			sec.kind, len(rec), sec.width, rec[at], rec[at+1], sec.amount[at], rec[at], rec[at+1])
		row.rec, row.commaAt = fixed, at
	}
	switch sec.kind {
	case rowSettlement:
		return p.settlement(row)
	case rowTransaction:
		return p.transaction(row)
	case rowFee:
		return p.fee(row)
	case rowOrg:
		p.rep.OrganizationNumber = row.get("OrganizationNumber")
		p.rep.OrganizationName = row.get("MerchantName")
	}
	return nil
}

// joinDecimalComma repairs a row with exactly one field more than its header
// when there is exactly one amount column at which the field and the next
// one join into a valid decimal-comma amount: the integer part (with optional
// sign) and the fraction digits of a number written "16450,62" without quotes.
func joinDecimalComma(sec *csvSection, rec []string) ([]string, int, bool) {
	if len(rec) != sec.width+1 {
		return nil, 0, false
	}
	at := -1
	for i := range sec.amount {
		if i+1 >= len(rec) || !isInteger(rec[i], true) || !isInteger(rec[i+1], false) {
			continue
		}
		if _, err := parseMinor(rec[i]+","+rec[i+1], commaDecimal); err != nil {
			continue
		}
		if at >= 0 {
			return nil, 0, false // ambiguous: two columns could take the comma
		}
		at = i
	}
	if at < 0 {
		return nil, 0, false
	}
	fixed := make([]string, 0, sec.width)
	fixed = append(fixed, rec[:at]...)
	fixed = append(fixed, rec[at]+","+rec[at+1])
	fixed = append(fixed, rec[at+2:]...)
	return fixed, at, true
}

func isInteger(s string, signed bool) bool {
	if signed && s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (p *csvParser) settlement(r *csvRow) error {
	s := &csvSettlement{}
	s.Line = r.line
	s.SalesUnit = r.get("SalesUnitName")
	var err error
	if s.MSN, err = r.required("SaleUnitNumber"); err != nil {
		return err
	}
	if s.Date, err = r.date("SettlementDate"); err != nil {
		return err
	}
	if s.ID, err = r.required("SettlementID"); err != nil {
		return err
	}
	if s.Account, err = r.required("SettlementAccount"); err != nil {
		return err
	}
	if s.Currency, err = r.currency("Currency"); err != nil {
		return err
	}
	if s.gross, err = r.amount("Gross"); err != nil {
		return err
	}
	if s.fee, err = r.amount("Fee"); err != nil {
		return err
	}
	if s.fee > 0 {
		return r.err("Fee", "%s is positive; fees are negative in this format", formatMinor(s.fee))
	}
	if s.Refund, err = r.amount("Refund"); err != nil {
		return err
	}
	if s.Refund > 0 {
		return r.err("Refund", "%s is positive; refunds are negative", formatMinor(s.Refund))
	}
	if s.Net, err = r.amount("Net"); err != nil {
		return err
	}
	n, err := strconv.Atoi(r.get("NumberOfTransactions"))
	if err != nil || n < 0 || !isInteger(r.get("NumberOfTransactions"), false) {
		return r.err("NumberOfTransactions", "%q is not a count", r.get("NumberOfTransactions"))
	}
	s.numTx = n
	s.Capture, s.Fee = s.gross, -s.fee
	s.Stated = TotalCapture | TotalRefund | TotalFee | TotalNet
	if o := p.byID[s.ID]; o != nil {
		return r.err("SettlementID", "settlement %s appears twice (first at line %d)", s.ID, o.Line)
	}
	s.ids = map[string]int{}
	s.Transactions = make([]Transaction, 0, min(n, 1024))
	p.byID[s.ID] = s
	if s.Refund != 0 && s.Net == s.gross+s.fee {
		p.warn(r.line, "SettlementInfo %s: Net %s = Gross %s + Fee %s leaves out Refund %s (the XML rule gives Net = Capture + Refund - Fee = %s); Settlement.Net keeps the stated value, and Check reports the difference",
			s.ID, formatMinor(s.Net), formatMinor(s.gross), formatMinor(s.fee), formatMinor(s.Refund), formatMinor(s.gross+s.Refund+s.fee))
	}
	p.settlements = append(p.settlements, s)
	return nil
}

func (p *csvParser) transaction(r *csvRow) error {
	t := csvTx{line: r.line}
	t.Line = r.line
	var err error
	if t.SalesDate, err = r.date("SalesDate"); err != nil {
		return err
	}
	t.unitNumber = r.get("SaleUnitNumber")
	if t.TransactionID, err = r.required("TransactionId"); err != nil {
		return err
	}
	if t.SettlementID, err = r.required("SettlementId"); err != nil {
		return err
	}
	t.OrderID = r.get("OrderID")
	if t.setDate, err = r.date("SettlementDate"); err != nil {
		return err
	}
	if t.currency, err = r.currency("Currency"); err != nil {
		return err
	}
	gross, err := r.amount("Gross")
	if err != nil {
		return err
	}
	fee, err := r.amount("Fee")
	if err != nil {
		return err
	}
	refund, err := r.amount("Refund")
	if err != nil {
		return err
	}
	net, err := r.amount("Net")
	if err != nil {
		return err
	}
	switch {
	case gross < 0:
		return r.err("Gross", "%s is negative; refunds go in the Refund column", formatMinor(gross))
	case fee > 0:
		return r.err("Fee", "%s is positive; fees are negative in this format", formatMinor(fee))
	case refund > 0:
		return r.err("Refund", "%s is positive; refunds are negative", formatMinor(refund))
	case gross != 0 && refund != 0:
		return r.err("Refund", "transaction %s has both a capture (%s) and a refund (%s)", t.TransactionID, formatMinor(gross), formatMinor(refund))
	}
	switch net {
	case gross + refund + fee:
	case gross + fee:
		t.netExcludesRefund = refund != 0
	default:
		return r.err("Net", "%s is neither Gross + Refund + Fee = %s nor Gross + Fee = %s",
			formatMinor(net), formatMinor(gross+refund+fee), formatMinor(gross+fee))
	}
	t.Kind = KindCapture
	if refund != 0 {
		t.Kind = KindRefund
	}
	t.Gross, t.Fee = gross+refund, -fee
	t.Net = t.Gross - t.Fee
	t.fileNet, t.fileRefund = net, refund
	if s := p.byID[t.SettlementID]; s != nil {
		return p.attach(s, &t)
	}
	p.pending = append(p.pending, t)
	return nil
}

func (p *csvParser) fee(r *csvRow) error {
	f := Fee{Line: r.line}
	var err error
	if f.Date, err = r.date("SettlementDate"); err != nil {
		return err
	}
	f.MSN = r.get("SaleUnitNumber")
	f.Account = r.get("FeeAccount")
	amount, err := r.amount("Fee")
	if err != nil {
		return err
	}
	if amount > 0 {
		return r.err("Fee", "%s is positive; fees are negative in this format", formatMinor(amount))
	}
	f.Amount = -amount
	if f.Currency, err = r.currency("Currency"); err != nil {
		return err
	}
	p.rep.Fees = append(p.rep.Fees, f)
	return nil
}

// deviation collects transaction rows that disagree with their settlement in
// the same way, so that one warning names them all.
type deviation struct {
	set         *csvSettlement
	what, value string
	first, last int
	n           int
}

func (p *csvParser) note(s *csvSettlement, what, value string, line int) {
	key := s.ID + "\x00" + what + "\x00" + value
	d := p.devs[key]
	if d == nil {
		d = &deviation{set: s, what: what, value: value, first: line}
		p.devs[key] = d
		p.devOrder = append(p.devOrder, key)
	}
	d.last = line
	d.n++
}

// attach adds a transaction to its settlement, noting where the row
// disagrees with the SettlementInfo row.
func (p *csvParser) attach(s *csvSettlement, t *csvTx) error {
	if t.unitNumber != s.MSN {
		p.note(s, "SaleUnitNumber", t.unitNumber, t.line)
	}
	if t.setDate != s.Date {
		p.note(s, "SettlementDate", t.setDate, t.line)
	}
	if t.netExcludesRefund {
		p.note(s, "Net", "", t.line)
	}
	if t.currency != s.Currency {
		return p.errf(t.line, "Currency", "%s differs from %s of SettlementInfo %s (line %d)", t.currency, s.Currency, s.ID, s.Line)
	}
	if first, dup := s.ids[t.TransactionID]; dup {
		return p.errf(t.line, "TransactionId", "duplicate transaction %s in settlement %s (first at line %d)", t.TransactionID, s.ID, first)
	}
	s.ids[t.TransactionID] = t.line
	s.Transactions = append(s.Transactions, t.Transaction)
	return nil
}

// finish attaches the transactions whose settlement was not known when they
// were read, and checks what spans rows.
func (p *csvParser) finish() error {
	if len(p.settlements) == 0 {
		if len(p.pending) > 0 {
			return p.errf(p.pending[0].line, rowTransaction, "no SettlementInfo row in the file")
		}
		return p.errf(0, "", "no SettlementInfo row in the file")
	}
	late := map[*csvSettlement]bool{}
	for i := range p.pending {
		t := &p.pending[i]
		s := p.byID[t.SettlementID]
		if s == nil {
			if len(p.settlements) != 1 {
				return p.errf(t.line, "SettlementId", "%s matches no SettlementInfo row", t.SettlementID)
			}
			s = p.settlements[0]
			p.note(s, "SettlementId", t.SettlementID, t.line)
		}
		if err := p.attach(s, t); err != nil {
			return err
		}
		late[s] = true
	}
	for _, s := range p.settlements {
		if late[s] {
			slices.SortStableFunc(s.Transactions, func(a, b Transaction) int { return a.Line - b.Line })
		}
		if len(s.Transactions) != s.numTx {
			return p.errf(s.Line, "NumberOfTransactions", "states %d transactions, %d TransactionInfo rows belong to settlement %s", s.numTx, len(s.Transactions), s.ID)
		}
		p.rep.Settlements = append(p.rep.Settlements, s.Settlement)
	}
	for _, key := range p.devOrder {
		d := p.devs[key]
		rows := fmt.Sprintf("%d TransactionInfo rows (lines %d-%d)", d.n, d.first, d.last)
		if d.n == 1 {
			rows = fmt.Sprintf("the TransactionInfo row at line %d", d.first)
		}
		switch d.what {
		case "SettlementId":
			p.warn(d.first, "%s carry SettlementId %s, which matches no SettlementInfo row; attached to %s (line %d), the file's only settlement; Transaction.SettlementID keeps %s",
				rows, d.value, d.set.ID, d.set.Line, d.value)
		case "Net":
			p.warn(d.first, "%s (settlement %s): Net leaves out the Refund (the file's Net = Gross + Fee); Transaction.Net includes it (Gross - Fee)", rows, d.set.ID)
		case "SaleUnitNumber":
			p.warn(d.first, "%s carry SaleUnitNumber %s, not %s of SettlementInfo %s (line %d); kept as stated", rows, d.value, d.set.MSN, d.set.ID, d.set.Line)
		case "SettlementDate":
			p.warn(d.first, "%s carry SettlementDate %s, not %s of SettlementInfo %s (line %d); kept as stated", rows, d.value, d.set.Date, d.set.ID, d.set.Line)
		}
	}
	sort.SliceStable(p.warnings, func(i, j int) bool { return p.warnings[i].line < p.warnings[j].line })
	for _, w := range p.warnings {
		p.rep.Warnings = append(p.rep.Warnings, warnAt(p.source, w.line, "%s", w.msg))
	}
	p.rep.summarise()
	return nil
}

// sniffPortalCSV tells the portal's table (Norwegian header with Salgsdato)
// from the multi-section file, and returns its separator.
func sniffPortalCSV(head []byte) (rune, bool) {
	first, _, _ := bytes.Cut(head, []byte("\n"))
	for kind := range csvSpecs {
		if bytes.HasPrefix(first, []byte(kind+",")) {
			return 0, false
		}
	}
	for _, line := range bytes.Split(head, []byte("\n")) {
		if bytes.Contains(line, []byte(colSalesDate)) && bytes.Contains(line, []byte(colTxID)) {
			if bytes.Count(line, []byte(";")) > bytes.Count(line, []byte(",")) {
				return ';', true
			}
			return ',', true
		}
	}
	return 0, false
}

func parsePortalCSV(r io.Reader, comma rune, rep *Report) (*Report, error) {
	p := newTableParser(rep)
	cr := csv.NewReader(r)
	cr.Comma = comma
	cr.FieldsPerRecord = -1
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvErr(rep.Source, err)
		}
		line, _ := cr.FieldPos(0)
		row := tableRow{line: line, cells: make([]tableCell, len(rec))}
		for i, f := range rec {
			row.cells[i] = tableCell{text: f}
		}
		if err := p.row(row); err != nil {
			return nil, err
		}
	}
	if err := p.finish(); err != nil {
		return nil, err
	}
	return rep, nil
}
