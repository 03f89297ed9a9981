package settlement

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"unsafe"
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
//
// ParseCSV is ParseCSVFunc keeping every transaction, in line order, in its
// settlement.
func ParseCSV(r io.Reader, source string) (*Report, error) {
	type key struct{ msn, id string } // the portal table allows one id for several sales units
	txs := map[key]*[]Transaction{}
	var last key
	var cur *[]Transaction
	rep, _, err := ParseCSVFunc(r, source, func(s Settlement, t Transaction) error {
		if k := (key{s.MSN, s.ID}); cur == nil || k != last {
			if cur = txs[k]; cur == nil {
				cur = new([]Transaction)
				txs[k] = cur
			}
			last = k
		}
		*cur = append(*cur, t)
		return nil
	})
	if err != nil {
		return nil, err
	}
	byLine := func(a, b Transaction) int { return a.Line - b.Line }
	for i := range rep.Settlements {
		s := &rep.Settlements[i]
		if txs := txs[key{s.MSN, s.ID}]; txs != nil {
			s.Transactions = *txs
		}
		// Transactions whose settlement came after them are handed over last.
		if !slices.IsSortedFunc(s.Transactions, byLine) {
			slices.SortFunc(s.Transactions, byLine)
		}
	}
	return rep, nil
}

// ParseCSVFunc reads the files ParseCSV reads, with the same checks, but
// hands each transaction to fn as it is read instead of keeping it, so a
// file of a million transactions costs what fn keeps of them (and 16 bytes
// a transaction, to find an id seen twice in a settlement).
//
// fn gets each transaction with its settlement (as its SettlementInfo row
// states it; Transactions is nil), in file order, with two exceptions:
// transactions whose SettlementId no SettlementInfo row before them had
// are handed over in line order once every row is read; and in the
// portal's table format a settlement's transactions are handed over at its
// "Til utbetaling netto" row, which closes it. An error from fn stops the
// parse and is returned as it is.
//
// Some checks can only be made at the end (the stated NumberOfTransactions,
// a transaction id seen twice in one settlement), so fn may have been given
// transactions of a file that then fails: on an error, discard what fn
// collected.
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
	p := &csvParser{source: source, rep: rep, fn: fn, sections: map[string]*csvSection{}, byID: map[string]*csvSettlement{},
		dates: map[string]string{}, currencies: map[string]string{}, devs: map[string]*deviation{}}
	if err := csvRecords(br, source, p.record); err != nil {
		return nil, nil, err
	}
	if err := p.finish(); err != nil {
		return nil, nil, err
	}
	for _, s := range p.settlements {
		problems = append(problems, s.sums.check(&s.Settlement)...)
	}
	return rep, problems, nil
}

func csvErr(source string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &ParseError{Source: source, Line: pe.Line, Err: fmt.Errorf("malformed CSV: %w", pe.Err)}
	}
	return &ParseError{Source: source, Err: err}
}

// csvRecords hands fn the records of a CSV file with their line numbers,
// as encoding/csv reads them. It splits lines without quotes itself, into
// fields that point into the read buffer, since encoding/csv copies every
// record and most of a settlement file is such lines; from the first quote
// on it leaves the rest of the file to encoding/csv. fn must not keep rec
// or its strings.
func csvRecords(br *bufio.Reader, source string, fn func(rec []string, line int) error) error {
	var fields []string
	var long []byte // a line longer than the read buffer
	line := 0
	for {
		b, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long[:0], b...)
			for err == bufio.ErrBufferFull {
				b, err = br.ReadSlice('\n')
				long = append(long, b...)
			}
			b = long
		}
		if err != nil && err != io.EOF {
			return csvErr(source, err)
		}
		if len(b) == 0 {
			return nil
		}
		line++
		if bytes.IndexByte(b, '"') >= 0 {
			rest := io.MultiReader(bytes.NewReader(bytes.Clone(b)), br)
			return quotedRecords(rest, line-1, source, fn)
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
			fields = split(fields[:0], b[:n])
			if err := fn(fields, line); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// split appends to f the fields of a line without quotes, which point
// into it.
func split(f []string, b []byte) []string {
	for {
		i := bytes.IndexByte(b, ',')
		if i < 0 {
			return append(f, view(b))
		}
		f = append(f, view(b[:i]))
		b = b[i+1:]
	}
}

// view is b as a string without a copy; it is valid while b is not
// overwritten, and nothing that outlives the row may keep it.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// quotedRecords reads the rest of a file with encoding/csv, from line
// after+1 on.
func quotedRecords(r io.Reader, after int, source string, fn func(rec []string, line int) error) error {
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
			return csvErr(source, err)
		}
		line, _ := cr.FieldPos(0)
		if err := fn(rec, line+after); err != nil {
			return err
		}
	}
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

// streamPortalCSV reads the portal's table with the parser of the XLSX
// workbook, and hands each settlement's transactions to fn once its payout
// row has closed it.
func streamPortalCSV(r io.Reader, comma rune, rep *Report, fn func(Settlement, Transaction) error) (*Report, []Problem, error) {
	p := newTableParser(rep)
	cr := csv.NewReader(r)
	cr.Comma = comma
	cr.FieldsPerRecord = -1
	h := &tableHandOver{rep: rep, fn: fn}
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
		if err := h.closed(); err != nil {
			return nil, nil, err
		}
	}
	if err := p.finish(); err != nil {
		return nil, nil, err
	}
	return rep, h.problems, nil
}

// tableHandOver hands the transactions of the settlements a table parser
// has closed to fn, and keeps only their sums, to check them.
type tableHandOver struct {
	rep      *Report
	fn       func(Settlement, Transaction) error
	done     int
	problems []Problem
}

// closed hands over the settlements closed since it was last called.
func (h *tableHandOver) closed() error {
	for ; h.done < len(h.rep.Settlements); h.done++ {
		set := &h.rep.Settlements[h.done]
		txs := set.Transactions
		set.Transactions = nil
		var sums txSums
		for i := range txs {
			sums.add(&txs[i])
			if err := h.fn(*set, txs[i]); err != nil {
				return err
			}
		}
		h.problems = append(h.problems, sums.check(set)...)
	}
	return nil
}
