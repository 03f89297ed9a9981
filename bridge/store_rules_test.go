package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/reconcile"
)

// requireInvalid fails unless err is an ECodeInvalid error with this message;
// want "" means no error.
func requireInvalid(t *testing.T, want string, err error) {
	t.Helper()
	if want == "" {
		require.NoError(t, err)
		return
	}
	require.Error(t, err)
	require.Equal(t, bridge.ECodeInvalid, bridge.ErrorCode(err), "error %v", err)
	require.Equal(t, want, bridge.ErrorMessage(err))
}

func TestPaymentValidate(t *testing.T) {
	tests := []struct {
		name    string
		payment bridge.Payment
		want    string
	}{
		{"with a reference", bridge.Payment{Reference: "ws-1"}, ""},
		{"without a reference", bridge.Payment{Unit: "webshop"}, "payment has no reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireInvalid(t, tt.want, tt.payment.Validate())
		})
	}
}

func TestOperationValidate(t *testing.T) {
	tests := []struct {
		name string
		op   bridge.Operation
		want string
	}{
		{"complete", bridge.Operation{ID: "op-1", IdempotencyKey: "key-1"}, ""},
		{"no ID", bridge.Operation{IdempotencyKey: "key-1"}, "operation has no ID"},
		{"no idempotency key", bridge.Operation{ID: "op-1"}, `operation "op-1" has no idempotency key`},
		{"neither", bridge.Operation{}, "operation has no ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireInvalid(t, tt.want, tt.op.Validate())
		})
	}
}

func TestChangeValidate(t *testing.T) {
	payment := func() *bridge.Payment { return &bridge.Payment{Reference: "ws-1"} }
	op := bridge.Operation{ID: "op-1", IdempotencyKey: "key-1"}
	tests := []struct {
		name   string
		change bridge.Change
		want   string
	}{
		{"payment alone", bridge.Change{Payment: payment()}, ""},
		{"rows naming no payment are the change's", bridge.Change{
			Payment:       payment(),
			History:       []bridge.HistoryEntry{{}},
			Events:        []bridge.PaymentEvent{{}},
			Notifications: []bridge.Notification{{ID: "n-1"}},
			Operations:    []bridge.Operation{op},
		}, ""},
		{"rows naming the change's payment", bridge.Change{
			Payment:       payment(),
			History:       []bridge.HistoryEntry{{Reference: "ws-1"}},
			Events:        []bridge.PaymentEvent{{Reference: "ws-1"}},
			Notifications: []bridge.Notification{{ID: "n-1", Reference: "ws-1"}},
			Operations:    []bridge.Operation{{ID: "op-1", IdempotencyKey: "key-1", Reference: "ws-1"}},
		}, ""},
		{"no payment", bridge.Change{History: []bridge.HistoryEntry{{}}}, "change has no payment"},
		{"history entry of another payment", bridge.Change{
			Payment: payment(), History: []bridge.HistoryEntry{{Reference: "ws-2"}},
		}, `history entry of payment "ws-2" given with payment "ws-1"`},
		{"event of another payment", bridge.Change{
			Payment: payment(), Events: []bridge.PaymentEvent{{Reference: "ws-2"}},
		}, `event of payment "ws-2" given with payment "ws-1"`},
		{"notification of another payment", bridge.Change{
			Payment: payment(), Notifications: []bridge.Notification{{ID: "n-1", Reference: "ws-2"}},
		}, `notification of payment "ws-2" given with payment "ws-1"`},
		{"notification without ID", bridge.Change{
			Payment: payment(), Notifications: []bridge.Notification{{Type: "payment.captured"}},
		}, `notification of payment "ws-1" has no ID`},
		{"operation of another payment", bridge.Change{
			Payment: payment(), Operations: []bridge.Operation{{ID: "op-1", IdempotencyKey: "key-1", Reference: "ws-2"}},
		}, `operation of payment "ws-2" given with payment "ws-1"`},
		{"operation without idempotency key", bridge.Change{
			Payment: payment(), Operations: []bridge.Operation{op, {ID: "op-2"}},
		}, `operation "op-2" has no idempotency key`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireInvalid(t, tt.want, tt.change.Validate())
		})
	}
}

// fakeRows is a store's ChangeRows that records what it is asked to write.
// It fails the call named by fail, and skips the events named in stored as
// if they were stored already.
type fakeRows struct {
	fail   string
	stored map[string]bool
	calls  []string
	nextID int64
}

func (f *fakeRows) call(name string) error {
	f.calls = append(f.calls, name)
	if name == f.fail {
		return fmt.Errorf("%s: %w", name, bridge.ErrConflict)
	}
	return nil
}

func (f *fakeRows) UpdatePayment(_ context.Context, p *bridge.Payment) error {
	if err := f.call("payment " + p.Reference); err != nil {
		return err
	}
	p.Version++
	return nil
}

func (f *fakeRows) InsertHistoryEntry(_ context.Context, e *bridge.HistoryEntry) error {
	if err := f.call("history " + e.Detail); err != nil {
		return err
	}
	f.nextID++
	e.ID = f.nextID
	return nil
}

func (f *fakeRows) InsertPaymentEvent(_ context.Context, e *bridge.PaymentEvent) (bool, error) {
	if err := f.call("event " + e.Name); err != nil {
		return false, err
	}
	if f.stored[e.Name] {
		return false, nil
	}
	f.nextID++
	e.ID = f.nextID
	return true, nil
}

func (f *fakeRows) InsertNotification(_ context.Context, n *bridge.Notification) error {
	return f.call("notification " + n.ID)
}

func (f *fakeRows) InsertOperation(_ context.Context, op *bridge.Operation) error {
	return f.call("operation " + op.ID)
}

func (f *fakeRows) InsertExchange(_ context.Context, ex *bridge.ProviderExchange) error {
	if err := f.call("exchange " + ex.Operation); err != nil {
		return err
	}
	f.nextID++
	ex.ID = f.nextID
	return nil
}

func TestWriteChange(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	earlier := now.Add(-time.Hour)
	later := now.Add(time.Hour)
	change := func() *bridge.Change {
		return &bridge.Change{
			Payment: &bridge.Payment{Reference: "ws-1", Version: 4, CreatedAt: earlier, UpdatedAt: earlier},
			History: []bridge.HistoryEntry{{Detail: "undated"}, {Detail: "dated", At: earlier}},
			Events:  []bridge.PaymentEvent{{Name: "AUTHORIZED"}, {Name: "CAPTURED", RecordedAt: earlier}},
			Notifications: []bridge.Notification{
				{ID: "n-1"},
				{ID: "n-2", CreatedAt: earlier},
				{ID: "n-3", CreatedAt: earlier, NextAttemptAt: later, Version: 9},
			},
			Operations: []bridge.Operation{
				{ID: "op-1", Version: 7},
				{ID: "op-2", State: bridge.OperationSucceeded, CreatedAt: earlier, UpdatedAt: earlier},
			},
			// The log keeps an exchange under the key it was made with,
			// which need not be the payment's.
			Exchanges: []bridge.ProviderExchange{
				{Reference: "kco:order-1", Provider: "kustom", Operation: "read_order", StartedAt: earlier},
				{Provider: "vipps", Operation: "create"},
			},
		}
	}
	allCalls := []string{"payment ws-1", "history undated", "history dated", "event AUTHORIZED", "event CAPTURED",
		"notification n-1", "notification n-2", "notification n-3", "operation op-1", "operation op-2",
		"exchange read_order", "exchange create"}

	tests := []struct {
		name      string
		rows      fakeRows
		wantCalls []string
		wantErr   string
		check     func(t *testing.T, stored *bridge.Change)
	}{
		{"every row, named and dated", fakeRows{}, allCalls, "", func(t *testing.T, stored *bridge.Change) {
			require.Equal(t, bridge.Payment{Reference: "ws-1", Version: 5, CreatedAt: earlier, UpdatedAt: now}, *stored.Payment)
			require.Equal(t, []bridge.HistoryEntry{
				{ID: 1, Reference: "ws-1", Detail: "undated", At: now},
				{ID: 2, Reference: "ws-1", Detail: "dated", At: earlier},
			}, stored.History)
			require.Equal(t, []bridge.PaymentEvent{
				{ID: 3, Reference: "ws-1", Name: "AUTHORIZED", RecordedAt: now},
				{ID: 4, Reference: "ws-1", Name: "CAPTURED", RecordedAt: earlier},
			}, stored.Events)
			require.Equal(t, []bridge.Notification{
				{ID: "n-1", Reference: "ws-1", CreatedAt: now, NextAttemptAt: now, Version: 1},
				{ID: "n-2", Reference: "ws-1", CreatedAt: earlier, NextAttemptAt: earlier, Version: 1},
				{ID: "n-3", Reference: "ws-1", CreatedAt: earlier, NextAttemptAt: later, Version: 1},
			}, stored.Notifications)
			require.Equal(t, []bridge.Operation{
				{ID: "op-1", Reference: "ws-1", State: bridge.OperationPending, CreatedAt: now, UpdatedAt: now, Version: 1},
				{ID: "op-2", Reference: "ws-1", State: bridge.OperationSucceeded, CreatedAt: earlier, UpdatedAt: earlier, Version: 1},
			}, stored.Operations)
			require.Equal(t, []bridge.ProviderExchange{
				{ID: 5, Reference: "kco:order-1", Provider: "kustom", Operation: "read_order", StartedAt: earlier},
				{ID: 6, Provider: "vipps", Operation: "create"},
			}, stored.Exchanges)
		}},
		{"an event stored before is returned as given", fakeRows{stored: map[string]bool{"AUTHORIZED": true}}, allCalls, "",
			func(t *testing.T, stored *bridge.Change) {
				require.Equal(t, []bridge.PaymentEvent{
					{Name: "AUTHORIZED"},
					{ID: 3, Reference: "ws-1", Name: "CAPTURED", RecordedAt: earlier},
				}, stored.Events)
			}},
		{"a stale payment stops the step", fakeRows{fail: "payment ws-1"}, allCalls[:1],
			"payment ws-1: conflict: conflict", nil},
		{"a failed event is named", fakeRows{fail: "event CAPTURED"}, allCalls[:5],
			`event CAPTURED "": event CAPTURED: conflict: conflict`, nil},
		{"a failed notification is named", fakeRows{fail: "notification n-2"}, allCalls[:7],
			`notification "n-2": notification n-2: conflict: conflict`, nil},
		{"a failed operation is named", fakeRows{fail: "operation op-1"}, allCalls[:9],
			`operation "op-1": operation op-1: conflict: conflict`, nil},
		{"a failed exchange is named", fakeRows{fail: "exchange create"}, allCalls,
			`vipps create exchange: exchange create: conflict: conflict`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := change()
			stored, err := bridge.WriteChange(t.Context(), &tt.rows, c, now)
			require.Equal(t, tt.wantCalls, tt.rows.calls)
			require.Equal(t, change(), c, "the caller's change was written to")
			if tt.wantErr != "" {
				require.ErrorIs(t, err, bridge.ErrConflict)
				require.EqualError(t, err, tt.wantErr)
				require.Nil(t, stored)
				return
			}
			require.NoError(t, err)
			tt.check(t, stored)

			c.SetStored(stored)
			require.Equal(t, stored, c)
		})
	}
}

func TestPrepareInsert(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	earlier := now.Add(-time.Hour)
	tests := []struct {
		name      string
		got, want any
	}{
		{"payment, new",
			&bridge.Payment{Reference: "ws-1", Version: 5},
			&bridge.Payment{Reference: "ws-1", CreatedAt: now, UpdatedAt: now, Version: 1}},
		{"payment, dated by the caller",
			&bridge.Payment{CreatedAt: earlier, UpdatedAt: earlier.Add(time.Second)},
			&bridge.Payment{CreatedAt: earlier, UpdatedAt: earlier.Add(time.Second), Version: 1}},
		{"operation, new",
			&bridge.Operation{ID: "op-1"},
			&bridge.Operation{ID: "op-1", State: bridge.OperationPending, CreatedAt: now, UpdatedAt: now, Version: 1}},
		{"operation, with state and times",
			&bridge.Operation{State: bridge.OperationFailed, CreatedAt: earlier, UpdatedAt: earlier, Version: 3},
			&bridge.Operation{State: bridge.OperationFailed, CreatedAt: earlier, UpdatedAt: earlier, Version: 1}},
		{"notification, due at once",
			&bridge.Notification{ID: "n-1"},
			&bridge.Notification{ID: "n-1", CreatedAt: now, NextAttemptAt: now, Version: 1}},
		{"notification, due at its creation",
			&bridge.Notification{CreatedAt: earlier},
			&bridge.Notification{CreatedAt: earlier, NextAttemptAt: earlier, Version: 1}},
		{"history entry, undated", &bridge.HistoryEntry{}, &bridge.HistoryEntry{At: now}},
		{"history entry, dated", &bridge.HistoryEntry{At: earlier}, &bridge.HistoryEntry{At: earlier}},
		{"payment event, unrecorded", &bridge.PaymentEvent{}, &bridge.PaymentEvent{RecordedAt: now}},
		{"payment event, recorded", &bridge.PaymentEvent{RecordedAt: earlier}, &bridge.PaymentEvent{RecordedAt: earlier}},
		{"raw event, unreceived", &bridge.RawEvent{}, &bridge.RawEvent{ReceivedAt: now}},
		{"raw event, received", &bridge.RawEvent{ReceivedAt: earlier}, &bridge.RawEvent{ReceivedAt: earlier}},
		{"webhook registration, undated", &bridge.WebhookRegistration{}, &bridge.WebhookRegistration{CreatedAt: now}},
		{"webhook registration, dated", &bridge.WebhookRegistration{CreatedAt: earlier}, &bridge.WebhookRegistration{CreatedAt: earlier}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.got.(interface{ PrepareInsert(time.Time) }).PrepareInsert(now)
			require.Equal(t, tt.want, tt.got)
		})
	}
}

func TestWebhookRegistrationValidate(t *testing.T) {
	tests := []struct {
		name string
		reg  bridge.WebhookRegistration
		want string
	}{
		{"with a unit", bridge.WebhookRegistration{Unit: "webshop"}, ""},
		{"without a unit", bridge.WebhookRegistration{ID: "wh-1"}, "webhook registration has no unit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireInvalid(t, tt.want, tt.reg.Validate())
		})
	}
}

func TestCheckSeenWebhook(t *testing.T) {
	tests := []struct {
		name      string
		signature string
		want      string
	}{
		{"signed", "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=abc", ""},
		{"unsigned", "", "webhook has no signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireInvalid(t, tt.want, bridge.CheckSeenWebhook(tt.signature))
		})
	}
}

func TestCheckLease(t *testing.T) {
	tests := []struct {
		name  string
		owner string
		lease time.Duration
		want  string
	}{
		{"held", "replica-1", time.Nanosecond, ""},
		{"no owner", "", time.Minute, "lease has no owner"},
		{"ends as it starts", "replica-1", 0, "lease of 0s is not positive"},
		{"ends before it starts", "replica-1", -time.Second, "lease of -1s is not positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireInvalid(t, tt.want, bridge.CheckLease(tt.owner, tt.lease))
		})
	}
}

func TestCheckNotificationState(t *testing.T) {
	tests := []struct {
		state string
		want  string
	}{
		{"", ""},
		{bridge.NotificationPending, ""},
		{bridge.NotificationDelivered, ""},
		{bridge.NotificationFailed, ""},
		{"Pending", `notification state "Pending" is not one of pending, delivered, failed`},
		{"given_up", `notification state "given_up" is not one of pending, delivered, failed`},
	}
	for _, tt := range tests {
		t.Run(tt.state, func(t *testing.T) {
			requireInvalid(t, tt.want, bridge.CheckNotificationState(tt.state))
		})
	}
}

// TestSettlementImportValidate: an import starts only with a provider; its
// hash, which a streamed file gives only at its end, and each line's key
// are checked apart, as the store drains the lines.
func TestSettlementImportValidate(t *testing.T) {
	line := reconcile.Line{Key: "vipps:1", Source: "report.csv", SourceLine: 2}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"with a provider", (&bridge.SettlementImport{Provider: "vipps"}).Validate(), ""},
		{"no provider", (&bridge.SettlementImport{Hash: "ab12"}).Validate(), "an import needs a provider"},
		{"with a hash", (&bridge.SettlementImport{Provider: "vipps", Hash: "ab12"}).ValidateHash(), ""},
		{"no hash", (&bridge.SettlementImport{Provider: "vipps"}).ValidateHash(), "an import needs a hash"},
		{"a line with a key", bridge.ValidateSettlementLine(line), ""},
		{"a line without key", bridge.ValidateSettlementLine(reconcile.Line{Source: "report.csv", SourceLine: 3}), "report.csv line 3 has no key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireInvalid(t, tt.want, tt.err)
		})
	}
}

// TestSettlementImportAllLines: Lines come first, then the stream, which
// stops at its first error.
func TestSettlementImportAllLines(t *testing.T) {
	boom := errors.New("boom")
	imp := &bridge.SettlementImport{Lines: []reconcile.Line{{Key: "a"}}, Stream: func(yield func(reconcile.Line, error) bool) {
		_ = yield(reconcile.Line{Key: "b"}, nil) && yield(reconcile.Line{}, boom) && yield(reconcile.Line{Key: "c"}, nil)
	}}
	var keys []string
	var errs []error
	for l, err := range imp.AllLines() {
		keys, errs = append(keys, l.Key), append(errs, err)
	}
	require.Equal(t, []string{"a", "b", ""}, keys)
	require.Equal(t, []error{nil, nil, boom}, errs)
}

func TestMovementKind(t *testing.T) {
	tests := []struct {
		event string
		want  string
	}{
		{"CAPTURED", bridge.OpCapture},
		{"REFUNDED", bridge.OpRefund},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			require.Equal(t, tt.want, bridge.MovementKind(tt.event))
		})
	}
}
