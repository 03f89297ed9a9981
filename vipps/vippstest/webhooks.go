package vippstest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/google/uuid"
)

// registration is one webhook registered through the Webhooks API.
type registration struct {
	id, msn, url, secret string
	events               []string
}

// maxWebhooksPerEvent is the current limit per event and MSN (the saved
// spec still says 5).
const maxWebhooksPerEvent = 25

// knownWebhookEvents are the event types the fake can register: the
// ePayment ones, which are the only ones it ever fires.
var knownWebhookEvents = []string{
	"epayments.payment.created.v1",
	"epayments.payment.aborted.v1",
	"epayments.payment.expired.v1",
	"epayments.payment.cancelled.v1",
	"epayments.payment.captured.v1",
	"epayments.payment.refunded.v1",
	"epayments.payment.authorized.v1",
	"epayments.payment.terminated.v1",
}

type webhookJSON struct {
	ID     string   `json:"id"`
	URL    string   `json:"url"`
	Events []string `json:"events"`
}

// handleWebhookRegister is POST /webhooks/v1/webhooks.
func (s *Server) handleWebhookRegister(c *call) response {
	o, ok := parseObject(c.body)
	if !ok {
		return c.invalid(field("body", "The request body must be a JSON object."))
	}
	var f fieldErrors
	rawURL, hasURL := f.str(o, "", "url", true)
	if hasURL && !s.validWebhookURL(rawURL) {
		f.add("url", "The url must be an absolute https URL without a fragment.")
	}
	items, isArray := f.array(o, "", "events", true)
	if isArray && len(items) == 0 {
		f.add("events", "At least one event is required.")
	}
	var events []string
	for i, raw := range items {
		var e string
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &e) != nil {
			f.add(fmt.Sprintf("events[%d]", i), "The JSON value could not be converted to System.String.")
			continue
		}
		if !slices.Contains(knownWebhookEvents, e) {
			f.add(fmt.Sprintf("events[%d]", i), "Unknown event type '%s'.", e)
			continue
		}
		if !slices.Contains(events, e) {
			events = append(events, e)
		}
	}
	if len(f) > 0 {
		return c.invalid(f...)
	}
	for _, e := range events {
		n := 0
		for _, h := range s.hooks {
			if h.msn == c.unit.MSN && slices.Contains(h.events, e) {
				n++
			}
		}
		if n >= maxWebhooksPerEvent {
			return c.problem(http.StatusBadRequest, "Bad Request",
				fmt.Sprintf("At most %d webhooks can be registered per event; %s already has %d.", maxWebhooksPerEvent, e, n),
				[]extraDetail{field("events", "Too many webhooks registered for "+e+".")})
		}
	}
	h := &registration{
		id:     s.newUUID(),
		msn:    c.unit.MSN,
		url:    rawURL,
		secret: base64.StdEncoding.EncodeToString(s.randBytes(64)),
		events: events,
	}
	s.hooks[h.id] = h
	s.hookOrder = append(s.hookOrder, h.id)
	return jsonResponse(http.StatusCreated, struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}{h.id, h.secret})
}

// validWebhookURL admits absolute https URLs; http only for loopback hosts
// when the option allows it.
func (s *Server) validWebhookURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Fragment != "" || u.User != nil {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		return s.opts.AllowInsecureLocalReturnURL && isLocalHost(u.Host)
	}
	return false
}

// handleWebhookList is GET /webhooks/v1/webhooks: the caller's
// registrations, without their secrets.
func (s *Server) handleWebhookList(c *call) response {
	out := []webhookJSON{}
	for _, id := range s.hookOrder {
		if h := s.hooks[id]; h.msn == c.unit.MSN {
			out = append(out, webhookJSON{ID: h.id, URL: h.url, Events: slices.Clone(h.events)})
		}
	}
	return jsonResponse(http.StatusOK, struct {
		Webhooks []webhookJSON `json:"webhooks"`
	}{out})
}

// handleWebhookDelete is DELETE /webhooks/v1/webhooks/{id}. Deliveries
// still queued for the registration are dropped.
func (s *Server) handleWebhookDelete(c *call) response {
	id := c.r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil {
		return c.invalid(field("id", "The value '"+id+"' is not a valid UUID."))
	}
	h, ok := s.hooks[id]
	if !ok || h.msn != c.unit.MSN {
		return c.problem(http.StatusNotFound, "Not Found", "No webhook with id "+id+" is registered for this sales unit.", nil)
	}
	delete(s.hooks, id)
	s.hookOrder = slices.DeleteFunc(s.hookOrder, func(x string) bool { return x == id })
	return response{status: http.StatusNoContent, header: http.Header{}}
}
