package settlement

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// ParseXMLFunc hands over exactly the transactions ParseXML keeps, each
// with its settlement's header, and finds the same problems Report.Check
// finds on the whole report.
func TestParseXMLFuncIsParseXML(t *testing.T) {
	files, err := filepath.Glob("testdata/xml/*.xml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no XML samples: %v", err)
	}
	inputs := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs[filepath.Base(f)] = b
	}
	inputs["generated"] = genXML(3, 40)
	// A stated total that disagrees with the transactions: a problem, not
	// an error.
	inputs["wrong fee total"] = []byte(strings.Replace(validXML, "<FeeSettlementAmount>2.25</FeeSettlementAmount>", "<FeeSettlementAmount>3.25</FeeSettlementAmount>", 1))
	if bytes.Equal(inputs["wrong fee total"], []byte(validXML)) {
		t.Fatal("the edit of validXML did not apply")
	}
	for name, data := range inputs {
		t.Run(name, func(t *testing.T) {
			whole, err := ParseXML(bytes.NewReader(data), name)
			if err != nil {
				t.Fatal(err)
			}
			var got [][]Transaction
			last := -1
			rep, problems, err := ParseXMLFunc(bytes.NewReader(data), name, func(st Settlement, tx Transaction) error {
				if st.Transactions != nil || st.Stated != 0 {
					t.Errorf("settlement %s handed over with its totals or transactions", st.ID)
				}
				if st.Line != last {
					last = st.Line
					got = append(got, nil)
				}
				got[len(got)-1] = append(got[len(got)-1], tx)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Settlements) != len(whole.Settlements) || len(got) != len(whole.Settlements) {
				t.Fatalf("%d settlements streamed, %d in the report, %d parsed whole", len(got), len(rep.Settlements), len(whole.Settlements))
			}
			for i, st := range whole.Settlements {
				if !reflect.DeepEqual(got[i], st.Transactions) {
					t.Errorf("settlement %s: streamed transactions differ from ParseXML's", st.ID)
				}
				if rep.Settlements[i].Transactions != nil {
					t.Errorf("settlement %s keeps its transactions", st.ID)
				}
			}
			want := whole.Check()
			if len(want) == 0 {
				want = nil
			}
			if !reflect.DeepEqual(problems, want) {
				t.Errorf("problems %v, Check gives %v", problems, want)
			}
			if name == "wrong fee total" && len(problems) == 0 {
				t.Error("a wrong FeeSettlementAmount gave no problem")
			}
		})
	}
}

// endlessXML writes a report of one settlement with n transactions as it
// is read, so that the file itself is never in memory.
type endlessXML struct {
	parts   [][]byte
	n, i    int
	pending []byte
}

func newEndlessXML(n int) *endlessXML {
	one := genXML(1, 1)
	start := bytes.Index(one, []byte("        <TransactionInfo>"))
	end := bytes.Index(one, []byte("        <NumOfTransactions>"))
	tx := one[start:end]
	tail := bytes.Replace(one[end:], []byte("<NumOfTransactions>1<"), []byte("<NumOfTransactions>"+itoa(n)+"<"), 1)
	return &endlessXML{parts: [][]byte{one[:start], tx, tail}, n: n}
}

func itoa(n int) string { return string(appendInt(nil, n)) }

func appendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

func (e *endlessXML) Read(p []byte) (int, error) {
	for len(e.pending) == 0 {
		switch {
		case e.i == 0:
			e.pending = e.parts[0]
		case e.i <= e.n:
			// Each transaction its own id; the totals are left as the
			// one-transaction report states them (a problem, not an error).
			e.pending = bytes.Replace(e.parts[1], []byte("<TransactionID>5000000000<"), []byte("<TransactionID>"+itoa(6000000000+e.i)+"<"), 1)
		case e.i == e.n+1:
			e.pending = e.parts[2]
		default:
			return 0, io.EOF
		}
		e.i++
	}
	n := copy(p, e.pending)
	e.pending = e.pending[n:]
	return n, nil
}

// Streaming an XML report keeps of each transaction only its id for the
// duplicate check (16 bytes): the heap grows by well under what ParseXML
// keeps per transaction while 200,000 of them are read.
func TestParseXMLFuncMemoryDoesNotGrowWithTheFile(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 200,000 transactions")
	}
	const n = 200_000
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	var at20k, at200k uint64
	count := 0
	_, problems, err := ParseXMLFunc(newEndlessXML(n), "endless.xml", func(st Settlement, tx Transaction) error {
		count++
		switch count {
		case 20_000:
			at20k = heap()
		case n:
			at200k = heap()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if count != n || len(problems) == 0 {
		t.Fatalf("%d transactions, problems %v (the totals state one transaction)", count, problems)
	}
	perTx := float64(int64(at200k)-int64(at20k)) / (n - 20_000)
	t.Logf("heap %d B after 20,000 transactions, %d B after 200,000: %.1f B a transaction", at20k, at200k, perTx)
	// ParseXML keeps a Transaction (over 150 bytes with its strings) each;
	// the id list doubles as it grows, so up to 32 bytes each.
	if perTx > 48 {
		t.Errorf("the heap grows by %.1f bytes a transaction while streaming", perTx)
	}
}
