package finance

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite bridge/finance/testdata/*.golden.json from what the import stores")

// The Vipps XLSX samples import exactly as they did when the workbook was
// parsed whole (the golden files were written by that code): the same
// lines, payouts and warnings, now that a workbook is streamed a
// settlement at a time and held to its limits.
func TestXLSXSamplesImportAsBefore(t *testing.T) {
	samples, err := filepath.Glob("../../vipps/settlement/testdata/xlsx/*.xlsx")
	require.NoError(t, err)
	require.NotEmpty(t, samples)
	for _, path := range samples {
		t.Run(filepath.Base(path), func(t *testing.T) {
			s := &Service{Store: reconcileStore(t), Units: map[string]*Unit{"u": {ID: "u", MSN: "229035", Currency: "NOK"}}}
			f, err := os.Open(path)
			require.NoError(t, err)
			defer f.Close()
			res, warnings, err := s.ImportVippsFile(t.Context(), filepath.Base(path), f, nil)
			require.NoError(t, err)
			lines, err := s.Store.SettlementLines(t.Context(), "2000-01-01", "2100-01-01")
			require.NoError(t, err)
			payouts, err := s.Store.SettlementPayouts(t.Context(), "2000-01-01", "2100-01-01")
			require.NoError(t, err)
			require.NotEmpty(t, lines)
			got, err := json.MarshalIndent(map[string]any{"result": res, "warnings": warnings, "lines": lines, "payouts": payouts}, "", "  ")
			require.NoError(t, err)
			golden := filepath.Join("testdata", filepath.Base(path)+".golden.json")
			if *updateGolden {
				require.NoError(t, os.WriteFile(golden, append(got, '\n'), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			require.JSONEq(t, string(want), string(got))
		})
	}
}
