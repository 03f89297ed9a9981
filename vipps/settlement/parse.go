package settlement

import (
	"bytes"
	"fmt"
)

// Parse reads a settlement file of any supported format, which it tells from
// the content, not the name: a zip is XLSX, markup is XML, and text whose
// first line is a known CSV header is CSV. name is used in errors only.
// A legacy .xls or a PDF report is refused with ErrUnsupportedVersion.
func Parse(name string, data []byte) (*Report, error) {
	switch {
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		return ParseXLSX(bytes.NewReader(data), int64(len(data)), name)
	case bytes.HasPrefix(data, []byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1")):
		return nil, &ParseError{Source: name, Err: fmt.Errorf("%w: a legacy Excel .xls file; export the report as .xlsx", ErrUnsupportedVersion)}
	case bytes.HasPrefix(data, []byte("%PDF")):
		return nil, &ParseError{Source: name, Err: fmt.Errorf("%w: a PDF report; export it as XML, CSV or XLSX", ErrUnsupportedVersion)}
	}
	text := bytes.TrimPrefix(data, []byte("\uFEFF"))
	if t := bytes.TrimLeft(text, " \t\r\n"); len(t) > 0 && t[0] == '<' {
		return ParseXML(bytes.NewReader(data), name)
	}
	if looksLikeCSV(text) {
		return ParseCSV(bytes.NewReader(data), name)
	}
	return nil, &ParseError{Source: name, Err: ErrUnknownFormat}
}

func looksLikeCSV(text []byte) bool {
	first, _, _ := bytes.Cut(text, []byte("\n"))
	for kind := range csvSpecs {
		if bytes.HasPrefix(first, []byte(kind+",")) {
			return true
		}
	}
	_, ok := sniffPortalCSV(text[:min(len(text), 64<<10)])
	return ok
}
