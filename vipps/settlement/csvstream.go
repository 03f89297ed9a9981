package settlement

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/csv"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unsafe"
)

// ParseCSVFunc reads the files ParseCSV reads, with the same checks, but
// hands each transaction to fn as it is read instead of keeping it, so a
// file of a million transactions costs what fn keeps of them (and 16 bytes
// a transaction, to find an id seen twice in a settlement).
//
// fn gets each transaction with its settlement (as its SettlementInfo row
// states it; Transactions is nil), in file order, with two exceptions:
// transactions whose SettlementId no SettlementInfo row before them had
// are handed over in line order once every row is read, as ParseCSV also
// attaches them last; and in the portal's table format a settlement's
// transactions are handed over at its "Til utbetaling netto" row, which
// closes it. An error from fn stops the parse and is returned as it is.
//
// Some checks can only be made at the end (the stated NumberOfTransactions,
// a transaction id seen twice in one settlement), so fn may have been given
// transactions of a file that then fails: on an error, discard what fn
// collected. The error is the one ParseCSV returns for a file with a
// single defect; for a file with several, it may name another of them.
//
// The Report is the one ParseCSV returns except that every Settlement's
// Transactions is nil; problems is what Report.Check returns for the whole
// report (Check on the returned Report would compare the stated totals with
// no transactions).
func ParseCSVFunc(r io.Reader, source string, fn func(Settlement, Transaction) error) (rep *Report, problems []Problem, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, _ := br.Peek(3); bytes.Equal(b, []byte("\uFEFF")) {
		_, _ = br.Discard(3)
	}
	rep = &Report{Format: FormatCSV, Source: source}
	head, _ := br.Peek(64 << 10)
	if comma, ok := sniffPortalCSV(head); ok {
		return streamPortalCSV(br, comma, rep, fn)
	}
	s := &csvStream{fn: fn, dates: map[string]string{}, currencies: map[string]string{}, byIdx: map[*csvSettlement]int{}}
	s.p = &csvParser{source: source, rep: rep, sections: map[string]*csvSection{}, dates: map[string]string{},
		byID: map[string]*csvSettlement{}, devs: map[string]*deviation{}}
	if err := s.read(br); err != nil {
		return nil, nil, err
	}
	if err := s.finish(); err != nil {
		return nil, nil, err
	}
	for i := range rep.Settlements {
		problems = append(problems, s.sums[i].check(&rep.Settlements[i])...)
	}
	return rep, problems, nil
}

// csvStream reads the multi-section CSV format. Rows other than
// TransactionInfo data rows, a few hundred in any file, go to csvParser as
// ParseCSV reads them; TransactionInfo rows are read here, from fields that
// point into the read buffer, with the checks of csvParser.transaction and
// attach.
type csvStream struct {
	p  *csvParser
	fn func(Settlement, Transaction) error

	sec *csvSection // the TransactionInfo header, once read
	col txColumns

	fields     []string // the current row's fields, valid until the next row
	long       []byte   // a line longer than the read buffer
	dates      map[string]string
	currencies map[string]string

	last    *csvSettlement // the settlement of the previous row
	lastIdx int
	byIdx   map[*csvSettlement]int
	sums    []txSums // per settlement in p.settlements
	pending []csvTx  // transactions whose settlement was not known yet
	seen    txSeen
}

// txColumns are the field positions of the TransactionInfo columns.
type txColumns struct {
	salesDate, unitNumber, txID, settlementID, orderID, settlementDate int
	currency, gross, fee, refund, net                                  int
}

func (s *csvStream) read(br *bufio.Reader) error {
	line := 0
	for {
		b, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			s.long = append(s.long[:0], b...)
			for err == bufio.ErrBufferFull {
				b, err = br.ReadSlice('\n')
				s.long = append(s.long, b...)
			}
			b = s.long
		}
		if err != nil && err != io.EOF {
			return csvErr(s.p.source, err)
		}
		if len(b) == 0 {
			return nil
		}
		line++
		if bytes.IndexByte(b, '"') >= 0 {
			// Quoted fields: encoding/csv reads the rest, exactly as
			// ParseCSV does.
			rest := io.MultiReader(bytes.NewReader(bytes.Clone(b)), br)
			return s.readQuoted(rest, line-1)
		}
		// As encoding/csv: \r\n ends a line like \n, and a \r before the
		// end of the file is dropped; an empty line is no record.
		n := len(b)
		if b[n-1] == '\n' {
			n--
			if n > 0 && b[n-1] == '\r' {
				n--
			}
		} else if b[n-1] == '\r' {
			n--
		}
		if n > 0 {
			if err := s.record(s.split(b[:n]), line); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// split cuts a line without quotes at its commas into fields that point
// into it.
func (s *csvStream) split(b []byte) []string {
	f := s.fields[:0]
	for {
		i := bytes.IndexByte(b, ',')
		if i < 0 {
			f = append(f, view(b))
			break
		}
		f = append(f, view(b[:i]))
		b = b[i+1:]
	}
	s.fields = f
	return f
}

// view is b as a string without a copy; it is valid while b is not
// overwritten, and nothing that outlives the row may keep it.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// readQuoted reads the rest of the file with encoding/csv, from line
// after+1 on.
func (s *csvStream) readQuoted(r io.Reader, after int) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				moved := *pe
				moved.StartLine += after
				moved.Line += after
				err = &moved
			}
			return csvErr(s.p.source, err)
		}
		line, _ := cr.FieldPos(0)
		if err := s.record(rec, line+after); err != nil {
			return err
		}
	}
}

func (s *csvStream) record(rec []string, line int) error {
	p := s.p
	if rec[0] == rowTransaction && s.sec != nil && len(rec) > 1 && !isTxColumn(rec[1]) {
		p.block = ""
		return s.transaction(rec, line)
	}
	// Anything else is read as ParseCSV reads it, from copies, since the
	// parser keeps what it reads.
	own := make([]string, len(rec))
	for i, f := range rec {
		own[i] = strings.Clone(f)
	}
	// csvParser.settlement makes room for the transactions a SettlementInfo
	// row states, which go to fn here: it is shown a count of 0, and the
	// settlement given the count once read.
	countAt, count := s.settlementCount(rec)
	if countAt >= 0 {
		own[countAt] = "0"
	}
	n := len(p.settlements)
	err := p.record(own, line)
	for _, set := range p.settlements[n:] {
		if countAt >= 0 {
			set.numTx = count
		}
		set.Transactions = nil
		s.byIdx[set] = len(s.sums)
		s.sums = append(s.sums, txSums{})
	}
	if sec := p.sections[rowTransaction]; s.sec == nil && sec != nil {
		s.sec = sec
		s.col = txColumns{
			salesDate: sec.index["SalesDate"], unitNumber: sec.index["SaleUnitNumber"], txID: sec.index["TransactionId"],
			settlementID: sec.index["SettlementId"], orderID: sec.index["OrderID"], settlementDate: sec.index["SettlementDate"],
			currency: sec.index["Currency"], gross: sec.index["Gross"], fee: sec.index["Fee"], refund: sec.index["Refund"],
			net: sec.index["Net"],
		}
	}
	return err
}

// settlementCount finds the NumberOfTransactions field of a SettlementInfo
// data row and its value, when it is a valid count; -1 otherwise.
func (s *csvStream) settlementCount(rec []string) (int, int) {
	sec := s.p.sections[rowSettlement]
	if rec[0] != rowSettlement || sec == nil || len(rec) < 2 || isColumn(csvSpecs[rowSettlement], rec[1]) {
		return -1, 0
	}
	i := sec.index["NumberOfTransactions"]
	switch len(rec) {
	case sec.width:
	case sec.width + 1:
		_, at, ok := joinDecimalComma(sec, rec)
		if !ok {
			return -1, 0
		}
		if i > at {
			i++ // the field is one further on before the two are joined
		}
	default:
		return -1, 0
	}
	n, err := strconv.Atoi(rec[i])
	if err != nil || n < 0 || !isInteger(rec[i], false) {
		return -1, 0
	}
	return i, n
}

// isTxColumn is isColumn for TransactionInfo: a data row's second field
// is a date, which no column name starts like.
func isTxColumn(f string) bool {
	if f != "" && f[0] >= '0' && f[0] <= '9' {
		return false
	}
	return isColumn(csvSpecs[rowTransaction], f)
}

// transaction reads a TransactionInfo data row as csvParser.data and
// csvParser.transaction do, with the same errors and warnings.
func (s *csvStream) transaction(rec []string, line int) error {
	p, sec, c := s.p, s.sec, &s.col
	commaAt := -1
	if len(rec) != sec.width {
		fixed, at, ok := joinDecimalComma(sec, rec)
		if !ok {
			return p.errf(line, sec.kind, "%d fields, the header at line %d has %d", len(rec), sec.line, sec.width)
		}
		p.warn(line, "%s row has %d fields for %d columns: joined %q and %q into %s %s,%s (an unquoted decimal comma)",
			sec.kind, len(rec), sec.width, rec[at], rec[at+1], sec.amount[at], rec[at], rec[at+1])
		rec, commaAt = fixed, at
	}
	t := csvTx{line: line}
	t.Line = line
	var err error
	if t.SalesDate, err = s.date(rec[c.salesDate], line, "SalesDate"); err != nil {
		return err
	}
	t.unitNumber = rec[c.unitNumber]
	txID := rec[c.txID]
	if txID == "" {
		return p.errf(line, "TransactionId", "empty")
	}
	setID := rec[c.settlementID]
	if setID == "" {
		return p.errf(line, "SettlementId", "empty")
	}
	orderID := rec[c.orderID]
	if t.setDate, err = s.date(rec[c.settlementDate], line, "SettlementDate"); err != nil {
		return err
	}
	if t.currency, err = s.currency(rec[c.currency], line); err != nil {
		return err
	}
	amount := func(i int, col string) (int64, error) {
		syn := dotDecimal
		if i == commaAt {
			syn = commaDecimal
		}
		v, err := parseMinor(rec[i], syn)
		if err != nil {
			return 0, p.errf(line, col, "%v", err)
		}
		return v, nil
	}
	gross, err := amount(c.gross, "Gross")
	if err != nil {
		return err
	}
	fee, err := amount(c.fee, "Fee")
	if err != nil {
		return err
	}
	refund, err := amount(c.refund, "Refund")
	if err != nil {
		return err
	}
	net, err := amount(c.net, "Net")
	if err != nil {
		return err
	}
	switch {
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
	t.fileNet, t.fileRefund = net, refund
	t.TransactionID = strings.Clone(txID)
	t.OrderID = strings.Clone(orderID)

	set := s.last
	if set == nil || set.ID != setID {
		set = p.byID[setID]
	}
	if set == nil {
		t.SettlementID = strings.Clone(setID)
		t.unitNumber = strings.Clone(t.unitNumber)
		s.pending = append(s.pending, t)
		return nil
	}
	t.SettlementID = set.ID
	return s.attach(set, &t, false)
}

func (s *csvStream) date(in string, line int, col string) (string, error) {
	if d, ok := s.dates[in]; ok {
		return d, nil
	}
	d, err := textDate(in)
	if err != nil {
		return "", s.p.errf(line, col, "%v", err)
	}
	if len(s.dates) < 4096 { // a report spans few distinct dates
		s.dates[strings.Clone(in)] = d
	}
	return d, nil
}

func (s *csvStream) currency(in string, line int) (string, error) {
	if c, ok := s.currencies[in]; ok {
		return c, nil
	}
	c, err := currencyCode(in)
	if err != nil {
		return "", s.p.errf(line, "Currency", "%v", err)
	}
	c = strings.Clone(c)
	if len(s.currencies) < 256 {
		s.currencies[c] = c
	}
	return c, nil
}

// attach hands a transaction to fn as csvParser.attach adds it to its
// settlement, noting where the row disagrees with the SettlementInfo row;
// whether its id is new in the settlement is checked at the end.
func (s *csvStream) attach(set *csvSettlement, t *csvTx, late bool) error {
	p := s.p
	if t.unitNumber != set.MSN {
		p.note(set, "SaleUnitNumber", strings.Clone(t.unitNumber), t.line)
	}
	if t.setDate != set.Date {
		p.note(set, "SettlementDate", t.setDate, t.line)
	}
	if t.netExcludesRefund {
		p.note(set, "Net", "", t.line)
	}
	if t.currency != set.Currency {
		return p.errf(t.line, "Currency", "%s differs from %s of SettlementInfo %s (line %d)", t.currency, set.Currency, set.ID, set.Line)
	}
	if set != s.last {
		s.last, s.lastIdx = set, s.byIdx[set]
	}
	if s.seen.ids == nil {
		// Room for the transactions the settlements read so far state
		// (in the Vipps files, all of them).
		n := 0
		for _, set := range p.settlements {
			n += set.numTx
		}
		s.seen.ids = make([]seenID, 0, min(n, 1<<22))
	}
	s.seen.add(s.lastIdx, t.TransactionID, t.line, late)
	s.sums[s.lastIdx].add(&t.Transaction)
	return s.fn(set.Settlement, t.Transaction)
}

// finish does what csvParser.finish does, with the transactions gone to
// fn: it attaches the transactions whose settlement was not known when
// they were read, checks each settlement's ids and count, and leaves the
// warnings and the settlements to csvParser.finish.
func (s *csvStream) finish() error {
	p := s.p
	if len(p.settlements) == 0 {
		if len(s.pending) > 0 {
			return p.errf(s.pending[0].line, rowTransaction, "no SettlementInfo row in the file")
		}
		return p.errf(0, "", "no SettlementInfo row in the file")
	}
	for i := range s.pending {
		t := &s.pending[i]
		set := p.byID[t.SettlementID]
		if set == nil {
			if len(p.settlements) != 1 {
				return p.errf(t.line, "SettlementId", "%s matches no SettlementInfo row", t.SettlementID)
			}
			set = p.settlements[0]
			p.note(set, "SettlementId", t.SettlementID, t.line)
		}
		if err := s.attach(set, t, true); err != nil {
			return err
		}
	}
	s.pending = nil
	if d, ok := s.seen.duplicate(); ok {
		set := p.settlements[d.set]
		return p.errf(d.line, "TransactionId", "duplicate transaction %s in settlement %s (first at line %d)", d.id, set.ID, d.first)
	}
	for i, set := range p.settlements {
		if n := s.sums[i].n; n != set.numTx {
			return p.errf(set.Line, "NumberOfTransactions", "states %d transactions, %d TransactionInfo rows belong to settlement %s", set.numTx, n, set.ID)
		}
		set.numTx = 0 // checked; csvParser.finish sees no transactions
	}
	return p.finish()
}

// txSums are a settlement's transactions summed as Check sums them.
type txSums struct {
	n                                int
	capture, refund, gross, fee, net sum
}

func (s *txSums) add(t *Transaction) {
	s.n++
	if t.Kind == KindRefund {
		s.refund.add(t.Gross)
	} else {
		s.capture.add(t.Gross)
	}
	s.gross.add(t.Gross)
	s.fee.add(t.Fee)
	s.net.add(t.Net)
}

// check is Report.Check for a settlement whose transactions are gone: it
// checks a copy that has, for transactions, one capture and one refund
// with the same sums. A sum that overflowed (billions of maximal amounts)
// is reported as such.
func (s *txSums) check(set *Settlement) []Problem {
	var problems []Problem
	for _, x := range []struct {
		t    Total
		s    sum
		name string
	}{{TotalCapture, s.capture, "captures"}, {TotalRefund, s.refund, "refunds"}, {TotalGross, s.gross, "transactions' gross"},
		{TotalFee, s.fee, "fees"}, {TotalNet, s.net, "transactions' net"}} {
		if x.s.overflow {
			problems = append(problems, Problem{SettlementID: set.ID, Line: set.Line, Total: x.t,
				Reason: "sum of the " + x.name + " overflows int64"})
		}
	}
	if len(problems) > 0 {
		return problems
	}
	c := *set
	c.Transactions = []Transaction{
		{Kind: KindCapture, Gross: s.capture.v, Fee: s.fee.v, Net: s.net.v},
		{Kind: KindRefund, Gross: s.refund.v},
	}
	return (&Report{Settlements: []Settlement{c}}).Check()
}

// txSeen finds a transaction id seen twice in one settlement with 16 bytes
// a transaction: ids of up to 17 digits (Vipps uses 10) are kept as
// numbers, others in a list, and the check sorts them at the end.
type txSeen struct {
	ids   []seenID
	names []string
}

type seenID struct {
	id   uint64 // digits<<57 | value, or 1<<63 | position in names
	set  uint32
	line uint32 // 1<<31 set: attached at the end
}

func (x *txSeen) add(set int, id string, line int, late bool) {
	e := seenID{set: uint32(set), line: uint32(min(line, math.MaxInt32))}
	if late {
		e.line |= 1 << 31
	}
	if v, ok := digits(id); ok {
		e.id = v
	} else {
		e.id = 1<<63 | uint64(len(x.names))
		x.names = append(x.names, id)
	}
	x.ids = append(x.ids, e)
}

// digits is an id of 1 to 17 decimal digits as a number that also keeps
// its length ("007" is not "7").
func digits(s string) (uint64, bool) {
	if len(s) == 0 || len(s) > 17 {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return uint64(len(s))<<57 | v, true
}

type duplicateID struct {
	set         int
	id          string
	line, first int
}

// duplicate finds the id ParseCSV would report first: the second reading
// of an id in a settlement that comes first in the order transactions were
// attached (in file order, then the late ones in file order).
func (x *txSeen) duplicate() (duplicateID, bool) {
	slices.SortFunc(x.ids, func(a, b seenID) int {
		if c := cmp.Compare(a.set, b.set); c != 0 {
			return c
		}
		if c := x.cmpID(a, b); c != 0 {
			return c
		}
		return cmp.Compare(a.line, b.line)
	})
	var d duplicateID
	var at uint32
	found := false
	for i := 1; i < len(x.ids); i++ {
		a, b := x.ids[i-1], x.ids[i]
		if a.set != b.set || x.cmpID(a, b) != 0 {
			continue
		}
		if p := i - 2; p >= 0 && x.ids[p].set == a.set && x.cmpID(x.ids[p], a) == 0 {
			continue // a third reading; the second was seen already
		}
		if !found || b.line < at {
			found, at = true, b.line
			d = duplicateID{set: int(a.set), id: x.name(a), line: int(b.line &^ (1 << 31)), first: int(a.line &^ (1 << 31))}
		}
	}
	x.ids, x.names = nil, nil
	return d, found
}

func (x *txSeen) cmpID(a, b seenID) int {
	if a.id>>63 == 0 || b.id>>63 == 0 {
		return cmp.Compare(a.id, b.id)
	}
	return strings.Compare(x.names[a.id&^(1<<63)], x.names[b.id&^(1<<63)])
}

// name is the id as the file wrote it.
func (x *txSeen) name(e seenID) string {
	if e.id>>63 != 0 {
		return x.names[e.id&^(1<<63)]
	}
	n, v := int(e.id>>57), e.id&(1<<57-1)
	b := make([]byte, n)
	for i := n - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b)
}

// streamPortalCSV is parsePortalCSV handing each settlement's transactions
// to fn once its payout row has closed it.
func streamPortalCSV(r io.Reader, comma rune, rep *Report, fn func(Settlement, Transaction) error) (*Report, []Problem, error) {
	p := newTableParser(rep)
	cr := csv.NewReader(r)
	cr.Comma = comma
	cr.FieldsPerRecord = -1
	var problems []Problem
	done := 0
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, csvErr(rep.Source, err)
		}
		line, _ := cr.FieldPos(0)
		row := tableRow{line: line, cells: make([]tableCell, len(rec))}
		for i, f := range rec {
			row.cells[i] = tableCell{text: f}
		}
		if err := p.row(row); err != nil {
			return nil, nil, err
		}
		for ; done < len(rep.Settlements); done++ {
			set := &rep.Settlements[done]
			txs := set.Transactions
			set.Transactions = nil
			var sums txSums
			for i := range txs {
				sums.add(&txs[i])
				if err := fn(*set, txs[i]); err != nil {
					return nil, nil, err
				}
			}
			problems = append(problems, sums.check(set)...)
		}
	}
	if err := p.finish(); err != nil {
		return nil, nil, err
	}
	return rep, problems, nil
}
