package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/notifysig"
	"vippskco/bridge/sqlite"
)

const hookSecret = "sandbox-merchant-webhook-secret"

var hookNow = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

func newHookReceiver() *HookReceiver {
	return NewHookReceiver(hookSecret, slog.New(slog.DiscardHandler), func() time.Time { return hookNow })
}

// hookRequest is a notification signed as the outbox signs it.
func hookRequest(id, typ, reference string, signedAt time.Time) *http.Request {
	body := hookBody(id, typ, reference)
	return signedRequest(hookSecret, id, body, body, signedAt)
}

func hookBody(id, typ, reference string) string {
	return fmt.Sprintf(`{"id":%q,"type":%q,"created_at":"2026-03-02T11:59:59Z","payment":{"reference":%q}}`, id, typ, reference)
}

// signedRequest posts body with the headers that sign signed.
func signedRequest(secret, id, signed, body string, signedAt time.Time) *http.Request {
	req := httptest.NewRequest(http.MethodPost, HookPath, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(notifysig.HeaderID, id)
	req.Header.Set(notifysig.HeaderTimestamp, strconv.FormatInt(signedAt.Unix(), 10))
	req.Header.Set(notifysig.HeaderSignature, notifysig.Sign(secret, id, signedAt.Unix(), []byte(signed)))
	return req
}

func serve(h http.Handler, req *http.Request) int {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

func TestHookReceiver(t *testing.T) {
	cases := []struct {
		name   string
		req    func() *http.Request
		status int
		kept   bool
	}{
		{name: "signed", req: func() *http.Request { return hookRequest("n-1", "payment.authorized", "ws-1-1", hookNow) },
			status: http.StatusNoContent, kept: true},
		{name: "signed a minute ago", req: func() *http.Request {
			return hookRequest("n-1", "payment.authorized", "ws-1-1", hookNow.Add(-time.Minute))
		}, status: http.StatusNoContent, kept: true},
		{name: "tampered body", req: func() *http.Request {
			return signedRequest(hookSecret, "n-1", hookBody("n-1", "payment.authorized", "ws-1-1"),
				hookBody("n-1", "payment.captured", "ws-1-1"), hookNow)
		}, status: http.StatusUnauthorized},
		{name: "other secret", req: func() *http.Request {
			body := hookBody("n-1", "payment.authorized", "ws-1-1")
			return signedRequest("other", "n-1", body, body, hookNow)
		}, status: http.StatusUnauthorized},
		{name: "stale", req: func() *http.Request {
			return hookRequest("n-1", "payment.authorized", "ws-1-1", hookNow.Add(-10*time.Minute))
		}, status: http.StatusUnauthorized},
		{name: "unsigned", req: func() *http.Request {
			r := hookRequest("n-1", "payment.authorized", "ws-1-1", hookNow)
			r.Header.Del(notifysig.HeaderSignature)
			return r
		}, status: http.StatusUnauthorized},
		{name: "signed but not a notification", req: func() *http.Request {
			return signedRequest(hookSecret, "n-1", "[1,2", "[1,2", hookNow)
		}, status: http.StatusBadRequest},
		{name: "too large", req: func() *http.Request {
			return httptest.NewRequest(http.MethodPost, HookPath, bytes.NewReader(make([]byte, maxHookBody+1)))
		}, status: http.StatusRequestEntityTooLarge},
		{name: "GET", req: func() *http.Request { return httptest.NewRequest(http.MethodGet, HookPath, nil) },
			status: http.StatusMethodNotAllowed},
		{name: "other path", req: func() *http.Request {
			r := hookRequest("n-1", "payment.authorized", "ws-1-1", hookNow)
			r.URL.Path = "/shop/hooks/other"
			return r
		}, status: http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHookReceiver()
			require.Equal(t, tc.status, serve(h, tc.req()))
			if !tc.kept {
				require.Empty(t, h.Received(""))
				return
			}
			require.Equal(t, []ReceivedNotification{{ID: "n-1", Type: "payment.authorized", Reference: "ws-1-1", ReceivedAt: hookNow}},
				h.Received(""))
		})
	}
}

func TestHookReceiverDedupesAndKeepsTheLast200(t *testing.T) {
	h := newHookReceiver()
	require.Equal(t, http.StatusNoContent, serve(h, hookRequest("n-1", "payment.authorized", "ws-1-1", hookNow)))
	require.Equal(t, http.StatusNoContent, serve(h, hookRequest("n-1", "payment.authorized", "ws-1-1", hookNow)),
		"a redelivery is answered 2xx, or the sender would retry it")
	require.Len(t, h.Received(""), 1)

	for i := 2; i <= 205; i++ {
		ref := "ws-1-1"
		if i%2 == 0 {
			ref = "ws-2-1"
		}
		require.Equal(t, http.StatusNoContent, serve(h, hookRequest(fmt.Sprintf("n-%d", i), "payment.captured", ref, hookNow)))
	}
	all := h.Received("")
	require.Len(t, all, 200)
	require.Equal(t, "n-6", all[0].ID, "the oldest are forgotten first")
	require.Equal(t, "n-205", all[199].ID)
	require.Len(t, h.Received("ws-2-1"), 100)
	require.Len(t, h.Received("ws-1-1"), 100)
	require.Empty(t, h.Received("ws-3-1"))
}

// TestHookReceiverFromOutbox runs the bridge's outbox against the demo
// shop's receiver: what one signs, the other accepts, once.
func TestHookReceiverFromOutbox(t *testing.T) {
	ctx := t.Context()
	now := func() time.Time { return hookNow }
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "bridge.db"), now)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })

	h := newHookReceiver()
	mux := http.NewServeMux()
	mux.Handle(HookPath, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	p := &bridge.Payment{
		Reference: "ws-1-1", Unit: "webshop", KCOOrderID: "kco-1", Attempt: 1,
		Amount: bridge.Money{Value: 49900, Currency: "NOK"}, State: bridge.StateAuthorized,
		CreateIdempotencyKey: "idem-ws-1-1", CreateRequest: json.RawMessage(`{}`), ReturnToken: "token-ws-1-1", Locale: "nb-NO",
	}
	require.NoError(t, st.InsertPayment(ctx, p))
	p, err = st.Payment(ctx, p.Reference)
	require.NoError(t, err)
	payload, err := json.Marshal(bridge.NotificationPayload{ID: "n-1", Type: "payment.authorized", CreatedAt: hookNow,
		Payment: bridge.PaymentJSON{Reference: "ws-1-1", State: bridge.StateAuthorized}})
	require.NoError(t, err)
	require.NoError(t, st.Commit(ctx, &bridge.Change{Payment: p, Notifications: []bridge.Notification{{
		ID: "n-1", Reference: "ws-1-1", Type: "payment.authorized", Payload: payload, CreatedAt: hookNow, NextAttemptAt: hookNow,
	}}}))

	svc := &bridge.Service{Store: st, Now: now, Logger: slog.New(slog.DiscardHandler),
		MerchantWebhook: bridge.MerchantWebhook{URL: srv.URL + HookPath, Secret: hookSecret}}
	delivered, err := svc.DeliverOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, delivered)
	require.Equal(t, []ReceivedNotification{{ID: "n-1", Type: "payment.authorized", Reference: "ws-1-1", ReceivedAt: hookNow}},
		h.Received("ws-1-1"))

	_, err = svc.RedeliverNotification(ctx, "n-1")
	require.Equal(t, "already_delivered", bridge.ErrorReason(err))
}
