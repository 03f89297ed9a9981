package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The routes pages and probes poll are logged at Debug when they answered
// quickly and not with a server error; everything else stays at Info.
func TestPollsAreLoggedAtDebug(t *testing.T) {
	run := func(ready error, path string, level slog.Level) (int, []map[string]any) {
		var logs bytes.Buffer
		h := (&HTTP{Ready: func(context.Context) error { return ready },
			Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: level}))}).Handler()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		var out []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var m map[string]any
			if line == "" || json.Unmarshal([]byte(line), &m) != nil || m["msg"] != "http request" {
				continue
			}
			out = append(out, m)
		}
		return rec.Code, out
	}

	code, got := run(nil, "/readyz", slog.LevelInfo)
	require.Equal(t, http.StatusOK, code)
	require.Empty(t, got, "a quick, good poll is not an Info line")

	code, got = run(nil, "/readyz", slog.LevelDebug)
	require.Equal(t, http.StatusOK, code)
	require.Len(t, got, 1, "it is a Debug line")
	require.Equal(t, "DEBUG", got[0]["level"])
	require.Equal(t, "/readyz", got[0]["route"])

	code, got = run(errors.New("down"), "/readyz", slog.LevelInfo)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Len(t, got, 1, "a poll that failed on our side is an Info line")
	require.Equal(t, "INFO", got[0]["level"])

	code, got = run(nil, "/no/such/page", slog.LevelInfo)
	require.Equal(t, http.StatusNotFound, code)
	require.Len(t, got, 1, "any other request is an Info line")
}
