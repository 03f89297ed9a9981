package finance

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge/sqlite"
	"vippskco/klarna"
)

// Cancelling an import while its file is parsed (the parsers take no
// context) returns at once with context.Canceled and stores nothing.
func TestImportReturnsWhenCancelledDuringParse(t *testing.T) {
	st, err := sqlite.Open(context.Background(), "file:"+filepath.Join(t.TempDir(), "fin.db"), nil)
	require.NoError(t, err)
	defer st.Close()
	s := &Service{Store: st}

	var b strings.Builder
	b.WriteString("type,order_id,capture_id,amount,posting_currency,capture_date\n")
	for i := range 100_000 {
		fmt.Fprintf(&b, "SALE,order-%08d,cap-%08d,%d.%02d,NOK,2026-01-%02d\n", i, i, 1+i%997, i%100, 1+i%28)
	}
	data := []byte(b.String())

	start := time.Now()
	_, err = klarna.ParseSettlementCSV(strings.NewReader(b.String()), "probe.csv", klarna.CSVOptions{})
	require.NoError(t, err)
	parse := time.Since(start)

	ctx, cancel := context.WithTimeout(context.Background(), parse/10)
	defer cancel()
	start = time.Now()
	_, err = s.ImportKustomCSV(ctx, "kustom.csv", data, klarna.CSVOptions{})
	took := time.Since(start)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, took, parse/2, "returned at the cancellation (%s), not after the parse (%s)", took, parse)
	lines, err := st.SettlementLines(context.Background(), "2000-01-01", "2100-01-01")
	require.NoError(t, err)
	require.Empty(t, lines)
}

// A parser that panics on a file fails that import with an error; it does
// not take the process down (it runs outside the request's goroutine).
func TestParserPanicIsAnError(t *testing.T) {
	_, err := parseUnlessCancelled(context.Background(), func() (int, error) { panic("index out of range") })
	require.ErrorContains(t, err, "the parser failed on this file: index out of range")
}
