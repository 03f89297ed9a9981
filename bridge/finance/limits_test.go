package finance

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"iter"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/klarna"
	"vippskco/vipps"
)

// replaceInZip is the workbook of path with old replaced by new in part.
func replaceInZip(t *testing.T, path, part, old, new string) []byte {
	t.Helper()
	zr, err := zip.OpenReader(path)
	require.NoError(t, err)
	defer zr.Close()
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	found := false
	for _, f := range zr.File {
		rc, err := f.Open()
		require.NoError(t, err)
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		rc.Close()
		if f.Name == part {
			require.Contains(t, string(b), old)
			b, found = []byte(strings.Replace(string(b), old, new, 1)), true
		}
		w, err := zw.Create(f.Name)
		require.NoError(t, err)
		_, err = w.Write(b)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	require.True(t, found, part)
	return out.Bytes()
}

func readSample(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile("../../vipps/settlement/testdata/" + path)
	require.NoError(t, err)
	return string(b)
}

// An id over MaxIDLen refuses the whole file, whatever its format, with an
// error that names the line and the field, and nothing of it is stored;
// an id of exactly MaxIDLen imports.
func TestImportRefusesOverlongFields(t *testing.T) {
	long := strings.Repeat("7", MaxIDLen+1)
	atLimit := strings.Repeat("7", MaxIDLen)
	kustom := func(order string) string {
		return "payment_reference,type,order_id,capture_id,amount,posting_currency,capture_date\n" +
			"P1,SALE,o-1,c-1,10.00,NOK,2026-03-01\n" +
			"P1,SALE," + order + ",c-2,10.00,NOK,2026-03-01\n"
	}
	vippsCSV := readSample(t, "csv/settlement-report.csv")
	vippsXML := readSample(t, "xml/Example-Net.xml")
	xlsx := "../../vipps/settlement/testdata/xlsx/vipps-settlement-example.xlsx"
	cases := []struct {
		name        string
		vipps       bool
		file        func(id string) []byte
		line, field string
	}{
		{"kustom csv order id", false, func(id string) []byte { return []byte(kustom(id)) }, "kustom csv order id line 3", "the reference (order id)"},
		{"vipps csv transaction id", true, func(id string) []byte {
			return []byte(strings.Replace(vippsCSV, ",2178112104,", ",2178112104"+id[10:]+",", 1))
		}, "vipps csv transaction id line 9", "transaction id"},
		{"vipps xml order id", true, func(id string) []byte {
			return []byte(strings.Replace(vippsXML, "<OrderID>356</OrderID>", "<OrderID>"+id+"</OrderID>", 1))
		}, "vipps xml order id line 23", "the reference (order id)"},
		{"vipps xlsx settlement id", true, func(id string) []byte {
			return replaceInZip(t, xlsx, "xl/sharedStrings.xml", "<t>2000461</t>", "<t>"+id+"</t>")
		}, "vipps xlsx settlement id line", "payout id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &Service{Store: reconcileStore(t)}
			imp := func(file []byte) error {
				if c.vipps {
					_, _, err := s.ImportVippsFile(t.Context(), c.name, bytes.NewReader(file), nil)
					return err
				}
				_, err := s.ImportKustomCSV(t.Context(), c.name, bytes.NewReader(file), klarna.CSVOptions{}, nil)
				return err
			}
			err := imp(c.file(long))
			require.Error(t, err)
			require.Equal(t, bridge.ECodeInvalid, bridge.ErrorCode(err), "%v", err)
			require.Contains(t, err.Error(), c.line)
			require.Contains(t, err.Error(), c.field)
			require.Contains(t, err.Error(), "257 bytes long, more than the 256")
			lines, lerr := s.Store.SettlementLines(t.Context(), "2000-01-01", "2100-01-01")
			require.NoError(t, lerr)
			require.Empty(t, lines, "a refused file stores nothing")

			require.NoError(t, imp(c.file(atLimit)), "an id of exactly %d bytes imports", MaxIDLen)
		})
	}
}

// The Report API sync takes the same limits: an entry with a pspReference
// over MaxIDLen fails the sync, which stores nothing of it.
func TestSyncRefusesOverlongFields(t *testing.T) {
	a := newLedgerAPI("L1", "api:123456")
	a.funds(day1, vipps.EntryCapture, strings.Repeat("p", MaxIDLen+1), "order-1", 10000)
	s, rs := newSyncService(t, &Unit{ID: "u", MSN: "123456", Currency: "NOK", Report: a})
	res, err := s.SyncSettlements(t.Context(), day1, day1)
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.Contains(t, res[0].Error, "the transaction id (pspReference, capture or refund id) is 257 bytes long")
	require.Empty(t, storedLines(t, rs))
}

// endless is a reader of a header, then one line that never ends: it
// counts what was read of it.
type endless struct {
	head string
	read int
}

func (e *endless) Read(p []byte) (int, error) {
	n := 0
	if e.read < len(e.head) {
		n = copy(p, e.head[e.read:])
	}
	for i := n; i < len(p); i++ {
		p[i] = '9'
	}
	e.read += len(p)
	return len(p), nil
}

// A CSV record longer than MaxCSVRecord (a 100 MiB order id, a file with
// no line break, or a quoted field that never closes) is refused while it
// is read: the import stops within a few buffers of the limit, and never
// holds the line. An XML report's text is held to maxXMLRun the same way.
func TestImportRefusesLongCSVRecordsWhileReading(t *testing.T) {
	// A real report up to its first order id, which then never ends.
	sample := readSample(t, "xml/Example-Net.xml")
	xmlHead := sample[:strings.Index(sample, "<OrderID>")+len("<OrderID>")]
	for _, c := range []struct {
		name  string
		vipps bool
		head  string
		want  string
	}{
		{"kustom", false, "type,order_id,capture_id,amount,posting_currency,capture_date\nSALE,o-1,c-1,1.00,NOK,2026-03-01\nSALE,", "long.csv line 3: a record of more than 64 KiB"},
		{"kustom quoted", false, "type,order_id,capture_id,amount,posting_currency,capture_date\nSALE,\"o-1\n", "long.csv line 2: a record of more than 64 KiB"},
		{"vipps", true, "OrganizationNumber,MerchantName\n918713867,Vipps AS\n", "long.csv line 3: a record of more than 64 KiB"},
		{"vipps xml", true, xmlHead, "malformed XML: long.csv has a text or a tag of more than 64 KiB"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &Service{Store: reconcileStore(t)}
			r := &endless{head: c.head}
			var err error
			if c.vipps {
				_, _, err = s.ImportVippsFile(t.Context(), "long.csv", io.LimitReader(r, 100<<20), nil)
			} else {
				_, err = s.ImportKustomCSV(t.Context(), "long.csv", io.LimitReader(r, 100<<20), klarna.CSVOptions{}, nil)
			}
			require.Error(t, err)
			require.Equal(t, bridge.ECodeInvalid, bridge.ErrorCode(err), "%v", err)
			require.Contains(t, err.Error(), c.want)
			require.Less(t, r.read, 1<<20, "refused within a MiB of reading, not after the 100 MiB line")
		})
	}
}

// kustomAPI serves one payout and its transactions.
type kustomAPI struct {
	payout klarna.Payout
	txs    []klarna.Transaction
}

func (k *kustomAPI) AllPayouts(context.Context, klarna.PayoutQuery) iter.Seq2[klarna.Payout, error] {
	return func(yield func(klarna.Payout, error) bool) { yield(k.payout, nil) }
}

func (k *kustomAPI) AllTransactions(context.Context, klarna.TransactionQuery) iter.Seq2[klarna.Transaction, error] {
	return func(yield func(klarna.Transaction, error) bool) {
		for _, t := range k.txs {
			if !yield(t, nil) {
				return
			}
		}
	}
}

// The Kustom Settlements API sync takes them too: a payout reference or an
// order id over MaxIDLen fails the sync, which stores nothing.
func TestKustomSyncRefusesOverlongFields(t *testing.T) {
	at := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct{ name, ref, order, want string }{
		{"payout reference", strings.Repeat("P", MaxIDLen+1), "o-1", "line 1: the payout id (settlement id, payment reference) is 257 bytes long"},
		{"payout reference of a payout without transactions", strings.Repeat("P", MaxIDLen+1), "", "payout PPP"},
		{"order id", "P1", strings.Repeat("o", MaxIDLen+1), "settlements-api line 1: the reference (order id) is 257 bytes long"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, rs := newSyncService(t)
			api := &kustomAPI{payout: klarna.Payout{PaymentReference: c.ref, PayoutDate: at, CurrencyCode: "NOK", MerchantSettlementType: "NET"}}
			if c.order != "" {
				api.txs = []klarna.Transaction{{Type: "SALE", OrderID: c.order, CaptureID: "c-1", Amount: 1000, CurrencyCode: "NOK", CaptureDate: at}}
			}
			s.Kustom = api
			res, err := s.SyncSettlements(t.Context(), "2026-03-01", "2026-03-03")
			require.NoError(t, err)
			require.Len(t, res, 1)
			require.Contains(t, res[0].Error, c.want)
			require.Contains(t, res[0].Error, "257 bytes long")
			lines, err := rs.SettlementLines(t.Context(), "2000-01-01", "2100-01-01")
			require.NoError(t, err)
			require.Empty(t, lines)
			payouts, err := rs.SettlementPayouts(t.Context(), "2000-01-01", "2100-01-01")
			require.NoError(t, err)
			require.Empty(t, payouts)
		})
	}
}
