package storetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/vipps/vippstest"
)

func testRawEvents(t *testing.T, s bridge.Store) {
	ctx := t.Context()
	received := time.Date(2025, 6, 1, 12, 0, 0, 123456000, cet)
	// Raw inputs refer to payments by reference only: a webhook may name a
	// payment we do not know, and is kept all the same.
	appended := []*bridge.RawEvent{
		{Reference: "KCO-1-1", Unit: "unit-a", Source: "webhook", Name: "AUTHORIZED",
			Body:       json.RawMessage("{\"name\":\"AUTHORIZED\",  \"amount\":{\"value\":149900}\n,\"note\":\"Blåbær 🫐\"}"),
			ReceivedAt: received},
		{Reference: "KCO-1-1", Unit: "unit-a", Source: "poller", Name: "CREATED",
			Body: json.RawMessage(`{"state":"CREATED"}`), ReceivedAt: received.Add(time.Second)},
		{Reference: "KCO-2-1", Unit: "unit-b", Source: "return", Name: "AUTHORIZED",
			Body: json.RawMessage(`{"state":"AUTHORIZED"}`), ReceivedAt: received.Add(2 * time.Second)},
		{Unit: "unit-a", Source: "webhook", Name: "CAPTURED",
			Body: json.RawMessage(`{"reference":"unknown to us"}`), ReceivedAt: received.Add(3 * time.Second)},
		{Reference: "KCO-1-1", Unit: "unit-a", Source: "status", Name: "AUTHORIZED",
			Body: json.RawMessage(`[]`)},
	}
	var last int64
	for i, e := range appended {
		require.NoError(t, s.AppendRawEvent(ctx, e), "raw event %d", i)
		require.Greater(t, e.ID, last, "raw event %d: IDs must grow", i)
		last = e.ID
	}
	require.False(t, appended[4].ReceivedAt.IsZero(), "ReceivedAt not set from the clock")

	tests := []struct {
		reference string
		want      []*bridge.RawEvent
	}{
		{"KCO-1-1", []*bridge.RawEvent{appended[0], appended[1], appended[4]}},
		{"KCO-2-1", []*bridge.RawEvent{appended[2]}},
		{"", []*bridge.RawEvent{appended[3]}},
		{"KCO-3-1", nil},
	}
	for _, tt := range tests {
		t.Run("reference "+tt.reference, func(t *testing.T) {
			got, err := s.RawEvents(ctx, tt.reference)
			require.NoError(t, err)
			require.Len(t, got, len(tt.want))
			for i, want := range tt.want {
				g, w := got[i], *want
				requireTimeEqual(t, "ReceivedAt", w.ReceivedAt, g.ReceivedAt)
				w.ReceivedAt, g.ReceivedAt = time.Time{}, time.Time{}
				require.Equal(t, w, g, "raw event %d", i)
			}
		})
	}
}

// testSeenWebhook is replay protection: a signature is a replay while its
// record is kept, and is forgotten once the store's clock passes keepUntil.
// A replay carries the same signed timestamp, so the same keepUntil.
func testSeenWebhook(t *testing.T, s bridge.Store, clock *vippstest.Clock) {
	ctx := t.Context()
	start := clock.Now()
	tests := []struct {
		name      string
		advance   time.Duration
		signature string
		// keepUntil is counted from the start of the test.
		keepUntil time.Duration
		seen      bool
	}{
		{"first", 0, "sig-a", 5 * time.Minute, false},
		{"replay", 0, "sig-a", 5 * time.Minute, true},
		{"another signature", 0, "sig-b", time.Hour, false},
		{"replay just before keepUntil", 4 * time.Minute, "sig-a", 5 * time.Minute, true},
		{"after keepUntil, forgotten", 2 * time.Minute, "sig-a", 11 * time.Minute, false},
		{"recorded again", 0, "sig-a", 11 * time.Minute, true},
		{"a longer keep is kept", 0, "sig-b", time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock.Advance(tt.advance)
			seen, err := s.SeenWebhook(ctx, tt.signature, start.Add(tt.keepUntil))
			require.NoError(t, err)
			require.Equal(t, tt.seen, seen)
		})
	}
}

func testWebhookRegistrations(t *testing.T, s bridge.Store) {
	ctx := t.Context()
	created := time.Date(2025, 6, 1, 12, 0, 0, 654321000, cet)
	tests := []struct {
		name string
		save *bridge.WebhookRegistration
	}{
		{"new", &bridge.WebhookRegistration{
			Unit: "unit-a", ID: "wh-1", URL: "https://bridge.example/webhooks/vipps/unit-a", Secret: "s3cr3t-1",
			Events:    []string{"epayments.payment.authorized.v1", "epayments.payment.captured.v1"},
			CreatedAt: created,
		}},
		{"another unit, time from the clock", &bridge.WebhookRegistration{
			Unit: "unit-b", ID: "wh-2", URL: "https://bridge.example/webhooks/vipps/unit-b", Secret: "s3cr3t-2",
			Events: []string{"epayments.payment.aborted.v1"},
		}},
		{"replaced", &bridge.WebhookRegistration{
			Unit: "unit-a", ID: "wh-3", URL: "https://bridge.example/v2/webhooks/vipps/unit-a", Secret: "s3cr3t-3",
			Events: []string{
				"epayments.payment.authorized.v1", "epayments.payment.captured.v1", "epayments.payment.refunded.v1",
			},
			CreatedAt: created.Add(time.Hour),
		}},
	}
	want := map[string]bridge.WebhookRegistration{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			given := *tt.save
			require.NoError(t, s.SaveWebhookRegistration(ctx, tt.save))
			if given.CreatedAt.IsZero() {
				require.False(t, tt.save.CreatedAt.IsZero(), "CreatedAt not set from the clock")
			}
			want[tt.save.Unit] = *tt.save
			for unit, w := range want {
				got, err := s.WebhookRegistration(ctx, unit)
				require.NoError(t, err)
				requireTimeEqual(t, "CreatedAt", w.CreatedAt, got.CreatedAt)
				w.CreatedAt, got.CreatedAt = time.Time{}, time.Time{}
				require.Equal(t, w, *got)
			}
		})
	}

	t.Run("delete", func(t *testing.T) {
		require.NoError(t, s.DeleteWebhookRegistration(ctx, "unit-a"))
		_, err := s.WebhookRegistration(ctx, "unit-a")
		require.ErrorIs(t, err, bridge.ErrNotFound)
		_, err = s.WebhookRegistration(ctx, "unit-b")
		require.NoError(t, err, "another unit's registration was deleted")
		require.NoError(t, s.DeleteWebhookRegistration(ctx, "unit-a"), "forgetting twice is not an error")
	})
}

// testRecordWebhook is SeenWebhook and the raw event in one write: a new
// signature keeps its body and learns its payment's unit, a replay keeps
// nothing, and concurrent callers (which the store may commit together)
// each get their own answer, a signature sent twice at once being new to
// exactly one of them.
func testRecordWebhook(t *testing.T, s bridge.Store, clock *vippstest.Clock) {
	ctx := t.Context()
	keep := clock.Now().Add(10 * time.Minute)
	raw := func(ref string) *bridge.RawEvent {
		return &bridge.RawEvent{Reference: ref, Unit: "unit-a", Source: "webhook", Name: "AUTHORIZED", Body: []byte(`{"reference":"` + ref + `"}`)}
	}
	first := raw("KCO-rw-1")
	rec, err := s.RecordWebhook(ctx, "sig-rw-1", keep, first, nil)
	require.NoError(t, err)
	require.Equal(t, bridge.WebhookRecord{}, rec, "new, and no payment has the reference")
	require.NotZero(t, first.ID)
	require.False(t, first.ReceivedAt.IsZero(), "the clock dates it")
	again := raw("KCO-rw-1")
	rec, err = s.RecordWebhook(ctx, "sig-rw-1", keep, again, nil)
	require.NoError(t, err)
	require.True(t, rec.Seen, "a replay")
	require.Zero(t, again.ID, "a replay keeps nothing")
	kept, err := s.RawEvents(ctx, "KCO-rw-1")
	require.NoError(t, err)
	require.Len(t, kept, 1)
	require.Equal(t, first.ID, kept[0].ID)
	require.Equal(t, first.Body, kept[0].Body)
	_, err = s.RecordWebhook(ctx, "", keep, raw("KCO-rw-1"), nil)
	require.Error(t, err, "a webhook without a signature")

	// A webhook for a payment we have names the payment's unit, read in
	// the same write (not the unit of the URL it came to).
	require.NoError(t, s.InsertPayment(ctx, newPayment("KCO-rw-known", "unit-b", "order-rw-known", 1)))
	rec, err = s.RecordWebhook(ctx, "sig-rw-known", keep, raw("KCO-rw-known"), nil)
	require.NoError(t, err)
	require.Equal(t, bridge.WebhookRecord{PaymentUnit: "unit-b"}, rec)
	rec, err = s.RecordWebhook(ctx, "sig-rw-known", keep, raw("KCO-rw-known"), nil)
	require.NoError(t, err)
	require.Equal(t, bridge.WebhookRecord{Seen: true}, rec, "a replay names nothing")

	// With an ask, a new webhook for a payment of one of the ask's units
	// asks for its read in the same write, as PollSoon does: due at the
	// ask's time, asked by the webhook.
	at := clock.Now()
	ask := &bridge.ReadAsk{Units: []string{"unit-a", "unit-b"}, At: at, Gap: 2 * time.Second, By: "webhook"}
	asked := newPayment("KCO-rw-ask", "unit-b", "order-rw-ask", 1)
	asked.NextPollAt = at.Add(time.Hour)
	require.NoError(t, s.InsertPayment(ctx, asked))
	rec, err = s.RecordWebhook(ctx, "sig-rw-ask", keep, raw("KCO-rw-ask"), ask)
	require.NoError(t, err)
	require.Equal(t, bridge.WebhookRecord{PaymentUnit: "unit-b", ReadAsked: true}, rec)
	requireTimeEqual(t, "NextPollAt", at, mustPayment(t, s, "KCO-rw-ask").NextPollAt)
	claimed, err := s.ClaimDuePoll(ctx, "KCO-rw-ask", at, "r-rw", time.Minute)
	require.NoError(t, err)
	require.NotNil(t, claimed, "the asked read is due")
	require.Equal(t, "webhook", claimed.ReadAskedBy)
	require.NoError(t, s.ReleasePoll(ctx, "KCO-rw-ask", "r-rw", at.Add(time.Hour)))

	// A replay asks for nothing, whatever it asks: the read was asked for
	// by the delivery it repeats.
	rec, err = s.RecordWebhook(ctx, "sig-rw-ask", keep, raw("KCO-rw-ask"), ask)
	require.NoError(t, err)
	require.Equal(t, bridge.WebhookRecord{Seen: true}, rec)
	requireTimeEqual(t, "NextPollAt", at.Add(time.Hour), mustPayment(t, s, "KCO-rw-ask").NextPollAt)

	// A payment of a unit the ask does not name (another merchant serial
	// number's) is not read for it, and an unknown reference asks nothing.
	other := newPayment("KCO-rw-other", "unit-c", "order-rw-other", 1)
	other.NextPollAt = at.Add(time.Hour)
	require.NoError(t, s.InsertPayment(ctx, other))
	rec, err = s.RecordWebhook(ctx, "sig-rw-other", keep, raw("KCO-rw-other"), ask)
	require.NoError(t, err)
	require.Equal(t, bridge.WebhookRecord{PaymentUnit: "unit-c"}, rec)
	requireTimeEqual(t, "NextPollAt", at.Add(time.Hour), mustPayment(t, s, "KCO-rw-other").NextPollAt)
	rec, err = s.RecordWebhook(ctx, "sig-rw-nobody", keep, raw("KCO-rw-nobody"), ask)
	require.NoError(t, err)
	require.Equal(t, bridge.WebhookRecord{}, rec)

	// An ask that names no unit, no time, no gap or nobody is refused.
	for _, bad := range []bridge.ReadAsk{
		{At: at, Gap: time.Second, By: "webhook"},
		{Units: []string{"unit-a"}, Gap: time.Second, By: "webhook"},
		{Units: []string{"unit-a"}, At: at, By: "webhook"},
		{Units: []string{"unit-a"}, At: at, Gap: time.Second},
	} {
		_, err := s.RecordWebhook(ctx, "sig-rw-bad", keep, raw("KCO-rw-ask"), &bad)
		require.Equal(t, bridge.ECodeInvalid, bridge.ErrorCode(err), "%+v: %v", bad, err)
	}

	const n = 40
	seens := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// Pairs share a signature: 20 webhooks, each sent twice.
			var rec bridge.WebhookRecord
			rec, errs[i] = s.RecordWebhook(ctx, fmt.Sprintf("sig-rw-c%d", i/2), keep, raw(fmt.Sprintf("KCO-rw-c%d", i/2)), nil)
			seens[i] = rec.Seen
		})
	}
	wg.Wait()
	for i := 0; i < n; i += 2 {
		require.NoError(t, errs[i])
		require.NoError(t, errs[i+1])
		require.True(t, seens[i] != seens[i+1], "webhook %d: new to exactly one of its two deliveries", i/2)
		kept, err := s.RawEvents(ctx, fmt.Sprintf("KCO-rw-c%d", i/2))
		require.NoError(t, err)
		require.Len(t, kept, 1)
	}
}
