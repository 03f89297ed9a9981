package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// trickle opens a TCP connection to the service, sends the head of a POST
// to path with a body of 1000 bytes, and then one byte of it every 2 s,
// and returns how long until the service closed the connection (at most
// limit: then the test fails).
func trickle(t *testing.T, publicURL, path string, limit time.Duration) time.Duration {
	t.Helper()
	u, err := url.Parse(publicURL)
	require.NoError(t, err)
	conn, err := net.Dial("tcp", u.Host)
	require.NoError(t, err)
	defer conn.Close()
	start := time.Now()
	_, err = io.WriteString(conn, "POST "+path+" HTTP/1.1\r\nHost: "+u.Host+"\r\nContent-Type: text/csv\r\nContent-Length: 1000\r\n\r\n")
	require.NoError(t, err)
	closed := make(chan time.Duration, 1)
	go func() {
		_, _ = io.Copy(io.Discard, conn) // until the service closes it
		closed <- time.Since(start)
	}()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	deadline := time.After(limit)
	for {
		select {
		case d := <-closed:
			return d
		case <-deadline:
			t.Fatalf("POST %s: a body sent one byte every 2 s still holds its connection after %s", path, limit)
		case <-tick.C:
			_, _ = conn.Write([]byte("a")) // fails once the service closed it
		}
	}
}

// A client that trickles a body is cut off after the short request
// deadline: at the Vipps webhook, and at a settlement upload that has not
// shown the finance token.
func TestSlowBodiesAreCutOff(t *testing.T) {
	e := startMain(t, nil)
	for name, path := range map[string]string{
		"webhook": strings.TrimPrefix(e.m.Service.WebhookURL("webshop"), e.m.PublicURL()),
		"upload":  "/api/v1/settlements/vipps?name=slow.csv",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			took := trickle(t, e.m.PublicURL(), path, 40*time.Second)
			t.Logf("%s: cut off after %s", path, took.Round(time.Millisecond))
			require.Less(t, took, 40*time.Second)
		})
	}
}

// throttled reads b in chunks, one every pause.
type throttled struct {
	b     []byte
	chunk int
	pause time.Duration
}

func (r *throttled) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	time.Sleep(r.pause)
	n := copy(p[:min(len(p), r.chunk)], r.b)
	r.b = r.b[n:]
	return n, nil
}

// An upload with the finance token may take longer than the short
// deadline: the token buys it the long one.
func TestAuthenticatedSlowUploadSucceeds(t *testing.T) {
	e := startMain(t, nil)
	sample, err := os.ReadFile("vipps/settlement/testdata/csv/settlement-report.csv")
	require.NoError(t, err)
	body := &throttled{b: sample, chunk: len(sample)/12 + 1, pause: 2 * time.Second} // some 26 s
	req, err := http.NewRequest("POST", e.m.PublicURL()+"/api/v1/settlements/vipps?name=slow.csv", body)
	require.NoError(t, err)
	req.ContentLength = int64(len(sample))
	req.Header.Set("Authorization", "Bearer "+e.m.Config.APITokens.Finance)
	req.Header.Set("Content-Type", "text/csv")
	start := time.Now()
	resp, err := (&http.Client{}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Greater(t, time.Since(start), 22*time.Second, "the upload outlasted the short deadline")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	var out struct {
		Result struct {
			NewLines int `json:"new_lines"`
		}
	}
	require.NoError(t, json.NewDecoder(bytes.NewReader(raw)).Decode(&out))
	require.Positive(t, out.Result.NewLines)
}
