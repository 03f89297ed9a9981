package settlement

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// The business portal's report (XLSX, and the same table as CSV) has one
// header row of Norwegian column names, then per settlement its transaction
// rows followed by a "Til utbetaling netto" row that carries the settlement
// id, the payout (Oppgjørssum) and the bank account (Oppgjørskonto). Above
// the header are a title and "label: value" rows (Bedriften,
// Organisasjonsnummer, Fra dato, Til dato).

const (
	colSalesDate   = "Salgsdato"
	colSalesUnit   = "Salgssted"
	colMSN         = "Vippsnummer"
	colProduct     = "Produkt"
	colTxID        = "Transaksjons-ID"
	colOrderID     = "Ordre-ID"
	colGross       = "Brutto"
	colFee         = "Gebyr"
	colNet         = "Netto"
	colTxType      = "Transaksjonstype"
	colSettlement  = "Oppgjørs-ID"
	colSettleDate  = "Oppgjørsdato"
	colSettled     = "Oppgjørssum"
	colAccount     = "Oppgjørskonto"
	colFirstName   = "Fornavn"
	colLastName    = "Etternavn"
	colMessage     = "Melding"
	payoutLabel    = "Til utbetaling netto"
	payoutPrefix   = "Til utbetaling"
	txTypeCapture  = "Salg"
	txTypeRefund   = "Refundering"
	maxTableColumn = 16384 // Excel's last column, XFD
)

var (
	requiredTableColumns = []string{colSalesDate, colMSN, colTxID, colOrderID, colGross, colFee, colNet,
		colTxType, colSettlement, colSettleDate, colSettled, colAccount}
	optionalTableColumns = []string{colSalesUnit, colProduct, colFirstName, colLastName, colMessage}
)

// tableCell is one cell as the file gives it.
type tableCell struct {
	text    string // the cell's text; for a numeric cell the number as the file wrote it
	numeric bool   // an XLSX numeric cell (converted exactly from its text)
	errVal  bool   // an XLSX error value such as #N/A
}

type tableRow struct {
	line  int
	cells []tableCell
}

type tableBlock struct {
	set   Settlement
	first int
	ids   map[string]int
}

type tableParser struct {
	source   string
	rep      *Report
	date1904 bool // the workbook counts date serials from 1904

	cols       map[string]int
	headerLine int
	open       *tableBlock
	seen       map[string]int // MSN/settlement id → line of its payout row
}

func newTableParser(rep *Report) *tableParser {
	return &tableParser{source: rep.Source, rep: rep, seen: map[string]int{}}
}

func (p *tableParser) errf(line int, field, format string, args ...any) error {
	return errAt(p.source, line, field, format, args...)
}

func (p *tableParser) row(r tableRow) error {
	if p.cols == nil {
		return p.preamble(r)
	}
	empty := true
	for _, c := range r.cells {
		if strings.TrimSpace(c.text) != "" {
			empty = false
			break
		}
	}
	if empty {
		return nil
	}
	if p.isHeader(r) {
		return p.errf(r.line, "", "second header row (the first is row %d)", p.headerLine)
	}
	label := strings.TrimSpace(p.cell(r, colSalesDate).text)
	if strings.HasPrefix(label, payoutPrefix) {
		return p.payout(r, label)
	}
	return p.transaction(r)
}

func (p *tableParser) isHeader(r tableRow) bool {
	var date, id bool
	for _, c := range r.cells {
		switch strings.TrimSpace(c.text) {
		case colSalesDate:
			date = true
		case colTxID:
			id = true
		}
	}
	return date && id
}

func (p *tableParser) preamble(r tableRow) error {
	if p.isHeader(r) {
		return p.header(r)
	}
	var label, value string
	var valueCell tableCell
	for _, c := range r.cells {
		t := strings.TrimSpace(c.text)
		if t == "" {
			continue
		}
		if label == "" {
			label = t
		} else {
			value, valueCell = t, c
			break
		}
	}
	switch label {
	case "Bedriften":
		p.rep.OrganizationName = value
	case "Organisasjonsnummer":
		if valueCell.numeric {
			v, err := p.integer(valueCell)
			if err != nil {
				return p.errf(r.line, label, "%v", err)
			}
			value = v
		}
		p.rep.OrganizationNumber = value
	case "Fra dato", "Til dato":
		if value == "" {
			return nil
		}
		d, err := p.date(valueCell)
		if err != nil {
			return p.errf(r.line, label, "%v", err)
		}
		if label == "Fra dato" {
			p.rep.From = d
		} else {
			p.rep.To = d
		}
	}
	return nil
}

func (p *tableParser) header(r tableRow) error {
	p.cols = map[string]int{}
	p.headerLine = r.line
	known := map[string]bool{}
	for _, c := range append(append([]string{}, requiredTableColumns...), optionalTableColumns...) {
		known[c] = true
	}
	for i, c := range r.cells {
		name := strings.TrimSpace(c.text)
		if name == "" {
			continue
		}
		if _, dup := p.cols[name]; dup {
			return p.errf(r.line, name, "column appears twice in the header")
		}
		p.cols[name] = i
		if !known[name] {
			p.rep.Warnings = append(p.rep.Warnings, warnAt(p.source, r.line, "unknown column %q ignored", name))
		}
	}
	var missing []string
	for _, c := range requiredTableColumns {
		if _, ok := p.cols[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return p.errf(r.line, "", "header row lacks the column(s) %s", strings.Join(missing, ", "))
	}
	return nil
}

func (p *tableParser) cell(r tableRow, col string) tableCell {
	i, ok := p.cols[col]
	if !ok || i >= len(r.cells) {
		return tableCell{}
	}
	return r.cells[i]
}

// text returns a text column; an XLSX number there is written as an integer.
func (p *tableParser) text(r tableRow, col string, required bool) (string, error) {
	c := p.cell(r, col)
	if c.errVal {
		return "", p.errf(r.line, col, "cell holds the error value %s", c.text)
	}
	v := strings.TrimSpace(c.text)
	if c.numeric {
		var err error
		if v, err = p.integer(c); err != nil {
			return "", p.errf(r.line, col, "%v", err)
		}
	}
	if v == "" && required {
		return "", p.errf(r.line, col, "empty")
	}
	return v, nil
}

func (p *tableParser) integer(c tableCell) (string, error) {
	n, err := parseCellNumber(c.text)
	if err != nil {
		return "", err
	}
	return n.integer()
}

func (p *tableParser) money(r tableRow, col string, required bool) (int64, bool, error) {
	c := p.cell(r, col)
	if c.errVal {
		return 0, false, p.errf(r.line, col, "cell holds the error value %s", c.text)
	}
	t := strings.TrimSpace(c.text)
	if t == "" {
		if required {
			return 0, false, p.errf(r.line, col, "empty amount")
		}
		return 0, false, nil
	}
	var v int64
	var err error
	if c.numeric {
		var n cellNumber
		if n, err = parseCellNumber(t); err == nil {
			v, err = n.minor()
		}
	} else {
		v, err = parseMinor(t, textDecimal)
	}
	if err != nil {
		return 0, false, p.errf(r.line, col, "%v", err)
	}
	return v, true, nil
}

// date reads a date cell: DD.MM.YYYY or YYYY-MM-DD text, or an Excel date
// serial (days since 1899-12-30, or since 1904-01-01 in a 1904 workbook;
// a time-of-day fraction is dropped).
func (p *tableParser) date(c tableCell) (string, error) {
	if c.errVal {
		return "", fmt.Errorf("cell holds the error value %s", c.text)
	}
	t := strings.TrimSpace(c.text)
	if c.numeric {
		n, err := parseCellNumber(t)
		if err != nil {
			return "", err
		}
		days, ok := n.floor()
		base := time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
		if p.date1904 {
			base = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)
		} else if days < 61 {
			ok = false // serials before 1900-03-01 count Lotus's false 1900-02-29
		}
		if !ok || days > 2958465 {
			return "", fmt.Errorf("%s is not a date serial in range", t)
		}
		return base.AddDate(0, 0, int(days)).Format(time.DateOnly), nil
	}
	return textDate(t)
}

// textDate reads DD.MM.YYYY (the portal's and the CSV's spelling) or
// YYYY-MM-DD (optionally followed by a time) into YYYY-MM-DD.
func textDate(t string) (string, error) {
	if d, err := time.Parse("02.01.2006", t); err == nil {
		return d.Format(time.DateOnly), nil
	}
	if len(t) >= 10 && (len(t) == 10 || t[10] == 'T') {
		if d, err := time.Parse(time.DateOnly, t[:10]); err == nil {
			return d.Format(time.DateOnly), nil
		}
	}
	if t == "" {
		return "", errors.New("empty date")
	}
	return "", fmt.Errorf("%q is not a date (DD.MM.YYYY)", t)
}

func (p *tableParser) rowDate(r tableRow, col string) (string, error) {
	d, err := p.date(p.cell(r, col))
	if err != nil {
		return "", p.errf(r.line, col, "%v", err)
	}
	return d, nil
}

func (p *tableParser) transaction(r tableRow) error {
	var t Transaction
	t.Line = r.line
	var err error
	if t.SalesDate, err = p.rowDate(r, colSalesDate); err != nil {
		return err
	}
	msn, err := p.text(r, colMSN, true)
	if err != nil {
		return err
	}
	t.MSN = msn
	unit, err := p.text(r, colSalesUnit, false)
	if err != nil {
		return err
	}
	if t.TransactionID, err = p.text(r, colTxID, true); err != nil {
		return err
	}
	if t.OrderID, err = p.text(r, colOrderID, false); err != nil {
		return err
	}
	gross, _, err := p.money(r, colGross, true)
	if err != nil {
		return err
	}
	fee, _, err := p.money(r, colFee, true)
	if err != nil {
		return err
	}
	net, _, err := p.money(r, colNet, true)
	if err != nil {
		return err
	}
	if fee > 0 {
		return p.errf(r.line, colFee, "%s is positive; fees are negative in this report", formatMinor(fee))
	}
	if net != gross+fee {
		return p.errf(r.line, colNet, "%s is not Brutto + Gebyr = %s", formatMinor(net), formatMinor(gross+fee))
	}
	typ, err := p.text(r, colTxType, true)
	if err != nil {
		return err
	}
	switch typ {
	case txTypeCapture:
		t.Kind = KindCapture
		if gross < 0 {
			return p.errf(r.line, colGross, "%s is negative on a %q (capture) row", formatMinor(gross), typ)
		}
	case txTypeRefund:
		t.Kind = KindRefund
		if gross > 0 {
			return p.errf(r.line, colGross, "%s is positive on a %q (refund) row", formatMinor(gross), typ)
		}
	default:
		return p.errf(r.line, colTxType, "%q is neither %q nor %q", typ, txTypeCapture, txTypeRefund)
	}
	t.Gross, t.Fee, t.Net = gross, -fee, net
	if t.SettlementID, err = p.text(r, colSettlement, true); err != nil {
		return err
	}
	date, err := p.rowDate(r, colSettleDate)
	if err != nil {
		return err
	}
	for _, col := range []string{colSettled, colAccount} {
		if v := strings.TrimSpace(p.cell(r, col).text); v != "" {
			return p.errf(r.line, col, "%q on a transaction row; it belongs on the %q row", v, payoutLabel)
		}
	}

	b := p.open
	if b == nil {
		b = &tableBlock{first: r.line, ids: map[string]int{},
			set: Settlement{ID: t.SettlementID, Date: date, MSN: msn, SalesUnit: unit, Type: TypeNet}}
		p.open = b
	}
	switch {
	case b.set.ID != t.SettlementID:
		return p.errf(r.line, colSettlement, "settlement %s begins before settlement %s (from row %d) has its %q row",
			t.SettlementID, b.set.ID, b.first, payoutLabel)
	case b.set.MSN != msn:
		return p.errf(r.line, colMSN, "%s differs from %s of settlement %s (row %d)", msn, b.set.MSN, b.set.ID, b.first)
	case b.set.Date != date:
		return p.errf(r.line, colSettleDate, "%s differs from %s of settlement %s (row %d)", date, b.set.Date, b.set.ID, b.first)
	}
	if first, dup := b.ids[t.TransactionID]; dup {
		return p.errf(r.line, colTxID, "duplicate transaction %s in settlement %s (first at row %d)", t.TransactionID, b.set.ID, first)
	}
	b.ids[t.TransactionID] = r.line
	b.set.Transactions = append(b.set.Transactions, t)
	return nil
}

func (p *tableParser) payout(r tableRow, label string) error {
	if label != payoutLabel {
		return p.errf(r.line, colSalesDate, "unknown payout row %q (only %q is known)", label, payoutLabel)
	}
	id, err := p.text(r, colSettlement, true)
	if err != nil {
		return err
	}
	msn, err := p.text(r, colMSN, false)
	if err != nil {
		return err
	}
	b := p.open
	if b == nil {
		b = &tableBlock{set: Settlement{ID: id, MSN: msn, Type: TypeNet}}
	}
	if b.set.ID != id {
		return p.errf(r.line, colSettlement, "%s closes settlement %s (from row %d)", id, b.set.ID, b.first)
	}
	if msn != "" && b.set.MSN != msn {
		return p.errf(r.line, colMSN, "%s differs from %s of settlement %s (row %d)", msn, b.set.MSN, id, b.first)
	}
	if b.set.MSN == "" {
		return p.errf(r.line, colMSN, "empty")
	}
	if c := p.cell(r, colSettleDate); strings.TrimSpace(c.text) != "" || b.set.Date == "" {
		date, err := p.rowDate(r, colSettleDate)
		if err != nil {
			return err
		}
		if b.set.Date != "" && date != b.set.Date {
			return p.errf(r.line, colSettleDate, "%s differs from %s of settlement %s (row %d)", date, b.set.Date, id, b.first)
		}
		b.set.Date = date
	}
	s := &b.set
	s.Line = r.line
	var ok bool
	if s.Settled, _, err = p.money(r, colSettled, true); err != nil {
		return err
	}
	s.Stated |= TotalSettled
	if s.Account, err = p.text(r, colAccount, true); err != nil {
		return err
	}
	if s.Gross, ok, err = p.money(r, colGross, false); err != nil {
		return err
	} else if ok {
		s.Stated |= TotalGross
	}
	var fee int64
	if fee, ok, err = p.money(r, colFee, false); err != nil {
		return err
	} else if ok {
		if fee > 0 {
			return p.errf(r.line, colFee, "%s is positive; fees are negative in this report", formatMinor(fee))
		}
		s.Fee = -fee
		s.Stated |= TotalFee
	}
	if s.Net, ok, err = p.money(r, colNet, false); err != nil {
		return err
	} else if ok {
		s.Stated |= TotalNet
	}
	key := s.MSN + "/" + s.ID
	if first, dup := p.seen[key]; dup {
		return p.errf(r.line, colSettlement, "settlement %s of %s appears twice (first payout row %d)", s.ID, s.MSN, first)
	}
	p.seen[key] = r.line
	p.rep.Settlements = append(p.rep.Settlements, *s)
	p.open = nil
	return nil
}

func (p *tableParser) finish() error {
	if p.cols == nil {
		return p.errf(0, "", "no header row (a row with %s, %s, … %s)", colSalesDate, colTxID, colAccount)
	}
	if b := p.open; b != nil {
		last := b.set.Transactions[len(b.set.Transactions)-1].Line
		return p.errf(b.first, colSettlement, "settlement %s (rows %d-%d) has no %q row", b.set.ID, b.first, last, payoutLabel)
	}
	p.rep.summarise()
	return nil
}
