package settlement

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// validXML is a small, complete v3 report with one element per line, so the
// tests below can name lines. A capture and its partial refund.
var validXML = strings.Join([]string{
	`<?xml version="1.0" encoding="UTF-8"?>`, // 1
	`<SettlementReport xmlns="http://vipps.no/xmlschema/SettlementReport-3.0.xsd">`,
	`<SettlementDetailsInfo>`,
	`<SaleUnitName>Shop</SaleUnitName>`,
	`<SerialNumber>123456</SerialNumber>`, // 5
	`<OrganizationName>Shop AS</OrganizationName>`,
	`<OrganizationNumber>999999999</OrganizationNumber>`,
	`<MainAddress>Street 1</MainAddress>`,
	`<MainAddressZipCode>0150</MainAddressZipCode>`,
	`<MainAddressCity>Oslo</MainAddressCity>`, // 10
	`<MainAddressCountryCode>NOR</MainAddressCountryCode>`,
	`<PaymentsInfo>`,
	`<ReportDateFrom>2024-03-01</ReportDateFrom>`,
	`<ReportDateTo>2024-03-31</ReportDateTo>`,
	`<SettlementCurrencyCode>NOK</SettlementCurrencyCode>`, // 15
	`<SettlementAccountNum>12345678903</SettlementAccountNum>`,
	`<SettlementInfo>`,
	`<SettlementDate>2024-03-31</SettlementDate>`,
	`<SettlementID>2000001</SettlementID>`,
	`<SettlementCurrencyCode>NOK</SettlementCurrencyCode>`, // 20
	`<SettlementType>Net</SettlementType>`,
	`<TransactionInfo>`,
	`<TransactionTime>2024-03-30T23:30:00.5+01:00</TransactionTime>`,
	`<TransactionCaptureAmount>100.00</TransactionCaptureAmount>`,
	`<TransactionRefundAmount>0.00</TransactionRefundAmount>`, // 25
	`<TransactionGrossAmount>100.00</TransactionGrossAmount>`,
	`<TransactionNetAmount>97.75</TransactionNetAmount>`,
	`<TransactionFeeAmount>2.25</TransactionFeeAmount>`,
	`<SettlementCurrencyCode>NOK</SettlementCurrencyCode>`,
	`<TransactionID>5001</TransactionID>`, // 30
	`<OrderID>order-1</OrderID>`,
	`</TransactionInfo>`,
	`<TransactionInfo>`,
	`<TransactionTime>2024-03-31T12:00:00</TransactionTime>`,
	`<TransactionCaptureAmount>0.00</TransactionCaptureAmount>`, // 35
	`<TransactionRefundAmount>-40.00</TransactionRefundAmount>`,
	`<TransactionGrossAmount>-40.00</TransactionGrossAmount>`,
	`<TransactionNetAmount>-40.00</TransactionNetAmount>`,
	`<TransactionFeeAmount>0.00</TransactionFeeAmount>`,
	`<SettlementCurrencyCode>NOK</SettlementCurrencyCode>`, // 40
	`<TransactionID>5002</TransactionID>`,
	`<OrderID>order-1</OrderID>`,
	`</TransactionInfo>`,
	`<NumOfTransactions>2</NumOfTransactions>`,
	`<CaptureSettlementAmount>100.00</CaptureSettlementAmount>`, // 45
	`<RefundSettlementAmount>-40.00</RefundSettlementAmount>`,
	`<GrossSettlementAmount>60.00</GrossSettlementAmount>`,
	`<NetSettlementAmount>57.75</NetSettlementAmount>`,
	`<FeeSettlementAmount>2.25</FeeSettlementAmount>`,
	`<SettledAmount>57.75</SettledAmount>`, // 50
	`</SettlementInfo>`,
	`<NumOfSettlements>1</NumOfSettlements>`,
	`</PaymentsInfo>`,
	`</SettlementDetailsInfo>`,
	`<VippsInfo>`, // 55
	`<Name>Vipps AS</Name>`,
	`<WebSite>vipps.no</WebSite>`,
	`<VisitingAddress>Dronning Eufemias Gate 42</VisitingAddress>`,
	`<PostBox></PostBox>`,
	`<PostAddress>N-0191 Oslo</PostAddress>`, // 60
	`<Country>Norway</Country>`,
	`</VippsInfo>`,
	`</SettlementReport>`,
}, "\n")

// editLines returns doc with the given 1-based lines replaced; an empty
// replacement deletes the line, and "\x00" keeps it but inserts before it
// whatever follows the NUL.
func editLines(doc string, edits map[int]string) string {
	lines := strings.Split(doc, "\n")
	var out []string
	for i, l := range lines {
		e, ok := edits[i+1]
		switch {
		case !ok:
			out = append(out, l)
		case strings.HasPrefix(e, "\x00"):
			out = append(out, e[1:], l)
		case e != "":
			out = append(out, e)
		}
	}
	return strings.Join(out, "\n")
}

func TestParseXMLValid(t *testing.T) {
	rep, err := ParseXML(strings.NewReader(validXML), "t.xml")
	if err != nil {
		t.Fatal(err)
	}
	if p := rep.Check(); len(p) != 0 {
		t.Errorf("Check() = %v", p)
	}
	s := rep.Settlements[0]
	if s.Line != 17 || totalsOf(s) != (totals{10000, -4000, 6000, 225, 5775, 5775}) {
		t.Errorf("settlement line %d totals %+v", s.Line, totalsOf(s))
	}
	capture, refund := s.Transactions[0], s.Transactions[1]
	if capture.Line != 22 || capture.Kind != KindCapture || capture.Gross != 10000 || capture.Fee != 225 || capture.Net != 9775 {
		t.Errorf("capture = %+v", capture)
	}
	if refund.Line != 33 || refund.Kind != KindRefund || refund.Gross != -4000 || refund.Fee != 0 || refund.Net != -4000 {
		t.Errorf("refund = %+v", refund)
	}
	// 23:30+01:00 on 30 March is 23:30 Oslo time; a time without an offset is
	// Oslo time, which on 31 March 2024 (after the switch) is +02:00.
	if got := capture.Time.Format(time.RFC3339Nano); got != "2024-03-30T23:30:00.5+01:00" || capture.SalesDate != "2024-03-30" {
		t.Errorf("capture time %s date %s", got, capture.SalesDate)
	}
	if got := refund.Time.Format(time.RFC3339); got != "2024-03-31T12:00:00+02:00" {
		t.Errorf("refund time %s", got)
	}
	if rep.From != "2024-03-01" || rep.To != "2024-03-31" || rep.MSN != "123456" || rep.SalesUnit != "Shop" {
		t.Errorf("report = %+v", rep)
	}
}

func TestParseXMLMalformed(t *testing.T) {
	tests := []struct {
		name  string
		edits map[int]string
		line  int
		field string
		msg   string
	}{
		{"three fraction digits", map[int]string{24: `<TransactionCaptureAmount>100.001</TransactionCaptureAmount>`}, 24, "TransactionCaptureAmount", "more than 2 fraction digits"},
		{"beyond MaxAmount", map[int]string{24: `<TransactionCaptureAmount>10000000000000.01</TransactionCaptureAmount>`}, 24, "TransactionCaptureAmount", "out of range"},
		{"exponent", map[int]string{24: `<TransactionCaptureAmount>1E2</TransactionCaptureAmount>`}, 24, "TransactionCaptureAmount", "exponent"},
		{"empty amount", map[int]string{27: `<TransactionNetAmount></TransactionNetAmount>`}, 27, "TransactionNetAmount", "empty amount"},
		{"decimal comma", map[int]string{27: `<TransactionNetAmount>97,75</TransactionNetAmount>`}, 27, "TransactionNetAmount", `unexpected ','`},
		{"negative capture", map[int]string{24: `<TransactionCaptureAmount>-100.00</TransactionCaptureAmount>`}, 24, "TransactionCaptureAmount", "must be zero or positive"},
		{"positive refund", map[int]string{36: `<TransactionRefundAmount>40.00</TransactionRefundAmount>`}, 36, "TransactionRefundAmount", "must be negative or exactly 0.00"},
		{"refund zero not 0.00", map[int]string{25: `<TransactionRefundAmount>0</TransactionRefundAmount>`}, 25, "TransactionRefundAmount", "must be negative or exactly 0.00"},
		{"negative fee", map[int]string{28: `<TransactionFeeAmount>-2.25</TransactionFeeAmount>`}, 28, "TransactionFeeAmount", "must be zero or positive"},
		{"negative settlement fee", map[int]string{49: `<FeeSettlementAmount>-2.25</FeeSettlementAmount>`}, 49, "FeeSettlementAmount", "must be zero or positive"},
		{"gross not capture+refund", map[int]string{26: `<TransactionGrossAmount>99.00</TransactionGrossAmount>`}, 26, "TransactionGrossAmount", "is not Capture + Refund = 100.00"},
		{"net not gross-fee", map[int]string{27: `<TransactionNetAmount>97.00</TransactionNetAmount>`}, 27, "TransactionNetAmount", "is not Gross - Fee = 97.75"},
		{"capture and refund", map[int]string{25: `<TransactionRefundAmount>-10.00</TransactionRefundAmount>`}, 24, "TransactionCaptureAmount", "both a capture"},
		{"NumOfTransactions", map[int]string{44: `<NumOfTransactions>3</NumOfTransactions>`}, 44, "NumOfTransactions", "states 3 transactions, the settlement has 2"},
		{"NumOfSettlements", map[int]string{52: `<NumOfSettlements>2</NumOfSettlements>`}, 52, "NumOfSettlements", "states 2 settlements, the report has 1"},
		{"duplicate transaction id", map[int]string{41: `<TransactionID>5001</TransactionID>`}, 33, "TransactionID", "duplicate transaction 5001 in settlement 2000001 (first at line 22)"},
		{"transaction id not a long", map[int]string{30: `<TransactionID>50O1</TransactionID>`}, 30, "TransactionID", "is not an xs:long"},
		{"settlement id not a long", map[int]string{19: `<SettlementID>99999999999999999999</SettlementID>`}, 19, "SettlementID", "is not an xs:long"},
		{"bad time", map[int]string{23: `<TransactionTime>2024-13-01T00:00:00</TransactionTime>`}, 23, "TransactionTime", "is not a date and time"},
		{"bad date", map[int]string{18: `<SettlementDate>31.03.2024</SettlementDate>`}, 18, "SettlementDate", "is not a date"},
		{"bad type", map[int]string{21: `<SettlementType>Brutto</SettlementType>`}, 21, "SettlementType", "neither Net nor Gross"},
		{"bad currency", map[int]string{15: `<SettlementCurrencyCode>kr</SettlementCurrencyCode>`}, 15, "SettlementCurrencyCode", "not an ISO 4217"},
		{"transaction currency", map[int]string{29: `<SettlementCurrencyCode>SEK</SettlementCurrencyCode>`}, 29, "SettlementCurrencyCode", "SEK differs from the settlement's NOK"},
		{"missing OrderID", map[int]string{42: ""}, 42, "OrderID", "required element missing in <TransactionInfo>"},
		{"missing SettledAmount", map[int]string{50: ""}, 50, "SettledAmount", "required element missing in <SettlementInfo>"},
		{"missing VippsInfo", map[int]string{55: "", 56: "", 57: "", 58: "", 59: "", 60: "", 61: "", 62: ""}, 55, "VippsInfo", "required element missing in <SettlementReport>"},
		{"out of order", map[int]string{24: `<TransactionRefundAmount>0.00</TransactionRefundAmount>`, 25: `<TransactionCaptureAmount>100.00</TransactionCaptureAmount>`}, 24, "TransactionCaptureAmount", "found <TransactionRefundAmount> instead"},
		{"repeated element", map[int]string{31: "\x00<TransactionID>5003</TransactionID>"}, 31, "TransactionID", "repeated in <TransactionInfo>"},
		{"unknown element", map[int]string{31: "\x00<Extra>1</Extra>"}, 31, "Extra", "unexpected element in <TransactionInfo>"},
		{"no transactions", map[int]string{22: "", 23: "", 24: "", 25: "", 26: "", 27: "", 28: "", 29: "", 30: "", 31: "", 32: "", 33: "", 34: "", 35: "", 36: "", 37: "", 38: "", 39: "", 40: "", 41: "", 42: "", 43: ""}, 22, "TransactionInfo", "required element missing in <SettlementInfo> (found <NumOfTransactions> instead)"},
		{"element in a value", map[int]string{31: `<OrderID><b>x</b></OrderID>`}, 31, "b", "inside <OrderID>"},
		{"text in a record", map[int]string{22: `<TransactionInfo>junk`}, 22, "TransactionInfo", `unexpected text "junk"`},
		{"text after lines", map[int]string{22: "<TransactionInfo>\n\n  junk"}, 24, "TransactionInfo", `unexpected text "junk"`},
		{"text after lone CRs", map[int]string{22: "<TransactionInfo>\r\rjunk\r"}, 24, "TransactionInfo", `unexpected text "junk"`},
		{"text and character references", map[int]string{22: "<TransactionInfo>junk&#10;&#10;&#10;"}, 22, "TransactionInfo", `unexpected text "junk`},
		{"other namespace element", map[int]string{31: `<OrderID xmlns="urn:x">1</OrderID>`}, 31, "OrderID", `namespace "urn:x"`},
		{"no namespace", map[int]string{2: `<SettlementReport>`}, 2, "SettlementReport", "no namespace"},
		{"wrong root", map[int]string{2: `<Report xmlns="http://vipps.no/xmlschema/SettlementReport-3.0.xsd">`, 63: `</Report>`}, 2, "Report", "root element is <Report>"},
		{"truncated", map[int]string{54: "", 55: "", 56: "", 57: "", 58: "", 59: "", 60: "", 61: "", 62: "", 63: ""}, 53, "", "malformed XML: unexpected EOF"},
		{"mismatched tag", map[int]string{31: `<OrderID>1</OrderId>`}, 31, "", "malformed XML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseXML(strings.NewReader(editLines(validXML, tt.edits)), "t.xml")
			assertParseError(t, err, "t.xml", tt.line, tt.field, tt.msg)
		})
	}
}

func TestParseXMLVersions(t *testing.T) {
	v2 := `<?xml version="1.0"?>
<SettlementReport xmlns="http://vipps.dnb.no/XMLSchema/SettlementReport.xsd"><SettlementDetailsInfo/></SettlementReport>`
	_, err := ParseXML(strings.NewReader(v2), "v2.xml")
	assertParseError(t, err, "v2.xml", 2, "SettlementReport", "this is a SettlementReport 2.0 file")
	if !errors.Is(err, ErrUnsupportedVersion) {
		t.Errorf("errors.Is(%v, ErrUnsupportedVersion) = false", err)
	}
	other := strings.Replace(validXML, "SettlementReport-3.0.xsd", "SettlementReport-4.0.xsd", 1)
	_, err = ParseXML(strings.NewReader(other), "v4.xml")
	if !errors.Is(err, ErrUnsupportedVersion) {
		t.Errorf("v4 namespace: %v, want ErrUnsupportedVersion", err)
	}
}

// An XML prefix bound to the v3 namespace is the same namespace.
func TestParseXMLPrefixedNamespace(t *testing.T) {
	doc := strings.ReplaceAll(validXML, "<", "<vp:")
	doc = strings.ReplaceAll(doc, "<vp:/", "</vp:")
	doc = strings.Replace(doc, "<vp:?xml", "<?xml", 1)
	doc = strings.Replace(doc, `xmlns=`, `xmlns:vp=`, 1)
	if _, err := ParseXML(strings.NewReader(doc), "p.xml"); err != nil {
		t.Fatal(err)
	}
}

func assertParseError(t *testing.T, err error, source string, line int, field, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want line %d %s: %s", line, field, msg)
	}
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %T %v is not a *ParseError", err, err)
	}
	if pe.Source != source || pe.Line != line || pe.Field != field || !strings.Contains(pe.Err.Error(), msg) {
		t.Errorf("error = %q (line %d field %q)\nwant line %d field %q containing %q", err, pe.Line, pe.Field, line, field, msg)
	}
}
