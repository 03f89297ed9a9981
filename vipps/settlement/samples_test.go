package settlement

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sampleDir holds the Vipps sample settlement files; testdata/SOURCES.md
// says where each came from.
const sampleDir = "testdata"

func readSample(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(sampleDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func parseSample(t *testing.T, name string) *Report {
	t.Helper()
	rep, err := Parse(name, readSample(t, name))
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return rep
}

// totals is a settlement's stated totals in minor units.
type totals struct{ capture, refund, gross, fee, net, settled int64 }

func totalsOf(s Settlement) totals {
	return totals{s.Capture, s.Refund, s.Gross, s.Fee, s.Net, s.Settled}
}

func TestSampleXML(t *testing.T) {
	type want struct {
		id, date, typ string
		n             int
		totals        totals
	}
	tests := []struct {
		file  string
		msn   string
		org   string
		sets  []want
		first Transaction // the first transaction, fields compared below
	}{
		{
			file: "xml/Example-Gross.xml", msn: "100297", org: "976019164",
			sets: []want{
				{"2000001", "2018-02-20", TypeGross, 37, totals{251071, -169111, 81960, 9204, 72756, 81960}},
				{"2000002", "2018-02-28", TypeGross, 10, totals{13200, -3930, 9270, 1464, 7806, 9270}},
				{"2000003", "2018-03-01", TypeGross, 1, totals{1530, 0, 1530, 181, 1349, 1530}},
			},
			first: Transaction{Line: 23, TransactionID: "5001144570", OrderID: "24", Kind: KindCapture, Gross: 7321, Fee: 333, Net: 6988,
				SalesDate: "2018-01-22", SettlementID: "2000001", MSN: "100297"},
		},
		{
			file: "xml/Example-Net.xml", msn: "100716", org: "915608345",
			sets: []want{
				{"2000001", "2018-03-01", TypeNet, 7, totals{5600, -4100, 1500, 0, 1500, 1500}},
				{"2000002", "2018-03-12", TypeNet, 8, totals{4800, -4600, 200, 0, 200, 200}},
			},
			first: Transaction{Line: 23, TransactionID: "5001145476", OrderID: "356", Kind: KindCapture, Gross: 1500, Fee: 0, Net: 1500,
				SalesDate: "2018-03-01", SettlementID: "2000001", MSN: "100716"},
		},
		{
			file: "xml/Vipps-oppgjorsrapport-16655-2018-09-23.xml", msn: "16655", org: "998724341",
			sets: []want{
				{"2000004", "2018-09-22", TypeNet, 1, totals{10000, 0, 10000, 225, 9775, 9775}},
			},
			first: Transaction{Line: 23, TransactionID: "5584146378", OrderID: "", Kind: KindCapture, Gross: 10000, Fee: 225, Net: 9775,
				SalesDate: "2018-09-22", SettlementID: "2000004", MSN: "16655"},
		},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			rep := parseSample(t, tt.file)
			if rep.Format != FormatXML || rep.MSN != tt.msn || rep.OrganizationNumber != tt.org || rep.Currency != "NOK" {
				t.Errorf("report = %s msn %q org %q currency %q", rep.Format, rep.MSN, rep.OrganizationNumber, rep.Currency)
			}
			if len(rep.Warnings) != 0 {
				t.Errorf("warnings: %q", rep.Warnings)
			}
			if p := rep.Check(); len(p) != 0 {
				t.Errorf("Check() = %v, want no problems: the example's transactions must add up to its stated totals", p)
			}
			if len(rep.Settlements) != len(tt.sets) {
				t.Fatalf("%d settlements, want %d", len(rep.Settlements), len(tt.sets))
			}
			for i, w := range tt.sets {
				s := rep.Settlements[i]
				if s.ID != w.id || s.Date != w.date || s.Type != w.typ || len(s.Transactions) != w.n || totalsOf(s) != w.totals {
					t.Errorf("settlement %d = %s %s %s n=%d %+v, want %+v", i, s.ID, s.Date, s.Type, len(s.Transactions), totalsOf(s), w)
				}
				if s.Stated != TotalCapture|TotalRefund|TotalGross|TotalFee|TotalNet|TotalSettled {
					t.Errorf("settlement %s states %s, want every total", s.ID, s.Stated)
				}
			}
			got := rep.Settlements[0].Transactions[0]
			if got.Time.Location().String() != "Europe/Oslo" {
				t.Errorf("time zone %v, want Europe/Oslo", got.Time.Location())
			}
			got.Time = time.Time{}
			if got != tt.first {
				t.Errorf("first transaction = %+v\nwant %+v", got, tt.first)
			}
		})
	}
}

func TestSampleXMLTime(t *testing.T) {
	rep := parseSample(t, "xml/Vipps-oppgjorsrapport-16655-2018-09-23.xml")
	got := rep.Settlements[0].Transactions[0].Time
	want := time.Date(2018, 9, 22, 16, 43, 57, 437e6, time.UTC) // 18:43:57.437+02:00
	if !got.Equal(want) || got.Format("15:04:05.000-07:00") != "18:43:57.437+02:00" {
		t.Errorf("TransactionTime = %v, want %v in Oslo summer time", got, want)
	}
}

// The XSD files beside the samples are schemas, not reports; Parse says so.
func TestSampleSchemasAreNotReports(t *testing.T) {
	for _, name := range []string{"xml/SettlementReport-3.0.xsd", "xml/SettlementReport-2.0.xsd"} {
		_, err := Parse(name, readSample(t, name))
		var pe *ParseError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), "root element is <schema>, want <SettlementReport>") {
			t.Errorf("Parse(%s) = %v, want the root element error", name, err)
		}
	}
}

func TestSampleCSV(t *testing.T) {
	const name = "csv/settlement-report.csv"
	rep := parseSample(t, name)
	if rep.Format != FormatCSV || rep.OrganizationNumber != "918713867" || rep.OrganizationName != "Vipps AS" ||
		rep.MSN != "513428" || rep.SalesUnit != "VippsExampleStore" || rep.Currency != "NOK" {
		t.Errorf("report header = %+v", rep)
	}
	if len(rep.Settlements) != 1 {
		t.Fatalf("%d settlements, want 1", len(rep.Settlements))
	}
	s := rep.Settlements[0]
	if s.ID != "2000001" || s.Date != "2021-04-12" || s.Type != "" || s.Account != "15039794613" || s.Line != 6 {
		t.Errorf("settlement = %s %s %q %s line %d", s.ID, s.Date, s.Type, s.Account, s.Line)
	}
	// The file's Gross (captures) is Capture; Net keeps the stated 16450.62.
	if got, want := totalsOf(s), (totals{capture: 1651171, refund: -149000, fee: 6109, net: 1645062}); got != want {
		t.Errorf("totals = %+v, want %+v", got, want)
	}
	if s.Stated != TotalCapture|TotalRefund|TotalFee|TotalNet {
		t.Errorf("stated = %s", s.Stated)
	}
	wantTx := []struct {
		line         int
		id, order    string
		kind         string
		gross, fee   int64
		net          int64
		settlementID string
	}{
		{9, "2178112104", "SJKDAIJSFKKJK", KindCapture, 225800, 835, 224965, "2000720"},
		{10, "2172112106", "SJKDAIJSFKKJS", KindCapture, 505400, 1870, 503530, "2000720"},
		{11, "2173112121", "SJKDAIJSFKKJ9", KindCapture, 796471, 2947, 793524, "2000720"},
		{12, "2175112121", "SJKDAIJSFKKJKF", KindCapture, 39900, 148, 39752, "2000720"},
		{13, "2170112123", "SJKDAIJSFKKJKW", KindCapture, 800, 3, 797, "2000720"},
		{14, "2179112123", "SJKDAIJSFKKJKP", KindRefund, -149000, 0, -149000, "2000720"},
		{15, "2154112147", "SJKDAIJSFKKJKM", KindCapture, 82800, 306, 82494, "2000720"},
	}
	if len(s.Transactions) != len(wantTx) {
		t.Fatalf("%d transactions, want %d", len(s.Transactions), len(wantTx))
	}
	for i, w := range wantTx {
		g := s.Transactions[i]
		if g.Line != w.line || g.TransactionID != w.id || g.OrderID != w.order || g.Kind != w.kind ||
			g.Gross != w.gross || g.Fee != w.fee || g.Net != w.net || g.SettlementID != w.settlementID ||
			g.SalesDate != "2021-04-08" || !g.Time.IsZero() {
			t.Errorf("transaction %d = %+v, want %+v", i, g, w)
		}
	}

	wantWarnings := []string{
		name + `:6: SettlementInfo row has 13 fields for 12 columns: joined "16450" and "62" into Net 16450,62 (an unquoted decimal comma)`,
		name + `:6: SettlementInfo 2000001: Net 16450.62 = Gross 16511.71 + Fee -61.09 leaves out Refund -1490.00 (the XML rule gives Net = Capture + Refund - Fee = 14960.62); Settlement.Net keeps the stated value, and Check reports the difference`,
		name + `:9: 7 TransactionInfo rows (lines 9-15) carry SettlementId 2000720, which matches no SettlementInfo row; attached to 2000001 (line 6), the file's only settlement; Transaction.SettlementID keeps 2000720`,
		name + `:9: 7 TransactionInfo rows (lines 9-15) carry SaleUnitNumber 595976, not 513428 of SettlementInfo 2000001 (line 6); kept as stated: Transaction.MSN is the row's`,
		name + `:9: 7 TransactionInfo rows (lines 9-15) carry SettlementDate 2021-04-10, not 2021-04-12 of SettlementInfo 2000001 (line 6); kept as stated`,
		name + `:14: the TransactionInfo row at line 14 (settlement 2000001): Net leaves out the Refund (the file's Net = Gross + Fee); Transaction.Net includes it (Gross - Fee)`,
	}
	if strings.Join(rep.Warnings, "\n") != strings.Join(wantWarnings, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(rep.Warnings, "\n"), strings.Join(wantWarnings, "\n"))
	}

	// The one thing that does not add up is the Net that leaves out the refund.
	problems := rep.Check()
	if len(problems) != 1 || problems[0].Total != TotalNet || problems[0].Stated != 1645062 || problems[0].Computed != 1496062 {
		t.Errorf("Check() = %v, want only Net stated 16450.62 vs computed 14960.62", problems)
	}
}

func TestSampleXLSX(t *testing.T) {
	type payout struct {
		id, date, msn, account string
		line, n                int
		settled                int64
	}
	tests := []struct {
		file    string
		org     string
		from    string
		to      string
		payouts []payout
	}{
		{"xlsx/Vipps-oppgjorsrapport-16655-2018-09-23.xlsx", "998724341", "2018-09-03", "2018-09-23", []payout{
			{"2000004", "2018-09-22", "16655", "15037654733", 10, 1, 9775},
		}},
		{"xlsx/vipps-settlement-example.xlsx", "TEST", "2019-12-01", "2019-12-31", []payout{
			{"2000461", "2019-12-01", "2142", "99999999999", 29, 20, 548645},
			{"2000010", "2019-12-01", "575598", "99999999999", 46, 15, 971210},
			{"2000462", "2019-12-08", "2142", "99999999999", 72, 24, 566177},
			{"2000011", "2019-12-08", "575598", "99999999999", 85, 11, 856950},
		}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			rep := parseSample(t, tt.file)
			if rep.Format != FormatXLSX || rep.OrganizationNumber != tt.org || rep.From != tt.from || rep.To != tt.to || rep.Currency != "" {
				t.Errorf("report = %s org %q %s..%s currency %q", rep.Format, rep.OrganizationNumber, rep.From, rep.To, rep.Currency)
			}
			if len(rep.Warnings) != 0 {
				t.Errorf("warnings: %q", rep.Warnings)
			}
			if p := rep.Check(); len(p) != 0 {
				t.Errorf("Check() = %v: every payout must equal the sum of its transactions' net", p)
			}
			var got []payout
			for _, s := range rep.Settlements {
				got = append(got, payout{s.ID, s.Date, s.MSN, s.Account, s.Line, len(s.Transactions), s.Settled})
				if s.Type != TypeNet || s.Stated != TotalSettled {
					t.Errorf("settlement %s: type %q stated %s", s.ID, s.Type, s.Stated)
				}
			}
			if len(got) != len(tt.payouts) {
				t.Fatalf("payouts = %+v, want %+v", got, tt.payouts)
			}
			for i := range got {
				if got[i] != tt.payouts[i] {
					t.Errorf("payout %d = %+v, want %+v", i, got[i], tt.payouts[i])
				}
			}
		})
	}
}

// The 16655 report exists as XML and as XLSX; both must say the same.
func TestSampleXMLAndXLSXAgree(t *testing.T) {
	x := parseSample(t, "xml/Vipps-oppgjorsrapport-16655-2018-09-23.xml").Settlements[0]
	s := parseSample(t, "xlsx/Vipps-oppgjorsrapport-16655-2018-09-23.xlsx").Settlements[0]
	if x.ID != s.ID || x.Date != s.Date || x.MSN != s.MSN || x.Account != s.Account || x.Settled != s.Settled {
		t.Errorf("XML %s %s %s %s %d vs XLSX %s %s %s %s %d", x.ID, x.Date, x.MSN, x.Account, x.Settled, s.ID, s.Date, s.MSN, s.Account, s.Settled)
	}
	a, b := x.Transactions[0], s.Transactions[0]
	a.Time, a.Line, b.Line = time.Time{}, 0, 0
	if a != b {
		t.Errorf("XML transaction %+v\nXLSX transaction %+v", a, b)
	}
}
