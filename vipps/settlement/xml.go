package settlement

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // TransactionTime is Oslo time; do not depend on the host's zoneinfo
)

// osloLocation is Europe/Oslo, the zone of XML TransactionTime.
var osloLocation = sync.OnceValues(func() (*time.Location, error) {
	return time.LoadLocation("Europe/Oslo")
})

// ParseXML reads a Vipps settlement report in XML v3.0
// (SettlementReport-3.0.xsd). It checks the structure the XSD gives while
// streaming: the namespace, every element in its place and order, required
// elements present and single ones not repeated, xs:long, xs:date and
// xs:dateTime values, money with at most two fraction digits and the XSD's sign
// patterns (capture and fee ≥ 0, refund negative or exactly 0.00). It also
// checks what the XSD states in comments and counts: per transaction
// Gross = Capture + Refund and Net = Gross - Fee, a transaction is a capture or a
// refund but not both, NumOfTransactions and NumOfSettlements match, currencies
// agree, and a TransactionID appears once per settlement. A 2.0 report is
// refused with ErrUnsupportedVersion.
//
// The settlement totals are kept as stated; Report.Check compares them with
// the transactions.
func ParseXML(r io.Reader, source string) (*Report, error) {
	var txs []Transaction
	var counts []int // transactions per settlement, in file order
	last := -1
	rep, _, err := ParseXMLFunc(r, source, func(st Settlement, t Transaction) error {
		if st.Line != last {
			last = st.Line
			counts = append(counts, 0)
		}
		counts[len(counts)-1]++
		txs = append(txs, t)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range rep.Settlements {
		rep.Settlements[i].Transactions, txs = txs[:counts[i]:counts[i]], txs[counts[i]:]
	}
	return rep, nil
}

// ParseXMLFunc reads an XML v3.0 report as ParseXML does, but hands each
// transaction to fn as it is read, with its settlement as far as it is read
// then (what comes before the transactions in the file: date, id, currency,
// type, sales unit; not the totals, which follow them), instead of keeping
// it. An error from fn ends the parse and is returned as it is. Memory does
// not grow with the number of transactions beyond 16 bytes each for the
// duplicate check of the settlement being read.
//
// A transaction id seen twice in a settlement is found when the settlement
// ends, so fn may have seen both. The Report is the one ParseXML returns
// except that every Settlement's Transactions is nil; problems is what
// Report.Check returns for the whole report.
func ParseXMLFunc(r io.Reader, source string, fn func(Settlement, Transaction) error) (rep *Report, problems []Problem, err error) {
	loc, err := osloLocation()
	if err != nil {
		return nil, nil, &ParseError{Source: source, Err: fmt.Errorf("loading Europe/Oslo: %w", err)}
	}
	p := &xmlParser{
		source: source,
		// No field is longer than maxXMLRun: a longer text or tag is
		// refused as it is read, not held whole by the decoder.
		d:    xml.NewDecoder(&runGuard{r: &xmlLineEnds{r: r}, max: maxXMLRun, name: source}),
		oslo: loc,
		rep:  &Report{Format: FormatXML, Source: source},
		fn:   fn,
	}
	if err := p.run(); err != nil {
		return nil, nil, err
	}
	return p.rep, p.problems, nil
}

// xmlLineEnds turns the line ends \r\n and a lone \r into \n, as XML
// reads them (XML 1.0 §2.11), before the decoder sees them. The decoder
// does the same to the text it hands over, but it counts only \n as a line
// break, so without this every line after a lone \r would be misnumbered.
type xmlLineEnds struct {
	r  io.Reader
	cr bool // the last byte read was \r
}

func (x *xmlLineEnds) Read(b []byte) (int, error) {
	for {
		n, err := x.r.Read(b)
		if !x.cr && bytes.IndexByte(b[:n], '\r') < 0 {
			return n, err
		}
		w := 0
		for _, c := range b[:n] {
			if c == '\n' && x.cr {
				x.cr = false
				continue
			}
			if x.cr = c == '\r'; x.cr {
				c = '\n'
			}
			b[w] = c
			w++
		}
		if w > 0 || n == 0 || err != nil {
			return w, err
		}
	}
}

type xmlFrame struct {
	elem  *xmlElement
	raw   xml.Name // the tag as written (prefix, local name), to match the end tag
	line  int
	pos   int // index in elem.children of the child being read
	count int // how many of children[pos] were read so far
}

// xmlTx is a TransactionInfo being read, with the lines of the values that
// cross-field checks report on.
type xmlTx struct {
	Transaction
	capture, refund      int64
	currency             string
	grossLine, netLine   int
	captureLine, curLine int
}

type xmlParser struct {
	source string
	d      *xml.Decoder
	oslo   *time.Location
	rep    *Report

	stack     []xmlFrame
	ns        []nsBinding
	text      []byte
	rootDone  bool
	tokenLine int // the line where the token being read begins

	// SettlementDetailsInfo and PaymentsInfo being read.
	msn, salesUnit, orgName, orgNumber string
	orgNumbers, orgNames               map[string]bool
	currency, account                  string
	settlementsInPayments              int
	paymentsIDs                        map[string]int

	// SettlementInfo being read.
	set        Settlement
	numTx      int64
	numTxLine  int
	setCurLine int
	seen       txSeen // its transaction ids so far
	sums       txSums // and their amounts
	fn         func(Settlement, Transaction) error
	problems   []Problem

	tx  xmlTx
	fee Fee
}

func (p *xmlParser) line() int {
	l, _ := p.d.InputPos()
	return l
}

func (p *xmlParser) errf(line int, field, format string, args ...any) error {
	return errAt(p.source, line, field, format, args...)
}

func (p *xmlParser) run() error {
	// RawToken is several times cheaper than Token, which copies every
	// token and keeps its own namespace maps; the parser resolves
	// namespaces and matches end tags itself.
	for {
		p.tokenLine = p.line()
		tok, err := p.d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return p.errf(se.Line, "", "malformed XML: %s", se.Msg)
			}
			return p.errf(p.line(), "", "malformed XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			var name xml.Name
			if name, err = p.resolve(t); err == nil {
				err = p.start(xml.StartElement{Name: name}, t.Name)
			}
		case xml.EndElement:
			if err = p.matchEnd(t); err == nil {
				err = p.end()
			}
		case xml.CharData:
			err = p.chars(t)
		}
		if err != nil {
			return err
		}
	}
	if len(p.stack) > 0 {
		return p.errf(p.line(), "", "malformed XML: unexpected EOF inside <%s>", p.stack[len(p.stack)-1].elem.name)
	}
	if !p.rootDone {
		return p.errf(p.line(), "", "no SettlementReport element")
	}
	p.rep.summarise()
	if len(p.orgNumbers) == 1 {
		p.rep.OrganizationNumber = p.orgNumber
	}
	if len(p.orgNames) == 1 {
		p.rep.OrganizationName = p.orgName
	}
	return nil
}

// nsBinding is a namespace declaration in scope: prefix ("" for the
// default namespace) bound to url by the element at depth.
type nsBinding struct {
	depth       int
	prefix, url string
}

// resolve declares the namespaces the raw start tag binds and returns its
// name with the prefix replaced by the namespace URL.
func (p *xmlParser) resolve(t xml.StartElement) (xml.Name, error) {
	depth := len(p.stack)
	for _, a := range t.Attr {
		switch {
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			p.ns = append(p.ns, nsBinding{depth, "", a.Value})
		case a.Name.Space == "xmlns":
			if a.Value == "" {
				return xml.Name{}, p.errf(p.line(), t.Name.Local, "namespace prefix %q bound to an empty name", a.Name.Local)
			}
			p.ns = append(p.ns, nsBinding{depth, a.Name.Local, a.Value})
		}
	}
	if t.Name.Space == "xml" || t.Name.Space == "xmlns" {
		return xml.Name{}, p.errf(p.line(), t.Name.Local, "reserved prefix %q on an element", t.Name.Space)
	}
	for i := len(p.ns) - 1; i >= 0; i-- {
		if p.ns[i].prefix == t.Name.Space {
			return xml.Name{Space: p.ns[i].url, Local: t.Name.Local}, nil
		}
	}
	if t.Name.Space != "" {
		return xml.Name{}, p.errf(p.line(), t.Name.Local, "undeclared namespace prefix %q", t.Name.Space)
	}
	return xml.Name{Local: t.Name.Local}, nil
}

// matchEnd checks that an end tag closes the element open last, and ends
// the namespace declarations of that element.
func (p *xmlParser) matchEnd(t xml.EndElement) error {
	tag := func(n xml.Name) string {
		if n.Space != "" {
			return n.Space + ":" + n.Local
		}
		return n.Local
	}
	if len(p.stack) == 0 {
		return p.errf(p.line(), "", "malformed XML: unexpected end element </%s>", tag(t.Name))
	}
	if top := p.stack[len(p.stack)-1]; top.raw != t.Name {
		return p.errf(p.line(), "", "malformed XML: element <%s> closed by </%s>", tag(top.raw), tag(t.Name))
	}
	depth := len(p.stack) - 1
	for len(p.ns) > 0 && p.ns[len(p.ns)-1].depth >= depth {
		p.ns = p.ns[:len(p.ns)-1]
	}
	return nil
}

func (p *xmlParser) start(t xml.StartElement, raw xml.Name) error {
	line := p.line()
	name := t.Name.Local
	if len(p.stack) == 0 {
		if p.rootDone {
			return p.errf(line, name, "element after the end of SettlementReport")
		}
		if name != "SettlementReport" {
			return p.errf(line, name, "root element is <%s>, want <SettlementReport>", name)
		}
		switch t.Name.Space {
		case NamespaceV3:
		case namespaceV2:
			return &ParseError{Source: p.source, Line: line, Field: name, Err: fmt.Errorf(
				"%w: this is a SettlementReport 2.0 file (namespace %s); export the report as XML v3.0 (namespace %s)",
				ErrUnsupportedVersion, namespaceV2, NamespaceV3)}
		case "":
			return p.errf(line, name, "no namespace; want xmlns=%q", NamespaceV3)
		default:
			return &ParseError{Source: p.source, Line: line, Field: name, Err: fmt.Errorf(
				"%w: namespace %q, want %q", ErrUnsupportedVersion, t.Name.Space, NamespaceV3)}
		}
		p.stack = append(p.stack, xmlFrame{elem: xmlSchemaV3, raw: raw, line: line})
		return nil
	}

	top := &p.stack[len(p.stack)-1]
	if top.elem.children == nil {
		return p.errf(line, name, "element inside <%s>, which holds a value only", top.elem.name)
	}
	if t.Name.Space != NamespaceV3 {
		return p.errf(line, name, "element in namespace %q, want %q", t.Name.Space, NamespaceV3)
	}
	ch := top.elem.children
	if !hasChild(top.elem, name) {
		return p.errf(line, name, "unexpected element in <%s>", top.elem.name)
	}
	for {
		if top.pos < len(ch) && ch[top.pos].elem.name == name {
			if top.count == ch[top.pos].max {
				return p.errf(line, name, "repeated in <%s>", top.elem.name)
			}
			top.count++
			break
		}
		if top.pos >= len(ch) {
			return p.errf(line, name, "out of order in <%s>", top.elem.name)
		}
		if top.count < ch[top.pos].min {
			return p.errf(line, ch[top.pos].elem.name, "required element missing in <%s> (found <%s> instead)", top.elem.name, name)
		}
		top.pos++
		top.count = 0
	}
	elem := ch[top.pos].elem
	p.stack = append(p.stack, xmlFrame{elem: elem, raw: raw, line: line})
	if elem.children == nil {
		p.text = p.text[:0]
		return nil
	}
	return p.open(elem.name, line)
}

func hasChild(e *xmlElement, name string) bool {
	for _, c := range e.children {
		if c.elem.name == name {
			return true
		}
	}
	return false
}

func (p *xmlParser) chars(t xml.CharData) error {
	if len(p.stack) == 0 {
		return nil // whitespace around the root; the decoder rejects anything else
	}
	top := &p.stack[len(p.stack)-1]
	if top.elem.children == nil {
		p.text = append(p.text, t...)
		return nil
	}
	if text := bytes.TrimSpace(t); len(text) > 0 {
		// Count on from where the token began; counting back from its end
		// would also count a character reference such as &#10; after the
		// text. One in the leading space can only make the count overshoot,
		// and never past where the token ends.
		lead := t[:bytes.Index(t, text)]
		line := min(p.tokenLine+bytes.Count(lead, []byte("\n")), p.line())
		return p.errf(line, top.elem.name, "unexpected text %q", truncate(string(text), 40))
	}
	return nil
}

func (p *xmlParser) end() error {
	top := p.stack[len(p.stack)-1]
	p.stack = p.stack[:len(p.stack)-1]
	if top.elem.children == nil {
		var parent string
		if len(p.stack) > 0 {
			parent = p.stack[len(p.stack)-1].elem.name
		}
		return p.value(parent, top.elem.name, string(p.text), top.line)
	}
	line := p.line()
	ch := top.elem.children
	for i := top.pos; i < len(ch); i++ {
		n := 0
		if i == top.pos {
			n = top.count
		}
		if n < ch[i].min {
			return p.errf(line, ch[i].elem.name, "required element missing in <%s>", top.elem.name)
		}
	}
	if len(p.stack) == 0 {
		p.rootDone = true
	}
	return p.close(top.elem.name, top.line)
}

// open starts the record a complex element describes.
func (p *xmlParser) open(name string, line int) error {
	switch name {
	case "SettlementDetailsInfo":
		p.msn, p.salesUnit, p.orgName, p.orgNumber = "", "", "", ""
	case "PaymentsInfo":
		p.currency, p.account = "", ""
		p.settlementsInPayments = 0
		p.paymentsIDs = map[string]int{}
	case "SettlementInfo":
		p.set = Settlement{Line: line, MSN: p.msn, SalesUnit: p.salesUnit, Account: p.account}
		p.sums = txSums{}
	case "TransactionInfo":
		p.tx = xmlTx{Transaction: Transaction{Line: line}}
	case "FeeInfo":
		p.fee = Fee{Line: line, MSN: p.msn, Currency: p.currency}
	}
	return nil
}

// close finishes the record a complex element describes and checks what
// spans its values.
func (p *xmlParser) close(name string, line int) error {
	switch name {
	case "TransactionInfo":
		return p.closeTransaction()
	case "SettlementInfo":
		s := &p.set
		if d, dup := p.seen.duplicate(); dup {
			return p.errf(d.line, "TransactionID", "duplicate transaction %s in settlement %s (first at line %d)", d.id, s.ID, d.first)
		}
		if p.numTx != int64(p.sums.n) {
			return p.errf(p.numTxLine, "NumOfTransactions", "states %d transactions, the settlement has %d", p.numTx, p.sums.n)
		}
		if s.Currency != p.currency {
			return p.errf(p.setCurLine, "SettlementCurrencyCode", "%s differs from the report's %s", s.Currency, p.currency)
		}
		if first, dup := p.paymentsIDs[s.ID]; dup {
			return p.errf(line, "SettlementID", "duplicate settlement %s (first at line %d)", s.ID, first)
		}
		p.paymentsIDs[s.ID] = line
		s.Stated = TotalCapture | TotalRefund | TotalGross | TotalFee | TotalNet | TotalSettled
		p.problems = append(p.problems, p.sums.check(s)...)
		p.rep.Settlements = append(p.rep.Settlements, *s)
		p.settlementsInPayments++
		p.set = Settlement{}
	case "FeeInfo":
		p.rep.Fees = append(p.rep.Fees, p.fee)
	case "SettlementDetailsInfo":
		if p.orgNumbers == nil {
			p.orgNumbers, p.orgNames = map[string]bool{}, map[string]bool{}
		}
		p.orgNumbers[p.orgNumber] = true
		p.orgNames[p.orgName] = true
	}
	return nil
}

func (p *xmlParser) closeTransaction() error {
	t := &p.tx
	if t.capture != 0 && t.refund != 0 {
		return p.errf(t.captureLine, "TransactionCaptureAmount", "transaction %s has both a capture (%s) and a refund (%s)",
			t.TransactionID, formatMinor(t.capture), formatMinor(t.refund))
	}
	if t.Gross != t.capture+t.refund {
		return p.errf(t.grossLine, "TransactionGrossAmount", "%s is not Capture + Refund = %s",
			formatMinor(t.Gross), formatMinor(t.capture+t.refund))
	}
	if t.Net != t.Gross-t.Fee {
		return p.errf(t.netLine, "TransactionNetAmount", "%s is not Gross - Fee = %s",
			formatMinor(t.Net), formatMinor(t.Gross-t.Fee))
	}
	if t.currency != p.set.Currency {
		return p.errf(t.curLine, "SettlementCurrencyCode", "transaction currency %s differs from the settlement's %s", t.currency, p.set.Currency)
	}
	t.Kind = KindCapture
	if t.refund != 0 {
		t.Kind = KindRefund
	}
	t.SettlementID, t.MSN = p.set.ID, p.set.MSN
	p.seen.add(0, t.TransactionID, t.Line, false)
	p.sums.add(&t.Transaction)
	return p.fn(p.set, t.Transaction)
}

// value stores one leaf's text, parsed and checked by its XSD type.
func (p *xmlParser) value(parent, name, text string, line int) error {
	v := collapse(text)
	var err error
	switch parent {
	case "SettlementDetailsInfo":
		switch name {
		case "SaleUnitName":
			p.salesUnit = v
		case "SerialNumber":
			p.msn = v
		case "OrganizationName":
			p.orgName = v
		case "OrganizationNumber":
			p.orgNumber = v
		}
	case "PaymentsInfo":
		switch name {
		case "ReportDateFrom", "ReportDateTo":
			var d string
			if d, err = xsDate(v); err == nil {
				if name == "ReportDateFrom" && (p.rep.From == "" || d < p.rep.From) {
					p.rep.From = d
				}
				if name == "ReportDateTo" && d > p.rep.To {
					p.rep.To = d
				}
			}
		case "SettlementCurrencyCode":
			p.currency, err = currencyCode(v)
		case "SettlementAccountNum":
			p.account = v
			if v == "" {
				err = errors.New("empty account number")
			}
		case "NumOfSettlements":
			var n int64
			if n, err = xsLong(v); err == nil && n != int64(p.settlementsInPayments) {
				err = fmt.Errorf("states %d settlements, the report has %d", n, p.settlementsInPayments)
			}
		}
	case "SettlementInfo":
		s := &p.set
		switch name {
		case "SettlementDate":
			s.Date, err = xsDate(v)
		case "SettlementID":
			s.ID, err = xsLongID(v)
		case "SettlementCurrencyCode":
			s.Currency, err = currencyCode(v)
			p.setCurLine = line
		case "SettlementType":
			if text != TypeNet && text != TypeGross {
				err = fmt.Errorf("%q is neither Net nor Gross", text)
			}
			s.Type = text
		case "NumOfTransactions":
			p.numTx, err = xsLong(v)
			p.numTxLine = line
		case "CaptureSettlementAmount":
			s.Capture, err = money(v, positiveMoney)
		case "RefundSettlementAmount":
			s.Refund, err = money(v, negativeMoney)
		case "GrossSettlementAmount":
			s.Gross, err = money(v, anyMoney)
		case "NetSettlementAmount":
			s.Net, err = money(v, anyMoney)
		case "FeeSettlementAmount":
			s.Fee, err = money(v, positiveMoney)
		case "SettledAmount":
			s.Settled, err = money(v, anyMoney)
		}
	case "TransactionInfo":
		t := &p.tx
		switch name {
		case "TransactionTime":
			if t.Time, err = xsDateTime(v, p.oslo); err == nil {
				t.SalesDate = t.Time.Format(time.DateOnly)
			}
		case "TransactionCaptureAmount":
			t.capture, err = money(v, positiveMoney)
			t.captureLine = line
		case "TransactionRefundAmount":
			t.refund, err = money(v, negativeMoney)
		case "TransactionGrossAmount":
			t.Gross, err = money(v, anyMoney)
			t.grossLine = line
		case "TransactionNetAmount":
			t.Net, err = money(v, anyMoney)
			t.netLine = line
		case "TransactionFeeAmount":
			t.Fee, err = money(v, positiveMoney)
		case "SettlementCurrencyCode":
			t.currency, err = currencyCode(v)
			t.curLine = line
		case "TransactionID":
			t.TransactionID, err = xsLongID(v)
		case "OrderID":
			t.OrderID = v
		}
	case "FeeInfo":
		f := &p.fee
		switch name {
		case "FeeDate":
			f.Date, err = xsDate(v)
		case "FeeID":
			f.ID, err = xsLongID(v)
		case "FeeAmount":
			f.Amount, err = money(v, anyMoney)
		case "FeeAccount":
			f.Account = v
		case "FeeType":
			f.Type = v
		}
	}
	if err != nil {
		return &ParseError{Source: p.source, Line: line, Field: name, Err: err}
	}
	return nil
}

// collapse applies the XSD whitespace facet "collapse" that xs:decimal,
// xs:long and the date types use, and trims strings the same way: ids and
// names are compared, and stray layout whitespace must not make them differ.
func collapse(s string) string {
	s = strings.Trim(s, " \t\r\n")
	if strings.ContainsAny(s, "\t\r\n") || strings.Contains(s, "  ") {
		s = strings.Join(strings.Fields(s), " ")
	}
	return s
}

type moneySign int

const (
	anyMoney      moneySign = iota // vp:money
	positiveMoney                  // vp:positiveMoney, pattern [0-9+].*
	negativeMoney                  // vp:negativeMoney, pattern (-.+)|(0.00)
)

func money(s string, sign moneySign) (int64, error) {
	switch sign {
	case positiveMoney:
		if s != "" && !(s[0] >= '0' && s[0] <= '9' || s[0] == '+') {
			return 0, fmt.Errorf("%q must be zero or positive", s)
		}
	case negativeMoney:
		if s != "0.00" && !(len(s) > 1 && s[0] == '-') {
			return 0, fmt.Errorf("%q must be negative or exactly 0.00", s)
		}
	}
	return parseMinor(s, xsDecimal)
}

func xsLong(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not an xs:long", s)
	}
	return n, nil
}

// xsLongID validates an xs:long id and returns its canonical spelling.
func xsLongID(s string) (string, error) {
	n, err := xsLong(s)
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(n, 10), nil
}

// xsDate checks an xs:date ("2018-02-20", optionally with a time zone, which
// does not change the calendar date) and returns YYYY-MM-DD.
func xsDate(s string) (string, error) {
	if len(s) < 10 {
		return "", fmt.Errorf("%q is not a date (YYYY-MM-DD)", s)
	}
	if _, err := time.Parse(time.DateOnly, s[:10]); err != nil {
		return "", fmt.Errorf("%q is not a date (YYYY-MM-DD)", s)
	}
	if tz := s[10:]; tz != "" && tz != "Z" {
		if _, err := time.Parse("-07:00", tz); err != nil {
			return "", fmt.Errorf("%q has an invalid time zone", s)
		}
	}
	return s[:10], nil
}

// xsDateTime parses an xs:dateTime. With an offset the instant is exact;
// without one the time is Oslo local time, as the Vipps documentation says.
// The result is in Europe/Oslo either way.
func xsDateTime(s string, oslo *time.Location) (time.Time, error) {
	t, err := time.Parse("2006-01-02T15:04:05.999999999Z07:00", s)
	if err != nil {
		t, err = time.ParseInLocation("2006-01-02T15:04:05.999999999", s, oslo)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date and time (YYYY-MM-DDThh:mm:ss[.fff][±hh:mm])", s)
	}
	return t.In(oslo), nil
}

func currencyCode(s string) (string, error) {
	if len(s) != 3 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' || s[2] < 'A' || s[2] > 'Z' {
		return "", fmt.Errorf("%q is not an ISO 4217 currency code", s)
	}
	return s, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
