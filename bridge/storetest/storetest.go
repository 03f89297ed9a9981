// Package storetest is the conformance suite for bridge.Store. Every
// implementation runs it from its own tests:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, now func() time.Time) bridge.Store {
//			return openEmptyStore(t, now)
//		})
//	}
package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/vipps/vippstest"
)

// Run checks that the stores made by open keep the bridge.Store contract.
// open must return a new, empty store each time it is called, whose clock is
// now; Run closes it when the subtest ends. now is a fake clock that only
// moves forward, a millisecond per reading, and that a test may advance, so
// that expiry (SeenWebhook) can be checked without sleeping.
func Run(t *testing.T, open func(t *testing.T, now func() time.Time) bridge.Store) {
	tests := []struct {
		name string
		test func(t *testing.T, s bridge.Store, clock *vippstest.Clock)
	}{
		{"InsertAndRead", anyClock(testInsertAndRead)},
		{"NotFound", anyClock(testNotFound)},
		{"InsertConflict", anyClock(testInsertConflict)},
		{"DistinctKeys", anyClock(testDistinctKeys)},
		{"PaymentsByOrder", anyClock(testPaymentsByOrder)},
		{"CaptureDeadlinesDue", anyClock(testCaptureDeadlinesDue)},
		{"Update", anyClock(testUpdate)},
		{"UpdateRejected", anyClock(testUpdateRejected)},
		{"RaceInsertAttempt", anyClock(testRaceInsertAttempt)},
		{"RaceUpdateVersion", anyClock(testRaceUpdateVersion)},
		{"Exchanges", anyClock(testExchanges)},
		{"InsertWithLog", anyClock(testInsertWithLog)},
		{"PurgeExchanges", anyClock(testPurgeExchanges)},
		{"Ping", anyClock(testPing)},

		{"Commit", anyClock(testCommit)},
		{"CommitRejected", anyClock(testCommitRejected)},
		{"CommitEventDedupe", anyClock(testCommitEventDedupe)},
		{"LifecycleNotFound", anyClock(testLifecycleNotFound)},
		{"NextPollAt", anyClock(testNextPollAt)},
		{"ClaimDuePolls", anyClock(testClaimDuePolls)},
		{"RaceClaimDuePolls", anyClock(testRaceClaimDuePolls)},
		{"ReleasePoll", anyClock(testReleasePoll)},
		{"ReleasePolls", anyClock(testReleasePolls)},
		{"PollSoon", anyClock(testPollSoon)},
		{"Operations", anyClock(testOperations)},
		{"InsertOperationConflict", anyClock(testInsertOperationConflict)},
		{"UpdateOperation", anyClock(testUpdateOperation)},
		{"ClaimOperation", anyClock(testClaimOperation)},
		{"RaceClaimOperation", anyClock(testRaceClaimOperation)},
		{"StaleOperations", anyClock(testStaleOperations)},
		{"ClaimNotifications", anyClock(testClaimNotifications)},
		{"RaceClaimNotifications", anyClock(testRaceClaimNotifications)},
		{"UpdateNotification", anyClock(testUpdateNotification)},
		{"NotificationsFilter", anyClock(testNotificationsFilter)},
		{"PaymentsByTokens", anyClock(testPaymentsByTokens)},
		{"RawEvents", anyClock(testRawEvents)},
		{"SeenWebhook", testSeenWebhook},
		{"RecordWebhook", testRecordWebhook},
		{"WebhookRegistrations", anyClock(testWebhookRegistrations)},

		{"SettlementImport", anyClock(testSettlementImport)},
		{"SettlementImportStream", anyClock(testSettlementImportStream)},
		{"SettlementPayoutSpan", anyClock(testSettlementPayoutSpan)},
		{"SettlementSameMoney", anyClock(testSettlementSameMoney)},
		{"Movements", anyClock(testMovements)},
		{"EachSettlementLine", anyClock(testEachSettlementLine)},
		{"EachMovement", anyClock(testEachMovement)},
		{"ReportCursor", anyClock(testReportCursor)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			s := open(t, clock.Now)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close store: %v", err)
				}
			})
			tt.test(t, s, clock)
		})
	}
}

// anyClock adapts a test that does not look at the store's clock.
func anyClock(test func(t *testing.T, s bridge.Store)) func(t *testing.T, s bridge.Store, c *vippstest.Clock) {
	return func(t *testing.T, s bridge.Store, _ *vippstest.Clock) { test(t, s) }
}

// newClock is the clock Run gives each store. Its readings have
// microsecond precision, the finest every store keeps, and are distinct: a
// millisecond apart.
func newClock() *vippstest.Clock {
	c := vippstest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC))
	c.Step = time.Millisecond
	return c
}

func testPing(t *testing.T, s bridge.Store) {
	require.NoError(t, s.Ping(t.Context()))
}

// cet is a zone other than UTC, so that a store which keeps the caller's
// zone, or drops the offset, is caught.
var cet = time.FixedZone("CET", 3600)

// newPayment returns an attempt with every field set to a value that is
// distinct per reference. Its times have microsecond precision, the finest
// every store keeps.
func newPayment(reference, unit, kcoOrderID string, attempt int) *bridge.Payment {
	created := time.Date(2025, 3, 14, 15, 9, 26, 535897000, cet)
	return &bridge.Payment{
		Reference:            reference,
		Unit:                 unit,
		KCOOrderID:           kcoOrderID,
		Attempt:              attempt,
		Amount:               bridge.Money{Value: 149900, Currency: "NOK"},
		State:                bridge.StatePending,
		CreateIdempotencyKey: "idem-" + reference,
		CreateRequest: json.RawMessage(fmt.Sprintf(
			`{"reference": %q,  "amount":{"value":149900,"currency":"NOK"},`+"\n"+`"userFlow":"WEB_REDIRECT"}`, reference)),
		RedirectURL:   "https://landing.vipps.no/?token=" + reference,
		ReturnToken:   "token-" + reference,
		PSPReference:  "psp-" + reference,
		Authorized:    149900,
		Captured:      100000,
		Refunded:      2500,
		Cancelled:     49900,
		Locale:        "nb-NO",
		Order:         json.RawMessage(fmt.Sprintf(`{"order_id":%q,"order_amount":149900,"order_lines":[]}`, kcoOrderID)),
		FailureReason: "none for " + reference,
		// The capture deadline of a MobilePay reservation, 14 days on.
		CaptureGuaranteedUntil: created.Add(14 * 24 * time.Hour),
		CaptureDeadlineNotice:  bridge.CaptureDeadlineNear,
		CreatedAt:              created,
		UpdatedAt:              created.Add(1500 * time.Millisecond),
	}
}

// mustInsert inserts p and fails the test on error.
func mustInsert(t *testing.T, s bridge.Store, p *bridge.Payment) {
	t.Helper()
	require.NoError(t, s.InsertPayment(t.Context(), p), "insert %s", p.Reference)
}

// mustPayment reads a payment and fails the test on error.
func mustPayment(t *testing.T, s bridge.Store, reference string) *bridge.Payment {
	t.Helper()
	p, err := s.Payment(t.Context(), reference)
	require.NoError(t, err, "read %s", reference)
	return p
}

// requirePaymentEqual fails unless got, read from a store, holds exactly
// want: the same instants in UTC and every other field equal, byte for byte.
func requirePaymentEqual(t *testing.T, want, got *bridge.Payment) {
	t.Helper()
	require.NotNil(t, got)
	requireTimeEqual(t, "CreatedAt", want.CreatedAt, got.CreatedAt)
	requireTimeEqual(t, "UpdatedAt", want.UpdatedAt, got.UpdatedAt)
	requireTimeEqual(t, "NextPollAt", want.NextPollAt, got.NextPollAt)
	requireTimeEqual(t, "CaptureGuaranteedUntil", want.CaptureGuaranteedUntil, got.CaptureGuaranteedUntil)
	w, g := *want, *got
	w.CreatedAt, w.UpdatedAt, w.NextPollAt, w.CaptureGuaranteedUntil = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	g.CreatedAt, g.UpdatedAt, g.NextPollAt, g.CaptureGuaranteedUntil = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	require.Equal(t, w, g)
}

// requireTimeEqual fails unless got, read from a store, is the instant want
// and is in UTC; a zero want must read back zero.
func requireTimeEqual(t *testing.T, field string, want, got time.Time) {
	t.Helper()
	if want.IsZero() {
		require.Truef(t, got.IsZero(), "%s: want the zero time, got %s", field, got)
		return
	}
	require.Truef(t, want.Equal(got), "%s: want %s, got %s", field,
		want.UTC().Format(time.RFC3339Nano), got.UTC().Format(time.RFC3339Nano))
	require.Equalf(t, time.UTC, got.Location(), "%s is not in UTC", field)
}
