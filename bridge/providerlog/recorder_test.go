package providerlog

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/vipps"
)

// memLog is a provider log in memory.
type memLog struct {
	bridge.ProviderLog
	mu   sync.Mutex
	rows []bridge.ProviderExchange
	fail int // the next appends that fail
}

func (m *memLog) AppendExchange(_ context.Context, ex *bridge.ProviderExchange) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail > 0 {
		m.fail--
		return errors.New("the database blinked")
	}
	m.rows = append(m.rows, *ex)
	return nil
}

// A read of a payment that answers what the last stored read answered is
// not stored again; a different answer, a failure and the read after it,
// another payment, any other operation, the same answer ten minutes on,
// and the same answer after its row failed to store are.
func TestUnchangedReadsAreStoredOnce(t *testing.T) {
	log := &memLog{}
	r := &Recorder{Store: log}
	start := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	read := func(ref, state string, at time.Duration, status int, err error) {
		r.Vipps(t.Context(), vipps.Exchange{Op: "get", Reference: ref, Method: http.MethodGet,
			URL: "https://apitest.vipps.no/epayment/v1/payments/" + ref, StatusCode: status,
			ResponseBody: []byte(`{"reference":"` + ref + `","state":"` + state + `"}`), Err: err, Attempt: 1, Started: start.Add(at)})
	}
	stored := func() int {
		log.mu.Lock()
		defer log.mu.Unlock()
		return len(log.rows)
	}
	read("a", "CREATED", 0, 200, nil)
	read("a", "CREATED", 2*time.Second, 200, nil)
	read("a", "CREATED", 4*time.Second, 200, nil)
	require.Equal(t, 1, stored(), "the same answer is stored once")
	read("b", "CREATED", 4*time.Second, 200, nil)
	require.Equal(t, 2, stored(), "another payment")
	read("a", "AUTHORIZED", 6*time.Second, 200, nil)
	require.Equal(t, 3, stored(), "a changed answer")
	read("a", "AUTHORIZED", 8*time.Second, 502, errors.New("bad gateway"))
	require.Equal(t, 4, stored(), "a failed read")
	read("a", "AUTHORIZED", 10*time.Second, 200, nil)
	require.Equal(t, 5, stored(), "the good read after a failure")
	read("a", "AUTHORIZED", 12*time.Second, 200, nil)
	require.Equal(t, 5, stored())
	read("a", "AUTHORIZED", 10*time.Minute+10*time.Second, 200, nil)
	require.Equal(t, 6, stored(), "the same answer ten minutes on")
	r.Vipps(t.Context(), vipps.Exchange{Op: "events", Reference: "a", Method: http.MethodGet, StatusCode: 200,
		ResponseBody: []byte(`[]`), Started: start})
	r.Vipps(t.Context(), vipps.Exchange{Op: "events", Reference: "a", Method: http.MethodGet, StatusCode: 200,
		ResponseBody: []byte(`[]`), Started: start})
	require.Equal(t, 8, stored(), "only reads of the payment are left out")

	// An answer whose row could not be stored is not one a later read
	// may repeat: the next read with it is stored.
	log.mu.Lock()
	log.fail = 1
	log.mu.Unlock()
	read("c", "AUTHORIZED", 0, 200, nil)
	require.Equal(t, 8, stored(), "the store refused it")
	read("c", "AUTHORIZED", 2*time.Second, 200, nil)
	require.Equal(t, 9, stored(), "so the same answer is stored the next time")
	read("c", "AUTHORIZED", 4*time.Second, 200, nil)
	require.Equal(t, 9, stored())
}
