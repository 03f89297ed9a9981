package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"html"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// financeMonth fills the sandbox with settlements of both providers over
// several days: Vipps payments captured on two days (one refunded), synced
// once Vipps has paid them out, and a Kustom settlement file of three
// sales, one of whose payouts does not add up (an exception). It returns
// the period that holds them.
func financeMonth(t *testing.T) (e *testEnv, from, to string) {
	t.Helper()
	e = startMain(t, nil)
	day0 := osloDay(e.clock.Now())
	capture := func(i int) {
		p := e.paid()
		e.settle()
		status, body := e.call("POST", "/api/v1/payments/"+p.Reference+"/capture", "cap-"+p.Reference, `{"amount":{"value":`+strconv.Itoa(30000+i*5000)+`,"currency":"NOK"}}`)
		require.Equal(t, http.StatusOK, status, body)
		if i == 0 {
			status, body = e.call("POST", "/api/v1/payments/"+p.Reference+"/refund", "ref-"+p.Reference, `{"amount":{"value":5000,"currency":"NOK"}}`)
			require.Equal(t, http.StatusOK, status, body)
		}
	}
	capture(0)
	capture(1)
	e.settle()
	e.clock.Advance(24 * time.Hour)
	day1 := osloDay(e.clock.Now())
	capture(2)
	e.settle()
	e.clock.Advance(50 * time.Hour)
	from, to = osloDay(e.clock.Now().AddDate(0, 0, -4)), osloDay(e.clock.Now())
	status, body := e.finance("POST", "/api/v1/settlements/sync?from="+from+"&to="+to, nil)
	require.Equal(t, http.StatusOK, status, string(body))

	kustom := "payment_reference,payout_date,settlement_currency,total_settlement_amount,type,order_id,capture_id,amount,posting_currency,capture_date\n" +
		"kp-1," + day1 + ",NOK,800.00,SALE,ko-1,kc-1,500.00,NOK," + day0 + "\n" +
		"kp-1," + day1 + ",NOK,800.00,SALE,ko-2,kc-2,300.00,NOK," + day1 + "\n" +
		"kp-2," + day1 + ",NOK,99.00,SALE,ko-3,kc-3,250.00,NOK," + day1 + "\n"
	status, body = e.finance("POST", "/api/v1/settlements/kustom?name=kustom.csv", strings.NewReader(kustom))
	require.Equal(t, http.StatusOK, status, string(body))
	return e, from, to
}

// csvMinor reads a decimal-comma amount ("-1490,00") as minor units.
func csvMinor(t *testing.T, s string) int64 {
	t.Helper()
	require.Regexp(t, `^-?[0-9]+,[0-9]{2}$`, s, "a Norwegian amount")
	v, err := strconv.ParseInt(strings.Replace(s, ",", "", 1), 10, 64)
	require.NoError(t, err)
	return v
}

// The Norwegian CSV opens in columns in a Norwegian spreadsheet (BOM,
// semicolons, decimal commas, CRLF) and its figures are the page's: the
// days' nets add up to the totals on /finance and to the reconciliation,
// the payouts are the reconciliation's, and the matches section lists
// every movement the matches account for.
func TestFinanceCSVNorwegianAddsUpToThePage(t *testing.T) {
	e, from, to := financeMonth(t)
	status, body := e.finance("GET", "/api/v1/reconciliation?format=csv&dialect=no&from="+from+"&to="+to, nil)
	require.Equal(t, http.StatusOK, status, string(body))
	require.True(t, bytes.HasPrefix(body, []byte("\ufeff")), "a UTF-8 byte order mark")
	require.Contains(t, string(body), "\r\n")
	require.NotRegexp(t, `[^\r]\n`, string(body), "every line ends in CRLF")
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, []byte("\ufeff"))))
	r.Comma = ';'
	recs, err := r.ReadAll()
	require.NoError(t, err)
	header := recs[0]
	require.Equal(t, []string{"seksjon", "årsak", "leverandør", "dato", "utbetaling_id", "referanse"}, header[:6])
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	dayNet := map[string]int64{}  // by currency
	provNet := map[string]int64{} // by provider and currency
	payoutNet := map[string]int64{}
	var matched int64
	var matchedRows, exceptionRows int
	var matchedPayouts []string
	for _, rec := range recs[1:] {
		switch rec[col["seksjon"]] {
		case "dag":
			v := csvMinor(t, rec[col["netto"]])
			dayNet[rec[col["valuta"]]] += v
			provNet[rec[col["leverandør"]]+" "+rec[col["valuta"]]] += v
		case "utbetaling":
			payoutNet[rec[col["utbetaling_id"]]] = csvMinor(t, rec[col["netto"]])
		case "avstemt":
			matched += csvMinor(t, rec[col["beløp"]])
			matchedRows++
			require.NotEmpty(t, rec[col["referanse"]])
			require.NotEmpty(t, rec[col["dato"]])
			matchedPayouts = append(matchedPayouts, rec[col["utbetaling_id"]])
		case "avvik":
			exceptionRows++
		}
	}
	require.Len(t, provNet, 2, "both providers settled: %v", provNet)

	// The reconciliation the page and the JSON are made of.
	rec, err := e.m.Finance.Reconcile(context.Background(), from, to)
	require.NoError(t, err)
	var wantNet int64
	for _, d := range rec.Days {
		wantNet += d.Net
	}
	require.Equal(t, wantNet, dayNet["NOK"])
	require.Len(t, payoutNet, len(rec.Payouts))
	for _, p := range rec.Payouts {
		require.Equal(t, p.Net, payoutNet[p.ID], "payout %s", p.ID)
	}
	require.Equal(t, len(rec.Exceptions), exceptionRows)
	// Each matched movement names the payout it went into, one of the
	// payouts section's.
	for _, id := range matchedPayouts {
		if id != "" {
			require.Contains(t, payoutNet, id, "a matched movement's payout is in the payouts section")
		}
	}
	require.NotContains(t, matchedPayouts, "", "every matched movement of the month was paid out: %v", matchedPayouts)
	var wantMatched int64
	var movements int
	for _, m := range rec.Matches {
		if len(m.Movements) > 0 {
			wantMatched += m.Gross
			movements += len(m.Movements)
		}
	}
	require.Equal(t, 4, movements, "three captures and a refund are matched")
	require.Equal(t, movements, matchedRows)
	require.Equal(t, wantMatched, matched)
	require.Contains(t, string(body), ";avstemt;", "matched rows are in the file")

	// The page's totals, per provider, are the CSV's.
	status, page := e.finance("GET", "/finance?from="+from+"&to="+to, nil)
	require.Equal(t, http.StatusOK, status)
	rows := regexp.MustCompile(`<tr data-currency="([A-Z]{3})" data-net="(-?[0-9]+)"><th>([A-Za-z]+) [A-Z]{3}</th>`).FindAllStringSubmatch(string(page), -1)
	require.Len(t, rows, 2, "a total per provider")
	for _, m := range rows {
		v, _ := strconv.ParseInt(m[2], 10, 64)
		require.Equal(t, provNet[strings.ToLower(m[3])+" "+m[1]], v, "%s total", m[3])
	}
	require.Contains(t, string(page), "dialect=no", "the page offers the Norwegian file")
	require.Contains(t, string(page), "dialect=en", "and the English one")

	status, body = e.finance("GET", "/api/v1/reconciliation?format=csv&dialect=sv&from="+from+"&to="+to, nil)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, string(body), "bad_dialect")
}

// visibleText is what a page shows or reads out: its text without tags,
// styles or scripts, and without the link to the other language (which
// is named in that language, marked with its lang).
func visibleText(page string) string {
	for _, re := range []string{`(?s)<style.*?</style>`, `(?s)<script.*?</script>`, `(?s)<a id="lang-switch"[^>]*>.*?</a>`, `<[^>]+>`} {
		page = regexp.MustCompile(re).ReplaceAllString(page, " ")
	}
	return html.UnescapeString(page)
}

var (
	englishWords   = []string{"Finance", "Settlement", "From", "To", "Show", "Download", "Gross", "Fees", "Net", "Lines", "Matched", "Exceptions", "Exception", "Date", "Provider", "Payout", "Payouts", "Paid", "Amount", "Expected", "Days", "Totals", "Balances", "balance", "movements", "settlement", "pending", "Detail", "per day"}
	norwegianWords = []string{"Økonomi", "Oppgjør", "avstemming", "Fra", "Til", "Vis", "Last ned", "Brutto", "Gebyrer", "Netto", "Linjer", "Avstemt", "Avvik", "Dato", "Leverandør", "Utbetaling", "Utbetalinger", "Utbetalt", "Beløp", "Forventet", "Dager", "Summer", "Stemmer", "bevegelser", "venter", "per dag", "kr", "regneark"}
)

func wordsIn(text string, words []string) []string {
	var found []string
	for _, w := range words {
		if regexp.MustCompile(`(^|[^\p{L}])` + regexp.QuoteMeta(w) + `($|[^\p{L}])`).MatchString(text) {
			found = append(found, w)
		}
	}
	return found
}

// The finance page is in the unit's language (Norwegian for the NO unit)
// with no English on it, and in English with ?lang=en with no Norwegian;
// each links to the other. The word lists do find their language (else
// they could not fail).
func TestFinancePageOneLanguage(t *testing.T) {
	e, from, to := financeMonth(t)
	status, nb := e.finance("GET", "/finance?from="+from+"&to="+to, nil)
	require.Equal(t, http.StatusOK, status)
	status, en := e.finance("GET", "/finance?lang=en&from="+from+"&to="+to, nil)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, string(nb), `<html lang="nb">`)
	require.Contains(t, string(en), `<html lang="en">`)
	require.Contains(t, string(nb), `id="lang-switch" href="/finance?from=`+from+`&amp;lang=en&amp;to=`+to+`" lang="en"`)
	require.Contains(t, string(en), `id="lang-switch" href="/finance?from=`+from+`&amp;lang=nb&amp;to=`+to+`" lang="nb"`)
	require.Contains(t, string(nb), `class="exc"`, "the month has an exception to show")

	nbText, enText := visibleText(string(nb)), visibleText(string(en))
	require.Empty(t, wordsIn(nbText, englishWords), "English on the Norwegian page")
	require.Empty(t, wordsIn(enText, norwegianWords), "Norwegian on the English page")
	require.Greater(t, len(wordsIn(nbText, norwegianWords)), 15, "the Norwegian list finds Norwegian")
	require.Greater(t, len(wordsIn(enText, englishWords)), 15, "the English list finds English")
	// Exceptions and payout states are words, not codes.
	require.Contains(t, nbText, "Utbetalingen stemmer ikke")
	require.Contains(t, enText, "Payout does not add up")
	require.NotContains(t, nbText, "payout_mismatch")
}

// reconcile -dialect no writes the Norwegian CSV; a bad dialect is refused
// before any work (no reconciliation is reported).
func TestReconcileCommandNorwegianCSV(t *testing.T) {
	cfgFile := testConfigFile(t)
	env := func(string) string { return "" }
	sample := "vipps/settlement/testdata/xml/Example-Gross.xml"
	require.NoError(t, run(context.Background(), []string{"-config", cfgFile, "settlements", "import", "-provider", "vipps", sample}, env, io.Discard, io.Discard))

	var out, errs strings.Builder
	require.NoError(t, run(context.Background(), []string{"-config", cfgFile, "reconcile", "-from", "2018-01-01", "-to", "2018-12-31", "-format", "csv", "-dialect", "no"}, env, &out, &errs))
	require.True(t, strings.HasPrefix(out.String(), "\ufeffseksjon;årsak;leverandør;dato;"), out.String())
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(out.String(), "\ufeff")))
	r.Comma = ';'
	recs, err := r.ReadAll()
	require.NoError(t, err)
	var payouts int
	for _, rec := range recs[1:] {
		if rec[0] == "utbetaling" {
			payouts++
			csvMinor(t, rec[14])
		}
	}
	require.Positive(t, payouts)

	var en strings.Builder
	require.NoError(t, run(context.Background(), []string{"-config", cfgFile, "reconcile", "-from", "2018-01-01", "-to", "2018-12-31"}, env, &en, io.Discard))
	require.True(t, strings.HasPrefix(en.String(), "section,reason,provider,date,"), "en stays the default")

	errs.Reset()
	err = run(context.Background(), []string{"-config", cfgFile, "reconcile", "-from", "2018-01-01", "-to", "2018-12-31", "-dialect", "sv"}, env, io.Discard, &errs)
	require.ErrorContains(t, err, "dialect must be en or no")
	require.NotContains(t, errs.String(), "matched", "refused before reconciling")
}
