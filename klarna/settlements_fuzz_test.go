package klarna

import (
	"encoding/json"
	"testing"
)

// FuzzSettlementJSON feeds the Settlements API decoding arbitrary JSON: it
// must never panic, never accept a fractional amount, and what it accepts
// encodes and decodes to the same values.
func FuzzSettlementJSON(f *testing.F) {
	f.Add([]byte(`{"amount":10000,"capture_id":"c","sale_date":"2026-11-20T10:00:00Z","type":"SALE","capture_date":"2026-11-20T10:00:00Z","order_id":"f3392f8b-6116-4073-ab96-e330819e2c07","currency_code":"NOK","purchase_country":"NO"}`))
	f.Add([]byte(`{"totals":{"sale_amount":500,"fee_amount":10,"settlement_amount":490},"payment_reference":"XISA","payout_date":"2026-11-21T00:00:00Z","currency_code":"NOK","merchant_settlement_type":"NET","merchant_id":"M1"}`))
	f.Add([]byte(`{"amount":100.5,"type":"SALE"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var tx Transaction
		if err := json.Unmarshal(b, &tx); err == nil {
			out, err := json.Marshal(tx)
			if err != nil {
				t.Fatalf("accepted transaction does not encode: %v", err)
			}
			var back Transaction
			if err := json.Unmarshal(out, &back); err != nil || back.Amount != tx.Amount {
				t.Fatalf("transaction does not round-trip: %v %+v %+v", err, tx, back)
			}
		}
		var p Payout
		if err := json.Unmarshal(b, &p); err == nil {
			out, err := json.Marshal(p)
			if err != nil {
				t.Fatalf("accepted payout does not encode: %v", err)
			}
			var back Payout
			if err := json.Unmarshal(out, &back); err != nil || back.Totals != p.Totals {
				t.Fatalf("payout does not round-trip: %v", err)
			}
		}
	})
}
