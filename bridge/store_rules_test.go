package bridge_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
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

func TestChangePrepare(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	earlier := now.Add(-time.Hour)
	later := now.Add(time.Hour)
	c := &bridge.Change{
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
	}
	before := *c.Payment

	w := c.Prepare(now)

	require.Equal(t, before, *c.Payment, "the caller's payment changed")
	require.Equal(t, bridge.HistoryEntry{Detail: "undated"}, c.History[0], "the caller's history changed")
	require.Equal(t, "", c.Operations[0].Reference, "the caller's operation changed")

	require.Equal(t, bridge.Payment{Reference: "ws-1", Version: 4, CreatedAt: earlier, UpdatedAt: now}, *w.Payment)
	require.Equal(t, []bridge.HistoryEntry{
		{Reference: "ws-1", Detail: "undated", At: now},
		{Reference: "ws-1", Detail: "dated", At: earlier},
	}, w.History)
	require.Equal(t, []bridge.PaymentEvent{
		{Reference: "ws-1", Name: "AUTHORIZED", RecordedAt: now},
		{Reference: "ws-1", Name: "CAPTURED", RecordedAt: earlier},
	}, w.Events)
	require.Equal(t, []bridge.Notification{
		{ID: "n-1", Reference: "ws-1", CreatedAt: now, NextAttemptAt: now, Version: 1},
		{ID: "n-2", Reference: "ws-1", CreatedAt: earlier, NextAttemptAt: earlier, Version: 1},
		{ID: "n-3", Reference: "ws-1", CreatedAt: earlier, NextAttemptAt: later, Version: 1},
	}, w.Notifications)
	require.Equal(t, []bridge.Operation{
		{ID: "op-1", Reference: "ws-1", State: bridge.OperationPending, CreatedAt: now, UpdatedAt: now, Version: 1},
		{ID: "op-2", Reference: "ws-1", State: bridge.OperationSucceeded, CreatedAt: earlier, UpdatedAt: earlier, Version: 1},
	}, w.Operations)
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

func TestSettlementImportValidate(t *testing.T) {
	line := bridge.SettlementLine{Key: "vipps:1", Source: "report.csv", SourceLine: 2}
	tests := []struct {
		name string
		imp  bridge.SettlementImport
		want string
	}{
		{"complete", bridge.SettlementImport{Provider: "vipps", Hash: "ab12", Lines: []bridge.SettlementLine{line}}, ""},
		{"no lines", bridge.SettlementImport{Provider: "vipps", Hash: "ab12"}, ""},
		{"no provider", bridge.SettlementImport{Hash: "ab12"}, "an import needs a provider and a hash"},
		{"no hash", bridge.SettlementImport{Provider: "vipps"}, "an import needs a provider and a hash"},
		{"a line without key", bridge.SettlementImport{Provider: "vipps", Hash: "ab12", Lines: []bridge.SettlementLine{
			line, {Source: "report.csv", SourceLine: 3},
		}}, "report.csv line 3 has no key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireInvalid(t, tt.want, tt.imp.Validate())
		})
	}
}
