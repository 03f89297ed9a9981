package web

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A connection that never begins a request holds http.Server.Shutdown for
// 5 s; CloseUnused lets the drain finish at once, while a request in
// flight is still waited for.
func TestInFlightCloseUnused(t *testing.T) {
	var f InFlight
	release := make(chan struct{})
	started := make(chan struct{})
	srv := &http.Server{ConnState: f.ConnState, Handler: f.Count(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		w.WriteHeader(http.StatusNoContent)
	}))}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln)

	unused, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer unused.Close()
	answered := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	<-started

	shut := make(chan error, 1)
	start := time.Now()
	go func() { shut <- srv.Shutdown(context.Background()) }()
	time.Sleep(300 * time.Millisecond)
	f.CloseUnused(250 * time.Millisecond)
	require.False(t, f.Wait(10*time.Millisecond), "the request is still in flight")
	close(release)
	require.Equal(t, http.StatusNoContent, <-answered, "the request in flight finishes")
	require.NoError(t, <-shut)
	require.Less(t, time.Since(start), 3*time.Second, "Shutdown did not wait for the unused connection")
	require.True(t, f.Wait(0))
}
