package finance

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"

	"vippskco/bridge"
)

// CSVDialect is how a reconciliation CSV is written for a spreadsheet.
type CSVDialect string

const (
	// DialectEN is a comma-separated file with decimal points and English
	// column names, LF line ends, no byte order mark.
	DialectEN CSVDialect = "en"
	// DialectNO is what a Norwegian Excel or LibreOffice opens into
	// columns: semicolons, decimal commas, a UTF-8 byte order mark (so
	// that æøå are read as UTF-8), CRLF line ends and Norwegian column
	// names.
	DialectNO CSVDialect = "no"
)

// ParseCSVDialect reads a dialect name: "" is en. Anything else is an
// invalid bad_dialect error.
func ParseCSVDialect(s string) (CSVDialect, error) {
	switch CSVDialect(strings.ToLower(strings.TrimSpace(s))) {
	case "", DialectEN:
		return DialectEN, nil
	case DialectNO, "nb":
		return DialectNO, nil
	}
	return "", bridge.Errorf(bridge.ECodeInvalid, "bad_dialect", "dialect must be en or no, not %s", bridge.Quote(s))
}

// csvColumns are the export's columns, English and Norwegian.
var csvColumns = [][2]string{
	{"section", "seksjon"}, {"reason", "årsak"}, {"provider", "leverandør"}, {"date", "dato"},
	{"payout_id", "utbetaling_id"}, {"reference", "referanse"}, {"kco_order_id", "kco_ordre_id"}, {"unit", "salgsenhet"},
	{"msn", "msn"}, {"currency", "valuta"}, {"amount", "beløp"}, {"expected", "forventet"}, {"gross", "brutto"},
	{"fees", "gebyrer"}, {"net", "netto"}, {"paid", "utbetalt"}, {"lines", "linjer"}, {"matched", "avstemt"},
	{"exceptions", "avvik"}, {"detail", "detaljer"}, {"psp_reference", "psp_referanse"},
}

// csvSections are the section column's values, English and Norwegian.
var csvSections = map[string]string{
	"exception": "avvik", "payout": "utbetaling", "day": "dag", "match": "avstemt", "pending": "venter",
}

// WriteCSV writes r as one CSV finance can open in a spreadsheet: the
// exceptions first, then the payouts, the days, the matched movements
// (each of our captures and refunds a settlement accounts for, with its
// payout) and the movements not yet due. One section column says which
// row is which; amounts are in major units with two decimals, written as
// the dialect writes numbers. Every text cell that came from outside is
// neutralised against formula injection (textCell); the numbers we
// format are not, so that a negative amount stays a number.
func WriteCSV(w io.Writer, r *Reconciliation, dialect CSVDialect) error {
	no := dialect == DialectNO
	if !no && dialect != DialectEN {
		_, err := ParseCSVDialect(string(dialect))
		return err
	}
	if no {
		if _, err := io.WriteString(w, "\ufeff"); err != nil {
			return err
		}
	}
	cw := csv.NewWriter(w)
	if no {
		cw.Comma = ';'
		cw.UseCRLF = true
	}
	// A write error (the reader went away) ends the export at once rather
	// than after formatting every row.
	var err error
	write := func(rec ...string) {
		if err == nil {
			if no && len(rec) > 0 {
				if s, ok := csvSections[rec[0]]; ok {
					rec[0] = s
				}
			}
			err = cw.Write(rec)
		}
	}
	m := major
	if no {
		m = func(v int64) string { return strings.Replace(major(v), ".", ",", 1) }
	}
	t := textCell
	header := make([]string, len(csvColumns))
	for i, c := range csvColumns {
		header[i] = c[0]
		if no {
			header[i] = c[1]
		}
	}
	write(header...)
	for i := 0; i < len(r.Exceptions) && err == nil; i++ {
		e := &r.Exceptions[i]
		write("exception", t(string(e.Reason)), t(string(e.Provider)), t(e.Date), t(e.PayoutID), t(e.Reference), t(e.KCOOrderID),
			t(e.Unit), t(e.MSN), t(e.Currency), m(e.Amount), m(e.Expected), "", "", "", "", "", "", "", t(e.Detail()), "")
	}
	for i := 0; i < len(r.Payouts) && err == nil; i++ {
		p := &r.Payouts[i]
		write("payout", "", t(string(p.Provider)), t(p.Date), t(p.ID), "", "", "", t(p.MSN), t(p.Currency), "", "",
			m(p.Gross), m(p.Fees), m(p.Net), m(p.Paid), strconv.Itoa(p.Lines), strconv.Itoa(p.Matched), strconv.Itoa(p.Exceptions), "", "")
	}
	for i := 0; i < len(r.Days) && err == nil; i++ {
		d := &r.Days[i]
		write("day", "", t(string(d.Provider)), t(d.Date), "", "", "", "", "", t(d.Currency), "", "",
			m(d.Gross), m(d.Fees), m(d.Net), "", strconv.Itoa(d.Lines), strconv.Itoa(d.Matched), strconv.Itoa(d.Exceptions), "", "")
	}
	for i := 0; i < len(r.matched) && err == nil; i++ {
		mv := &r.matched[i]
		write("match", t(string(mv.Kind)), t(string(mv.Provider)), mv.Date, t(mv.PayoutID), t(mv.Reference), "", "", "", t(mv.Currency),
			m(mv.Amount), "", "", "", "", "", "", "", "", "", t(mv.PSPReference))
	}
	for i := 0; i < len(r.Pending) && err == nil; i++ {
		p := &r.Pending[i]
		detail := "not yet due"
		if no {
			detail = "ikke forfalt ennå"
		}
		write("pending", t(string(p.Kind)), t(string(p.Provider)), p.Due.In(oslo).Format("2006-01-02"), "", t(p.Reference),
			t(p.KCOOrderID), t(p.Unit), t(p.MSN), t(p.Currency), m(p.Amount), "", "", "", "", "", "", "", "", detail, "")
	}
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// textCell keeps a text cell from being read as a formula by a
// spreadsheet (CSV injection): a cell that starts with =, +, -, @, a tab
// or a carriage return gets a leading single quote, which Excel,
// LibreOffice and Google Sheets show as text. Every text cell of a finance
// CSV goes through it; the numbers we format ourselves do not, so that a
// negative amount stays a number.
func textCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// major formats minor units as a decimal in major units, "-1490.00"; it
// is exact for every int64.
func major(v int64) string {
	var b [24]byte
	out := b[:0]
	u := uint64(v)
	if v < 0 {
		out = append(out, '-')
		u = -u
	}
	out = strconv.AppendUint(out, u/100, 10)
	out = append(out, '.', byte('0'+u%100/10), byte('0'+u%10))
	return string(out)
}
