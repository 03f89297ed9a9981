package settlement

import (
	"strings"
	"testing"
)

// validCSV is a consistent multi-section report: a capture and a refund.
var validCSV = strings.Join([]string{
	"OrganizationNumber,MerchantName", // 1
	"999999999,Shop AS",
	"SettlementInfo,SalesUnitName,SaleUnitNumber,SettlementDate,SettlementID,SettlementAccount,Gross,Currency,Fee,Refund,Net,NumberOfTransactions",
	"SettlementInfo,Shop,123456,12.04.2021,2000001,12345678903,100.00,NOK,-2.25,-40.00,57.75,2",
	"TransactionInfo,SalesDate,SaleUnitName,SaleUnitNumber,TransactionId,SettlementId,OrderID,SettlementDate,Gross,Currency,Fee,Refund,Net", // 5
	"TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,100.00,NOK,-2.25,0.00,97.75",
	"TransactionInfo,11.04.2021,Shop,123456,5002,2000001,order-1,12.04.2021,0.00,NOK,0.00,-40.00,-40.00", // 7
}, "\n") + "\n"

func TestParseCSVValid(t *testing.T) {
	rep, err := ParseCSV(strings.NewReader("\uFEFF"+validCSV), "t.csv")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) != 0 {
		t.Errorf("warnings: %q", rep.Warnings)
	}
	if p := rep.Check(); len(p) != 0 {
		t.Errorf("Check() = %v", p)
	}
	s := rep.Settlements[0]
	if totalsOf(s) != (totals{capture: 10000, refund: -4000, fee: 225, net: 5775}) {
		t.Errorf("totals %+v", totalsOf(s))
	}
	if r := s.Transactions[1]; r.Line != 7 || r.Kind != KindRefund || r.Gross != -4000 || r.Net != -4000 || r.SalesDate != "2021-04-11" {
		t.Errorf("refund %+v", r)
	}
}

// The documented repair: one unquoted decimal comma in an amount column.
func TestParseCSVDecimalCommaRepair(t *testing.T) {
	in := editLines(validCSV, map[int]string{4: "SettlementInfo,Shop,123456,12.04.2021,2000001,12345678903,100.00,NOK,-2.25,-40.00,57,75,2"})
	rep, err := ParseCSV(strings.NewReader(in), "t.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := `t.csv:4: SettlementInfo row has 13 fields for 12 columns: joined "57" and "75" into Net 57,75 (an unquoted decimal comma)`
	if len(rep.Warnings) != 1 || rep.Warnings[0] != want {
		t.Errorf("warnings = %q, want [%q]", rep.Warnings, want)
	}
	if rep.Settlements[0].Net != 5775 || len(rep.Check()) != 0 {
		t.Errorf("net %d, problems %v", rep.Settlements[0].Net, rep.Check())
	}
}

func TestParseCSVMalformed(t *testing.T) {
	tests := []struct {
		name  string
		edits map[int]string
		line  int
		field string
		msg   string
	}{
		{"one field too many, not an amount", map[int]string{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,100.00,NOK,-2.25,0.00,97.75,x"},
			6, "TransactionInfo", "14 fields, the header at line 5 has 13"},
		{"one field too few", map[int]string{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,100.00,NOK,-2.25,0.00"},
			6, "TransactionInfo", "12 fields, the header at line 5 has 13"},
		{"ambiguous decimal comma", map[int]string{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,100.00,NOK,0,0,97,75"},
			6, "TransactionInfo", "14 fields"},
		{"comma joined into a non-amount", map[int]string{4: "SettlementInfo,Shop,123456,12.04.2021,2000001,12345678903,100.00,NOK,-2.25,-40.00,57.75,2,0"},
			4, "SettlementInfo", "13 fields, the header at line 3 has 12"},
		{"quoted decimal comma", map[int]string{6: `TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,"100,00",NOK,-2.25,0.00,97.75`},
			6, "Gross", `unexpected ','`},
		{"three decimals", map[int]string{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,100.001,NOK,-2.25,0.00,97.75"},
			6, "Gross", "more than 2 fraction digits"},
		{"grouped thousand", map[int]string{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,1.500,NOK,-2.25,0.00,97.75"},
			6, "Gross", `amount "1.500" is ambiguous`},
		{"unquoted comma before three digits", map[int]string{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,1,500,NOK,-2.25,0.00,97.75"},
			6, "Gross", `1,500 would be one amount with an unquoted comma, but amount "1,500" is ambiguous`},
		{"exponent", map[int]string{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,1e2,NOK,-2.25,0.00,97.75"},
			6, "Gross", "exponent"},
		{"empty amount", map[int]string{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,100.00,NOK,,0.00,97.75"},
			6, "Fee", "empty amount"},
		{"positive fee", map[int]string{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,100.00,NOK,2.25,0.00,97.75"},
			6, "Fee", "positive; fees are negative"},
		{"positive refund", map[int]string{7: "TransactionInfo,11.04.2021,Shop,123456,5002,2000001,order-1,12.04.2021,0.00,NOK,0.00,40.00,-40.00"},
			7, "Refund", "positive; refunds are negative"},
		{"net adds up to nothing", map[int]string{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,100.00,NOK,-2.25,0.00,97.00"},
			6, "Net", "is neither Gross + Refund + Fee = 97.75 nor Gross + Fee = 97.75"},
		{"negative gross", map[int]string{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,-100.00,NOK,-2.25,0.00,97.75"},
			6, "Gross", "-100.00 is negative; refunds go in the Refund column"},
		{"capture and refund", map[int]string{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,100.00,NOK,-2.25,-1.00,97.75"},
			6, "Refund", "transaction 5001 has both a capture (100.00) and a refund (-1.00)"},
		{"bad date", map[int]string{6: "TransactionInfo,31.02.2021,Shop,123456,5001,2000001,order-1,12.04.2021,100.00,NOK,-2.25,0.00,97.75"},
			6, "SalesDate", "is not a date"},
		{"bad settlement date", map[int]string{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,1204.2021,100.00,NOK,-2.25,0.00,97.75"},
			6, "SettlementDate", `"1204.2021" is not a date`},
		{"bad transaction currency", map[int]string{6: "TransactionInfo,10.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,100.00,nok,-2.25,0.00,97.75"},
			6, "Currency", "not an ISO 4217"},
		{"bad currency", map[int]string{4: "SettlementInfo,Shop,123456,12.04.2021,2000001,12345678903,100.00,nok,-2.25,-40.00,57.75,2"},
			4, "Currency", "not an ISO 4217"},
		{"missing transaction id", map[int]string{6: "TransactionInfo,10.04.2021,Shop,123456,,2000001,order-1,12.04.2021,100.00,NOK,-2.25,0.00,97.75"},
			6, "TransactionId", "empty"},
		{"missing settlement id", map[int]string{6: "TransactionInfo,10.04.2021,Shop,123456,5001,,order-1,12.04.2021,100.00,NOK,-2.25,0.00,97.75"},
			6, "SettlementId", "empty"},
		{"duplicate transaction id", map[int]string{7: "TransactionInfo,11.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,0.00,NOK,0.00,-40.00,-40.00"},
			7, "TransactionId", "duplicate transaction 5001 in settlement 2000001 (first at line 6)"},
		{"duplicate transaction id before its settlement", map[int]string{3: "", 4: "", 8: strings.Join([]string{
			"TransactionInfo,11.04.2021,Shop,123456,5001,2000001,order-1,12.04.2021,0.00,NOK,0.00,-40.00,-40.00",
			"SettlementInfo,SalesUnitName,SaleUnitNumber,SettlementDate,SettlementID,SettlementAccount,Gross,Currency,Fee,Refund,Net,NumberOfTransactions",
			"SettlementInfo,Shop,123456,12.04.2021,2000001,12345678903,100.00,NOK,-2.25,-80.00,57.75,3", ""}, "\n")},
			6, "TransactionId", "duplicate transaction 5001 in settlement 2000001 (first at line 4)"},
		{"one settlement twice", map[int]string{4: "\x00SettlementInfo,Shop,123456,12.04.2021,2000001,12345678903,100.00,NOK,-2.25,-40.00,57.75,2"},
			5, "SettlementID", "settlement 2000001 appears twice (first at line 4)"},
		{"NumberOfTransactions", map[int]string{4: "SettlementInfo,Shop,123456,12.04.2021,2000001,12345678903,100.00,NOK,-2.25,-40.00,57.75,3"},
			4, "NumberOfTransactions", "states 3 transactions, 2 TransactionInfo rows"},
		{"NumberOfTransactions not a count", map[int]string{4: "SettlementInfo,Shop,123456,12.04.2021,2000001,12345678903,100.00,NOK,-2.25,-40.00,57.75,two"},
			4, "NumberOfTransactions", "is not a count"},
		{"transaction currency", map[int]string{7: "TransactionInfo,11.04.2021,Shop,123456,5002,2000001,order-1,12.04.2021,0.00,SEK,0.00,-40.00,-40.00"},
			7, "Currency", "SEK differs from NOK"},
		{"unknown settlement with two settlements", map[int]string{
			4: "\x00SettlementInfo,Shop,123456,12.04.2021,2000002,12345678903,0.00,NOK,0.00,0.00,0.00,0",
			7: "TransactionInfo,11.04.2021,Shop,123456,5002,2000009,order-1,12.04.2021,0.00,NOK,0.00,-40.00,-40.00"},
			8, "SettlementId", "2000009 matches no SettlementInfo row"},
		{"header lacks a column", map[int]string{5: "TransactionInfo,SalesDate,SaleUnitName,SaleUnitNumber,TransactionId,SettlementId,SettlementDate,Gross,Currency,Fee,Refund,Net"},
			5, "TransactionInfo", "header lacks the column(s) OrderID"},
		{"duplicate column", map[int]string{5: "TransactionInfo,SalesDate,SaleUnitName,SaleUnitNumber,TransactionId,SettlementId,OrderID,SettlementDate,Gross,Currency,Fee,Refund,Net,Net"},
			5, "Net", "column appears twice"},
		{"data before header", map[int]string{5: "", 7: "TransactionInfo,SalesDate,SaleUnitName,SaleUnitNumber,TransactionId,SettlementId,OrderID,SettlementDate,Gross,Currency,Fee,Refund,Net"},
			5, "TransactionInfo", "data row before its header row"},
		{"second header", map[int]string{7: "TransactionInfo,SalesDate,SaleUnitName,SaleUnitNumber,TransactionId,SettlementId,OrderID,SettlementDate,Gross,Currency,Fee,Refund,Net"},
			7, "TransactionInfo", "second header row (the first is at line 5)"},
		{"unrecognised row", map[int]string{5: "\x00Payout,1,2"}, 5, "", `unrecognised row starting with "Payout"`},
		{"two organisation rows", map[int]string{3: "\x00999999998,Other AS"}, 3, "OrganizationNumber", "more than one data row"},
		{"unterminated quote", map[int]string{6: `TransactionInfo,"10.04.2021,Shop`}, 7, "", "malformed CSV"},
		{"bare quote", map[int]string{6: `TransactionInfo,10.04.2021,Sh"op,123456,5001,2000001,order-1,12.04.2021,100.00,NOK,-2.25,0.00,97.75`},
			6, "", `malformed CSV: bare "`},
		{"no settlement", map[int]string{3: "", 4: ""}, 4, "TransactionInfo", "no SettlementInfo row"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCSV(strings.NewReader(editLines(validCSV, tt.edits)), "t.csv")
			assertParseError(t, err, "t.csv", tt.line, tt.field, tt.msg)
		})
	}
}

// The portal's own table can also come as CSV (semicolon, decimal comma).
func TestParseCSVPortalTable(t *testing.T) {
	in := strings.Join([]string{
		"Oppgjørsrapport",
		"Bedriften;;Shop AS",
		"Organisasjonsnummer;;999999999",
		"Salgsdato;Salgssted;Vippsnummer;Produkt;Transaksjons-ID;Ordre-ID;Brutto;Gebyr;Netto;Transaksjonstype;Oppgjørs-ID;Oppgjørsdato;Oppgjørssum;Oppgjørskonto",
		"25.03.2024;Shop;123456;Vipps Netthandel;5001;order-1;1 000,00;-15,00;985,00;Salg;2000001;27.03.2024;;",
		"26.03.2024;Shop;123456;Vipps Netthandel;5002;order-1;-40,00;0,00;-40,00;Refundering;2000001;27.03.2024;;",
		"Til utbetaling netto;Shop;123456;;;;;;;;2000001;27.03.2024;945,00;12345678903",
	}, "\r\n")
	rep, err := Parse("portal.csv", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Format != FormatCSV || rep.OrganizationNumber != "999999999" || len(rep.Settlements) != 1 {
		t.Fatalf("report %+v", rep)
	}
	s := rep.Settlements[0]
	if s.Settled != 94500 || s.Line != 7 || s.Transactions[0].Gross != 100000 || s.Transactions[1].Kind != KindRefund {
		t.Errorf("settlement %+v", s)
	}
	if p := rep.Check(); len(p) != 0 {
		t.Errorf("Check() = %v", p)
	}
}
