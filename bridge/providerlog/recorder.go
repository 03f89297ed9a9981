// Package providerlog keeps every request the Vipps and Kustom clients make
// and every answer they get, in the store, as the clients' Observer hooks:
// a provider's error body is never thrown away, and a payment's log shows
// its calls in full.
package providerlog

import (
	"context"
	"crypto/sha256"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"vippskco/bridge"
	"vippskco/klarna"
	"vippskco/vipps"
)

// Recorder stores every provider request and response. Its methods
// are the clients' Observer hooks. Personal data in the bodies (names,
// e-mail, phone numbers, street addresses and postal codes) is masked
// before anything is stored (MaskPersonal). A failure to store is logged, never
// returned: the log must not break a payment.
type Recorder struct {
	Store  bridge.ProviderLog
	Logger interface {
		Error(msg string, args ...any)
	}
	// Metrics gets each exchange's duration and, for a failure, its
	// status and error code; nil records nothing.
	Metrics bridge.Metrics

	reads readMemo
}

// A read of a payment whose answer is the one stored for its last read is
// not stored again: with 2,000 shoppers in the Vipps app the poller reads
// each every 2 s, and almost every answer is the one before. The log keeps
// the first read of every distinct answer (and so every change, when it
// was first seen), every failed or refused read, and the same answer again
// once per repeatUnchanged, so that it still shows the payment being read.
const (
	repeatUnchanged = 10 * time.Minute
	readMemoMax     = 100_000
)

// readMemo is, per payment, a digest of the last read stored and when.
type readMemo struct {
	mu sync.Mutex
	m  map[string]readSeen
}

type readSeen struct {
	sum [sha256.Size]byte
	at  time.Time
}

// readDigest identifies a read's answer: what was read and what it said.
func readDigest(url, body string) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(url))
	h.Write([]byte{0})
	h.Write([]byte(body))
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// unchanged reports whether a successful read of reference answered what
// the last stored read did (sum), less than repeatUnchanged ago.
func (m *readMemo) unchanged(reference string, sum [sha256.Size]byte, at time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	last, ok := m.m[reference]
	return ok && last.sum == sum && at.Sub(last.at) < repeatUnchanged && !at.Before(last.at)
}

// stored remembers sum as the answer of reference's last stored read.
func (m *readMemo) stored(reference string, sum [sha256.Size]byte, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]readSeen{}
	}
	if len(m.m) >= readMemoMax {
		for ref, seen := range m.m {
			if at.Sub(seen.at) >= repeatUnchanged {
				delete(m.m, ref)
			}
		}
		if len(m.m) >= readMemoMax {
			m.m = map[string]readSeen{}
		}
	}
	m.m[reference] = readSeen{sum: sum, at: at}
}

// forget drops a reference's digest: its next read is stored.
func (m *readMemo) forget(reference string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, reference)
}

// Vipps records one Vipps exchange.
func (r *Recorder) Vipps(ctx context.Context, ex vipps.Exchange) {
	ref := ex.Reference
	if ref == "" {
		ref = bridge.LogKey(ctx)
	}
	if r.Metrics != nil {
		r.Metrics.ProviderExchange("vipps", ex.Op, ex.StatusCode, ex.Duration, ex.Err)
	}
	response := MaskPersonal(string(ex.ResponseBody))
	read := ex.Op == vippsRead && ex.Reference != ""
	good := ex.Err == nil && ex.StatusCode == http.StatusOK
	var digest [sha256.Size]byte
	if read && good {
		digest = readDigest(ex.URL, response)
		if r.reads.unchanged(ex.Reference, digest, ex.Started) {
			return
		}
	}
	held, err := r.save(ctx, &bridge.ProviderExchange{
		Reference: ref, Provider: "vipps", Operation: ex.Op, Method: ex.Method, URL: ex.URL,
		RequestHeaders: headerText(ex.RequestHeaders), RequestBody: MaskPersonal(string(ex.RequestBody)),
		StatusCode: ex.StatusCode, ResponseHeaders: headerText(ex.ResponseHeaders), ResponseBody: response,
		Error: errText(ex.Err), Attempt: ex.Attempt, StartedAt: ex.Started.UTC(), Duration: ex.Duration,
	})
	switch {
	case !read || held:
		// A held answer is stored by the service, not yet: a later read
		// may not take it as stored.
	case good && err == nil:
		// Only an answer that is stored is one a later read may repeat.
		r.reads.stored(ex.Reference, digest, ex.Started)
	default:
		// After a failure (of the read, or of storing it) the next good
		// answer is stored, even the same.
		r.reads.forget(ex.Reference)
	}
}

// vippsRead is the operation of an ePayment GET of a payment.
const vippsRead = "get"

// Kustom records one Kustom exchange under its order's log key.
func (r *Recorder) Kustom(ctx context.Context, ex klarna.Exchange) {
	ref := bridge.LogKey(ctx)
	if ref == "" && ex.OrderID != "" {
		ref = bridge.KustomLogKey(ex.OrderID)
	}
	r.save(ctx, &bridge.ProviderExchange{
		Reference: ref, Provider: "kustom", Operation: ex.Op, Method: ex.Method, URL: ex.URL,
		RequestHeaders: headerText(ex.RequestHeaders), RequestBody: MaskPersonal(string(ex.RequestBody)),
		StatusCode: ex.StatusCode, ResponseHeaders: headerText(ex.ResponseHeaders), ResponseBody: MaskPersonal(string(ex.ResponseBody)),
		Error: errText(ex.Err), Attempt: ex.Attempt, StartedAt: ex.Started.UTC(), Duration: ex.Duration,
	})
	if r.Metrics != nil {
		r.Metrics.ProviderExchange("kustom", ex.Op, ex.StatusCode, ex.Duration, ex.Err)
	}
}

// save stores ex before the client goes on, unless the service holds it
// (held): it then commits it with what the answer leads to (a redirect's
// order read and create), or alone before it acts otherwise.
func (r *Recorder) save(ctx context.Context, ex *bridge.ProviderExchange) (held bool, err error) {
	if bridge.HoldExchange(ctx, ex) {
		return true, nil
	}
	// The request's context may be cancelled (a timeout is exactly when the
	// log matters most), so the write does not inherit it.
	err = r.Store.AppendExchange(context.WithoutCancel(ctx), ex)
	if err != nil && r.Logger != nil {
		r.Logger.Error("storing provider exchange", "provider", ex.Provider, "op", ex.Operation, "err", err)
	}
	return false, err
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func headerText(h http.Header) string {
	if len(h) == 0 {
		return ""
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, v := range h[k] {
			b.WriteString(k)
			b.WriteString(": ")
			b.WriteString(v)
			b.WriteString("\n")
		}
	}
	return b.String()
}
