package klarnatest

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"vippskco/klarna"
)

// Error codes the fake answers with besides the documented BAD_VALUE and
// READ_ONLY_ORDER. The spec gives no code for these statuses.
const (
	codeNotFound         = "NOT_FOUND"
	codeUnauthorized     = "UNAUTHORIZED"
	codeUnsupportedMedia = "UNSUPPORTED_MEDIA_TYPE"
)

// maxRequestBytes bounds a request body; 1000 order lines fit easily.
const maxRequestBytes = 4 << 20

// readOnlyFields are set by Kustom. A request may carry them (a client that
// sends back an order it read does), and they are ignored.
var readOnlyFields = []string{
	"order_id", "name", "status", "html_snippet", "started_at", "completed_at",
	"last_modified_at", "recurring_token", "recurring_description", "merchant_requested",
}

func (s *Server) count(op string) {
	s.mu.Lock()
	s.calls[op]++
	s.mu.Unlock()
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	s.count("create")
	body, ok := s.admit(w, r, true)
	if !ok {
		return
	}
	created, msgs := s.create(body)
	if msgs != nil {
		writeError(w, http.StatusBadRequest, klarna.CodeBadValue, msgs...)
		return
	}
	w.Header().Set("Location", s.base+"/checkout/v3/orders/"+url.PathEscape(created.OrderID))
	writeJSON(w, http.StatusCreated, created)
}

func (s *Server) handleRead(w http.ResponseWriter, r *http.Request) {
	s.count("read")
	if _, ok := s.admit(w, r, false); !ok {
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	rec, err := s.liveLocked(id)
	var o klarna.Order
	if err == nil {
		o = cloneOrder(rec.order)
	}
	s.mu.Unlock()
	if err != nil {
		writeNotFound(w)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request) {
	s.count("update")
	body, ok := s.admit(w, r, true)
	if !ok {
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, err := s.liveLocked(id)
	if err != nil {
		writeNotFound(w)
		return
	}
	if rec.aborted || rec.order.Status != klarna.StatusCheckoutIncomplete {
		writeError(w, http.StatusForbidden, klarna.CodeReadOnlyOrder, "Resource is read-only")
		return
	}
	fields, msgs := decodeFields(body)
	if msgs != nil {
		writeError(w, http.StatusBadRequest, klarna.CodeBadValue, msgs...)
		return
	}
	// Properties left out of an update keep their value: the request's
	// top-level fields replace the stored ones, and the result must be a
	// valid order as a whole.
	merged, err := orderFields(rec.order)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "INTERNAL_ERROR", err.Error())
		return
	}
	for k, v := range fields {
		merged[k] = v
	}
	o, msgs := buildOrder(merged)
	if msgs != nil {
		writeError(w, http.StatusBadRequest, klarna.CodeBadValue, msgs...)
		return
	}
	now := s.now()
	keepReadOnly(&o, rec.order)
	modified := stamp(now)
	o.LastModifiedAt = &modified
	rec.order = o
	rec.touchedAt = now
	writeJSON(w, http.StatusOK, cloneOrder(o))
}

// handleAbort marks the order aborted. The fake keeps its status (the API
// documents no status value for aborted orders), refuses later updates with
// READ_ONLY_ORDER and no longer lets the shopper pay. Aborting twice is
// harmless; aborting a completed order is refused as read-only.
func (s *Server) handleAbort(w http.ResponseWriter, r *http.Request) {
	s.count("abort")
	if _, ok := s.admit(w, r, false); !ok {
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, err := s.liveLocked(id)
	if err != nil {
		writeNotFound(w)
		return
	}
	if rec.order.Status != klarna.StatusCheckoutIncomplete {
		writeError(w, http.StatusForbidden, klarna.CodeReadOnlyOrder, "Resource is read-only")
		return
	}
	if !rec.aborted {
		now := s.now()
		modified := stamp(now)
		rec.aborted = true
		rec.order.LastModifiedAt = &modified
		rec.touchedAt = now
	}
	writeJSON(w, http.StatusOK, cloneOrder(rec.order))
}

// admit checks the credentials and, for requests that carry an order, the
// content type, and reads the body. It writes the error answer itself.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, wantBody bool) ([]byte, bool) {
	if !s.authorized(r) {
		writeError(w, http.StatusUnauthorized, codeUnauthorized, "You were not authorized to execute this operation.")
		return nil, false
	}
	if !wantBody {
		return nil, true
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, codeUnsupportedMedia, "Content-Type must be application/json")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, klarna.CodeBadValue, "Request body too large")
		} else {
			writeError(w, http.StatusBadRequest, klarna.CodeBadValue, "Could not read request body")
		}
		return nil, false
	}
	return body, true
}

// authorized accepts both forms Kustom documents: "Basic <API key>" and
// HTTP Basic base64(<username>:<API key>).
func (s *Server) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return false
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return false
	}
	for _, c := range s.credentials {
		if equal(token, c.APIKey) {
			return true
		}
	}
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		return false
	}
	user, key, ok := strings.Cut(string(raw), ":")
	if !ok {
		return false
	}
	for _, c := range s.credentials {
		if c.Username != "" && equal(user, c.Username) && equal(key, c.APIKey) {
			return true
		}
	}
	return false
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// create validates a create request and stores the order.
func (s *Server) create(body []byte) (klarna.Order, []string) {
	fields, msgs := decodeFields(body)
	if msgs != nil {
		return klarna.Order{}, msgs
	}
	for _, k := range readOnlyFields {
		delete(fields, k)
	}
	o, msgs := buildOrder(fields)
	if msgs != nil {
		return klarna.Order{}, msgs
	}
	now := s.now()
	started, modified := stamp(now), stamp(now)
	o.OrderID = newOrderID()
	o.Name = s.merchantName
	o.Status = klarna.StatusCheckoutIncomplete
	o.StartedAt = &started
	o.LastModifiedAt = &modified
	o.CompletedAt = nil
	o.HTMLSnippet = s.snippet(o.OrderID)

	s.mu.Lock()
	s.orders[o.OrderID] = &record{order: cloneOrder(o), touchedAt: now}
	s.mu.Unlock()
	return o, nil
}

// decodeFields reads a request body as a JSON object.
func decodeFields(body []byte) (map[string]json.RawMessage, []string) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, []string{"Bad value: request body (not a JSON object)"}
	}
	return fields, nil
}

// orderFields is a stored order as top-level JSON fields, for merging.
func orderFields(o klarna.Order) (map[string]json.RawMessage, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	return fields, json.Unmarshal(b, &fields)
}

// buildOrder decodes and validates the fields of an order.
func buildOrder(fields map[string]json.RawMessage) (klarna.Order, []string) {
	for _, k := range readOnlyFields {
		delete(fields, k)
	}
	b, err := json.Marshal(fields)
	if err != nil {
		return klarna.Order{}, []string{"Bad value: request body (not a valid order)"}
	}
	var o klarna.Order
	if err := json.Unmarshal(b, &o); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return klarna.Order{}, []string{fmt.Sprintf("Bad value: %s (wrong JSON type: %s)", typeErr.Field, typeErr.Value)}
		}
		return klarna.Order{}, []string{"Bad value: request body (not a valid order)"}
	}
	if msgs := validateOrder(fields, &o); len(msgs) > 0 {
		return klarna.Order{}, msgs
	}
	return o, nil
}

// keepReadOnly copies the fields Kustom owns from the stored order.
func keepReadOnly(o *klarna.Order, stored klarna.Order) {
	o.OrderID = stored.OrderID
	o.Name = stored.Name
	o.Status = stored.Status
	o.HTMLSnippet = stored.HTMLSnippet
	o.StartedAt = stored.StartedAt
	o.CompletedAt = stored.CompletedAt
	o.RecurringToken = stored.RecurringToken
	o.RecurringDescription = stored.RecurringDescription
}

// snippet stands in for the real html_snippet: instead of Kustom's script
// it frames the fake's checkout page.
func (s *Server) snippet(orderID string) string {
	return fmt.Sprintf(`<div id="klarna-checkout-container" style="overflow-x: hidden;">`+
		`<iframe id="klarna-checkout-iframe" name="klarna-checkout-iframe" title="Kustom Checkout (sandbox)" `+
		`src="%s" style="width: 100%%; min-height: 720px; border: 0;"></iframe></div>`,
		template.HTMLEscapeString(s.CheckoutPageURL(orderID)))
}

type apiError struct {
	ErrorCode     string   `json:"error_code"`
	ErrorMessages []string `json:"error_messages"`
	CorrelationID string   `json:"correlation_id"`
}

// writeError answers in the documented error shape, with a fresh
// correlation id also in the Klarna-Correlation-Id header.
func writeError(w http.ResponseWriter, status int, code string, msgs ...string) {
	id := uuid.NewString()
	if msgs == nil {
		msgs = []string{}
	}
	w.Header().Set("Klarna-Correlation-Id", id)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="Kustom API"`)
	}
	writeJSON(w, status, apiError{ErrorCode: code, ErrorMessages: msgs, CorrelationID: id})
}

func writeNotFound(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, codeNotFound, "We did not find any order with given ID. You need to create a new order.")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
