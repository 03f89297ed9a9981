package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
)

func testExchanges(t *testing.T, s bridge.Store) {
	ctx := t.Context()
	start := time.Date(2025, 6, 1, 12, 0, 0, 123456000, cet)
	// The log refers to payments by reference only: an exchange may come
	// before its payment is stored, or belong to none.
	appended := []*bridge.ProviderExchange{
		{
			Reference: "KCO-1-1", Provider: "vipps", Operation: "create_payment", Method: "POST",
			URL:             "https://apitest.vipps.no/epayment/v1/payments",
			RequestHeaders:  "Authorization: [redacted]\nIdempotency-Key: idem-KCO-1-1",
			RequestBody:     `{"reference":"KCO-1-1","amount":{"value":149900,"currency":"NOK"}}`,
			StatusCode:      201,
			ResponseHeaders: "Content-Type: application/json",
			ResponseBody:    `{"redirectUrl":"https://landing.vipps.no/?token=x","reference":"KCO-1-1"}`,
			Attempt:         1, StartedAt: start, Duration: 345*time.Millisecond + 6*time.Microsecond,
		},
		{
			Reference: "KCO-2-1", Provider: "vipps", Operation: "get_payment", Method: "GET",
			URL: "https://apitest.vipps.no/epayment/v1/payments/KCO-2-1", StatusCode: 200,
			Attempt: 1, StartedAt: start.Add(time.Second), Duration: time.Millisecond,
		},
		{
			Reference: "KCO-1-1", Provider: "vipps", Operation: "get_payment", Method: "GET",
			URL:   "https://apitest.vipps.no/epayment/v1/payments/KCO-1-1",
			Error: "dial tcp: i/o timeout", Attempt: 2, StartedAt: start.Add(2 * time.Second), Duration: 30 * time.Second,
		},
		{
			Provider: "kustom", Operation: "read_order", Method: "GET",
			URL: "https://api.kustom.co/checkout/v3/orders/KCO-9", StatusCode: 404,
			ResponseBody: `{"error_code":"NOT_FOUND"}`, Attempt: 1, StartedAt: start.Add(3 * time.Second), Duration: 42 * time.Millisecond,
		},
		{
			Reference: "KCO-1-1", Provider: "kustom", Operation: "read_order", Method: "GET",
			URL: "https://api.kustom.co/checkout/v3/orders/KCO-1", StatusCode: 500,
			ResponseBody: strings.Repeat("Blåbærsyltetøy 🫐 ", 4096), Attempt: 3,
		},
	}
	var last int64
	for i, ex := range appended {
		require.NoError(t, s.AppendExchange(ctx, ex), "exchange %d", i)
		require.Greater(t, ex.ID, last, "exchange %d: IDs must grow", i)
		last = ex.ID
	}

	tests := []struct {
		reference string
		want      []*bridge.ProviderExchange
	}{
		{"KCO-1-1", []*bridge.ProviderExchange{appended[0], appended[2], appended[4]}},
		{"KCO-2-1", []*bridge.ProviderExchange{appended[1]}},
		{"", []*bridge.ProviderExchange{appended[3]}},
		{"KCO-3-1", nil},
	}
	for _, tt := range tests {
		t.Run("reference "+tt.reference, func(t *testing.T) {
			got, err := s.Exchanges(ctx, tt.reference)
			require.NoError(t, err)
			require.Len(t, got, len(tt.want))
			for i, want := range tt.want {
				g, w := got[i], *want
				requireTimeEqual(t, "StartedAt", w.StartedAt, g.StartedAt)
				w.StartedAt, g.StartedAt = time.Time{}, time.Time{}
				require.Equal(t, w, g, "exchange %d", i)
			}
		})
	}
}

// testPurgeExchanges is the provider log's retention: exchanges older than
// the cutoff go, oldest first and at most limit at a time; newer ones, and
// everything else about them, stay as they were.
func testPurgeExchanges(t *testing.T, s bridge.Store) {
	ctx := t.Context()
	now := time.Date(2025, 9, 1, 12, 0, 0, 0, time.UTC)
	cutoff := now.Add(-90 * 24 * time.Hour)
	ages := []time.Duration{100 * 24 * time.Hour, 91 * 24 * time.Hour, 90*24*time.Hour - time.Second, time.Hour, 0}
	var kept []*bridge.ProviderExchange
	for i, age := range ages {
		ex := &bridge.ProviderExchange{
			Reference: "KCO-P-1", Provider: "vipps", Operation: "get_payment", Method: "GET",
			URL: "https://apitest.vipps.no/epayment/v1/payments/KCO-P-1", StatusCode: 200, Attempt: 1,
			ResponseBody: `{"state":"CREATED"}`, StartedAt: now.Add(-age),
		}
		require.NoError(t, s.AppendExchange(ctx, ex), "exchange %d", i)
		if now.Add(-age).After(cutoff) || now.Add(-age).Equal(cutoff) {
			kept = append(kept, ex)
		}
	}
	other := &bridge.ProviderExchange{Reference: "KCO-Q-1", Provider: "kustom", Operation: "read_order", Method: "GET",
		URL: "https://api.kustom.co/checkout/v3/orders/Q", StatusCode: 200, Attempt: 1, StartedAt: now.Add(-200 * 24 * time.Hour)}
	require.NoError(t, s.AppendExchange(ctx, other))

	_, err := s.PurgeExchanges(ctx, cutoff, 0)
	require.Error(t, err, "a purge without a limit is refused")

	n, err := s.PurgeExchanges(ctx, cutoff, 2)
	require.NoError(t, err)
	require.Equal(t, 2, n, "at most the limit")
	n, err = s.PurgeExchanges(ctx, cutoff, 10)
	require.NoError(t, err)
	require.Equal(t, 1, n, "the rest")
	n, err = s.PurgeExchanges(ctx, cutoff, 10)
	require.NoError(t, err)
	require.Zero(t, n, "nothing older is left")

	got, err := s.Exchanges(ctx, "KCO-P-1")
	require.NoError(t, err)
	require.Len(t, got, len(kept))
	for i, want := range kept {
		require.Equal(t, want.ID, got[i].ID)
		requireTimeEqual(t, "StartedAt", want.StartedAt, got[i].StartedAt)
		require.Equal(t, want.ResponseBody, got[i].ResponseBody)
	}
	got, err = s.Exchanges(ctx, "KCO-Q-1")
	require.NoError(t, err)
	require.Empty(t, got, "the oldest, of another payment, went too")
}

// newExchange is a provider exchange logged under key.
func newExchange(key, op string, started time.Time) bridge.ProviderExchange {
	return bridge.ProviderExchange{
		Reference: key, Provider: "vipps", Operation: op, Method: "POST",
		URL: "https://apitest.vipps.no/epayment/v1/payments", RequestBody: `{"reference":"` + key + `"}`,
		StatusCode: 201, ResponseBody: `{"redirectUrl":"https://landing.vipps.no/?token=x"}`,
		Attempt: 1, StartedAt: started, Duration: 12 * time.Millisecond,
	}
}

// requireExchangesEqual fails unless got, read from a store, holds want.
func requireExchangesEqual(t *testing.T, want, got []bridge.ProviderExchange) {
	t.Helper()
	requireRowsEqual(t, "exchange", want, got, "StartedAt", func(e *bridge.ProviderExchange) *time.Time { return &e.StartedAt })
}

// testInsertWithLog is an attempt stored with the exchanges it was made
// from: both in one transaction, so an attempt that is refused leaves no
// exchange behind.
func testInsertWithLog(t *testing.T, s bridge.Store) {
	ctx := t.Context()
	start := time.Date(2025, 6, 1, 12, 0, 0, 123456000, cet)
	p := newPayment("KCO-1-1", "unit-a", "KCO-1", 1)
	log := []bridge.ProviderExchange{newExchange("kco:KCO-1", "read_order", start), newExchange("kco:KCO-1", "read_order", start.Add(time.Second))}
	require.NoError(t, s.InsertPayment(ctx, p, log...))
	require.Positive(t, log[0].ID)
	require.Greater(t, log[1].ID, log[0].ID)
	got, err := s.Exchanges(ctx, "kco:KCO-1")
	require.NoError(t, err)
	requireExchangesEqual(t, log, got)
	requirePaymentEqual(t, p, mustPayment(t, s, p.Reference))

	dup := newPayment("KCO-1-1", "unit-b", "KCO-2", 1)
	dup.ReturnToken = "fresh-" + p.ReturnToken
	refused := []bridge.ProviderExchange{newExchange("kco:KCO-2", "read_order", start)}
	err = s.InsertPayment(ctx, dup, refused...)
	require.ErrorIs(t, err, bridge.ErrConflict)
	require.Zero(t, refused[0].ID, "a refused insert set an ID")
	got, err = s.Exchanges(ctx, "kco:KCO-2")
	require.NoError(t, err)
	require.Empty(t, got, "a refused attempt's exchanges were stored")

	bad := newPayment("KCO-3-1", "unit-a", "KCO-3", 1)
	err = s.InsertPayment(ctx, bad, newExchange("kco:KCO-3", "read_order", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)))
	require.Error(t, err)
	require.Equal(t, bridge.ECodeInvalid, bridge.ErrorCode(err), "error %v", err)
	_, err = s.Payment(ctx, bad.Reference)
	require.ErrorIs(t, err, bridge.ErrNotFound, "an attempt whose exchange could not be stored was stored")
}
