package settlement

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
)

// ParseXLSX reads the business portal's settlement report as an Excel
// workbook. It reads the first worksheet with the standard library only:
// shared strings, inline strings, numeric cells (converted exactly from the
// number's text, see below), formula results and the rows in order. The
// header row is found by its column names, not by position.
//
// Amounts in numeric cells are stored by Excel as the shortest text of a
// binary double ("97.75", "1490", sometimes "97.749999999999"). That text is
// converted exactly; when it has more than two decimals it is rounded half
// away from zero to two decimals only if it lies within 1e-6 of the result,
// and is an error otherwise. Amounts stored as text may use a decimal comma
// and spaces between thousands ("1 234,50"). Dates are DD.MM.YYYY text or
// Excel date serials.
//
// The report states no currency, so Settlement.Currency is empty; the
// settlement type is Net (the payout row says "Til utbetaling netto"), and
// Settled is that row's Oppgjørssum. Line numbers are worksheet row numbers.
func ParseXLSX(r io.ReaderAt, size int64, source string) (*Report, error) {
	rep := &Report{Format: FormatXLSX, Source: source}
	x, sheetPath, err := openXLSX(r, size, source)
	if err != nil {
		return nil, err
	}
	p := newTableParser(rep)
	p.date1904 = x.date1904
	if err := x.sheet(sheetPath, p.row); err != nil {
		return nil, err
	}
	if err := p.finish(); err != nil {
		return nil, err
	}
	return rep, nil
}

// ParseXLSXFunc reads the workbooks ParseXLSX reads, with the same checks,
// but hands each transaction to fn instead of keeping it, as
// ParseCSVFunc does for the portal table: a settlement's transactions are
// handed over at its "Til utbetaling netto" row, which closes it, so the
// parse holds the rows of one settlement at a time, not of the file. An
// error from fn stops the parse and is returned as it is; on any error,
// discard what fn collected.
//
// The Report is the one ParseXLSX returns except that every Settlement's
// Transactions is nil; problems is what Report.Check returns for the
// whole report.
func ParseXLSXFunc(r io.ReaderAt, size int64, source string, fn func(Settlement, Transaction) error) (*Report, []Problem, error) {
	rep := &Report{Format: FormatXLSX, Source: source}
	x, sheetPath, err := openXLSX(r, size, source)
	if err != nil {
		return nil, nil, err
	}
	p := newTableParser(rep)
	p.date1904 = x.date1904
	h := &tableHandOver{rep: rep, fn: fn}
	err = x.sheet(sheetPath, func(row tableRow) error {
		if err := p.row(row); err != nil {
			return err
		}
		return h.closed()
	})
	if err != nil {
		return nil, nil, err
	}
	if err := p.finish(); err != nil {
		return nil, nil, err
	}
	return rep, h.problems, nil
}

// openXLSX opens a workbook and reads what the sheet needs: where it is,
// its shared strings, its date system.
func openXLSX(r io.ReaderAt, size int64, source string) (*xlsxReader, string, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, "", errAt(source, 0, "", "not an XLSX file: %v", err)
	}
	x := &xlsxReader{source: source, zr: zr, size: size, left: xlsxBudget(size)}
	sheetPath, sstPath, err := x.workbook()
	if err != nil {
		return nil, "", err
	}
	if sstPath != "" {
		if err := x.sharedStrings(sstPath); err != nil {
			return nil, "", err
		}
	}
	return x, sheetPath, nil
}

// The limits of a workbook. An XLSX is a zip, and a zip of well under a
// megabyte can expand to gigabytes: every part read is counted against a
// budget of uncompressed bytes for the whole file, and what is kept in
// memory (shared strings, relationships) has limits of its own. A part is
// refused as soon as it goes over, before it is read further.
const (
	// maxXLSXRatio and minXLSXBudget make the budget: the workbook may
	// expand to maxXLSXRatio times its size (a real report expands 4 to
	// 15 times), and a small file to minXLSXBudget.
	maxXLSXRatio  = 100
	minXLSXBudget = 64 << 20
	// MaxXLSXUncompressed is the budget of the largest file.
	MaxXLSXUncompressed = 1 << 30
	// maxXLSXWorkbookPart and maxXLSXRelsPart bound xl/workbook.xml and
	// its relationships (a few KB in a real workbook), maxRelationships
	// the relationships read.
	maxXLSXWorkbookPart = 4 << 20
	maxXLSXRelsPart     = 1 << 20
	maxRelationships    = 10000
	// maxSharedStrings and maxSharedStringBytes bound the shared strings,
	// which are held for the whole sheet: Excel's 1,048,576 rows with
	// three distinct texts each fit.
	maxSharedStrings     = 4 << 20
	maxSharedStringBytes = 64 << 20
	// maxXMLRun bounds the bytes of any XML part between one '<' or '>'
	// and the next: one text node or one tag. encoding/xml holds a whole
	// token in memory, so without it a single 200 MiB cell would be read
	// into memory before any other limit could look at it.
	maxXMLRun = 64 << 10
)

// xlsxBudget is how many uncompressed bytes a workbook of size bytes may
// expand to.
func xlsxBudget(size int64) int64 {
	b := int64(minXLSXBudget)
	if size > b/maxXLSXRatio {
		b = size * maxXLSXRatio
	}
	return min(b, MaxXLSXUncompressed)
}

const (
	relTypeOfficeDoc     = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
	relTypeStrictDoc     = "http://purl.oclc.org/ooxml/officeDocument/relationships"
	relTypeSharedStrings = "/sharedStrings"
)

type xlsxReader struct {
	source string
	zr     *zip.Reader
	// size is the file's size and left what is left of its budget.
	size, left int64
	// The shared strings: string i is sstData[sstEnd[i-1]:sstEnd[i]], so
	// that a string costs its bytes and four more, not a string header.
	sstData  []byte
	sstEnd   []uint32
	date1904 bool
}

func (x *xlsxReader) errf(part string, line int, format string, args ...any) error {
	return &ParseError{Source: x.source, Line: line, Field: part, Err: fmt.Errorf(format, args...)}
}

// errBudget is the error of a workbook that expands beyond its budget.
func (x *xlsxReader) errBudget(part string) error {
	return x.errf(part, 0, "the workbook expands to more than %d MiB uncompressed (%d KiB as a file): refused as a possible zip bomb",
		xlsxBudget(x.size)>>20, (x.size+1023)>>10)
}

// open opens a part of the workbook to be read, at most limit bytes of it
// (0: no limit of its own) and no more than the budget left; it returns
// nil, nil for a part that is not there. A part that says it is larger
// is refused before it is read.
func (x *xlsxReader) open(name string, limit int64) (io.ReadCloser, error) {
	for _, f := range x.zr.File {
		if f.Name == name {
			if limit > 0 && f.UncompressedSize64 > uint64(limit) {
				return nil, x.errf(name, 0, "the part is %d bytes uncompressed, more than the %d it may be", f.UncompressedSize64, limit)
			}
			if f.UncompressedSize64 > uint64(x.left) {
				return nil, x.errBudget(name)
			}
			rc, err := f.Open()
			if err != nil {
				return nil, x.errf(name, 0, "%v", err)
			}
			return struct {
				io.Reader
				io.Closer
			}{&runGuard{r: &budgetReader{x: x, r: rc, n: limit, name: name}, max: maxXMLRun, name: name}, rc}, nil
		}
	}
	return nil, nil
}

// budgetReader counts what a part expands to against its own limit (n,
// when not 0) and the workbook's budget.
type budgetReader struct {
	x    *xlsxReader
	r    io.Reader
	n    int64
	read int64
	name string
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.x.left <= 0 {
		return 0, b.x.errBudget(b.name)
	}
	if b.n > 0 && b.read >= b.n {
		return 0, b.x.errf(b.name, 0, "the part is larger than the %d bytes it may be uncompressed", b.n)
	}
	if int64(len(p)) > b.x.left {
		p = p[:b.x.left]
	}
	if b.n > 0 && int64(len(p)) > b.n-b.read {
		p = p[:b.n-b.read]
	}
	n, err := b.r.Read(p)
	b.x.left -= int64(n)
	b.read += int64(n)
	return n, err
}

// runGuard fails an XML stream that has more than max bytes between one
// '<' or '>' and the next, as it reads them.
type runGuard struct {
	r    io.Reader
	max  int
	run  int
	name string
}

func (g *runGuard) Read(p []byte) (int, error) {
	if len(p) > g.max {
		p = p[:g.max]
	}
	n, err := g.r.Read(p)
	b := p[:n]
	if first := bytes.IndexAny(b, "<>"); first < 0 {
		g.run += n
	} else {
		g.run += first
		if g.run <= g.max {
			g.run = n - 1 - bytes.LastIndexAny(b, "<>")
		}
	}
	if g.run > g.max {
		return 0, &runError{name: g.name, max: g.max}
	}
	return n, err
}

// runError is a text node or a tag longer than maxXMLRun.
type runError struct {
	name string
	max  int
}

func (e *runError) Error() string {
	return fmt.Sprintf("%s has a text or a tag of more than %d KiB; no field of a settlement report is that long", e.name, e.max>>10)
}

// workbook finds the first worksheet and the shared strings through
// xl/workbook.xml and its relationships.
func (x *xlsxReader) workbook() (sheet, sst string, err error) {
	const wbPath = "xl/workbook.xml"
	rc, err := x.open(wbPath, maxXLSXWorkbookPart)
	if err != nil {
		return "", "", err
	}
	if rc == nil {
		return "", "", x.errf(wbPath, 0, "missing: not an Excel workbook")
	}
	defer rc.Close()
	d := xml.NewDecoder(rc)
	var relID string
	for relID == "" {
		tok, err := d.Token()
		if err == io.EOF {
			return "", "", x.errf(wbPath, 0, "no <sheet> in the workbook")
		}
		if err != nil {
			return "", "", x.xmlErr(wbPath, d, err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "workbookPr":
			for _, a := range se.Attr {
				if a.Name.Local == "date1904" {
					x.date1904 = a.Value == "1" || a.Value == "true"
				}
			}
		case "sheet":
			for _, a := range se.Attr {
				if a.Name.Local == "id" && (a.Name.Space == relTypeOfficeDoc || a.Name.Space == relTypeStrictDoc) {
					relID = a.Value
				}
			}
			if relID == "" {
				return "", "", x.errf(wbPath, 0, "first <sheet> has no relationship id")
			}
		}
	}

	const relsPath = "xl/_rels/workbook.xml.rels"
	rc2, err := x.open(relsPath, maxXLSXRelsPart)
	if err != nil {
		return "", "", err
	}
	if rc2 == nil {
		return "", "", x.errf(relsPath, 0, "missing")
	}
	defer rc2.Close()
	type relationship struct{ ID, Type, Target string }
	var rels []relationship
	d2 := &rawDecoder{Decoder: xml.NewDecoder(rc2)}
	for {
		tok, err := d2.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", "", x.xmlErr(relsPath, d2, err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "Relationship" {
			continue
		}
		if len(rels) == maxRelationships {
			return "", "", x.errf(relsPath, 0, "more than %d relationships", maxRelationships)
		}
		rels = append(rels, relationship{ID: attr(se, "Id"), Type: attr(se, "Type"), Target: attr(se, "Target")})
	}
	resolve := func(target string) string {
		if strings.HasPrefix(target, "/") {
			return strings.TrimPrefix(path.Clean(target), "/")
		}
		return path.Join("xl", target)
	}
	for _, r := range rels {
		if r.ID == relID {
			sheet = resolve(r.Target)
		}
		if strings.HasSuffix(r.Type, relTypeSharedStrings) {
			sst = resolve(r.Target)
		}
	}
	if sheet == "" {
		return "", "", x.errf(relsPath, 0, "no relationship %q for the first sheet", relID)
	}
	return sheet, sst, nil
}

// rawDecoder reads tokens with RawToken, which skips encoding/xml's
// namespace translation and copying (most of its cost), and still checks
// that end tags match. The worksheet's elements are matched by local name.
type rawDecoder struct {
	*xml.Decoder
	open []xml.Name
}

func (d *rawDecoder) Token() (xml.Token, error) {
	tok, err := d.RawToken()
	if err == io.EOF && len(d.open) > 0 {
		line, _ := d.InputPos()
		return nil, &xml.SyntaxError{Msg: "unexpected EOF", Line: line}
	}
	switch t := tok.(type) {
	case xml.StartElement:
		d.open = append(d.open, t.Name)
	case xml.EndElement:
		if n := len(d.open); n == 0 || d.open[n-1] != t.Name {
			line, _ := d.InputPos()
			return nil, &xml.SyntaxError{Msg: "unexpected end element </" + t.Name.Local + ">", Line: line}
		}
		d.open = d.open[:len(d.open)-1]
	}
	return tok, err
}

type inputPos interface{ InputPos() (int, int) }

func (x *xlsxReader) xmlErr(part string, d inputPos, err error) error {
	var pe *ParseError
	if errors.As(err, &pe) {
		return err // a limit of ours
	}
	var re *runError
	if errors.As(err, &re) {
		line, _ := d.InputPos()
		return x.errf(part, line, "%v", re)
	}
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return x.errf(part, se.Line, "malformed XML: %s", se.Msg)
	}
	line, _ := d.InputPos()
	return x.errf(part, line, "%v", err)
}

// sharedStrings reads the <si> items: plain <t>, or rich-text runs <r><t>,
// without phonetic hints (<rPh>).
func (x *xlsxReader) sharedStrings(name string) error {
	rc, err := x.open(name, 0)
	if err != nil {
		return err
	}
	if rc == nil {
		return x.errf(name, 0, "missing, though the workbook refers to it")
	}
	defer rc.Close()
	// The text is at most the part's size, which the zip reader holds it
	// to: reserved at once, it is not copied as it grows.
	for _, f := range x.zr.File {
		if f.Name == name {
			x.sstData = make([]byte, 0, min(f.UncompressedSize64, maxSharedStringBytes))
		}
	}
	d := &rawDecoder{Decoder: xml.NewDecoder(rc)}
	inSI, inT, skip := false, false, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return x.xmlErr(name, d, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "si":
				if len(x.sstEnd) == maxSharedStrings {
					return x.errf(name, 0, "more than %d shared strings", maxSharedStrings)
				}
				inSI = true
			case "rPh":
				skip++
			case "t":
				inT = inSI && skip == 0
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "si":
				x.sstEnd = append(x.sstEnd, uint32(len(x.sstData)))
				inSI = false
			case "rPh":
				skip--
			case "t":
				inT = false
			}
		case xml.CharData:
			if inT {
				if len(x.sstData)+len(t) > maxSharedStringBytes {
					return x.errf(name, 0, "the shared strings are more than %d MiB of text", maxSharedStringBytes>>20)
				}
				x.sstData = append(x.sstData, t...)
			}
		}
	}
}

// sheet streams the worksheet's rows to emit, each with its row number and
// its cells placed by column.
func (x *xlsxReader) sheet(name string, emit func(tableRow) error) error {
	rc, err := x.open(name, 0)
	if err != nil {
		return err
	}
	if rc == nil {
		return x.errf(name, 0, "missing, though the workbook refers to it")
	}
	defer rc.Close()
	d := &rawDecoder{Decoder: xml.NewDecoder(rc)}

	var (
		row      tableRow
		inRow    bool
		lastRow  int
		col      int // column of the current cell, 0-based
		lastCol  int
		cellType string
		inV, inT bool
		inIS     bool
		phonetic int
		buf      bytes.Buffer
		hasValue bool
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return x.xmlErr(name, d, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "row":
				if inRow {
					return x.errf(name, lastRow, "nested <row>")
				}
				n := lastRow + 1
				if v := attr(t, "r"); v != "" {
					if n, err = strconv.Atoi(v); err != nil || n < 1 || n > maxSheetRows {
						return x.errf(name, lastRow, "invalid row number %q", v)
					}
				}
				if n <= lastRow {
					return x.errf(name, n, "row %d comes after row %d", n, lastRow)
				}
				if n > maxSheetRows {
					return x.errf(name, lastRow, "more than %d rows, Excel's limit", maxSheetRows)
				}
				row = tableRow{line: n}
				inRow, lastRow, lastCol = true, n, -1
			case "c":
				if !inRow {
					return x.errf(name, lastRow, "cell outside a row")
				}
				col = lastCol + 1
				if ref := attr(t, "r"); ref != "" {
					c, r, ok := cellRef(ref)
					if !ok || r != row.line {
						return x.errf(name, row.line, "invalid cell reference %q in row %d", ref, row.line)
					}
					col = c
				}
				if col <= lastCol || col >= maxTableColumn {
					return x.errf(name, row.line, "cell column %d out of order or range", col+1)
				}
				lastCol = col
				cellType = attr(t, "t")
				buf.Reset()
				hasValue = false
			case "v":
				inV = true
				hasValue = true
			case "is":
				inIS = true
				hasValue = true
			case "t":
				inT = inIS && phonetic == 0
			case "rPh":
				phonetic++
			}
		case xml.CharData:
			if inV || inT {
				buf.Write(t)
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "v":
				inV = false
			case "t":
				inT = false
			case "is":
				inIS = false
			case "rPh":
				phonetic--
			case "c":
				if !hasValue {
					continue
				}
				c, err := x.cell(cellType, buf.String())
				if err != nil {
					return x.errf(name, row.line, "cell %s: %v", colName(col)+strconv.Itoa(row.line), err)
				}
				for len(row.cells) < col {
					row.cells = append(row.cells, tableCell{})
				}
				row.cells = append(row.cells, c)
			case "row":
				inRow = false
				if err := emit(row); err != nil {
					return err
				}
			}
		}
	}
}

func (x *xlsxReader) cell(typ, v string) (tableCell, error) {
	switch typ {
	case "s":
		i, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || i < 0 || i >= len(x.sstEnd) {
			return tableCell{}, fmt.Errorf("shared string index %q out of range (%d strings)", v, len(x.sstEnd))
		}
		start := uint32(0)
		if i > 0 {
			start = x.sstEnd[i-1]
		}
		return tableCell{text: string(x.sstData[start:x.sstEnd[i]])}, nil
	case "inlineStr", "str", "d":
		return tableCell{text: v}, nil
	case "", "n":
		if strings.TrimSpace(v) == "" {
			return tableCell{}, nil
		}
		return tableCell{text: strings.TrimSpace(v), numeric: true}, nil
	case "b":
		return tableCell{text: v}, nil
	case "e":
		return tableCell{text: v, errVal: true}, nil
	}
	return tableCell{}, fmt.Errorf("unknown cell type %q", typ)
}

// maxSheetRows is Excel's number of rows in a sheet.
const maxSheetRows = 1048576

func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

// cellRef splits "AB12" into the 0-based column 27 and the row 12.
func cellRef(ref string) (col, row int, ok bool) {
	i := 0
	for i < len(ref) && ref[i] >= 'A' && ref[i] <= 'Z' {
		col = col*26 + int(ref[i]-'A') + 1
		i++
		if i > 3 {
			return 0, 0, false
		}
	}
	if i == 0 || i == len(ref) {
		return 0, 0, false
	}
	row, err := strconv.Atoi(ref[i:])
	if err != nil || row < 1 || ref[i] == '+' || ref[i] == '-' {
		return 0, 0, false
	}
	return col - 1, row, true
}

func colName(col int) string {
	s := ""
	for col++; col > 0; col = (col - 1) / 26 {
		s = string(rune('A'+(col-1)%26)) + s
	}
	return s
}
