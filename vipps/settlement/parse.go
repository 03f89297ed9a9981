package settlement

import (
	"bytes"
	"fmt"
)

// SniffLen is how much of the start of a file Sniff needs to tell its
// format.
const SniffLen = 64 << 10

// Parse reads a settlement file of any supported format, which it tells from
// the content, not the name: a zip is XLSX, markup is XML, and text whose
// first line is a known CSV header is CSV. name is used in errors only.
// A legacy .xls or a PDF report is refused with ErrUnsupportedVersion.
func Parse(name string, data []byte) (*Report, error) {
	format, err := Sniff(name, data)
	if err != nil {
		return nil, err
	}
	switch format {
	case FormatXLSX:
		return ParseXLSX(bytes.NewReader(data), int64(len(data)), name)
	case FormatXML:
		return ParseXML(bytes.NewReader(data), name)
	}
	return ParseCSV(bytes.NewReader(data), name)
}

// Sniff tells the format of a settlement file from its first bytes (at
// least SniffLen of them, or the whole file when it is shorter), as Parse
// does, so that a caller can stream the file into the parser of its
// format: FormatXLSX, FormatXML or FormatCSV. A legacy .xls or a PDF report
// is refused with ErrUnsupportedVersion, anything else unknown with
// ErrUnknownFormat.
func Sniff(name string, head []byte) (string, error) {
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return FormatXLSX, nil
	case bytes.HasPrefix(head, []byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1")):
		return "", &ParseError{Source: name, Err: fmt.Errorf("%w: a legacy Excel .xls file; export the report as .xlsx", ErrUnsupportedVersion)}
	case bytes.HasPrefix(head, []byte("%PDF")):
		return "", &ParseError{Source: name, Err: fmt.Errorf("%w: a PDF report; export it as XML, CSV or XLSX", ErrUnsupportedVersion)}
	}
	text := bytes.TrimPrefix(head, []byte("\uFEFF"))
	if t := bytes.TrimLeft(text, " \t\r\n"); len(t) > 0 && t[0] == '<' {
		return FormatXML, nil
	}
	if looksLikeCSV(text) {
		return FormatCSV, nil
	}
	return "", &ParseError{Source: name, Err: ErrUnknownFormat}
}

func looksLikeCSV(text []byte) bool {
	first, _, _ := bytes.Cut(text, []byte("\n"))
	for kind := range csvSpecs {
		if bytes.HasPrefix(first, []byte(kind+",")) {
			return true
		}
	}
	_, ok := sniffPortalCSV(text[:min(len(text), SniffLen)])
	return ok
}
