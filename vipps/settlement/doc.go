// Package settlement reads the settlement files Vipps MobilePay gives a
// merchant in its business portal — XML v3.0, CSV and XLSX — into one Report
// of settlements and their transactions, in integer minor units.
//
// It stands alone: it imports only the standard library, so that any user of
// the Vipps client can reconcile with it.
//
// # Strictness
//
// Parsing follows the moov-io/ach school: a malformed value, a missing
// required element or column, a wrong namespace or version, a count that does
// not match, or a transaction id seen twice in one settlement is a
// *ParseError naming the file, the line (CSV line, XLSX row, XML line) and the
// field. Nothing malformed becomes a zero. Money is parsed from its decimal
// text with an exact parser of its own (never through float64): at most two
// fraction digits unless the extra ones are zeros, no exponents, and no more
// than MaxAmount in magnitude, so that no sum of amounts can overflow.
//
// An amount written with one separator and exactly three digits after it,
// and one to three digits before ("1,500", "1.500", "-12.000"), is a decimal
// to one reader and a grouped thousand to another. Where the format settles
// which separator is the decimal one, it is read as a decimal: the XML's
// xs:decimal has no digit grouping, so "97.750" is 97.75. The CSV does not
// settle it (it writes a dot, but the sample also writes an unquoted decimal
// comma), nor does an XLSX text cell (written by hand or by a locale), so
// there such an amount is a *ParseError naming the line, the column and the
// text, rather than a thousand silently read as 1.50. Four digits before
// the separator ("1234.500"), a leading zero ("0.500"), two decimals
// ("1,50") or digits grouped by spaces ("1 500,000") settle it; an XLSX
// numeric cell is a number, never text, and is not affected.
//
// # Normalisation
//
// Every format is brought to the XML v3 meaning. Transaction.Gross is signed
// (captures positive, refunds negative), Transaction.Fee is positive for a cost
// to the merchant whatever sign the file uses (positive in XML, negative in
// CSV and XLSX), and Transaction.Net = Gross - Fee. A Settlement keeps the
// totals the file states, in the same convention, with Settlement.Stated
// telling which ones the file gave; Report.Check compares them with the
// transactions. Check does not change anything.
//
// # What each format gives
//
//   - XML v3 (ParseXML): everything — transaction times (Europe/Oslo), the
//     capture, refund, gross, fee, net and settled totals, the settlement type.
//     XML 2.0 (namespace http://vipps.dnb.no/XMLSchema/SettlementReport.xsd) is
//     refused with ErrUnsupportedVersion.
//   - CSV (ParseCSV): dates without times, the stated Capture (the file's
//     Gross), Refund, Fee and Net; no settlement type and no settled amount.
//   - XLSX (ParseXLSX): dates without times, no currency, and per settlement
//     only the payout (Oppgjørssum on the "Til utbetaling netto" row).
//
// # The CSV sample's known defects
//
// The Vipps sample settlement-report.csv is not well-formed and not
// consistent. ParseCSV accepts it and reports, in Report.Warnings, exactly
// these (line numbers of that file):
//
//   - line 6: the SettlementInfo row has 13 fields for 12 columns because Net
//     is written 16450,62 with an unquoted decimal comma. A row with exactly one
//     field more than its header is accepted only when exactly one amount column
//     and the field after it join into a valid decimal-comma amount; any other
//     field-count mismatch is an error.
//   - line 6: its Net 16450.62 is Gross + Fee and leaves out the -1490.00 refund
//     (the XML rule gives 14960.62). Settlement.Net keeps 16450.62, so Check
//     reports one Net problem for that settlement.
//   - line 9: the seven TransactionInfo rows carry SettlementId 2000720, which is
//     not the SettlementInfo's 2000001; as the file has one settlement they are
//     attached to it and keep their own SettlementID.
//   - line 9: they carry SaleUnitNumber 595976, not 513428.
//   - line 9: they carry SettlementDate 10.04.2021, not 12.04.2021.
//   - line 14: the refund row states Net 0.00 (Gross + Fee, without the refund);
//     its Transaction.Net is -1490.00.
//
// # Fuzzing
//
// Every parser has a fuzz target (FuzzParseXML, FuzzParseCSV,
// FuzzParseCSVFunc, FuzzParseXLSX, FuzzDecimal) seeded with the Vipps
// samples. A few inputs of each, and every input that once made one fail,
// are kept under testdata/fuzz and run with the tests.
package settlement
