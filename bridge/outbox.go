package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"vippskco/bridge/notifysig"
)

// The outbox delivers each notification at least once: a row is written in
// the same transaction as the change it reports, claimed under a lease,
// posted, and marked delivered only after a 2xx. A crash between the post
// and the mark sends it again; the merchant dedupes on Webhook-Id.
const (
	outboxLease            = time.Minute
	outboxBatch            = 20
	outboxParallel         = 4
	deliveryTimeout        = 10 * time.Second
	backoffFirst           = 10 * time.Second
	backoffMax             = time.Hour
	backoffJitter          = 0.2
	defaultGiveUp          = 72 * time.Hour
	maxErrorBody           = 1 << 10
	webhookUserAgent       = "vippskco-webhooks/1"
	notificationWriteTries = 3
	drainSuccessBytes      = 64 << 10
)

// DeliverOnce claims the notifications that are due and posts them to the
// merchant's webhook, signed (see SignNotification), and returns how many
// were delivered. Without a webhook URL it does nothing: notifications stay
// pending and are listed by the API.
//
// Up to outboxParallel payments are served at once, but the notifications of
// one payment are posted one after another in the order they were made, and
// when one fails, the later ones of that payment are held back until it is
// tried again. Across rounds the order is kept as far as the store's
// oldest-first claim allows: a notification made while an older one of the
// same payment waits out its backoff is not held back. The payment snapshot
// in every payload, with its updated_at, is what a merchant should trust
// when in doubt.
func (s *Service) DeliverOnce(ctx context.Context) (int, error) {
	delivered, _, err := s.deliverBatch(ctx)
	return delivered, err
}

// runOutbox delivers notifications every interval until ctx ends, and at
// once again while full batches keep coming.
func (s *Service) runOutbox(ctx context.Context, every time.Duration) {
	s.metrics().OutboxBacklog(s.outboxBacklog)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		_, claimed, err := s.deliverBatch(ctx)
		if err != nil && ctx.Err() == nil {
			s.logger().ErrorContext(ctx, "outbox", "err", err)
		}
		if claimed == outboxBatch && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// OutboxBacklogCap bounds the pending notifications counted at one scrape;
// a backlog at the cap means "at least this many".
const OutboxBacklogCap = 10000

// outboxBacklog counts the notifications not yet delivered nor given up,
// up to OutboxBacklogCap.
func (s *Service) outboxBacklog(ctx context.Context) (int, error) {
	ns, err := s.Store.Notifications(ctx, "", NotificationPending, OutboxBacklogCap)
	return len(ns), err
}

// deliverBatch is one round of the outbox; it also returns how many rows it
// claimed, so that RunOutbox knows when more are waiting.
func (s *Service) deliverBatch(ctx context.Context) (delivered, claimed int, err error) {
	hook := s.MerchantWebhook
	if hook.URL == "" {
		return 0, 0, nil
	}
	if hook.Secret == "" {
		// An unsigned notification could not be told from a forged one.
		return 0, 0, Errorf(ECodeInvalid, "no_webhook_secret", "the merchant webhook has a URL but no secret")
	}
	if _, err := notifysig.ParseSecret(hook.Secret); err != nil {
		// Nothing is claimed: the notifications wait, unchanged.
		return 0, 0, Errorf(ECodeInvalid, "bad_webhook_secret", "the merchant webhook secret: %v", err)
	}
	now := s.now()
	rows, err := s.Store.ClaimNotifications(ctx, now, s.owner(), outboxLease, outboxBatch)
	if err != nil {
		return 0, 0, err
	}
	lease := leaseRun{owner: s.owner(), until: now.Add(outboxLease)}

	var mu sync.Mutex
	var wg sync.WaitGroup
	slots := make(chan struct{}, outboxParallel)
	for _, group := range byReference(rows) {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			n := s.deliverSequence(ctx, &hook, lease, group)
			mu.Lock()
			delivered += n
			mu.Unlock()
		})
	}
	wg.Wait()
	return delivered, len(rows), nil
}

// leaseRun is the lease one round holds on the rows it claimed. The rows
// themselves, as the store returned them, say which lease they are under.
type leaseRun struct {
	owner string
	until time.Time
}

// byReference groups claimed rows by payment, each group oldest first, the
// groups in the order of their oldest row.
func byReference(rows []*Notification) [][]*Notification {
	index := map[string]int{}
	var groups [][]*Notification
	for _, n := range rows {
		i, ok := index[n.Reference]
		if !ok {
			i = len(groups)
			index[n.Reference] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], n)
	}
	for _, g := range groups {
		// Stable: rows made at the same instant keep the store's order.
		slices.SortStableFunc(g, func(a, b *Notification) int { return a.CreatedAt.Compare(b.CreatedAt) })
	}
	return groups
}

// deliverSequence posts one payment's rows in order and returns how many
// were delivered. After a failure, or when the lease would run out before a
// post could time out, the remaining rows are handed back untried.
func (s *Service) deliverSequence(ctx context.Context, hook *MerchantWebhook, lease leaseRun, rows []*Notification) int {
	delivered := 0
	var blockedUntil time.Time
	blocked := false
	for _, n := range rows {
		if blocked || ctx.Err() != nil || !s.now().Add(deliveryTimeout).Before(lease.until) {
			blocked = true
			s.handBack(ctx, lease, n, blockedUntil)
			continue
		}
		out := s.post(ctx, hook, n)
		if out.cancelled {
			// We are shutting down: the merchant's answer is unknown, and
			// the attempt is not the merchant's fault.
			blocked = true
			s.handBack(ctx, lease, n, time.Time{})
			continue
		}
		saved, err := s.saveNotification(ctx, lease, n, func(n *Notification) { s.record(n, hook, out) })
		if err != nil {
			s.logger().ErrorContext(ctx, "recording a notification delivery", "notification", n.ID, "reference", n.Reference, "err", err)
		}
		if out.delivered() {
			s.metrics().OutboxDelivered()
			delivered++
			continue
		}
		s.metrics().OutboxDeliveryFailed(out.status)
		blocked = true
		switch {
		case saved == nil:
		case !saved.GaveUpAt.IsZero():
			s.logger().ErrorContext(ctx, "gave up delivering a notification", "notification", n.ID, "reference", n.Reference,
				"attempts", saved.Attempts, "status", out.status, "err", out.err)
		default:
			blockedUntil = saved.NextAttemptAt
			s.logger().WarnContext(ctx, "notification not delivered", "notification", n.ID, "reference", n.Reference,
				"attempts", saved.Attempts, "status", out.status, "err", out.err, "next_attempt_at", saved.NextAttemptAt)
		}
	}
	return delivered
}

// handBack frees the lease of a row that was not tried, without counting an
// attempt. A row held back behind a failed one of the same payment is not
// due before that one is tried again (notBefore), so that it cannot overtake
// it in a later round.
func (s *Service) handBack(ctx context.Context, lease leaseRun, n *Notification, notBefore time.Time) {
	if _, err := s.saveNotification(ctx, lease, n, func(n *Notification) {
		if notBefore.After(n.NextAttemptAt) {
			n.NextAttemptAt = notBefore
		}
	}); err != nil {
		s.logger().ErrorContext(ctx, "releasing a notification", "notification", n.ID, "reference", n.Reference, "err", err)
	}
}

// saveNotification applies change to n, frees the lease and writes n. When
// the write loses to another writer (an operator's redeliver) while our
// lease still holds, it applies change again to the row as now stored.
// It returns the row as written, or nil when the lease was lost. n is the
// row as claimed: its lease fields are the ones a stored row must still
// show for the lease to be ours.
func (s *Service) saveNotification(ctx context.Context, lease leaseRun, n *Notification, change func(*Notification)) (*Notification, error) {
	ctx = context.WithoutCancel(ctx)
	row := *n
	for range notificationWriteTries {
		change(&row)
		row.LeaseOwner, row.LeaseUntil = "", time.Time{}
		err := s.Store.UpdateNotification(ctx, &row)
		if err == nil {
			return &row, nil
		}
		if !errors.Is(err, ErrConflict) {
			return nil, err
		}
		fresh, err := s.Store.Notification(ctx, n.ID)
		if err != nil {
			return nil, err
		}
		if fresh.LeaseOwner != lease.owner || fresh.LeaseOwner != n.LeaseOwner || !fresh.LeaseUntil.Equal(n.LeaseUntil) ||
			!fresh.DeliveredAt.IsZero() {
			// Our lease ran out and another round owns the row now.
			s.logger().WarnContext(ctx, "notification lease lost", "notification", n.ID, "reference", n.Reference)
			return nil, nil
		}
		row = *fresh
	}
	return nil, fmt.Errorf("notification %s: %w", n.ID, ErrConflict)
}

// delivery is the outcome of one post.
type delivery struct {
	status    int
	err       string
	cancelled bool
}

func (d delivery) delivered() bool { return d.err == "" && d.status >= 200 && d.status < 300 }

// post sends one notification: the stored payload byte for byte, signed for
// this attempt.
func (s *Service) post(ctx context.Context, hook *MerchantWebhook, n *Notification) delivery {
	reqCtx, cancel := context.WithTimeout(ctx, deliveryTimeout)
	defer cancel()
	timestamp := s.now().Unix()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, hook.URL, bytes.NewReader(n.Payload))
	if err != nil {
		return delivery{err: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", webhookUserAgent)
	req.Header.Set(notifysig.HeaderID, n.ID)
	req.Header.Set(notifysig.HeaderTimestamp, strconv.FormatInt(timestamp, 10))
	req.Header.Set(notifysig.HeaderSignature, notifysig.Sign(hook.Secret, n.ID, timestamp, n.Payload))

	resp, err := webhookClient(hook.Client).Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return delivery{cancelled: true}
		}
		return delivery{err: err.Error()}
	}
	defer resp.Body.Close()
	out := delivery{status: resp.StatusCode}
	if out.delivered() {
		// Reading a little lets the connection be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainSuccessBytes))
		return out
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	out.err = "HTTP " + strconv.Itoa(resp.StatusCode)
	if text := strings.TrimSpace(strings.ToValidUTF8(string(body), "")); text != "" {
		out.err += ": " + text
	}
	return out
}

// webhookClient is the configured client, made not to follow redirects:
// net/http would follow a 301 or 302 to a POST with a GET without the body,
// and a signed notification must reach the configured URL or fail there.
func webhookClient(c *http.Client) *http.Client {
	var own http.Client
	if c != nil {
		own = *c
	}
	own.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &own
}

// record writes the outcome of one attempt into n: delivered, or scheduled
// again after a backoff, or given up once it has been retried for
// GiveUpAfter.
func (s *Service) record(n *Notification, hook *MerchantWebhook, out delivery) {
	now := s.now()
	n.Attempts++
	n.LastAttemptAt = now
	n.LastStatus = out.status
	if out.delivered() {
		n.DeliveredAt, n.LastError = now, ""
		return
	}
	n.LastError = out.err
	giveUp := hook.GiveUpAfter
	if giveUp <= 0 {
		giveUp = defaultGiveUp
	}
	if now.Sub(n.CreatedAt) > giveUp {
		n.GaveUpAt = now
		return
	}
	n.NextAttemptAt = now.Add(backoff(n.Attempts, rand.Float64()))
}

// backoff is the wait after the attempts-th failed attempt: 10 s doubling
// up to 1 h, spread by ±20 % (r is uniform in [0, 1)) so that the
// notifications of an outage do not all come back at the same second.
func backoff(attempts int, r float64) time.Duration {
	d := backoffFirst
	for i := 1; i < attempts && d < backoffMax; i++ {
		d *= 2
	}
	d = min(d, backoffMax)
	return time.Duration(float64(d) * (1 - backoffJitter + 2*backoffJitter*r))
}

// RedeliverNotification makes a notification due now again: a given-up one
// is retried (keeping its attempt count), a pending one is tried without
// waiting out its backoff. A delivered one is a conflict, reason
// already_delivered: the merchant has it.
func (s *Service) RedeliverNotification(ctx context.Context, id string) (*Notification, error) {
	for range notificationWriteTries {
		n, err := s.Store.Notification(ctx, id)
		if err != nil {
			return nil, NotFoundAs(err, "notification %s", Quote(id))
		}
		if n.State() == NotificationDelivered {
			return nil, Errorf(ECodeConflict, "already_delivered", "notification %s was delivered at %s",
				id, n.DeliveredAt.Format(time.RFC3339))
		}
		n.GaveUpAt = time.Time{}
		n.NextAttemptAt = s.now()
		err = s.Store.UpdateNotification(ctx, n)
		if err == nil {
			return n, nil
		}
		if !errors.Is(err, ErrConflict) {
			return nil, err
		}
	}
	return nil, Errorf(ECodeConflict, "busy", "notification %s is being changed by others; try again", id)
}
