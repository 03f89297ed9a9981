package settlement

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

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

// txColumns are the field positions of the TransactionInfo columns, so
// that the rows that make up nearly all of a file are read without a map.
type txColumns struct {
	salesDate, unitNumber, txID, settlementID, orderID, settlementDate int
	currency, gross, fee, refund, net                                  int
}

// csvParser reads the multi-section CSV format row by row. It keeps the
// settlements and what it needs to check the file at the end, and hands
// the transactions to fn.
type csvParser struct {
	source string
	rep    *Report
	fn     func(Settlement, Transaction) error

	sections map[string]*csvSection
	block    string      // the header block whose data rows come next
	blockRow int         // data rows read in that block
	tx       *csvSection // the TransactionInfo header, once read
	col      txColumns

	dates      map[string]string
	currencies map[string]string

	settlements []*csvSettlement
	byID        map[string]*csvSettlement
	last        *csvSettlement // the settlement of the previous transaction
	pending     []csvTx        // transactions whose SettlementId no SettlementInfo row had (yet)
	seen        txSeen
	warnings    []csvWarning
	devs        map[string]*deviation
	devOrder    []string
}

type csvSettlement struct {
	Settlement // Transactions stays nil: they go to fn
	idx        int
	numTx      int
	gross      int64 // the file's Gross (captures)
	fee        int64 // the file's Fee (negative)
	sums       txSums
}

type csvTx struct {
	Transaction
	unitNumber, setDate string
	currency            string
	netExcludesRefund   bool
}

type csvWarning struct {
	line int
	msg  string
}

func (p *csvParser) errf(line int, field, format string, args ...any) error {
	return errAt(p.source, line, field, format, args...)
}

func (p *csvParser) warn(line int, format string, args ...any) {
	p.warnings = append(p.warnings, csvWarning{line, fmt.Sprintf(format, args...)})
}

func (p *csvParser) record(rec []string, line int) error {
	if rec[0] == rowTransaction && p.tx != nil && len(rec) > 1 && !isColumn(csvSpecs[rowTransaction], rec[1]) {
		p.block = ""
		return p.transaction(rec, line)
	}
	// Other rows, a few hundred in any file, are kept in part, so they are
	// read from copies of fields that point into the read buffer.
	rec = cloneAll(rec)
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
		if kind == rowTransaction {
			return p.transaction(rec, line)
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

func cloneAll(rec []string) []string {
	own := make([]string, len(rec))
	for i, f := range rec {
		own[i] = strings.Clone(f)
	}
	return own
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
	if name != "" && name[0] >= '0' && name[0] <= '9' {
		return false // a data row's date or number, which no column name starts like
	}
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
	if kind == rowTransaction {
		p.tx = sec
		p.col = txColumns{
			salesDate: sec.index["SalesDate"], unitNumber: sec.index["SaleUnitNumber"], txID: sec.index["TransactionId"],
			settlementID: sec.index["SettlementId"], orderID: sec.index["OrderID"], settlementDate: sec.index["SettlementDate"],
			currency: sec.index["Currency"], gross: sec.index["Gross"], fee: sec.index["Fee"], refund: sec.index["Refund"],
			net: sec.index["Net"],
		}
	}
	return nil
}

// row checks a data row's field count against its header, and repairs the
// one documented defect, an unquoted decimal comma in an amount.
func (p *csvParser) row(sec *csvSection, rec []string, line int) (csvRow, error) {
	r := csvRow{p: p, sec: sec, rec: rec, line: line, commaAt: -1}
	if len(rec) == sec.width {
		return r, nil
	}
	fixed, at, ok := joinDecimalComma(sec, rec)
	if !ok {
		if at, err := groupedThousandComma(sec, rec); err != nil {
			return r, p.errf(line, sec.amount[at], "%d fields, the header at line %d has %d: %s,%s would be one amount with an unquoted comma, but %v",
				len(rec), sec.line, sec.width, rec[at], rec[at+1], err)
		}
		return r, p.errf(line, sec.kind, "%d fields, the header at line %d has %d", len(rec), sec.line, sec.width)
	}
	p.warn(line, "%s row has %d fields for %d columns: joined %q and %q into %s %s,%s (an unquoted decimal comma)",
		sec.kind, len(rec), sec.width, rec[at], rec[at+1], sec.amount[at], rec[at], rec[at+1])
	r.rec, r.commaAt = fixed, at
	return r, nil
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

// groupedThousandComma finds, in a row with one field more than its header,
// an amount column whose field and the next one join into an amount that
// may be a grouped thousand ("1" and "500": 1.50 or 1500), which
// joinDecimalComma does not join; it returns that column and why.
func groupedThousandComma(sec *csvSection, rec []string) (int, error) {
	if len(rec) != sec.width+1 {
		return 0, nil
	}
	at, why := -1, error(nil)
	for i := range sec.amount {
		if i+1 >= len(rec) || !isInteger(rec[i], true) || !isInteger(rec[i+1], false) || (at >= 0 && i > at) {
			continue
		}
		if _, err := parseMinor(rec[i]+","+rec[i+1], commaDecimal); errors.Is(err, errAmbiguous) {
			at, why = i, err // the first such column, whatever the map's order
		}
	}
	return at, why
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

// csvRow reads the fields of a data row. It keeps the first error it meets
// and gives zero values after it, so that a row is read field by field and
// checked once, and the error is the one of the first bad field.
type csvRow struct {
	p       *csvParser
	sec     *csvSection
	rec     []string
	line    int
	commaAt int // field index of a joined decimal-comma amount, or -1
	err     error
}

func (r *csvRow) fail(col, format string, args ...any) {
	if r.err == nil {
		r.err = r.p.errf(r.line, col, format, args...)
	}
}

// at is the field index of a column; the TransactionInfo rows, nearly all
// of a file, use the indexes in csvParser.col instead of this map.
func (r *csvRow) at(col string) int { return r.sec.index[col] }

func (r *csvRow) required(i int, col string) string {
	if r.rec[i] == "" {
		r.fail(col, "empty")
	}
	return r.rec[i]
}

func (r *csvRow) amount(i int, col string) int64 {
	if r.err != nil {
		return 0
	}
	syn := dotDecimal
	if i == r.commaAt {
		syn = commaDecimal
	}
	v, err := parseMinor(r.rec[i], syn)
	if err != nil {
		r.fail(col, "%v", err)
	}
	return v
}

// negative reads an amount that this format writes as negative or zero,
// a fee or a refund; rule says so in the error.
func (r *csvRow) negative(i int, col, rule string) int64 {
	v := r.amount(i, col)
	if v > 0 {
		r.fail(col, "%s is positive; %s", formatMinor(v), rule)
	}
	return v
}

func (r *csvRow) date(i int, col string) string {
	if r.err != nil {
		return ""
	}
	in := r.rec[i]
	if d, ok := r.p.dates[in]; ok {
		return d
	}
	d, err := textDate(in)
	if err != nil {
		r.fail(col, "%v", err)
	} else if len(r.p.dates) < 4096 { // a report spans few distinct dates
		r.p.dates[strings.Clone(in)] = d
	}
	return d
}

func (r *csvRow) currency(i int) string {
	if r.err != nil {
		return ""
	}
	in := r.rec[i]
	if c, ok := r.p.currencies[in]; ok {
		return c
	}
	c, err := currencyCode(in)
	if err != nil {
		r.fail("Currency", "%v", err)
		return ""
	}
	c = strings.Clone(c)
	if len(r.p.currencies) < 256 {
		r.p.currencies[c] = c
	}
	return c
}

func (p *csvParser) data(sec *csvSection, rec []string, line int) error {
	r, err := p.row(sec, rec, line)
	if err != nil {
		return err
	}
	switch sec.kind {
	case rowSettlement:
		return p.settlement(&r)
	case rowFee:
		return p.fee(&r)
	case rowOrg:
		p.rep.OrganizationNumber = r.rec[r.at("OrganizationNumber")]
		p.rep.OrganizationName = r.rec[r.at("MerchantName")]
	}
	return nil
}

func (p *csvParser) settlement(r *csvRow) error {
	s := &csvSettlement{idx: len(p.settlements)}
	s.Line = r.line
	s.SalesUnit = r.rec[r.at("SalesUnitName")]
	s.MSN = r.required(r.at("SaleUnitNumber"), "SaleUnitNumber")
	s.Date = r.date(r.at("SettlementDate"), "SettlementDate")
	s.ID = r.required(r.at("SettlementID"), "SettlementID")
	s.Account = r.required(r.at("SettlementAccount"), "SettlementAccount")
	s.Currency = r.currency(r.at("Currency"))
	s.gross = r.amount(r.at("Gross"), "Gross")
	s.fee = r.negative(r.at("Fee"), "Fee", "fees are negative in this format")
	s.Refund = r.negative(r.at("Refund"), "Refund", "refunds are negative")
	s.Net = r.amount(r.at("Net"), "Net")
	if r.err != nil {
		return r.err
	}
	count := r.rec[r.at("NumberOfTransactions")]
	n, err := strconv.Atoi(count)
	if err != nil || n < 0 || !isInteger(count, false) {
		return r.p.errf(r.line, "NumberOfTransactions", "%q is not a count", count)
	}
	s.numTx = n
	s.Capture, s.Fee = s.gross, -s.fee
	s.Stated = TotalCapture | TotalRefund | TotalFee | TotalNet
	if o := p.byID[s.ID]; o != nil {
		return p.errf(r.line, "SettlementID", "settlement %s appears twice (first at line %d)", s.ID, o.Line)
	}
	p.byID[s.ID] = s
	if s.Refund != 0 && s.Net == s.gross+s.fee {
		p.warn(r.line, "SettlementInfo %s: Net %s = Gross %s + Fee %s leaves out Refund %s (the XML rule gives Net = Capture + Refund - Fee = %s); Settlement.Net keeps the stated value, and Check reports the difference",
			s.ID, formatMinor(s.Net), formatMinor(s.gross), formatMinor(s.fee), formatMinor(s.Refund), formatMinor(s.gross+s.Refund+s.fee))
	}
	p.settlements = append(p.settlements, s)
	return nil
}

func (p *csvParser) fee(r *csvRow) error {
	f := Fee{Line: r.line}
	f.Date = r.date(r.at("SettlementDate"), "SettlementDate")
	f.MSN = r.rec[r.at("SaleUnitNumber")]
	f.Account = r.rec[r.at("FeeAccount")]
	f.Amount = -r.negative(r.at("Fee"), "Fee", "fees are negative in this format")
	f.Currency = r.currency(r.at("Currency"))
	if r.err != nil {
		return r.err
	}
	p.rep.Fees = append(p.rep.Fees, f)
	return nil
}

// transaction reads a TransactionInfo data row. rec may point into the
// read buffer, so what the transaction keeps of it is copied.
func (p *csvParser) transaction(rec []string, line int) error {
	r, err := p.row(p.tx, rec, line)
	if err != nil {
		return err
	}
	c := &p.col
	t := csvTx{}
	t.Line = line
	t.SalesDate = r.date(c.salesDate, "SalesDate")
	t.unitNumber = r.rec[c.unitNumber]
	txID := r.required(c.txID, "TransactionId")
	setID := r.required(c.settlementID, "SettlementId")
	t.setDate = r.date(c.settlementDate, "SettlementDate")
	t.currency = r.currency(c.currency)
	gross, fee := r.amount(c.gross, "Gross"), r.amount(c.fee, "Fee")
	refund, net := r.amount(c.refund, "Refund"), r.amount(c.net, "Net")
	switch {
	case r.err != nil:
		return r.err
	case gross < 0:
		return p.errf(line, "Gross", "%s is negative; refunds go in the Refund column", formatMinor(gross))
	case fee > 0:
		return p.errf(line, "Fee", "%s is positive; fees are negative in this format", formatMinor(fee))
	case refund > 0:
		return p.errf(line, "Refund", "%s is positive; refunds are negative", formatMinor(refund))
	case gross != 0 && refund != 0:
		return p.errf(line, "Refund", "transaction %s has both a capture (%s) and a refund (%s)", txID, formatMinor(gross), formatMinor(refund))
	}
	switch net {
	case gross + refund + fee:
	case gross + fee:
		t.netExcludesRefund = refund != 0
	default:
		return p.errf(line, "Net", "%s is neither Gross + Refund + Fee = %s nor Gross + Fee = %s",
			formatMinor(net), formatMinor(gross+refund+fee), formatMinor(gross+fee))
	}
	t.Kind = KindCapture
	if refund != 0 {
		t.Kind = KindRefund
	}
	t.Gross, t.Fee = gross+refund, -fee
	t.Net = t.Gross - t.Fee
	t.TransactionID = strings.Clone(txID)
	t.OrderID = strings.Clone(r.rec[c.orderID])

	set := p.last
	if set == nil || set.ID != setID {
		set = p.byID[setID]
	}
	if set == nil {
		t.SettlementID = strings.Clone(setID)
		t.unitNumber = strings.Clone(t.unitNumber)
		p.pending = append(p.pending, t)
		return nil
	}
	t.SettlementID = set.ID
	return p.attach(set, &t, false)
}

// attach hands a transaction to fn, noting where the row disagrees with
// the SettlementInfo row; whether its id is new in the settlement is
// checked at the end.
func (p *csvParser) attach(set *csvSettlement, t *csvTx, late bool) error {
	t.MSN = set.MSN
	if t.unitNumber != set.MSN {
		t.MSN = strings.Clone(t.unitNumber)
		p.note(set, "SaleUnitNumber", t.MSN, t.Line)
	}
	if t.setDate != set.Date {
		p.note(set, "SettlementDate", t.setDate, t.Line)
	}
	if t.netExcludesRefund {
		p.note(set, "Net", "", t.Line)
	}
	if t.currency != set.Currency {
		return p.errf(t.Line, "Currency", "%s differs from %s of SettlementInfo %s (line %d)", t.currency, set.Currency, set.ID, set.Line)
	}
	p.last = set
	if p.seen.ids == nil {
		// Room for the transactions the settlements read so far state
		// (in the Vipps files, all of them).
		n := 0
		for _, set := range p.settlements {
			n += set.numTx
		}
		p.seen.ids = make([]seenID, 0, min(n, 1<<22))
	}
	p.seen.add(set.idx, t.TransactionID, t.Line, late)
	set.sums.add(&t.Transaction)
	return p.fn(set.Settlement, t.Transaction)
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

// finish attaches the transactions whose settlement was not known when they
// were read, checks what spans rows, and completes the report.
func (p *csvParser) finish() error {
	if len(p.settlements) == 0 {
		if len(p.pending) > 0 {
			return p.errf(p.pending[0].Line, rowTransaction, "no SettlementInfo row in the file")
		}
		return p.errf(0, "", "no SettlementInfo row in the file")
	}
	for i := range p.pending {
		t := &p.pending[i]
		set := p.byID[t.SettlementID]
		if set == nil {
			if len(p.settlements) != 1 {
				return p.errf(t.Line, "SettlementId", "%s matches no SettlementInfo row", t.SettlementID)
			}
			set = p.settlements[0]
			p.note(set, "SettlementId", t.SettlementID, t.Line)
		}
		if err := p.attach(set, t, true); err != nil {
			return err
		}
	}
	p.pending = nil
	if d, ok := p.seen.duplicate(); ok {
		set := p.settlements[d.set]
		return p.errf(d.line, "TransactionId", "duplicate transaction %s in settlement %s (first at line %d)", d.id, set.ID, d.first)
	}
	for _, s := range p.settlements {
		if s.sums.n != s.numTx {
			return p.errf(s.Line, "NumberOfTransactions", "states %d transactions, %d TransactionInfo rows belong to settlement %s", s.numTx, s.sums.n, s.ID)
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
			p.warn(d.first, "%s carry SaleUnitNumber %s, not %s of SettlementInfo %s (line %d); kept as stated: Transaction.MSN is the row's", rows, d.value, d.set.MSN, d.set.ID, d.set.Line)
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
