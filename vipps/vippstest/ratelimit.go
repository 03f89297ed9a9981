package vippstest

import (
	"net/http"
	"strconv"
	"time"
)

// rateKey identifies one rate-limit counter. ePayment counts per operation
// and per reference: create, capture, cancel and refund per reference and
// MSN; get payment and get events per reference and subscription key. A
// request without a reference counts against the empty reference, which is
// why a misspelled "reference" hits 429 at once.
type rateKey struct {
	op, scope, reference string
}

const rateWindow = time.Minute

// allow counts the request if it is within limit requests per minute (by
// the injected clock) and otherwise answers 429 with Retry-After. Refused
// requests are not counted, so a client that backs off gets through.
func (s *Server) allow(op, scope, reference string, limit int) (response, bool) {
	if limit < 0 {
		return response{}, true
	}
	k := rateKey{op: op, scope: scope, reference: reference}
	now := s.now()
	hits := s.rate[k][:0]
	for _, t := range s.rate[k] {
		if now.Sub(t) < rateWindow {
			hits = append(hits, t)
		}
	}
	if len(hits) >= limit {
		s.rate[k] = hits
		wait := hits[0].Add(rateWindow).Sub(now)
		secs := int((wait + time.Second - 1) / time.Second)
		secs = max(secs, 1)
		resp := apimError(http.StatusTooManyRequests, "Rate limit is exceeded. Try again in "+strconv.Itoa(secs)+" seconds.")
		resp.header.Set("Retry-After", strconv.Itoa(secs))
		return resp, false
	}
	s.rate[k] = append(hits, now)
	return response{}, true
}

// limitCreate counts a create against the reference in its body.
func limitCreate(c *call) (response, bool) {
	return c.s.allow(c.op, c.unit.MSN, peekReference(c.body), c.s.modifyLimit())
}

func limitModify(c *call) (response, bool) {
	return c.s.allow(c.op, c.unit.MSN, c.r.PathValue("reference"), c.s.modifyLimit())
}

func limitQuery(c *call) (response, bool) {
	return c.s.allow(c.op, c.r.Header.Get("Ocp-Apim-Subscription-Key"), c.r.PathValue("reference"), c.s.queryLimit())
}
