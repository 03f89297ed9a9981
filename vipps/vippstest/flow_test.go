package vippstest

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mod decodes a 200 ModificationResponse.
func (h *harness) mod(status int, body []byte) wireModification {
	h.t.Helper()
	return decodeModification(h.t, status, body)
}

var numericPSP = regexp.MustCompile(`^[0-9]{10}$`)

func decodeModification(t *testing.T, status int, body []byte) wireModification {
	t.Helper()
	require.Equal(t, http.StatusOK, status, string(body))
	var m wireModification
	require.NoError(t, json.Unmarshal(body, &m))
	return m
}

func TestFullFlowCreateApproveCaptureRefund(t *testing.T) {
	h := newHarness(t, Options{})
	const ref = "kco-order-1234-1"
	body := createBody(ref, 149900)
	body["metadata"] = map[string]any{"kcoOrderId": "abc-123"}
	status, raw := h.create(body, "idem-create-1")
	require.Equal(t, http.StatusCreated, status, string(raw))
	var created createResult
	require.NoError(t, json.Unmarshal(raw, &created))
	assert.Equal(t, ref, created.Reference)
	assert.True(t, strings.HasPrefix(created.RedirectURL, h.srv.URL()+"/landing?token="), created.RedirectURL)

	p := h.get(ref)
	assert.Equal(t, "CREATED", p.State)
	assert.Equal(t, wireAmount{"NOK", 149900}, p.Amount)
	assert.Equal(t, "WALLET", p.PaymentMethod.Type)
	assert.Equal(t, created.RedirectURL, p.RedirectURL)
	assert.Equal(t, map[string]string{"kcoOrderId": "abc-123"}, p.Metadata)
	assert.Equal(t, wireAggregate{
		AuthorizedAmount: wireAmount{"NOK", 0}, CancelledAmount: wireAmount{"NOK", 0},
		CapturedAmount: wireAmount{"NOK", 0}, RefundedAmount: wireAmount{"NOK", 0},
	}, p.Aggregate)
	_, err := uuid.Parse(p.PSPReference)
	require.NoError(t, err, "the payment's pspReference is the CREATED event's UUID")

	h.clock.Advance(time.Minute)
	h.forceApprove(ref)
	p = h.get(ref)
	assert.Equal(t, "AUTHORIZED", p.State)
	assert.Equal(t, int64(149900), p.Aggregate.AuthorizedAmount.Value)

	m := h.mod(h.capture(ref, "cap-1", 30000))
	assert.Equal(t, "AUTHORIZED", m.State, "there is no CAPTURED state")
	assert.Equal(t, int64(30000), m.Aggregate.CapturedAmount.Value)
	assert.Equal(t, p.PSPReference, m.PSPReference, "modification responses carry the CREATED pspReference")
	assert.Equal(t, wireAmount{"NOK", 149900}, m.Amount)

	m = h.mod(h.capture(ref, "cap-2", 119900))
	assert.Equal(t, int64(149900), m.Aggregate.CapturedAmount.Value)

	status, raw = h.capture(ref, "cap-3", 1)
	requireCode(t, status, raw, 400, "6170")

	m = h.mod(h.refund(ref, "ref-1", 50000))
	assert.Equal(t, int64(50000), m.Aggregate.RefundedAmount.Value)
	status, raw = h.refund(ref, "ref-2", 100000)
	requireCode(t, status, raw, 400, "6150")
	m = h.mod(h.refund(ref, "ref-3", 99900))
	assert.Equal(t, int64(149900), m.Aggregate.RefundedAmount.Value)

	evs := h.events(ref)
	var names []string
	for _, e := range evs {
		names = append(names, e.Name)
		assert.Equal(t, ref, e.Reference)
		assert.True(t, e.Success)
		_, err := time.Parse("2006-01-02T15:04:05.000Z", e.Timestamp)
		assert.NoError(t, err, e.Timestamp)
	}
	assert.Equal(t, []string{"CREATED", "AUTHORIZED", "CAPTURED", "CAPTURED", "REFUNDED", "REFUNDED"}, names)
	assert.Equal(t, p.PSPReference, evs[0].PSPReference)
	seen := map[string]bool{}
	for _, e := range evs[1:] {
		assert.Regexp(t, numericPSP, e.PSPReference)
		assert.False(t, seen[e.PSPReference], "each event has its own pspReference")
		seen[e.PSPReference] = true
	}
	require.NotNil(t, evs[0].IdempotencyKey)
	assert.Equal(t, "idem-create-1", *evs[0].IdempotencyKey)
	assert.Nil(t, evs[1].IdempotencyKey, "the user's authorization has no key")
	assert.Equal(t, "cap-2", *evs[3].IdempotencyKey)
	assert.Equal(t, int64(30000), evs[2].Amount.Value)
	assert.Equal(t, "2026-03-02T10:01:00.000Z", evs[1].Timestamp)

	// The raw JSON writes the missing key as null, as the spec's nullable.
	_, raw = h.call(http.MethodGet, "/epayment/v1/payments/"+ref+"/events", nil, nil)
	assert.Contains(t, string(raw), `"idempotencyKey":null`)

	snap, ok := h.srv.Payment(ref)
	require.True(t, ok)
	assert.Equal(t, StateAuthorized, snap.State)
	assert.Equal(t, int64(149900), snap.Captured)
	assert.Equal(t, int64(149900), snap.Refunded)
	assert.Equal(t, "4791234567", snap.ApprovedBy)
	assert.Len(t, snap.Events, 6)
	assert.Equal(t, []string{ref}, h.srv.References())
	assert.Equal(t, 1, h.srv.Calls(OpCreate))
	assert.Equal(t, 3, h.srv.Calls(OpCapture))
	assert.Equal(t, 3, h.srv.Calls(OpRefund))
	assert.Equal(t, 1, h.srv.Calls(OpApprove))
}

func TestCancel(t *testing.T) {
	tests := []struct {
		name          string
		setup         func(h *harness, ref string)
		body          any
		wantStatus    int
		wantCode      string
		wantState     string
		wantCancelled int64
		wantLastEvent string
	}{
		{
			name:       "before authorization terminates",
			setup:      func(*harness, string) {},
			wantStatus: 200, wantState: "TERMINATED", wantLastEvent: "TERMINATED",
		},
		{
			name:       "cancelTransactionOnly before authorization terminates",
			setup:      func(*harness, string) {},
			body:       map[string]any{"cancelTransactionOnly": true},
			wantStatus: 200, wantState: "TERMINATED", wantLastEvent: "TERMINATED",
		},
		{
			name:       "after authorization cancels everything",
			setup:      func(h *harness, ref string) { h.forceApprove(ref) },
			wantStatus: 200, wantState: "AUTHORIZED", wantCancelled: 10000, wantLastEvent: "CANCELLED",
		},
		{
			name: "after a partial capture cancels the rest",
			setup: func(h *harness, ref string) {
				h.forceApprove(ref)
				status, body := h.capture(ref, "c1", 2500)
				require.Equal(h.t, 200, status, string(body))
			},
			wantStatus: 200, wantState: "AUTHORIZED", wantCancelled: 7500, wantLastEvent: "CANCELLED",
		},
		{
			name: "fully captured gives 6040",
			setup: func(h *harness, ref string) {
				h.forceApprove(ref)
				status, body := h.capture(ref, "c1", 10000)
				require.Equal(h.t, 200, status, string(body))
			},
			wantStatus: 400, wantCode: "6040", wantState: "AUTHORIZED", wantLastEvent: "CAPTURED",
		},
		{
			name:       "cancelTransactionOnly on an authorized payment gives 6060",
			setup:      func(h *harness, ref string) { h.forceApprove(ref) },
			body:       map[string]any{"cancelTransactionOnly": true},
			wantStatus: 400, wantCode: "6060", wantState: "AUTHORIZED", wantLastEvent: "AUTHORIZED",
		},
		{
			name:       "aborted payment gives 6190",
			setup:      func(h *harness, ref string) { require.NoError(h.t, h.srv.Reject(ref)) },
			wantStatus: 400, wantCode: "6190", wantState: "ABORTED", wantLastEvent: "ABORTED",
		},
		{
			name:       "cancelTransactionOnly must be a boolean",
			setup:      func(*harness, string) {},
			body:       map[string]any{"cancelTransactionOnly": "yes"},
			wantStatus: 400, wantState: "CREATED", wantLastEvent: "CREATED",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			const ref = "cancel-test-1"
			h.mustCreate(ref, 10000)
			tt.setup(h, ref)
			status, body := h.cancel(ref, "cancel-1", tt.body)
			switch {
			case tt.wantCode != "":
				requireCode(t, status, body, tt.wantStatus, tt.wantCode)
			case tt.wantStatus == 400:
				requireFields(t, status, body, "cancelTransactionOnly")
			default:
				m := decodeModification(t, status, body)
				assert.Equal(t, tt.wantState, m.State)
			}
			p := h.get(ref)
			assert.Equal(t, tt.wantState, p.State)
			assert.Equal(t, tt.wantCancelled, p.Aggregate.CancelledAmount.Value)
			evs := h.events(ref)
			assert.Equal(t, tt.wantLastEvent, evs[len(evs)-1].Name)
		})
	}
}

func TestCancelAgainChangesNothing(t *testing.T) {
	h := newHarness(t, Options{})
	h.mustCreate("cancel-twice-1", 10000)
	h.forceApprove("cancel-twice-1")
	h.mod(h.cancel("cancel-twice-1", "k1", nil))
	m := h.mod(h.cancel("cancel-twice-1", "k2", nil))
	assert.Equal(t, int64(10000), m.Aggregate.CancelledAmount.Value)
	assert.Len(t, h.events("cancel-twice-1"), 3, "CREATED, AUTHORIZED, one CANCELLED")

	status, body := h.capture("cancel-twice-1", "c1", 100)
	requireCode(t, status, body, 400, "6070")
}

func TestTerminatedPaymentCannotBeCapturedOrApproved(t *testing.T) {
	h := newHarness(t, Options{})
	h.mustCreate("terminated-1", 10000)
	h.mod(h.cancel("terminated-1", "k1", nil))
	status, body := h.capture("terminated-1", "c1", 100)
	requireCode(t, status, body, 400, "6200")
	status, body = h.refund("terminated-1", "r1", 100)
	requireCode(t, status, body, 400, "6210")
	status, body = h.call(http.MethodPost, "/epayment/v1/test/payments/terminated-1/approve",
		map[string]any{"customer": map[string]any{"phoneNumber": "4791234567"}}, nil)
	requireCode(t, status, body, 400, "10020")
	assert.Error(t, h.srv.Approve("terminated-1"))
}
