package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
)

func testUpdate(t *testing.T, s bridge.Store) {
	ctx := t.Context()
	p := newPayment("KCO-1-1", "unit-a", "KCO-1", 1)
	mustInsert(t, s, p)
	created := p.CreatedAt

	t.Run("entry filled in by the store", func(t *testing.T) {
		p.State = bridge.StateCreated
		p.RedirectURL = "https://landing.vipps.no/v2/?token=abc"
		p.CreateRequest = json.RawMessage(`{"changed": true}`)
		p.Order = nil
		// An update keeps the creation time, whatever p says.
		p.CreatedAt = created.Add(time.Hour)
		entry := &bridge.HistoryEntry{Source: "redirect", FromState: bridge.StatePending, ToState: bridge.StateCreated, Detail: "created at Vipps"}
		require.NoError(t, UpdatePayment(ctx, s, p, entry))

		require.EqualValues(t, 2, p.Version)
		require.False(t, p.UpdatedAt.IsZero(), "UpdatedAt not set")
		require.Truef(t, created.Equal(p.CreatedAt), "CreatedAt changed to %s", p.CreatedAt)
		require.Positive(t, entry.ID)
		require.Equal(t, p.Reference, entry.Reference)
		require.False(t, entry.At.IsZero(), "At not set")
		requirePaymentEqual(t, p, mustPayment(t, s, p.Reference))
	})

	t.Run("entry given in full", func(t *testing.T) {
		p.State = bridge.StateAuthorized
		p.Authorized = p.Amount.Value
		p.PSPReference = "psp-authorized"
		entry := &bridge.HistoryEntry{
			Reference: p.Reference,
			Source:    "webhook",
			FromState: bridge.StateCreated,
			ToState:   bridge.StateAuthorized,
			Detail:    `{"name":"AUTHORIZED","pspReference":"psp-authorized"}`,
			At:        time.Date(2025, 3, 14, 15, 10, 0, 250001000, cet),
		}
		at := entry.At
		require.NoError(t, UpdatePayment(ctx, s, p, entry))
		require.EqualValues(t, 3, p.Version)
		require.True(t, at.Equal(entry.At), "a given At was changed")
		requirePaymentEqual(t, p, mustPayment(t, s, p.Reference))
	})

	t.Run("no entry", func(t *testing.T) {
		p.Captured = p.Amount.Value
		require.NoError(t, UpdatePayment(ctx, s, p, nil))
		require.EqualValues(t, 4, p.Version)
		requirePaymentEqual(t, p, mustPayment(t, s, p.Reference))
	})

	t.Run("history in order", func(t *testing.T) {
		h, err := s.History(ctx, p.Reference)
		require.NoError(t, err)
		require.Len(t, h, 2)
		require.Less(t, h[0].ID, h[1].ID)
		for i, want := range []bridge.HistoryEntry{
			{Reference: p.Reference, Source: "redirect", FromState: bridge.StatePending, ToState: bridge.StateCreated, Detail: "created at Vipps"},
			{Reference: p.Reference, Source: "webhook", FromState: bridge.StateCreated, ToState: bridge.StateAuthorized,
				Detail: `{"name":"AUTHORIZED","pspReference":"psp-authorized"}`, At: time.Date(2025, 3, 14, 15, 10, 0, 250001000, cet)},
		} {
			got := h[i]
			if want.At.IsZero() {
				require.False(t, got.At.IsZero(), "entry %d has no time", i)
			} else {
				requireTimeEqual(t, "At", want.At, got.At)
			}
			require.Equal(t, time.UTC, got.At.Location())
			want.ID, want.At, got.At = got.ID, time.Time{}, time.Time{}
			require.Equal(t, want, got, "entry %d", i)
		}
	})
}

func testUpdateRejected(t *testing.T, s bridge.Store) {
	tests := []struct {
		name string
		code string
		// setup stores what the case needs and returns the update to try.
		setup func(t *testing.T, prefix string) (*bridge.Payment, *bridge.HistoryEntry)
	}{
		{"stale version", bridge.ECodeConflict, func(t *testing.T, prefix string) (*bridge.Payment, *bridge.HistoryEntry) {
			p := newPayment(prefix+"-1", "unit-a", prefix, 1)
			mustInsert(t, s, p)
			stale := *p
			p.State = bridge.StateCreated
			require.NoError(t, UpdatePayment(t.Context(), s, p, &bridge.HistoryEntry{Source: "redirect", ToState: bridge.StateCreated}))
			stale.State = bridge.StateAborted
			return &stale, &bridge.HistoryEntry{Source: "return", ToState: bridge.StateAborted}
		}},
		{"version not reached yet", bridge.ECodeConflict, func(t *testing.T, prefix string) (*bridge.Payment, *bridge.HistoryEntry) {
			p := newPayment(prefix+"-1", "unit-a", prefix, 1)
			mustInsert(t, s, p)
			p.Version += 5
			p.State = bridge.StateAborted
			return p, &bridge.HistoryEntry{Source: "return", ToState: bridge.StateAborted}
		}},
		{"return token of another payment", bridge.ECodeConflict, func(t *testing.T, prefix string) (*bridge.Payment, *bridge.HistoryEntry) {
			a := newPayment(prefix+"-1", "unit-a", prefix, 1)
			b := newPayment(prefix+"-2", "unit-a", prefix, 2)
			mustInsert(t, s, a)
			mustInsert(t, s, b)
			b.ReturnToken = a.ReturnToken
			return b, &bridge.HistoryEntry{Source: "merchant"}
		}},
		{"attempt of another payment", bridge.ECodeConflict, func(t *testing.T, prefix string) (*bridge.Payment, *bridge.HistoryEntry) {
			a := newPayment(prefix+"-1", "unit-a", prefix, 1)
			b := newPayment(prefix+"-2", "unit-a", prefix, 2)
			mustInsert(t, s, a)
			mustInsert(t, s, b)
			b.Attempt = a.Attempt
			return b, &bridge.HistoryEntry{Source: "merchant"}
		}},
		{"another unit", bridge.ECodeConflict, func(t *testing.T, prefix string) (*bridge.Payment, *bridge.HistoryEntry) {
			p := newPayment(prefix+"-1", "unit-a", prefix, 1)
			mustInsert(t, s, p)
			p.Unit, p.State = "unit-b", bridge.StateCreated
			return p, &bridge.HistoryEntry{Source: "merchant"}
		}},
		{"another KCO order", bridge.ECodeConflict, func(t *testing.T, prefix string) (*bridge.Payment, *bridge.HistoryEntry) {
			p := newPayment(prefix+"-1", "unit-a", prefix, 1)
			mustInsert(t, s, p)
			p.KCOOrderID = prefix + "-other"
			return p, &bridge.HistoryEntry{Source: "merchant"}
		}},
		{"a new return token", bridge.ECodeConflict, func(t *testing.T, prefix string) (*bridge.Payment, *bridge.HistoryEntry) {
			p := newPayment(prefix+"-1", "unit-a", prefix, 1)
			mustInsert(t, s, p)
			p.ReturnToken = prefix + "-a-token-nobody-has-0123456789"
			return p, &bridge.HistoryEntry{Source: "merchant"}
		}},
		{"history entry of another payment", bridge.ECodeInvalid, func(t *testing.T, prefix string) (*bridge.Payment, *bridge.HistoryEntry) {
			p := newPayment(prefix+"-1", "unit-a", prefix, 1)
			mustInsert(t, s, p)
			p.State = bridge.StateCreated
			return p, &bridge.HistoryEntry{Reference: prefix + "-2", Source: "poller", ToState: bridge.StateCreated}
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			p, entry := tt.setup(t, fmt.Sprintf("KCO-%d", i))
			stored := mustPayment(t, s, p.Reference)
			history, err := s.History(ctx, p.Reference)
			require.NoError(t, err)
			before, entryBefore := *p, *entry

			err = UpdatePayment(ctx, s, p, entry)
			require.Error(t, err)
			require.Equal(t, tt.code, bridge.ErrorCode(err), "error %v", err)
			if tt.code == bridge.ECodeConflict {
				require.ErrorIs(t, err, bridge.ErrConflict)
			}

			require.Equal(t, before, *p, "a rejected update changed the caller's payment")
			require.Equal(t, entryBefore, *entry, "a rejected update changed the caller's entry")
			requirePaymentEqual(t, stored, mustPayment(t, s, p.Reference))
			after, err := s.History(ctx, p.Reference)
			require.NoError(t, err)
			require.Equal(t, history, after, "a rejected update appended history")
		})
	}
}

// UpdatePayment writes p, and entry when not nil, as one Commit: the
// store's only way to change a payment. entry gets what was stored.
func UpdatePayment(ctx context.Context, s bridge.Store, p *bridge.Payment, entry *bridge.HistoryEntry) error {
	c := &bridge.Change{Payment: p}
	if entry != nil {
		c.History = []bridge.HistoryEntry{*entry}
	}
	if err := s.Commit(ctx, c); err != nil {
		return err
	}
	if entry != nil {
		*entry = c.History[0]
	}
	return nil
}
