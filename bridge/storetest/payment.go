package storetest

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
)

func testInsertAndRead(t *testing.T, s bridge.Store) {
	tests := []struct {
		name    string
		payment func() *bridge.Payment
	}{
		{"every field", func() *bridge.Payment {
			return newPayment("KCO-1-1", "unit-a", "KCO-1", 1)
		}},
		{"only the keys, times from the clock", func() *bridge.Payment {
			return &bridge.Payment{
				Reference:  "KCO-2-1",
				Unit:       "unit-a",
				KCOOrderID: "KCO-2",
				Attempt:    1,
				Amount:     bridge.Money{Currency: "NOK"},
				State:      bridge.StatePending,
			}
		}},
		{"extreme money", func() *bridge.Payment {
			p := newPayment("KCO-3-1", "unit-a", "KCO-3", 1)
			p.Amount = bridge.Money{Value: math.MaxInt64, Currency: "SEK"}
			p.Authorized = math.MinInt64
			p.Captured = -1
			p.Refunded = math.MaxInt64
			p.Cancelled = math.MinInt64 + 1
			return p
		}},
		{"text and JSON byte for byte", func() *bridge.Payment {
			p := newPayment("KCO-4-1", "unit-ø", "KCO-4", 2)
			p.Locale = "da-DK"
			p.FailureReason = "Blåbærsyltetøy 🫐 'quoted' \"double\" back\\slash\nnew line\ttab %_ "
			p.CreateRequest = json.RawMessage("{\n  \"z\": 1,\n  \"a\": [1, 2 ,3],\n  \"s\": \"\\u00e6 æ\",\n  \"n\": 1.50e2\n}")
			p.Order = json.RawMessage(`  ["order",{"b":null,"a":true}]  `)
			return p
		}},
		{"times before 1970 and far ahead, in another zone", func() *bridge.Payment {
			p := newPayment("KCO-5-1", "unit-a", "KCO-5", 1)
			p.CreatedAt = time.Date(1969, 7, 20, 20, 17, 40, 123456000, time.FixedZone("IST", 5*3600+1800))
			p.UpdatedAt = time.Date(2199, 12, 31, 23, 59, 59, 999999000, cet)
			return p
		}},
		{"given version is replaced by 1", func() *bridge.Payment {
			p := newPayment("KCO-6-1", "unit-a", "KCO-6", 1)
			p.Version = 42
			return p
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			p := tt.payment()
			want := *p
			mustInsert(t, s, p)

			require.EqualValues(t, 1, p.Version)
			want.Version = 1
			if want.CreatedAt.IsZero() {
				require.False(t, p.CreatedAt.IsZero(), "CreatedAt not set from the clock")
				want.CreatedAt = p.CreatedAt
			}
			if want.UpdatedAt.IsZero() {
				require.False(t, p.UpdatedAt.IsZero(), "UpdatedAt not set from the clock")
				want.UpdatedAt = p.UpdatedAt
			}

			requirePaymentEqual(t, &want, mustPayment(t, s, want.Reference))

			if want.ReturnToken != "" {
				got, err := s.PaymentByToken(ctx, want.ReturnToken)
				require.NoError(t, err)
				requirePaymentEqual(t, &want, got)
			}

			ps, err := s.PaymentsByOrder(ctx, want.KCOOrderID)
			require.NoError(t, err)
			require.Len(t, ps, 1)
			requirePaymentEqual(t, &want, ps[0])
		})
	}
}

func testNotFound(t *testing.T, s bridge.Store) {
	// The store is not empty, and one payment has no token, so that a lookup
	// of the empty token has something to wrongly find.
	mustInsert(t, s, newPayment("KCO-1-1", "unit-a", "KCO-1", 1))
	tokenless := newPayment("KCO-2-1", "unit-a", "KCO-2", 1)
	tokenless.ReturnToken = ""
	mustInsert(t, s, tokenless)

	tests := []struct {
		name string
		call func(t *testing.T) error
	}{
		{"Payment", func(t *testing.T) error {
			_, err := s.Payment(t.Context(), "KCO-9-1")
			return err
		}},
		{"PaymentByToken", func(t *testing.T) error {
			_, err := s.PaymentByToken(t.Context(), "token-KCO-9-1")
			return err
		}},
		{"PaymentByToken empty", func(t *testing.T) error {
			_, err := s.PaymentByToken(t.Context(), "")
			return err
		}},
		{"UpdatePayment", func(t *testing.T) error {
			p := newPayment("KCO-9-1", "unit-a", "KCO-9", 1)
			p.Version = 1
			return UpdatePayment(t.Context(), s, p, &bridge.HistoryEntry{Source: "poller", ToState: bridge.StateCreated})
		}},
		{"History", func(t *testing.T) error {
			_, err := s.History(t.Context(), "KCO-9-1")
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(t)
			require.ErrorIs(t, err, bridge.ErrNotFound)
			require.Equal(t, bridge.ECodeNotFound, bridge.ErrorCode(err))
		})
	}

	t.Run("missing order or log is empty", func(t *testing.T) {
		ps, err := s.PaymentsByOrder(t.Context(), "KCO-9")
		require.NoError(t, err)
		require.Empty(t, ps)
		exs, err := s.Exchanges(t.Context(), "KCO-9-1")
		require.NoError(t, err)
		require.Empty(t, exs)
	})
	t.Run("failed update stored nothing", func(t *testing.T) {
		_, err := s.Payment(t.Context(), "KCO-9-1")
		require.ErrorIs(t, err, bridge.ErrNotFound)
	})
}

func testInsertConflict(t *testing.T, s bridge.Store) {
	tests := []struct {
		name string
		dup  func(original *bridge.Payment) *bridge.Payment
	}{
		{"same reference", func(o *bridge.Payment) *bridge.Payment {
			p := newPayment(o.Reference, "unit-b", "KCO-OTHER", 5)
			p.ReturnToken = "fresh-" + o.ReturnToken
			return p
		}},
		{"same return token", func(o *bridge.Payment) *bridge.Payment {
			p := newPayment("KCO-OTHER-1", "unit-b", "KCO-OTHER", 1)
			p.ReturnToken = o.ReturnToken
			return p
		}},
		{"same unit, order and attempt", func(o *bridge.Payment) *bridge.Payment {
			return newPayment(o.Reference+"-b", o.Unit, o.KCOOrderID, o.Attempt)
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			original := newPayment("KCO-"+string(rune('A'+i))+"-1", "unit-a", "KCO-"+string(rune('A'+i)), 1)
			mustInsert(t, s, original)
			stored := mustPayment(t, s, original.Reference)

			dup := tt.dup(original)
			err := s.InsertPayment(ctx, dup)
			require.ErrorIs(t, err, bridge.ErrConflict)
			require.Equal(t, bridge.ECodeConflict, bridge.ErrorCode(err))

			requirePaymentEqual(t, stored, mustPayment(t, s, original.Reference))
			if dup.Reference != original.Reference {
				_, err := s.Payment(ctx, dup.Reference)
				require.ErrorIs(t, err, bridge.ErrNotFound, "the rejected payment was stored")
			}
			byToken, err := s.PaymentByToken(ctx, original.ReturnToken)
			require.NoError(t, err)
			requirePaymentEqual(t, stored, byToken)
			if dup.ReturnToken != original.ReturnToken {
				_, err := s.PaymentByToken(ctx, dup.ReturnToken)
				require.ErrorIs(t, err, bridge.ErrNotFound, "the rejected payment's token was stored")
			}
			for _, order := range []string{original.KCOOrderID, dup.KCOOrderID} {
				ps, err := s.PaymentsByOrder(ctx, order)
				require.NoError(t, err)
				for _, p := range ps {
					require.Equal(t, original.Reference, p.Reference, "the rejected payment is listed")
				}
			}
		})
	}
}

func testDistinctKeys(t *testing.T, s bridge.Store) {
	first := newPayment("KCO-1-1", "unit-a", "KCO-1", 1)
	mustInsert(t, s, first)

	tests := []struct {
		name    string
		payment *bridge.Payment
	}{
		{"same order and attempt in another unit", newPayment("KCO-1-1-b", "unit-b", "KCO-1", 1)},
		{"next attempt", newPayment("KCO-1-2", "unit-a", "KCO-1", 2)},
		{"first without a token", func() *bridge.Payment {
			p := newPayment("KCO-2-1", "unit-a", "KCO-2", 1)
			p.ReturnToken = ""
			return p
		}()},
		{"second without a token", func() *bridge.Payment {
			p := newPayment("KCO-3-1", "unit-a", "KCO-3", 1)
			p.ReturnToken = ""
			return p
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := *tt.payment
			mustInsert(t, s, tt.payment)
			want.Version = 1
			requirePaymentEqual(t, &want, mustPayment(t, s, want.Reference))
		})
	}
}

func testPaymentsByOrder(t *testing.T, s bridge.Store) {
	ctx := t.Context()
	var want []*bridge.Payment
	for _, attempt := range []int{3, 1, 2} {
		p := newPayment("KCO-1-"+string(rune('0'+attempt)), "unit-a", "KCO-1", attempt)
		mustInsert(t, s, p)
		want = append(want, p)
	}
	mustInsert(t, s, newPayment("KCO-2-1", "unit-a", "KCO-2", 1))
	want = []*bridge.Payment{want[1], want[2], want[0]}

	got, err := s.PaymentsByOrder(ctx, "KCO-1")
	require.NoError(t, err)
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, i+1, got[i].Attempt)
		requirePaymentEqual(t, want[i], got[i])
	}
}

// testPaymentsByTokens reads many tokens at once: those with a payment
// come back whole, the rest (the empty token, unknown ones, duplicates
// asked twice) are left out, and more than MaxTokensRead is refused.
func testPaymentsByTokens(t *testing.T, s bridge.Store) {
	ctx := t.Context()
	var want []*bridge.Payment
	for i := range 5 {
		p := newPayment(fmt.Sprintf("KCO-bt-%d", i), "unit-a", fmt.Sprintf("KCO-bt-%d", i), 1)
		mustInsert(t, s, p)
		want = append(want, p)
	}
	tokenless := newPayment("KCO-bt-none", "unit-a", "KCO-bt-none", 1)
	tokenless.ReturnToken = ""
	mustInsert(t, s, tokenless)

	got, err := s.PaymentsByTokens(ctx, []string{want[3].ReturnToken, "token-nobody", "", want[0].ReturnToken, want[3].ReturnToken})
	require.NoError(t, err)
	require.Len(t, got, 2)
	byToken := map[string]*bridge.Payment{}
	for _, p := range got {
		byToken[p.ReturnToken] = p
	}
	requirePaymentEqual(t, mustPayment(t, s, want[0].Reference), byToken[want[0].ReturnToken])
	requirePaymentEqual(t, mustPayment(t, s, want[3].Reference), byToken[want[3].ReturnToken])

	got, err = s.PaymentsByTokens(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, got)

	many := make([]string, bridge.MaxTokensRead)
	for i := range many {
		many[i] = fmt.Sprintf("token-many-%d", i)
	}
	many[bridge.MaxTokensRead-1] = want[4].ReturnToken
	got, err = s.PaymentsByTokens(ctx, many)
	require.NoError(t, err)
	require.Len(t, got, 1, "MaxTokensRead tokens in one read")
	_, err = s.PaymentsByTokens(ctx, append(many, "one more"))
	require.Error(t, err)
}
