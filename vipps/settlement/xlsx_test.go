package settlement

import (
	"archive/zip"
	"bytes"
	"fmt"
	"html"
	"strings"
	"testing"
)

// A test workbook is written from rows of cell specs: "" is no cell, "#97.75"
// a numeric cell, "!#N/A" an error cell, "~text" an inline string, anything
// else a shared string.
type sheetRow struct {
	r     int
	cells []string
}

type workbookOptions struct {
	date1904 bool
}

func buildXLSX(t testing.TB, rows []sheetRow, opt workbookOptions) []byte {
	t.Helper()
	var sst []string
	index := map[string]int{}
	var sheet strings.Builder
	sheet.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`)
	for _, row := range rows {
		fmt.Fprintf(&sheet, `<row r="%d">`, row.r)
		for i, c := range row.cells {
			ref := colName(i) + fmt.Sprint(row.r)
			switch {
			case c == "":
			case strings.HasPrefix(c, "#"):
				fmt.Fprintf(&sheet, `<c r="%s" s="6"><v>%s</v></c>`, ref, c[1:])
			case strings.HasPrefix(c, "!"):
				fmt.Fprintf(&sheet, `<c r="%s" t="e"><v>%s</v></c>`, ref, html.EscapeString(c[1:]))
			case strings.HasPrefix(c, "~"):
				fmt.Fprintf(&sheet, `<c r="%s" t="inlineStr"><is><t>%s</t></is></c>`, ref, html.EscapeString(c[1:]))
			default:
				i, ok := index[c]
				if !ok {
					i = len(sst)
					index[c] = i
					sst = append(sst, c)
				}
				fmt.Fprintf(&sheet, `<c r="%s" t="s"><v>%d</v></c>`, ref, i)
			}
		}
		sheet.WriteString(`</row>`)
	}
	sheet.WriteString(`</sheetData></worksheet>`)

	var strs strings.Builder
	strs.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">`)
	for _, s := range sst {
		// Split one string into a rich-text run to exercise <r><t>.
		if len(s) > 4 {
			fmt.Fprintf(&strs, `<si><r><t>%s</t></r><r><t>%s</t></r><rPh><t>x</t></rPh></si>`, html.EscapeString(s[:2]), html.EscapeString(s[2:]))
		} else {
			fmt.Fprintf(&strs, `<si><t>%s</t></si>`, html.EscapeString(s))
		}
	}
	strs.WriteString(`</sst>`)

	wbPr := ""
	if opt.date1904 {
		wbPr = `<workbookPr date1904="1"/>`
	}
	files := []struct{ name, body string }{
		{"[Content_Types].xml", `<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>`},
		{"xl/workbook.xml", `<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">` +
			wbPr + `<sheets><sheet name="Rapport" sheetId="1" r:id="rId7"/></sheets></workbook>`},
		{"xl/_rels/workbook.xml.rels", `<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId7" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>` +
			`<Relationship Id="rId8" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="/xl/sharedStrings.xml"/>` +
			`</Relationships>`},
		{"xl/worksheets/sheet1.xml", sheet.String()},
		{"xl/sharedStrings.xml", strs.String()},
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		w, err := zw.Create(f.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(f.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var portalHeader = []string{"Salgsdato", "Salgssted", "Vippsnummer", "Produkt", "Transaksjons-ID", "Ordre-ID", "Brutto", "Gebyr",
	"Netto", "Transaksjonstype", "Oppgjørs-ID", "Oppgjørsdato", "Oppgjørssum", "Oppgjørskonto", "Fornavn", "Etternavn", "Melding"}

// validSheet is a portal report with one settlement: a capture, a refund and
// the payout row.
func validSheet() []sheetRow {
	return []sheetRow{
		{1, []string{"Oppgjørsrapport"}},
		{2, []string{"Bedriften", "", "Shop AS"}},
		{3, []string{"Organisasjonsnummer", "", "#999999999"}},
		{4, []string{"Fra dato", "", "01.03.2024"}},
		{5, []string{"Til dato", "", "~31.03.2024"}},
		{6, []string{" "}},
		{7, portalHeader},
		{8, []string{"25.03.2024", "Shop", "#123456", "Vipps Netthandel", "#5001", "order-1", "#100", "#-2.25", "#97.75", "Salg", "2000001", "27.03.2024", "", "", "Kari", "Nordmann", "hei"}},
		{9, []string{"26.03.2024", "Shop", "123456", "Vipps Netthandel", "5002", "order-1", "#-40", "#0", "#-40", "Refundering", "#2000001", "27.03.2024"}},
		{10, []string{"Til utbetaling netto", "Shop", "123456", "", "", "", "", "", "", "", "2000001", "27.03.2024", "#57.75", "#12345678903"}},
	}
}

// withCell returns rows with one cell replaced (col is 0-based).
func withCell(rows []sheetRow, r, col int, v string) []sheetRow {
	out := make([]sheetRow, len(rows))
	for i, row := range rows {
		cells := append([]string(nil), row.cells...)
		if row.r == r {
			for len(cells) <= col {
				cells = append(cells, "")
			}
			cells[col] = v
		}
		out[i] = sheetRow{row.r, cells}
	}
	return out
}

func withoutRow(rows []sheetRow, r int) []sheetRow {
	var out []sheetRow
	for _, row := range rows {
		if row.r != r {
			out = append(out, row)
		}
	}
	return out
}

func parseTestXLSX(t *testing.T, rows []sheetRow, opt workbookOptions) (*Report, error) {
	t.Helper()
	data := buildXLSX(t, rows, opt)
	return ParseXLSX(bytes.NewReader(data), int64(len(data)), "t.xlsx")
}

func TestParseXLSXValid(t *testing.T) {
	rep, err := parseTestXLSX(t, validSheet(), workbookOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OrganizationName != "Shop AS" || rep.OrganizationNumber != "999999999" || rep.From != "2024-03-01" || rep.To != "2024-03-31" || rep.MSN != "123456" {
		t.Errorf("report = %+v", rep)
	}
	if p := rep.Check(); len(p) != 0 {
		t.Errorf("Check() = %v", p)
	}
	s := rep.Settlements[0]
	if s.ID != "2000001" || s.Date != "2024-03-27" || s.Settled != 5775 || s.Account != "12345678903" || s.Line != 10 || s.Type != TypeNet {
		t.Errorf("settlement = %+v", s)
	}
	c, r := s.Transactions[0], s.Transactions[1]
	if c.Line != 8 || c.TransactionID != "5001" || c.Gross != 10000 || c.Fee != 225 || c.Net != 9775 || c.Kind != KindCapture || c.SalesDate != "2024-03-25" {
		t.Errorf("capture = %+v", c)
	}
	if r.Line != 9 || r.Gross != -4000 || r.Fee != 0 || r.Kind != KindRefund || r.SettlementID != "2000001" {
		t.Errorf("refund = %+v", r)
	}
}

func TestParseXLSXCellForms(t *testing.T) {
	tests := []struct {
		name   string
		rows   []sheetRow
		opt    workbookOptions
		check  func(Transaction) bool
		expect string
	}{
		{"binary noise rounds to the cent",
			withCell(withCell(validSheet(), 8, 6, "#97.749999999999"), 8, 8, "#95.500000000001"),
			workbookOptions{}, func(t Transaction) bool { return t.Gross == 9775 && t.Net == 9550 }, "Gross 97.75, Net 95.50"},
		{"exponent in a numeric cell",
			withCell(withCell(validSheet(), 8, 6, "#1.0E2"), 8, 8, "#9.775E1"),
			workbookOptions{}, func(t Transaction) bool { return t.Gross == 10000 && t.Net == 9775 }, "100.00 and 97.75"},
		{"amounts as formatted text",
			withCell(withCell(withCell(validSheet(), 8, 6, "1 000,00"), 8, 7, "~−2,25"), 8, 8, "997,75"),
			workbookOptions{}, func(t Transaction) bool { return t.Gross == 100000 && t.Fee == 225 && t.Net == 99775 }, "1000.00 - 2.25"},
		{"date serial",
			withCell(validSheet(), 8, 0, "#45376"),
			workbookOptions{}, func(t Transaction) bool { return t.SalesDate == "2024-03-25" }, "2024-03-25"},
		{"date serial with time of day",
			withCell(validSheet(), 8, 0, "#45376.75"),
			workbookOptions{}, func(t Transaction) bool { return t.SalesDate == "2024-03-25" }, "2024-03-25"},
		{"1904 date serial",
			withCell(validSheet(), 8, 0, "#43914"),
			workbookOptions{date1904: true}, func(t Transaction) bool { return t.SalesDate == "2024-03-25" }, "2024-03-25"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := parseTestXLSX(t, tt.rows, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if got := rep.Settlements[0].Transactions[0]; !tt.check(got) {
				t.Errorf("transaction = %+v, want %s", got, tt.expect)
			}
		})
	}
}

func TestParseXLSXMalformed(t *testing.T) {
	tests := []struct {
		name  string
		rows  []sheetRow
		line  int
		field string
		msg   string
	}{
		{"amount far from a cent", withCell(validSheet(), 8, 6, "#100.005"), 8, "Brutto", "not within 1e-6 of an amount with 2 decimals"},
		{"text amount with 3 decimals", withCell(validSheet(), 8, 6, "100,005"), 8, "Brutto", "more than 2 fraction digits"},
		{"text amount that may be a grouped thousand", withCell(validSheet(), 8, 6, "1.500"), 8, "Brutto", `amount "1.500" is ambiguous`},
		{"text amount with exponent", withCell(validSheet(), 8, 6, "1e2"), 8, "Brutto", "exponent"},
		{"empty amount", withCell(validSheet(), 8, 7, ""), 8, "Gebyr", "empty amount"},
		{"error value", withCell(validSheet(), 8, 7, "!#N/A"), 8, "Gebyr", "error value #N/A"},
		{"positive fee", withCell(validSheet(), 8, 7, "#2.25"), 8, "Gebyr", "positive; fees are negative"},
		{"net does not add up", withCell(validSheet(), 8, 8, "#97"), 8, "Netto", "is not Brutto + Gebyr = 97.75"},
		{"unknown type", withCell(validSheet(), 8, 9, "Kjøp"), 8, "Transaksjonstype", `"Kjøp" is neither "Salg" nor "Refundering"`},
		{"negative sale", withCell(withCell(validSheet(), 8, 6, "#-100"), 8, 8, "#-102.25"), 8, "Brutto", "negative on a \"Salg\""},
		{"bad date", withCell(validSheet(), 8, 0, "2024-13-01"), 8, "Salgsdato", "is not a date"},
		{"serial before 1900-03-01", withCell(validSheet(), 8, 0, "#59"), 8, "Salgsdato", "not a date serial in range"},
		{"fractional id", withCell(validSheet(), 8, 4, "#5001.5"), 8, "Transaksjons-ID", "not a whole number"},
		{"missing transaction id", withCell(validSheet(), 8, 4, ""), 8, "Transaksjons-ID", "empty"},
		{"duplicate transaction id", withCell(validSheet(), 9, 4, "5001"), 9, "Transaksjons-ID", "duplicate transaction 5001 in settlement 2000001 (first at row 8)"},
		{"payout on a transaction row", withCell(validSheet(), 8, 12, "#97.75"), 8, "Oppgjørssum", "belongs on the \"Til utbetaling netto\" row"},
		{"two settlements interleaved", withCell(validSheet(), 9, 10, "2000002"), 9, "Oppgjørs-ID", "settlement 2000002 begins before settlement 2000001 (from row 8) has its"},
		{"payout for another settlement", withCell(validSheet(), 10, 10, "2000002"), 10, "Oppgjørs-ID", "2000002 closes settlement 2000001"},
		{"payout for another MSN", withCell(validSheet(), 10, 2, "654321"), 10, "Vippsnummer", "654321 differs from 123456"},
		{"payout without amount", withCell(validSheet(), 10, 12, ""), 10, "Oppgjørssum", "empty amount"},
		{"payout without account", withCell(validSheet(), 10, 13, ""), 10, "Oppgjørskonto", "empty"},
		{"unknown payout label", withCell(validSheet(), 10, 0, "Til utbetaling brutto"), 10, "Salgsdato", "unknown payout row"},
		{"no payout row", withoutRow(validSheet(), 10), 8, "Oppgjørs-ID", "settlement 2000001 (rows 8-9) has no \"Til utbetaling netto\" row"},
		{"header lacks a column", withCell(validSheet(), 7, 13, ""), 7, "", "header row lacks the column(s) Oppgjørskonto"},
		{"header column twice", withCell(validSheet(), 7, 14, "Brutto"), 7, "Brutto", "column appears twice"},
		{"no header", withoutRow(validSheet(), 7), 0, "", "no header row"},
		{"second header", append(validSheet(), sheetRow{11, portalHeader}), 11, "", "second header row (the first is row 7)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseTestXLSX(t, tt.rows, workbookOptions{})
			assertParseError(t, err, "t.xlsx", tt.line, tt.field, tt.msg)
		})
	}
}

func TestParseXLSXBrokenPackage(t *testing.T) {
	valid := buildXLSX(t, validSheet(), workbookOptions{})
	rewrite := func(drop string, replace map[string]string) []byte {
		zr, err := zip.NewReader(bytes.NewReader(valid), int64(len(valid)))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, f := range zr.File {
			if f.Name == drop {
				continue
			}
			rc, _ := f.Open()
			var body bytes.Buffer
			_, _ = body.ReadFrom(rc)
			rc.Close()
			w, _ := zw.Create(f.Name)
			if r, ok := replace[f.Name]; ok {
				w.Write([]byte(r))
			} else {
				w.Write(body.Bytes())
			}
		}
		zw.Close()
		return buf.Bytes()
	}
	tests := []struct {
		name string
		data []byte
		line int
		part string
		msg  string
	}{
		{"not a zip", []byte("PK\x03\x04 not really"), 0, "", "not an XLSX file"},
		{"no workbook", rewrite("xl/workbook.xml", nil), 0, "xl/workbook.xml", "missing: not an Excel workbook"},
		{"no sheet", rewrite("xl/worksheets/sheet1.xml", nil), 0, "xl/worksheets/sheet1.xml", "missing"},
		{"shared string out of range", rewrite("", map[string]string{"xl/sharedStrings.xml": `<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>x</t></si></sst>`}),
			2, "xl/worksheets/sheet1.xml", `cell A2: shared string index "1" out of range (1 strings)`},
		{"rows out of order", rewrite("", map[string]string{"xl/worksheets/sheet1.xml": `<worksheet><sheetData><row r="2"/><row r="1"/></sheetData></worksheet>`}),
			1, "xl/worksheets/sheet1.xml", "row 1 comes after row 2"},
		{"bad cell reference", rewrite("", map[string]string{"xl/worksheets/sheet1.xml": `<worksheet><sheetData><row r="1"><c r="A2"><v>1</v></c></row></sheetData></worksheet>`}),
			1, "xl/worksheets/sheet1.xml", `invalid cell reference "A2" in row 1`},
		{"column beyond XFD", rewrite("", map[string]string{"xl/worksheets/sheet1.xml": `<worksheet><sheetData><row r="1"><c r="ZZZ1"><v>1</v></c></row></sheetData></worksheet>`}),
			1, "xl/worksheets/sheet1.xml", "out of order or range"},
		{"malformed sheet", rewrite("", map[string]string{"xl/worksheets/sheet1.xml": "<worksheet>\n<sheetData>\n<row>\n</worksheet>"}),
			4, "xl/worksheets/sheet1.xml", "malformed XML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseXLSX(bytes.NewReader(tt.data), int64(len(tt.data)), "t.xlsx")
			assertParseError(t, err, "t.xlsx", tt.line, tt.part, tt.msg)
		})
	}
}

func TestCellRef(t *testing.T) {
	tests := []struct {
		ref      string
		col, row int
		ok       bool
	}{
		{"A1", 0, 1, true}, {"Z9", 25, 9, true}, {"AA10", 26, 10, true}, {"XFD1048576", 16383, 1048576, true},
		{"", 0, 0, false}, {"1", 0, 0, false}, {"A", 0, 0, false}, {"a1", 0, 0, false}, {"A0", 0, 0, false},
		{"A-1", 0, 0, false}, {"AAAA1", 0, 0, false}, {"A1B", 0, 0, false},
	}
	for _, tt := range tests {
		col, row, ok := cellRef(tt.ref)
		if ok != tt.ok || (ok && (col != tt.col || row != tt.row)) {
			t.Errorf("cellRef(%q) = %d, %d, %v; want %d, %d, %v", tt.ref, col, row, ok, tt.col, tt.row, tt.ok)
		}
		if ok && colName(col) != strings.TrimRight(tt.ref, "0123456789") {
			t.Errorf("colName(%d) = %q", col, colName(col))
		}
	}
}
