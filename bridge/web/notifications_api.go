package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"vippskco/bridge"

	"github.com/gin-gonic/gin"
)

// Bounds of GET /api/v1/notifications?limit=.
const (
	defaultNotificationLimit = 100
	maxNotificationLimit     = 500
)

// NotificationJSON is an outbox row as the merchant API shows it. Times that
// have not happened are left out: next_attempt_at only while the
// notification is pending, delivered_at once delivered, gave_up_at once
// given up. last_status is absent when no attempt got an HTTP answer.
type NotificationJSON struct {
	ID            string          `json:"id"`
	Reference     string          `json:"reference"`
	Type          string          `json:"type"`
	State         string          `json:"state"`
	Attempts      int             `json:"attempts"`
	LastStatus    int             `json:"last_status,omitempty"`
	LastError     string          `json:"last_error,omitempty"`
	LastAttemptAt *time.Time      `json:"last_attempt_at,omitempty"`
	NextAttemptAt *time.Time      `json:"next_attempt_at,omitempty"`
	DeliveredAt   *time.Time      `json:"delivered_at,omitempty"`
	GaveUpAt      *time.Time      `json:"gave_up_at,omitempty"`
	CreatedAt     time.Time       `json:"created_at"`
	Payload       json.RawMessage `json:"payload"`
}

func notificationJSON(n *bridge.Notification) NotificationJSON {
	out := NotificationJSON{
		ID: n.ID, Reference: n.Reference, Type: n.Type, State: n.State(), Attempts: n.Attempts,
		LastStatus: n.LastStatus, LastError: n.LastError, CreatedAt: n.CreatedAt, Payload: n.Payload,
		LastAttemptAt: timeOrNil(n.LastAttemptAt), DeliveredAt: timeOrNil(n.DeliveredAt), GaveUpAt: timeOrNil(n.GaveUpAt),
	}
	if out.State == bridge.NotificationPending {
		out.NextAttemptAt = timeOrNil(n.NextAttemptAt)
	}
	if len(out.Payload) == 0 {
		out.Payload = json.RawMessage("null")
	}
	return out
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// listNotifications serves GET /api/v1/notifications?reference=&state=&limit=,
// newest first.
func (h *HTTP) listNotifications(c *gin.Context) error {
	state := c.Query("state")
	switch state {
	case "", bridge.NotificationPending, bridge.NotificationDelivered, bridge.NotificationFailed:
	default:
		return bridge.Errorf(bridge.ECodeInvalid, "bad_state", "state %s is not one of pending, delivered, failed", bridge.Quote(state))
	}
	limit := defaultNotificationLimit
	if raw, ok := c.GetQuery("limit"); ok {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > maxNotificationLimit {
			return bridge.Errorf(bridge.ECodeInvalid, "bad_limit", "limit %s is not a whole number from 1 to %d", bridge.Quote(raw), maxNotificationLimit)
		}
		limit = n
	}
	rows, err := h.Service.Store.Notifications(c.Request.Context(), c.Query("reference"), state, limit)
	if err != nil {
		return err
	}
	out := make([]NotificationJSON, 0, len(rows))
	for _, n := range rows {
		out = append(out, notificationJSON(n))
	}
	c.JSON(http.StatusOK, gin.H{"notifications": out})
	return nil
}

// getNotification serves GET /api/v1/notifications/:id.
func (h *HTTP) getNotification(c *gin.Context) error {
	n, err := h.Service.Store.Notification(c.Request.Context(), c.Param("id"))
	if err != nil {
		return bridge.NotFoundAs(err, "notification %s", bridge.Quote(c.Param("id")))
	}
	c.JSON(http.StatusOK, notificationJSON(n))
	return nil
}

// redeliverNotification serves POST /api/v1/notifications/:id/redeliver. It
// answers 202: the notification is due now, and the outbox sends it on its
// next round.
func (h *HTTP) redeliverNotification(c *gin.Context) error {
	n, err := h.Service.RedeliverNotification(c.Request.Context(), c.Param("id"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusAccepted, notificationJSON(n))
	return nil
}
