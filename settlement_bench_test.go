package main

// BenchmarkSettlement1M: the product's own `settlements import` and
// `reconcile` commands over a generated Vipps portal settlement CSV of a
// million transactions, run as child processes of the real binary, with
// their wall time and peak RSS, beside the same file read and parsed only.
//
//	go test -run '^$' -bench '^BenchmarkSettlement1M$' -benchtime 1x -timeout 30m .
//
// With VIPPSKCO_TEST_POSTGRES_DSN set it runs on PostgreSQL too (a fresh
// schema). VIPPSKCO_BENCH_SETTLEMENT_LINES changes the size of the file,
// VIPPSKCO_BENCH_SETTLEMENT_FORMAT=xml makes it an XML v3 report of the
// same transactions.

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"vippskco/bridge/config"
	"vippskco/vipps/settlement"
)

// benchParseEnv, when set in the environment of this test binary, makes
// BenchmarkSettlement1M only read and parse the file it names: the child
// process of the baseline.
const benchParseEnv = "VIPPSKCO_BENCH_PARSE_ONLY"

// benchUnit is a sales unit of the generated merchant.
type benchUnit struct{ name, msn, currency string }

var benchUnits = []benchUnit{
	{"Nettbutikken Oslo", "513428", "NOK"},
	{"Nettbutikken Outlet", "595976", "NOK"},
	{"Netbutikken Danmark", "334455", "DKK"},
}

// The generated month: sales days 2026-11-01..30, settled two days later.
const (
	benchFrom = "2026-11-01"
	benchTo   = "2026-11-30"
	benchDays = 30
)

// settlementStep is one measured child process.
type settlementStep struct {
	name string
	wall time.Duration
	rss  int64 // bytes
}

func BenchmarkSettlement1M(b *testing.B) {
	if file := os.Getenv(benchParseEnv); file != "" {
		benchParseOnly(b, file)
		return
	}
	n := 1_000_000
	if v := os.Getenv("VIPPSKCO_BENCH_SETTLEMENT_LINES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < benchDays*len(benchUnits) {
			b.Fatalf("VIPPSKCO_BENCH_SETTLEMENT_LINES=%q: want a whole number of at least %d", v, benchDays*len(benchUnits))
		}
	}
	dir := b.TempDir()
	bin := filepath.Join(dir, "vippskco")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	format := cmp.Or(os.Getenv("VIPPSKCO_BENCH_SETTLEMENT_FORMAT"), "csv")
	if format != "csv" && format != "xml" {
		b.Fatalf("VIPPSKCO_BENCH_SETTLEMENT_FORMAT=%q: want csv or xml", format)
	}
	file := filepath.Join(dir, "vipps-settlement-1m."+format)
	size, err := writeBenchSettlement(file, n, format)
	if err != nil {
		b.Fatal(err)
	}
	stores := []struct {
		name string
		edit func(*config.Config)
	}{{"sqlite", nil}}
	if dsn := os.Getenv("VIPPSKCO_TEST_POSTGRES_DSN"); dsn != "" {
		stores = append(stores, struct {
			name string
			edit func(*config.Config)
		}{"postgres", onPostgres(benchPostgresSchema(b, dsn))})
	}

	b.ResetTimer()
	var steps []settlementStep
	for range b.N {
		steps = steps[:0]
		self, err := os.Executable()
		if err != nil {
			b.Fatal(err)
		}
		parse := exec.Command(self, "-test.run=^$", "-test.bench=^BenchmarkSettlement1M$", "-test.benchtime=1x")
		parse.Env = append(benchEnv(), benchParseEnv+"="+file)
		var parsed strings.Builder
		steps = append(steps, runSettlementStep(b, "parse only (baseline)", parse, &parsed))
		if m := regexp.MustCompile(`(\d+) transactions`).FindStringSubmatch(parsed.String()); m == nil || m[1] != strconv.Itoa(n) {
			b.Fatalf("the baseline parsed %v transactions of %d:\n%s", m, n, parsed.String())
		}
		for _, st := range stores {
			cfgFile := testConfigFile(b, st.edit)
			imp := exec.Command(bin, "-config", cfgFile, "settlements", "import", "-provider", "vipps", file)
			steps = append(steps, runSettlementStep(b, st.name+" settlements import", imp, io.Discard))
			var out countingWriter
			rec := exec.Command(bin, "-config", cfgFile, "reconcile", "-from", benchFrom, "-to", benchTo, "-format", "csv")
			steps = append(steps, runSettlementStep(b, st.name+" reconcile", rec, &out))
			if out.lines < int64(n) {
				b.Fatalf("%s reconcile wrote %d CSV lines for %d settlement lines", st.name, out.lines, n)
			}
		}
	}
	b.StopTimer()

	b.Logf("%d transactions, %.0f MiB %s file, %s..%s", n, float64(size)/(1<<20), format, benchFrom, benchTo)
	b.Logf("%-30s %9s %9s", "step", "wall s", "peak MiB")
	for _, s := range steps {
		b.Logf("%-30s %9.1f %9.0f", s.name, s.wall.Seconds(), float64(s.rss)/(1<<20))
		unit := strings.NewReplacer(" (baseline)", "", " ", "-").Replace(s.name)
		b.ReportMetric(s.wall.Seconds(), unit+"-s")
		b.ReportMetric(float64(s.rss)/(1<<20), unit+"-MiB")
	}
}

// benchEnv is the environment of a child: no VIPPS_* or other settings of
// the caller, so that the configuration resolves as in the tests.
func benchEnv() []string {
	env := []string{"PATH=" + os.Getenv("PATH")}
	for _, k := range []string{"HOME", "TMPDIR", "GOMAXPROCS", "GOGC", "GOMEMLIMIT"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// runSettlementStep runs a child to its end and measures its wall time and peak
// resident set (the kernel's ru_maxrss of the child alone).
func runSettlementStep(b *testing.B, name string, cmd *exec.Cmd, stdout io.Writer) settlementStep {
	b.Helper()
	if cmd.Env == nil {
		cmd.Env = benchEnv()
	}
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		b.Fatalf("%s: %v\n%s", name, err, stderr.String())
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		b.Fatalf("%s: no rusage on this system", name)
	}
	return settlementStep{name: name, wall: wall, rss: ru.Maxrss * 1024} // Linux: KiB
}

// countingWriter counts the lines written to it and keeps nothing.
type countingWriter struct{ lines int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.lines += int64(strings.Count(string(p), "\n"))
	return len(p), nil
}

// benchParseOnly is the baseline: the file read from disk and parsed
// transaction by transaction, the work any import has to do.
func benchParseOnly(b *testing.B, path string) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var k, net int64
	parse := settlement.ParseCSVFunc
	if strings.HasSuffix(path, ".xml") {
		parse = settlement.ParseXMLFunc
	}
	_, _, err = parse(f, filepath.Base(path), func(_ settlement.Settlement, t settlement.Transaction) error {
		k++
		net += t.Net
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if k == 0 {
		b.Fatal("no transactions parsed")
	}
	b.ReportMetric(float64(k), "transactions")
}

// benchPostgresSchema makes a fresh schema on the test server, dropped
// when the benchmark ends, and returns a DSN that uses it.
func benchPostgresSchema(b *testing.B, dsn string) string {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	schema := fmt.Sprintf("bench_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		conn.Close(context.Background())
	})
	u, err := url.Parse(dsn)
	if err != nil {
		b.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// benchRow is one generated transaction.
type benchRow struct {
	ref                string
	psp                int64
	gross, refund, fee int64 // a capture (refund 0) or a refund (gross and fee 0)
	set                int   // settlement: sales day × unit
	unit, salesDay     int
}

// benchSums are a settlement's stated totals.
type benchSums struct {
	gross, refund, fee int64
	n                  int
}

// benchRows generates the n transactions, the same each time, so that a
// million rows are never held: one settlement per sales unit and sales
// day, 3 % refunds.
func benchRows(n int, fn func(r *benchRow)) {
	rng := rand.New(rand.NewPCG(20261101, 9))
	sets := benchDays * len(benchUnits)
	psp := int64(3100000000)
	var r benchRow
	for i := range n {
		r.set = i * sets / n
		r.salesDay, r.unit = r.set/len(benchUnits), r.set%len(benchUnits)
		r.ref = "ws-" + uuid4(rng) + "-1"
		psp++
		r.psp = psp
		amount := 5000 + rng.Int64N(495000)
		r.gross, r.refund, r.fee = amount, 0, amount*175/10000
		if rng.IntN(100) < 3 {
			r.gross, r.refund, r.fee = 0, -amount, 0
		}
		fn(&r)
	}
}

// writeBenchSettlement writes a Vipps settlement report of n transactions
// of November 2026, each settlement settled two days after its sales day,
// its stated totals those of its rows. Payments are ePayment references
// ws-<KCO order UUID>-1. format "csv" is the portal CSV (the layout of
// vipps/settlement/testdata/csv/settlement-report.csv), "xml" an XML v3
// report. It returns the file's size.
func writeBenchSettlement(path string, n int, format string) (int64, error) {
	totals := make([]benchSums, benchDays*len(benchUnits))
	benchRows(n, func(r *benchRow) {
		s := &totals[r.set]
		s.gross, s.refund, s.fee, s.n = s.gross+r.gross, s.refund+r.refund, s.fee+r.fee, s.n+1
	})
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	if format == "xml" {
		writeBenchXML(w, n, totals)
	} else {
		writeBenchCSV(w, n, totals)
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), f.Close()
}

var benchStart = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func benchSettlementID(s int) string { return strconv.Itoa(3000001 + s) }

func writeBenchCSV(w *bufio.Writer, n int, totals []benchSums) {
	date := func(day int) string { return benchStart.AddDate(0, 0, day).Format("02.01.2006") }
	w.WriteString("OrganizationNumber,MerchantName\n987654321,Nettbutikken AS\n")
	w.WriteString("Name,VisitingAddress,Postbox,Zipno,Place,Country,CompanyNumber\nVipps AS,Dronning Eufemias Gate 42,,0191,Oslo,Norway,918713867\n")
	w.WriteString("SettlementInfo,SalesUnitName,SaleUnitNumber,SettlementDate,SettlementID,SettlementAccount,Gross,Currency,Fee,Refund,Net,NumberOfTransactions\n")
	var bb []byte
	for s, x := range totals {
		if x.n == 0 {
			continue
		}
		u := &benchUnits[s%len(benchUnits)]
		bb = append(bb[:0], "SettlementInfo,"...)
		bb = append(append(append(bb, u.name...), ','), u.msn...)
		bb = append(append(append(bb, ','), date(s/len(benchUnits)+2)...), ',')
		bb = append(append(bb, benchSettlementID(s)...), ",1503979461"...)
		bb = strconv.AppendInt(bb, int64(s%len(benchUnits)), 10)
		bb = appendBenchMinor(append(bb, ','), x.gross)
		bb = append(append(append(bb, ','), u.currency...), ',')
		bb = appendBenchMinor(bb, -x.fee)
		bb = appendBenchMinor(append(bb, ','), x.refund)
		bb = appendBenchMinor(append(bb, ','), x.gross+x.refund-x.fee)
		bb = strconv.AppendInt(append(bb, ','), int64(x.n), 10)
		w.Write(append(bb, '\n'))
	}
	w.WriteString("FeeInfo,SettlementDate,SaleUnitName,SaleUnitNumber,FeeAccount,Fee,Currency\n")
	w.WriteString("TransactionInfo,SalesDate,SaleUnitName,SaleUnitNumber,TransactionId,SettlementId,OrderID,SettlementDate,Gross,Currency,Fee,Refund,Net\n")
	benchRows(n, func(r *benchRow) {
		u := &benchUnits[r.unit]
		bb = append(bb[:0], "TransactionInfo,"...)
		bb = append(append(bb, date(r.salesDay)...), ',')
		bb = append(append(append(append(bb, u.name...), ','), u.msn...), ',')
		bb = strconv.AppendInt(bb, r.psp, 10)
		bb = append(append(bb, ','), benchSettlementID(r.set)...)
		bb = append(append(bb, ','), r.ref...)
		bb = append(append(bb, ','), date(r.salesDay+2)...)
		bb = appendBenchMinor(append(bb, ','), r.gross)
		bb = append(append(append(bb, ','), u.currency...), ',')
		bb = appendBenchMinor(bb, -r.fee)
		bb = appendBenchMinor(append(bb, ','), r.refund)
		bb = appendBenchMinor(append(bb, ','), r.gross+r.refund-r.fee)
		w.Write(append(bb, '\n'))
	})
}

// writeBenchXML writes the transactions as an XML v3 report: one
// SettlementDetailsInfo per sales unit (its rows generated once per unit).
func writeBenchXML(w *bufio.Writer, n int, totals []benchSums) {
	date := func(day int) string { return benchStart.AddDate(0, 0, day).Format(time.DateOnly) }
	money := func(v int64) string { return string(appendBenchMinor(nil, v)) }
	w.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SettlementReport xmlns=\"" + settlement.NamespaceV3 + "\">\n")
	for ui, u := range benchUnits {
		fmt.Fprintf(w, "<SettlementDetailsInfo><SaleUnitName>%s</SaleUnitName><SerialNumber>%s</SerialNumber>"+
			"<OrganizationName>Nettbutikken AS</OrganizationName><OrganizationNumber>987654321</OrganizationNumber>"+
			"<MainAddress>Gate 1</MainAddress><MainAddressZipCode>0150</MainAddressZipCode><MainAddressCity>Oslo</MainAddressCity>"+
			"<MainAddressCountryCode>NOR</MainAddressCountryCode>\n<PaymentsInfo><ReportDateFrom>%s</ReportDateFrom>"+
			"<ReportDateTo>%s</ReportDateTo><SettlementCurrencyCode>%s</SettlementCurrencyCode>"+
			"<SettlementAccountNum>1503979461%d</SettlementAccountNum>\n", u.name, u.msn, benchFrom, benchTo, u.currency, ui)
		open, sets := -1, 0
		closeSet := func() {
			if open < 0 {
				return
			}
			x := totals[open]
			fmt.Fprintf(w, "<NumOfTransactions>%d</NumOfTransactions><CaptureSettlementAmount>%s</CaptureSettlementAmount>"+
				"<RefundSettlementAmount>%s</RefundSettlementAmount><GrossSettlementAmount>%s</GrossSettlementAmount>"+
				"<NetSettlementAmount>%s</NetSettlementAmount><FeeSettlementAmount>%s</FeeSettlementAmount>"+
				"<SettledAmount>%s</SettledAmount></SettlementInfo>\n", x.n, money(x.gross), money(x.refund),
				money(x.gross+x.refund), money(x.gross+x.refund-x.fee), money(x.fee), money(x.gross+x.refund-x.fee))
		}
		benchRows(n, func(r *benchRow) {
			if r.unit != ui {
				return
			}
			if r.set != open {
				closeSet()
				open, sets = r.set, sets+1
				fmt.Fprintf(w, "<SettlementInfo><SettlementDate>%s</SettlementDate><SettlementID>%s</SettlementID>"+
					"<SettlementCurrencyCode>%s</SettlementCurrencyCode><SettlementType>Net</SettlementType>\n",
					date(r.salesDay+2), benchSettlementID(r.set), u.currency)
			}
			fmt.Fprintf(w, "<TransactionInfo><TransactionTime>%sT12:00:00+01:00</TransactionTime>"+
				"<TransactionCaptureAmount>%s</TransactionCaptureAmount><TransactionRefundAmount>%s</TransactionRefundAmount>"+
				"<TransactionGrossAmount>%s</TransactionGrossAmount><TransactionNetAmount>%s</TransactionNetAmount>"+
				"<TransactionFeeAmount>%s</TransactionFeeAmount><SettlementCurrencyCode>%s</SettlementCurrencyCode>"+
				"<TransactionID>%d</TransactionID><OrderID>%s</OrderID></TransactionInfo>\n",
				date(r.salesDay), money(r.gross), money(r.refund), money(r.gross+r.refund), money(r.gross+r.refund-r.fee),
				money(r.fee), u.currency, r.psp, r.ref)
		})
		closeSet()
		fmt.Fprintf(w, "<NumOfSettlements>%d</NumOfSettlements></PaymentsInfo></SettlementDetailsInfo>\n", sets)
	}
	w.WriteString("<VippsInfo><Name>Vipps AS</Name><WebSite>vipps.no</WebSite><VisitingAddress>Dronning Eufemias Gate 42</VisitingAddress>" +
		"<PostBox></PostBox><PostAddress>N-0191 Oslo</PostAddress><Country>Norway</Country></VippsInfo>\n</SettlementReport>\n")
}

// appendBenchMinor writes minor units as a decimal with two fraction digits.
func appendBenchMinor(b []byte, v int64) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	b = strconv.AppendInt(b, v/100, 10)
	return append(b, '.', byte('0'+v%100/10), byte('0'+v%10))
}

// uuid4 is a random version 4 UUID, the shape of a KCO order id.
func uuid4(r *rand.Rand) string {
	const hex = "0123456789abcdef"
	var b [36]byte
	for i := range b {
		switch i {
		case 8, 13, 18, 23:
			b[i] = '-'
		case 14:
			b[i] = '4'
		default:
			b[i] = hex[r.IntN(16)]
		}
	}
	return string(b[:])
}

// The benchmark's generated files are valid reports that add up, and the
// CSV and the XML hold the same transactions.
func TestBenchSettlementFiles(t *testing.T) {
	dir := t.TempDir()
	got := map[string]map[string]int64{}
	for _, format := range []string{"csv", "xml"} {
		path := filepath.Join(dir, "gen."+format)
		_, err := writeBenchSettlement(path, 900, format)
		require.NoError(t, err)
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		rep, err := settlement.Parse(path, data)
		require.NoError(t, err)
		require.Empty(t, rep.Warnings, format)
		require.Empty(t, rep.Check(), format)
		got[format] = map[string]int64{}
		for _, st := range rep.Settlements {
			for _, tx := range st.Transactions {
				got[format][tx.MSN+"/"+st.ID+"/"+tx.TransactionID+"/"+tx.OrderID+"/"+tx.SalesDate] = tx.Net
			}
		}
		require.Len(t, got[format], 900, format)
	}
	require.Equal(t, got["csv"], got["xml"])
}
