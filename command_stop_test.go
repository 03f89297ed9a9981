package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"vippskco/bridge/config"
)

// Ctrl-C stops a command where it is: it returns promptly with
// context.Canceled, stores nothing half-done, and closes the store.

// ctrlC presses Ctrl-C (SIGINT to this process) once, and remembers when.
type ctrlC struct {
	once sync.Once
	mu   sync.Mutex
	at   time.Time
	ctx  context.Context // the command's signal context
}

// press sends the signal and returns once the command's context has seen
// it, so that a command which called press from its own writes sees it at
// once, as it would a person's Ctrl-C at that moment.
func (c *ctrlC) press() {
	c.once.Do(func() {
		c.mu.Lock()
		c.at = time.Now()
		ctx := c.ctx
		c.mu.Unlock()
		_ = syscall.Kill(os.Getpid(), syscall.SIGINT)
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
	})
}

func (c *ctrlC) pressedAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

// watchedStderr is a command's stderr that calls on with each write.
type watchedStderr struct {
	mu   sync.Mutex
	text strings.Builder
	on   func(string)
}

func (w *watchedStderr) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.text.Write(p)
	on := w.on
	w.mu.Unlock()
	if on != nil {
		on(string(p))
	}
	return len(p), nil
}

func (w *watchedStderr) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.text.String()
}

// runCommand runs a command line under the signal context main uses, as
// main does, and returns its error and how long it ran on after Ctrl-C
// was pressed.
func runCommand(t *testing.T, c *ctrlC, args []string, getenv func(string) string, stderr io.Writer) (error, time.Duration) {
	t.Helper()
	ctx, stop := signalContext()
	defer stop()
	c.mu.Lock()
	c.ctx = ctx
	c.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, getenv, io.Discard, stderr) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the command did not stop")
	}
	require.False(t, c.pressedAt().IsZero(), "Ctrl-C was pressed")
	// The signal reached the context before stop, so no SIGINT is left
	// to find this process without a handler.
	within(t, ctx.Done(), 5*time.Second, "the signal ends the context")
	return err, time.Since(c.pressedAt())
}

// writeConfig writes cfg where a command can load it.
func writeConfig(t *testing.T, cfg *config.Config) string {
	t.Helper()
	raw, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, raw, 0o600))
	return path
}

// bigKustomCSV writes a Kustom settlement CSV of n sales.
func bigKustomCSV(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("type,order_id,capture_id,amount,posting_currency,capture_date\n")
	for i := range n {
		fmt.Fprintf(&b, "SALE,order-%08d,cap-%08d,%d.%02d,NOK,2026-01-%02d\n", i, i, 1+i%997, i%100, 1+i%28)
	}
	path := filepath.Join(t.TempDir(), "kustom-settlement.csv")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	return path
}

// fileSize is the size of a file, -1 when it does not exist.
func fileSize(path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return info.Size()
}

func TestCommandImportStopsOnCtrlC(t *testing.T) {
	const rows = 100_000
	file := bigKustomCSV(t, rows)

	// The file is read once, by the parser, as the store takes its lines
	// in batches. Ctrl-C as the first bytes are parsed, or once batches
	// are stored: the command stops at once, nothing of the file is left
	// in the store (not even unseen), and the store is closed.
	for _, tc := range []struct {
		name string
		when func(bar string) bool
	}{
		{"parsing", func(bar string) bool { return strings.Contains(bar, "%") }},
		{"storing", func(bar string) bool {
			bar = strings.TrimSuffix(bar, "\n") // a plain line: stderr is no terminal
			return !strings.HasSuffix(bar, ", 0 lines") && strings.HasSuffix(bar, " lines")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfigRaw(t)
			args := []string{"-config", writeConfig(t, cfg), "settlements", "import", "-provider", "kustom", file}
			db := strings.TrimPrefix(cfg.Storage.DSN, "file:")
			c := &ctrlC{}
			stderr := &watchedStderr{on: func(s string) {
				if tc.when(s) {
					c.press()
				}
			}}
			err, took := runCommand(t, c, args, noEnv, stderr)
			t.Logf("stopped %s after Ctrl-C %s (%d rows): %v", took, tc.name, rows, err)
			require.ErrorIs(t, err, context.Canceled)
			require.Less(t, took, 2*time.Second)
			require.NotContains(t, stderr.String(), "100%", "it stopped before the end of the file")
			eventually(t, func() bool { return fileSize(db+"-wal") == -1 }, 2*time.Second,
				"the store is closed: its last connection takes the write-ahead log away")
			require.Zero(t, countRows(t, cfg.Storage.DSN, "settlement_lines"), "no line of the cancelled import is stored")
			require.Zero(t, countRows(t, cfg.Storage.DSN, "settlement_payouts"))
			require.Zero(t, countRows(t, cfg.Storage.DSN, "settlement_imports"), "the file is not marked imported")
			require.Zero(t, countRows(t, cfg.Storage.DSN, "settlement_pending_imports"), "the cancelled import cleared its mark")
		})
	}
}

// A command waiting on a provider that never answers stops on Ctrl-C.
func TestCommandWebhooksStopsOnCtrlC(t *testing.T) {
	hang := newHolder()
	h := hang.Hold("vipps", false, func(*http.Request) bool { return true })
	vipps := httptest.NewServer(hang.wrap(http.NotFoundHandler()))
	t.Cleanup(func() { hang.Close(); vipps.Close() })

	// The webhooks commands talk to the real Vipps: outside sandbox mode,
	// with every secret in the environment.
	cfg := testConfigRaw(t, func(c *config.Config) {
		c.Sandbox = false
		c.Server.PublicURL = "https://bridge.example"
		c.Units[0].Vipps.BaseURL = vipps.URL
	})
	env := prodSecrets // long enough for the rules outside sandbox mode
	c := &ctrlC{}
	go func() {
		<-h.Arrived()
		c.press()
	}()
	err, took := runCommand(t, c, []string{"-config", writeConfig(t, cfg), "webhooks", "list", cfg.Units[0].ID}, env, io.Discard)
	t.Logf("stopped %s after Ctrl-C, waiting for Vipps: %v", took, err)
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, took, 2*time.Second)
	eventually(t, func() bool { return h.Abandoned() == 1 }, 5*time.Second, "the call to Vipps was given up")
	db := strings.TrimPrefix(cfg.Storage.DSN, "file:")
	require.Equal(t, int64(-1), fileSize(db+"-wal"), "the store is closed")
}
