package vipps

import (
	"encoding/json"
	"testing"
)

// FuzzReportEntry feeds the Report API's entry decoding arbitrary JSON: it
// must never panic, and an entry it accepts has every field reconciliation
// rests on, with amounts that are whole minor units.
func FuzzReportEntry(f *testing.F) {
	f.Add([]byte(`{"pspReference":"1234","time":"2026-11-20T10:00:00Z","ledgerDate":"2026-11-20","entryType":"capture","reference":"ws-1","currency":"NOK","amount":10000,"balanceBefore":0,"balanceAfter":10000}`))
	f.Add([]byte(`{"pspReference":"L-1","time":"2026-11-20T23:00:00.5+01:00","ledgerDate":"2026-11-20","entryType":"payout-scheduled","amount":"-28800","balanceBefore":"28800","balanceAfter":"0","recipientHandle":null}`))
	f.Add([]byte(`{"amount":12.5}`))
	f.Add([]byte(`{"amount":1e3,"entryType":"capture"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var raw reportEntryJSON
		if json.Unmarshal(b, &raw) != nil {
			return
		}
		e, err := raw.entry()
		if err != nil {
			return
		}
		if e.EntryType == "" || e.LedgerDate == "" || e.Time.IsZero() {
			t.Fatalf("accepted an entry without its required fields: %+v", e)
		}
		again, err := minorUnits(json.RawMessage(itoa(e.Amount)))
		if err != nil || again != e.Amount {
			t.Fatalf("amount %d does not round-trip: %d, %v", e.Amount, again, err)
		}
	})
}

func itoa(v int64) string {
	b, _ := json.Marshal(v)
	return string(b)
}
