package settlement

import (
	"bytes"
	"fmt"
	"testing"
)

// genCSV writes a consistent multi-section CSV report: settlements ×
// perSettlement transactions, every tenth a refund.
func genCSV(settlements, perSettlement int) []byte {
	var b bytes.Buffer
	b.WriteString("OrganizationNumber,MerchantName\n999999999,Shop AS\n")
	b.WriteString("SettlementInfo,SalesUnitName,SaleUnitNumber,SettlementDate,SettlementID,SettlementAccount,Gross,Currency,Fee,Refund,Net,NumberOfTransactions\n")
	type sums struct{ gross, fee, refund int64 }
	all := make([]sums, settlements)
	for s := range settlements {
		for i := range perSettlement {
			gross, fee, refund := txAmounts(s, i)
			all[s].gross += gross
			all[s].fee += fee
			all[s].refund += refund
		}
		x := all[s]
		fmt.Fprintf(&b, "SettlementInfo,Shop,123456,12.04.2021,%d,12345678903,%s,NOK,%s,%s,%s,%d\n",
			2000000+s, formatMinor(x.gross), formatMinor(-x.fee), formatMinor(x.refund), formatMinor(x.gross+x.refund-x.fee), perSettlement)
	}
	b.WriteString("TransactionInfo,SalesDate,SaleUnitName,SaleUnitNumber,TransactionId,SettlementId,OrderID,SettlementDate,Gross,Currency,Fee,Refund,Net\n")
	for s := range settlements {
		for i := range perSettlement {
			gross, fee, refund := txAmounts(s, i)
			fmt.Fprintf(&b, "TransactionInfo,10.04.2021,Shop,123456,%d,%d,order-%d-%d,12.04.2021,%s,NOK,%s,%s,%s\n",
				5000000000+s*perSettlement+i, 2000000+s, s, i, formatMinor(gross), formatMinor(-fee), formatMinor(refund), formatMinor(gross+refund-fee))
		}
	}
	return b.Bytes()
}

// txAmounts gives transaction i of settlement s: a capture with a 1.5 % fee,
// or every tenth a refund without a fee.
func txAmounts(s, i int) (gross, fee, refund int64) {
	amount := int64(100 + (s*7919+i*104729)%99900)
	if i%10 == 9 {
		return 0, 0, -amount
	}
	return amount, amount * 15 / 1000, 0
}

// genXML writes a consistent XML v3 report of the same shape.
func genXML(settlements, perSettlement int) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<SettlementReport xmlns="http://vipps.no/xmlschema/SettlementReport-3.0.xsd">
  <SettlementDetailsInfo>
    <SaleUnitName>Shop</SaleUnitName>
    <SerialNumber>123456</SerialNumber>
    <OrganizationName>Shop AS</OrganizationName>
    <OrganizationNumber>999999999</OrganizationNumber>
    <MainAddress>Street 1</MainAddress>
    <MainAddressZipCode>0150</MainAddressZipCode>
    <MainAddressCity>Oslo</MainAddressCity>
    <MainAddressCountryCode>NOR</MainAddressCountryCode>
    <PaymentsInfo>
      <ReportDateFrom>2021-04-01</ReportDateFrom>
      <ReportDateTo>2021-04-30</ReportDateTo>
      <SettlementCurrencyCode>NOK</SettlementCurrencyCode>
      <SettlementAccountNum>12345678903</SettlementAccountNum>
`)
	for s := range settlements {
		fmt.Fprintf(&b, "      <SettlementInfo>\n        <SettlementDate>2021-04-12</SettlementDate>\n        <SettlementID>%d</SettlementID>\n        <SettlementCurrencyCode>NOK</SettlementCurrencyCode>\n        <SettlementType>Net</SettlementType>\n", 2000000+s)
		var capture, refundSum, feeSum int64
		for i := range perSettlement {
			gross, fee, refund := txAmounts(s, i)
			capture += gross
			refundSum += refund
			feeSum += fee
			fmt.Fprintf(&b, `        <TransactionInfo>
          <TransactionTime>2021-04-10T12:%02d:%02d.123+02:00</TransactionTime>
          <TransactionCaptureAmount>%s</TransactionCaptureAmount>
          <TransactionRefundAmount>%s</TransactionRefundAmount>
          <TransactionGrossAmount>%s</TransactionGrossAmount>
          <TransactionNetAmount>%s</TransactionNetAmount>
          <TransactionFeeAmount>%s</TransactionFeeAmount>
          <SettlementCurrencyCode>NOK</SettlementCurrencyCode>
          <TransactionID>%d</TransactionID>
          <OrderID>order-%d-%d</OrderID>
        </TransactionInfo>
`, i/60%60, i%60, formatMinor(gross), formatMinor(refund), formatMinor(gross+refund), formatMinor(gross+refund-fee), formatMinor(fee),
				5000000000+s*perSettlement+i, s, i)
		}
		fmt.Fprintf(&b, `        <NumOfTransactions>%d</NumOfTransactions>
        <CaptureSettlementAmount>%s</CaptureSettlementAmount>
        <RefundSettlementAmount>%s</RefundSettlementAmount>
        <GrossSettlementAmount>%s</GrossSettlementAmount>
        <NetSettlementAmount>%s</NetSettlementAmount>
        <FeeSettlementAmount>%s</FeeSettlementAmount>
        <SettledAmount>%s</SettledAmount>
      </SettlementInfo>
`, perSettlement, formatMinor(capture), formatMinor(refundSum), formatMinor(capture+refundSum), formatMinor(capture+refundSum-feeSum),
			formatMinor(feeSum), formatMinor(capture+refundSum-feeSum))
	}
	fmt.Fprintf(&b, `      <NumOfSettlements>%d</NumOfSettlements>
    </PaymentsInfo>
  </SettlementDetailsInfo>
  <VippsInfo>
    <Name>Vipps AS</Name>
    <WebSite>vipps.no</WebSite>
    <VisitingAddress>Dronning Eufemias Gate 42</VisitingAddress>
    <PostBox></PostBox>
    <PostAddress>N-0191 Oslo</PostAddress>
    <Country>Norway</Country>
  </VippsInfo>
</SettlementReport>
`, settlements)
	return b.Bytes()
}

func TestGeneratedFilesAddUp(t *testing.T) {
	for name, parse := range map[string]func() (*Report, error){
		"csv": func() (*Report, error) { return ParseCSV(bytes.NewReader(genCSV(3, 25)), "gen.csv") },
		"xml": func() (*Report, error) { return ParseXML(bytes.NewReader(genXML(3, 25)), "gen.xml") },
	} {
		rep, err := parse()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(rep.Settlements) != 3 || len(rep.Settlements[2].Transactions) != 25 || len(rep.Warnings) != 0 || len(rep.Check()) != 0 {
			t.Errorf("%s: %d settlements, warnings %q, problems %v", name, len(rep.Settlements), rep.Warnings, rep.Check())
		}
	}
}

const benchTransactions = 100_000

func benchmarkParse(b *testing.B, data []byte, parse func([]byte) (*Report, error)) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rep, err := parse(data)
		if err != nil {
			b.Fatal(err)
		}
		if n := len(rep.Settlements) * len(rep.Settlements[0].Transactions); n != benchTransactions {
			b.Fatalf("%d transactions", n)
		}
	}
	b.ReportMetric(float64(benchTransactions)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkParseCSV parses a generated CSV report of 100,000 transactions
// (100 settlements of 1,000).
func BenchmarkParseCSV(b *testing.B) {
	data := genCSV(100, benchTransactions/100)
	benchmarkParse(b, data, func(d []byte) (*Report, error) { return ParseCSV(bytes.NewReader(d), "bench.csv") })
}

// BenchmarkParseXML parses a generated XML v3 report of 100,000 transactions.
func BenchmarkParseXML(b *testing.B) {
	data := genXML(100, benchTransactions/100)
	benchmarkParse(b, data, func(d []byte) (*Report, error) { return ParseXML(bytes.NewReader(d), "bench.xml") })
}

// BenchmarkParseCSVFunc streams the report BenchmarkParseCSV parses.
func BenchmarkParseCSVFunc(b *testing.B) {
	data := genCSV(100, benchTransactions/100)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		_, _, err := ParseCSVFunc(bytes.NewReader(data), "bench.csv", func(Settlement, Transaction) error {
			n++
			return nil
		})
		if err != nil || n != benchTransactions {
			b.Fatalf("%d transactions, %v", n, err)
		}
	}
	b.ReportMetric(float64(benchTransactions)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
