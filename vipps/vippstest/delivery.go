package vippstest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// Delivery is one attempt to deliver a webhook, or a webhook that an
// injected fault dropped.
type Delivery struct {
	WebhookID string
	URL       string
	EventType string // e.g. epayments.payment.captured.v1
	MSN       string
	Event     Event
	Attempt   int         // 1 for the first try
	Status    int         // the receiver's status, 0 when there was no answer
	Err       string      // the transport error, if any
	Header    http.Header // the headers sent, Host included
	Body      []byte      // the raw body sent (the bytes that were signed)
	At        time.Time   // by the injected clock
	Dropped   bool        // never sent (fault injection)
	Duplicate bool        // the second copy of a duplicated webhook
}

// Succeeded reports whether the receiver answered 2xx.
func (d Delivery) Succeeded() bool { return d.Status >= 200 && d.Status < 300 }

type webhookJob struct {
	hookID, url, secret, msn string
	event                    Event
	body                     []byte
	duplicate                bool
}

// outbox is the queue of one registration. Its worker delivers in order
// and retries the head before moving on: as at Vipps, a failing event holds
// back the later ones of that registration, but not other registrations.
type outbox struct {
	queue   []*webhookJob
	running bool
}

// queueWebhooks queues the event for every registration of the MSN that
// subscribes to it. Called with s.mu held.
func (s *Server) queueWebhooks(msn string, ev Event) {
	typ := webhookEventType(ev.Name)
	for _, id := range s.hookOrder {
		h := s.hooks[id]
		if h.msn != msn || !slices.Contains(h.events, typ) {
			continue
		}
		job := &webhookJob{hookID: h.id, url: h.url, secret: h.secret, msn: msn, event: ev, body: webhookBody(msn, ev)}
		if s.injectDrop() {
			s.deliveries = trimOldest(append(s.deliveries, Delivery{
				WebhookID: h.id, URL: h.url, EventType: typ, MSN: msn, Event: ev,
				Body: bytes.Clone(job.body), At: s.now(), Dropped: true,
			}), s.opts.RecordLimit)
			continue
		}
		s.enqueue(job)
		if s.injectDuplicate() {
			dup := *job
			dup.duplicate = true
			s.enqueue(&dup)
		}
	}
}

func (s *Server) enqueue(job *webhookJob) {
	if s.ctx.Err() != nil {
		return
	}
	if s.pending == 0 {
		s.drained = make(chan struct{})
	}
	s.pending++
	ob := s.outboxes[job.hookID]
	if ob == nil {
		ob = &outbox{}
		s.outboxes[job.hookID] = ob
	}
	ob.queue = append(ob.queue, job)
	if !ob.running {
		ob.running = true
		s.wg.Add(1)
		go s.runOutbox(ob)
	}
}

func (s *Server) runOutbox(ob *outbox) {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		if len(ob.queue) == 0 {
			ob.running = false
			s.mu.Unlock()
			return
		}
		job := ob.queue[0]
		s.mu.Unlock()

		s.deliver(job)

		s.mu.Lock()
		ob.queue = ob.queue[1:]
		s.pending--
		if s.pending == 0 {
			close(s.drained)
		}
		s.mu.Unlock()
	}
}

// deliver tries one webhook until it succeeds, the attempts run out, the
// registration is deleted or the server closes. Each attempt is signed
// anew with the current x-ms-date.
func (s *Server) deliver(job *webhookJob) {
	u, err := url.Parse(job.url)
	if err != nil {
		return // registration validated the URL
	}
	pathAndQuery, host := webhookTarget(u)
	typ := webhookEventType(job.event.Name)
	backoff := s.opts.WebhookBackoff
	for attempt := 1; attempt <= s.opts.WebhookMaxAttempts; attempt++ {
		s.mu.Lock()
		_, alive := s.hooks[job.hookID]
		date := s.now().Format(http.TimeFormat)
		s.mu.Unlock()
		if !alive || s.ctx.Err() != nil {
			return
		}
		contentHash, authorization := SignWebhook(job.secret, pathAndQuery, host, date, job.body)
		status, header, err := s.post(job, host, date, contentHash, authorization)
		d := Delivery{
			WebhookID: job.hookID, URL: job.url, EventType: typ, MSN: job.msn, Event: job.event,
			Attempt: attempt, Status: status, Header: header, Body: bytes.Clone(job.body),
			Duplicate: job.duplicate,
		}
		if err != nil {
			d.Err = err.Error()
		}
		s.mu.Lock()
		d.At = s.now()
		s.deliveries = trimOldest(append(s.deliveries, d), s.opts.RecordLimit)
		s.mu.Unlock()
		if d.Succeeded() || attempt == s.opts.WebhookMaxAttempts {
			return
		}
		t := time.NewTimer(backoff)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff *= 2
	}
}

func (s *Server) post(job *webhookJob, host, date, contentHash, authorization string) (int, http.Header, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, job.url, bytes.NewReader(job.body))
	if err != nil {
		return 0, nil, err
	}
	req.Host = host
	// Lower-case keys are sent as written, as Vipps writes them.
	req.Header["Content-Type"] = []string{"application/json"}
	req.Header["x-ms-date"] = []string{date}
	req.Header["x-ms-content-sha256"] = []string{contentHash}
	req.Header["Authorization"] = []string{authorization}
	sent := req.Header.Clone()
	sent["Host"] = []string{host}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, sent, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, sent, nil
}

// WaitWebhooks blocks until every queued webhook has been delivered or
// given up on, or ctx ends.
func (s *Server) WaitWebhooks(ctx context.Context) error {
	for {
		s.mu.Lock()
		if s.pending == 0 {
			s.mu.Unlock()
			return nil
		}
		ch := s.drained
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.ctx.Done():
			return errors.New("vippstest: server closed with webhooks undelivered")
		}
	}
}

// Deliveries returns every delivery attempt so far, in order.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Delivery, len(s.deliveries))
	for i, d := range s.deliveries {
		d.Header = d.Header.Clone()
		d.Body = bytes.Clone(d.Body)
		out[i] = d
	}
	return out
}
