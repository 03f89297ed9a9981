package sandbox

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"vippskco/bridge"
	"vippskco/bridge/notifysig"
)

// HookPath is where the demo shop receives our notifications; the sandbox
// configuration points merchant_webhook.url here.
const HookPath = "/shop/hooks/vipps"

// keepReceived is how many notifications the demo shop remembers, and so
// how far back it recognises a redelivery.
const keepReceived = 200

// maxHookBody bounds what the receiver reads of one request.
const maxHookBody = 1 << 20

// ReceivedNotification is one notification the demo shop accepted.
type ReceivedNotification struct {
	ID         string
	Type       string
	Reference  string
	ReceivedAt time.Time
}

// HookReceiver is the demo shop's webhook endpoint, written as a merchant
// should write theirs: it verifies the signature and the timestamp before
// reading the body, answers 2xx only once the notification is kept, and
// treats a second delivery of the same Webhook-Id as already done.
type HookReceiver struct {
	// Now is the receiver's clock for the timestamp check; nil means
	// time.Now. Tests that move the service's clock set it to that clock.
	Now func() time.Time

	secret string
	logger *slog.Logger

	mu sync.Mutex
	// received holds the last keepReceived notifications, oldest first.
	received []ReceivedNotification
}

// NewHookReceiver returns the demo shop's receiver for notifications
// signed with secret, to be mounted at HookPath; now is its clock (nil:
// time.Now).
func NewHookReceiver(secret string, logger *slog.Logger, now func() time.Time) *HookReceiver {
	if logger == nil {
		logger = slog.Default()
	}
	return &HookReceiver{secret: secret, logger: logger, Now: now}
}

func (h *HookReceiver) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// ServeHTTP accepts POST HookPath: 204 for a new or repeated notification,
// 401 for a bad signature or a stale timestamp, 400 for a body that is not a
// notification.
func (h *HookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != HookPath {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxHookBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "reading body", http.StatusBadRequest)
		return
	}
	now := h.now()
	if err := notifysig.Verify(h.secret, r.Header, body, now, 0); err != nil {
		h.logger.Warn("demo shop refused a notification", "reason", bridge.ErrorReason(err), "err", err)
		http.Error(w, bridge.ErrorMessage(err), http.StatusUnauthorized)
		return
	}
	var payload bridge.NotificationPayload
	if err := json.Unmarshal(body, &payload); err != nil {
		http.Error(w, "the body is not a notification", http.StatusBadRequest)
		return
	}
	got := ReceivedNotification{
		ID: r.Header.Get(notifysig.HeaderID), Type: payload.Type, Reference: payload.Payment.Reference, ReceivedAt: now,
	}
	if h.keep(got) {
		h.logger.Info("demo shop received a notification", "id", got.ID, "type", got.Type, "reference", got.Reference)
	}
	w.WriteHeader(http.StatusNoContent)
}

// keep remembers n unless its id is already remembered, and reports
// whether it was new.
func (h *HookReceiver) keep(n ReceivedNotification) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if slices.ContainsFunc(h.received, func(r ReceivedNotification) bool { return r.ID == n.ID }) {
		return false
	}
	if len(h.received) == keepReceived {
		h.received = slices.Delete(h.received, 0, 1)
	}
	h.received = append(h.received, n)
	return true
}

// Received returns the remembered notifications about one payment ("" for
// all), oldest first.
func (h *HookReceiver) Received(reference string) []ReceivedNotification {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []ReceivedNotification
	for _, n := range h.received {
		if reference == "" || n.Reference == reference {
			out = append(out, n)
		}
	}
	return out
}
