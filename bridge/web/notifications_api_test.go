package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"vippskco/bridge"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/require"
)

// notificationStore keeps notifications in memory. It implements only the
// Store methods the notification handlers use; any other call panics on the
// nil embedded Store. (The outbox itself is tested against bridge/sqlite in
// outbox_test.go; these tests are in package bridge, which that store
// imports.)
type notificationStore struct {
	bridge.Store
	mu   sync.Mutex
	rows map[string]bridge.Notification
}

func (s *notificationStore) put(n bridge.Notification) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rows == nil {
		s.rows = map[string]bridge.Notification{}
	}
	n.Version = 1
	s.rows[n.ID] = n
}

func (s *notificationStore) Notification(_ context.Context, id string) (*bridge.Notification, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.rows[id]
	if !ok {
		return nil, bridge.ErrNotFound
	}
	return &n, nil
}

func (s *notificationStore) Notifications(_ context.Context, reference, state string, limit int) ([]*bridge.Notification, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []*bridge.Notification{}
	for _, n := range s.rows {
		if (reference == "" || n.Reference == reference) && (state == "" || n.State() == state) {
			out = append(out, &n)
		}
	}
	slices.SortFunc(out, func(a, b *bridge.Notification) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out[:min(limit, len(out))], nil
}

func (s *notificationStore) UpdateNotification(_ context.Context, n *bridge.Notification) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	stored, ok := s.rows[n.ID]
	if !ok {
		return bridge.ErrNotFound
	}
	if stored.Version != n.Version {
		return bridge.ErrConflict
	}
	n.Version++
	s.rows[n.ID] = *n
	return nil
}

// notificationRouter serves the notification routes as the API mounts them.
func notificationRouter(h *HTTP) http.Handler {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	api := r.Group("/api/v1", h.bearer(func() string { return h.MerchantToken }))
	api.GET("/notifications", h.api(h.listNotifications))
	api.GET("/notifications/:id", h.api(h.getNotification))
	api.POST("/notifications/:id/redeliver", h.api(h.redeliverNotification))
	return r
}

// notificationAPI is a router over three notifications of two payments: one
// delivered, one given up and one pending, created in that order.
func notificationAPI(t *testing.T) (http.Handler, *notificationStore, time.Time) {
	t.Helper()
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	st := &notificationStore{}
	st.put(bridge.Notification{ID: "n-delivered", Reference: "ws-1-1", Type: "payment.authorized",
		Payload: json.RawMessage(`{"id":"n-delivered", "type":"payment.authorized"}`), CreatedAt: now.Add(-3 * time.Hour),
		Attempts: 1, LastStatus: 204, LastAttemptAt: now.Add(-3 * time.Hour), DeliveredAt: now.Add(-3 * time.Hour), NextAttemptAt: now.Add(-3 * time.Hour)})
	st.put(bridge.Notification{ID: "n-failed", Reference: "ws-1-1", Type: "payment.captured",
		Payload: json.RawMessage(`{"id":"n-failed","type":"payment.captured"}`), CreatedAt: now.Add(-2 * time.Hour),
		Attempts: 9, LastStatus: 500, LastError: "HTTP 500: boom", LastAttemptAt: now.Add(-time.Hour), GaveUpAt: now.Add(-time.Hour),
		NextAttemptAt: now.Add(-time.Hour)})
	st.put(bridge.Notification{ID: "n-pending", Reference: "ws-2-1", Type: "payment.authorized",
		Payload: json.RawMessage(`{"id":"n-pending","type":"payment.authorized"}`), CreatedAt: now.Add(-time.Hour),
		Attempts: 2, LastError: `Post "https://shop.example/hooks": connection refused`, LastAttemptAt: now.Add(-time.Minute),
		NextAttemptAt: now.Add(time.Minute)})
	svc := &bridge.Service{Store: st, Now: func() time.Time { return now }}
	return notificationRouter(&HTTP{Service: svc, MerchantToken: "merchant-token"}), st, now
}

func callAPI(t *testing.T, h http.Handler, method, target, token string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestListNotifications(t *testing.T) {
	cases := []struct {
		name   string
		query  string
		token  string
		status int
		ids    []string
		reason string
	}{
		{name: "all, newest first", ids: []string{"n-pending", "n-failed", "n-delivered"}},
		{name: "pending", query: "?state=pending", ids: []string{"n-pending"}},
		{name: "delivered", query: "?state=delivered", ids: []string{"n-delivered"}},
		{name: "failed", query: "?state=failed", ids: []string{"n-failed"}},
		{name: "one payment", query: "?reference=ws-1-1", ids: []string{"n-failed", "n-delivered"}},
		{name: "one payment and state", query: "?reference=ws-1-1&state=pending", ids: []string{}},
		{name: "unknown payment", query: "?reference=nope", ids: []string{}},
		{name: "limit", query: "?limit=2", ids: []string{"n-pending", "n-failed"}},
		{name: "limit 1", query: "?limit=1", ids: []string{"n-pending"}},
		{name: "limit 500", query: "?limit=500", ids: []string{"n-pending", "n-failed", "n-delivered"}},
		{name: "unknown state", query: "?state=lost", status: 400, reason: "bad_state"},
		{name: "state in capitals", query: "?state=PENDING", status: 400, reason: "bad_state"},
		{name: "limit 0", query: "?limit=0", status: 400, reason: "bad_limit"},
		{name: "limit 501", query: "?limit=501", status: 400, reason: "bad_limit"},
		{name: "negative limit", query: "?limit=-1", status: 400, reason: "bad_limit"},
		{name: "limit not a number", query: "?limit=ten", status: 400, reason: "bad_limit"},
		{name: "empty limit", query: "?limit=", status: 400, reason: "bad_limit"},
		{name: "no token", token: "-", status: 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, _, _ := notificationAPI(t)
			token := "merchant-token"
			if tc.token == "-" {
				token = ""
			}
			rec := callAPI(t, h, http.MethodGet, "/api/v1/notifications"+tc.query, token)
			want := tc.status
			if want == 0 {
				want = http.StatusOK
			}
			require.Equal(t, want, rec.Code, rec.Body.String())
			if want != http.StatusOK {
				var body struct{ Error struct{ Code, Reason string } }
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
				require.Equal(t, tc.reason, body.Error.Reason)
				return
			}
			var body struct {
				Notifications []NotificationJSON `json:"notifications"`
			}
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
			require.NotNil(t, body.Notifications, "an empty list is [], not null")
			ids := []string{}
			for _, n := range body.Notifications {
				ids = append(ids, n.ID)
			}
			require.Equal(t, tc.ids, ids)
		})
	}
}

func TestGetNotification(t *testing.T) {
	h, _, _ := notificationAPI(t)
	cases := []struct {
		name   string
		id     string
		status int
		want   string
	}{
		{name: "pending", id: "n-pending", status: 200, want: `{
			"id": "n-pending", "reference": "ws-2-1", "type": "payment.authorized", "state": "pending", "attempts": 2,
			"last_error": "Post \"https://shop.example/hooks\": connection refused",
			"last_attempt_at": "2026-03-02T11:59:00Z", "next_attempt_at": "2026-03-02T12:01:00Z",
			"created_at": "2026-03-02T11:00:00Z",
			"payload": {"id": "n-pending", "type": "payment.authorized"}}`},
		{name: "failed", id: "n-failed", status: 200, want: `{
			"id": "n-failed", "reference": "ws-1-1", "type": "payment.captured", "state": "failed", "attempts": 9,
			"last_status": 500, "last_error": "HTTP 500: boom",
			"last_attempt_at": "2026-03-02T11:00:00Z", "gave_up_at": "2026-03-02T11:00:00Z",
			"created_at": "2026-03-02T10:00:00Z",
			"payload": {"id": "n-failed", "type": "payment.captured"}}`},
		{name: "delivered", id: "n-delivered", status: 200, want: `{
			"id": "n-delivered", "reference": "ws-1-1", "type": "payment.authorized", "state": "delivered", "attempts": 1,
			"last_status": 204, "last_attempt_at": "2026-03-02T09:00:00Z", "delivered_at": "2026-03-02T09:00:00Z",
			"created_at": "2026-03-02T09:00:00Z",
			"payload": {"id": "n-delivered", "type": "payment.authorized"}}`},
		{name: "unknown", id: "n-nope", status: 404,
			want: `{"error": {"code": "not_found", "reason": "not_found", "message": "notification \"n-nope\" not found"}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := callAPI(t, h, http.MethodGet, "/api/v1/notifications/"+tc.id, "merchant-token")
			require.Equal(t, tc.status, rec.Code)
			require.JSONEq(t, tc.want, rec.Body.String())
		})
	}
}

func TestRedeliverNotificationHandler(t *testing.T) {
	cases := []struct {
		name   string
		id     string
		status int
		reason string
	}{
		{name: "given up", id: "n-failed", status: http.StatusAccepted},
		{name: "pending", id: "n-pending", status: http.StatusAccepted},
		{name: "delivered", id: "n-delivered", status: http.StatusConflict, reason: "already_delivered"},
		{name: "unknown", id: "n-nope", status: http.StatusNotFound, reason: "not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, st, now := notificationAPI(t)
			before, _ := st.Notification(t.Context(), tc.id)
			rec := callAPI(t, h, http.MethodPost, "/api/v1/notifications/"+tc.id+"/redeliver", "merchant-token")
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			after, _ := st.Notification(t.Context(), tc.id)
			if tc.reason != "" {
				var body struct{ Error struct{ Code, Reason string } }
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
				require.Equal(t, tc.reason, body.Error.Reason)
				require.Equal(t, before, after, "nothing changes")
				return
			}
			var got NotificationJSON
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
			require.Equal(t, bridge.NotificationPending, got.State)
			require.Equal(t, before.Attempts, got.Attempts, "attempts are kept")
			require.NotNil(t, got.NextAttemptAt)
			require.Equal(t, now, *got.NextAttemptAt)
			require.Nil(t, got.GaveUpAt)
			require.Equal(t, bridge.NotificationPending, after.State())
			require.Equal(t, now, after.NextAttemptAt)
			require.Equal(t, before.LastError, after.LastError)
		})
	}
}
