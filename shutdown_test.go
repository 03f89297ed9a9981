package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// On SIGTERM the service stops taking requests, lets the ones in flight
// finish, stops its background work (releasing its leases) and exits
// cleanly.
func TestSIGTERMShutsDownCleanly(t *testing.T) {
	cfgFile := testConfigFile(t)

	pr, pw := io.Pipe()
	done := make(chan error, 1)
	ctx, stop := signalContext()
	defer stop()
	go func() {
		done <- run(ctx, []string{"-config", cfgFile}, func(string) string { return "" }, io.Discard, pw)
		pw.Close()
	}()
	addr := ""
	lines := bufio.NewScanner(pr)
	for lines.Scan() {
		var rec map[string]any
		if json.Unmarshal(lines.Bytes(), &rec) == nil && rec["msg"] == "listening" {
			addr = rec["addr"].(string)
			break
		}
	}
	require.NotEmpty(t, addr, "the service says where it listens")
	go io.Copy(io.Discard, pr)

	resp, err := http.Get("http://" + addr + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	select {
	case err := <-done:
		require.NoError(t, err, "a clean exit")
	case <-time.After(20 * time.Second):
		t.Fatal("the service did not stop within 20 s of SIGTERM")
	}
	_, err = http.Get("http://" + addr + "/healthz")
	require.Error(t, err, "no more requests are taken")
}
