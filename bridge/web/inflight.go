package web

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// InFlight counts the requests being served, so that a shutdown can wait
// for the ones it cut off before it closes what they write to.
type InFlight struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to zero, if someone waits
	// fresh are the connections accepted that have not yet begun a
	// request. http.Server.Shutdown counts such a connection as busy for
	// its first 5 s, and an HTTP client often opens one it then leaves
	// unused (it dialled, and meanwhile a pooled connection came free).
	fresh map[net.Conn]time.Time
}

// ConnState is for http.Server.ConnState: it keeps track of the
// connections that have not begun a request.
func (f *InFlight) ConnState(c net.Conn, state http.ConnState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch state {
	case http.StateNew:
		if f.fresh == nil {
			f.fresh = map[net.Conn]time.Time{}
		}
		f.fresh[c] = time.Now()
	default:
		delete(f.fresh, c)
	}
}

// CloseUnused closes the connections that have not begun a request in the
// age since they were accepted: they carry no work, and a shutdown must not
// wait for them. A client that means to send a request sends it at once, so
// a connection quiet for age is one its client left unused.
func (f *InFlight) CloseUnused(age time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c, at := range f.fresh {
		if time.Since(at) >= age {
			c.Close()
			delete(f.fresh, c)
		}
	}
}

// Count serves h, counting each request while it runs.
func (f *InFlight) Count(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.n++
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			if f.n--; f.n == 0 && f.idle != nil {
				close(f.idle)
				f.idle = nil
			}
			f.mu.Unlock()
		}()
		h.ServeHTTP(w, r)
	})
}

// Wait waits until no request is being served, at most d, and reports
// whether none is.
func (f *InFlight) Wait(d time.Duration) bool {
	f.mu.Lock()
	if f.n == 0 {
		f.mu.Unlock()
		return true
	}
	if f.idle == nil {
		f.idle = make(chan struct{})
	}
	idle := f.idle
	f.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-idle:
		return true
	case <-t.C:
		return false
	}
}
