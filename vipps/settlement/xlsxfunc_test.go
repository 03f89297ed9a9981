package settlement

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// ParseXLSXFunc hands over exactly the transactions ParseXLSX keeps, in
// order and each with its settlement, and reports the problems Check
// finds; the settlements it returns are ParseXLSX's without their
// transactions. A settlement's rows are handed over when its payout row
// closes it, before the rest of the sheet is read.
func TestParseXLSXFuncIsParseXLSX(t *testing.T) {
	samples, err := filepath.Glob("testdata/xlsx/*.xlsx")
	require.NoError(t, err)
	require.NotEmpty(t, samples)
	for _, path := range samples {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			whole, err := ParseXLSX(bytes.NewReader(data), int64(len(data)), "s.xlsx")
			require.NoError(t, err)

			type handed struct {
				set Settlement
				tx  Transaction
			}
			var got []handed
			rep, problems, err := ParseXLSXFunc(bytes.NewReader(data), int64(len(data)), "s.xlsx", func(s Settlement, tx Transaction) error {
				got = append(got, handed{s, tx})
				return nil
			})
			require.NoError(t, err)

			var want []handed
			sets := make([]Settlement, len(whole.Settlements))
			for i, s := range whole.Settlements {
				txs := s.Transactions
				s.Transactions = nil
				sets[i] = s
				for _, tx := range txs {
					want = append(want, handed{s, tx})
				}
			}
			require.NotEmpty(t, want)
			require.Equal(t, want, got)
			require.Equal(t, sets, rep.Settlements)
			require.ElementsMatch(t, whole.Check(), problems)
			rep.Settlements = whole.Settlements
			require.Equal(t, whole, rep)
		})
	}

	// An error of fn stops the parse and is returned as it is.
	data := buildXLSX(t, validSheet(), workbookOptions{})
	stop := errors.New("stop")
	n := 0
	_, _, err = ParseXLSXFunc(bytes.NewReader(data), int64(len(data)), "t.xlsx", func(Settlement, Transaction) error {
		n++
		return stop
	})
	require.ErrorIs(t, err, stop)
	require.Equal(t, 1, n)
}
