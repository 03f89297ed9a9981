package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vippskco/bridge/config"
)

// The command line has the manners of a Go tool: help on stdout with exit
// 0, usage errors once on stderr with exit 2 before any work, other
// errors once with exit 1.

// cliResult is what a person sees of one command line: main's exit status
// and its two streams.
type cliResult struct {
	code           int
	err            error
	stdout, stderr string
}

// cli runs args as main does (run, report, exitCode). A command that has
// not returned within 20 s has started work it should not have.
func cli(t *testing.T, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, noEnv, &stdout, &stderr) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		cancel()
		<-done
		t.Fatalf("%q did not return: it started working", args)
	}
	report(&stderr, err)
	return cliResult{code: exitCode(err), err: err, stdout: stdout.String(), stderr: stderr.String()}
}

// noConfig is a configuration file that does not exist: a command line
// that gets past its parse step fails on it, with exit 1.
func noConfig(t *testing.T) string { return filepath.Join(t.TempDir(), "absent.yaml") }

// unusableStore is a configuration whose store cannot be opened (its
// database would be inside a regular file): a command that reaches the
// store fails on it.
func unusableStore(t *testing.T) string {
	t.Helper()
	blocker := filepath.Join(t.TempDir(), "not-a-dir")
	require.NoError(t, os.WriteFile(blocker, []byte("x"), 0o600))
	return testConfigFile(t, func(c *config.Config) { c.Storage.DSN = "file:" + filepath.Join(blocker, "bridge.db") })
}

// saysOnce fails when text says something twice in a row ("X: X"), the
// way a wrapped error that repeats its cause does.
func saysOnce(t *testing.T, text string) {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		parts := strings.Split(line, ": ")
		for i := 1; i < len(parts); i++ {
			tail := strings.Join(parts[i:], ": ")
			assert.NotContains(t, line, tail+": "+tail, "said twice")
		}
	}
}

func TestCommandLineHelpListsEveryCommand(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}, {"-config", noConfig(t), "-h"}, {"-config", noConfig(t), "help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := cli(t, args...)
			require.Equal(t, 0, r.code, "help is no error: %v", r.err)
			assert.Empty(t, r.stderr)
			assert.NotContains(t, r.stdout, "flag: help requested")
			assert.Contains(t, r.stdout, "usage: vippskco [-config FILE] [COMMAND] [ARGS]")
			for _, c := range commands {
				assert.Regexp(t, `(?m)^  `+c.name+` +`+c.summary[:10], r.stdout, "the usage lists %s", c.name)
			}
		})
	}
}

func TestCommandLineCommandHelp(t *testing.T) {
	// The configuration does not exist: help is given before it is loaded,
	// and serve's help does not start the server.
	cfg := noConfig(t)
	for _, c := range commands {
		for _, args := range [][]string{{"help", c.name}, {c.name, "-h"}, {c.name, "--help"}} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				r := cli(t, append([]string{"-config", cfg}, args...)...)
				require.Equal(t, 0, r.code, "help is no error: %v", r.err)
				assert.Empty(t, r.stderr)
				if c.name == "help" {
					assert.Contains(t, r.stdout, "Commands:")
					return
				}
				assert.True(t, strings.HasPrefix(r.stdout, c.usageLine()+"\n"), "starts with the usage line: %q", r.stdout)
			})
		}
	}
	r := cli(t, "-config", cfg, "help", "smoke")
	assert.Contains(t, r.stdout, "usage: vippskco smoke UNIT [-phone MSISDN] [-wait 5m] [-return URL]")
	assert.Contains(t, r.stdout, "captures it, refunds it")
	assert.Contains(t, r.stdout, "-wait duration")
	r = cli(t, "-config", cfg, "settlements", "-h")
	assert.Contains(t, r.stdout, "-provider string")
}

func TestCommandLineUsageErrors(t *testing.T) {
	// Every one of these is refused before the configuration is loaded
	// (it does not exist: loading it would fail with exit 1).
	cfg := noConfig(t)
	for _, tc := range []struct {
		args    []string
		message string
		usage   string
	}{
		{[]string{"bogus"}, `vippskco: unknown command "bogus"`, "usage: vippskco [-config FILE]"},
		{[]string{"-bogus"}, "vippskco: flag provided but not defined: -bogus", "usage: vippskco [-config FILE]"},
		{[]string{"serve", "--bogus"}, "vippskco serve: flag provided but not defined: -bogus", "usage: vippskco serve"},
		{[]string{"serve", "extra"}, `vippskco serve: takes no arguments, got "extra"`, "usage: vippskco serve"},
		{[]string{"reconcile", "-format", "xlsx"}, `vippskco reconcile: -format must be csv or json, not "xlsx"`, "usage: vippskco reconcile [-from"},
		{[]string{"reconcile", "-from", "1 May"}, `vippskco reconcile: -from must be a day, YYYY-MM-DD, not "1 May"`, "usage: vippskco reconcile"},
		{[]string{"reconcile", "-from", "2026-05-02", "-to", "2026-05-01"}, "-to 2026-05-01 is before -from 2026-05-02", "usage: vippskco reconcile"},
		{[]string{"epm"}, "vippskco epm: name the UNIT", "usage: vippskco epm UNIT"},
		{[]string{"epm", "webshop", "-order"}, "vippskco epm: flag needs an argument: -order", "usage: vippskco epm UNIT"},
		{[]string{"webhooks", "frob", "webshop"}, `vippskco webhooks: unknown action "frob"`, "usage: vippskco webhooks"},
		{[]string{"webhooks", "delete", "webshop"}, "vippskco webhooks: delete takes UNIT and ID", "usage: vippskco webhooks"},
		{[]string{"settlements", "export"}, "vippskco settlements: the one action is import", "usage: vippskco settlements import"},
		{[]string{"settlements", "import", "f.csv"}, "vippskco settlements: -provider is required: vipps or kustom", "usage: vippskco settlements import"},
		{[]string{"settlements", "import", "-provider", "adyen", "f.csv"}, `-provider must be vipps or kustom, not "adyen"`, "usage: vippskco settlements import"},
		{[]string{"settlements", "import", "-provider", "kustom"}, "vippskco settlements: name the FILE to import", "usage: vippskco settlements import"},
		{[]string{"settlements", "import", "-provider", "kustom", "-separator", "|", "f.csv"}, `-separator must be ; or , not "|"`, "usage: vippskco settlements import"},
		{[]string{"smoke", "webshop", "-wait", "soon"}, `vippskco smoke: invalid value "soon" for flag -wait`, "usage: vippskco smoke UNIT"},
		{[]string{"smoke"}, "vippskco smoke: name the UNIT", "usage: vippskco smoke UNIT"},
		{[]string{"help", "nope"}, `vippskco help: unknown command "nope"`, "usage: vippskco help [COMMAND]"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := cli(t, append([]string{"-config", cfg}, tc.args...)...)
			require.Equal(t, 2, r.code, "a usage error: %v", r.err)
			assert.Empty(t, r.stdout)
			assert.Equal(t, 1, strings.Count(r.stderr, tc.message), "the message, once: %q", r.stderr)
			assert.Equal(t, 1, strings.Count(r.stderr, tc.usage), "the short usage, once: %q", r.stderr)
			assert.NotContains(t, r.stderr, "Flags:", "the short usage, not the whole help")
			assert.NotContains(t, r.stderr, "no such file", "the configuration was not loaded")
			saysOnce(t, r.stderr)
		})
	}
}

// reconcile refuses a bad format before it opens the store; with a good
// one the same configuration fails on the store, which shows it was not
// reached.
func TestCommandLineReconcileChecksFormatFirst(t *testing.T) {
	cfg := unusableStore(t)
	r := cli(t, "-config", cfg, "reconcile", "-format", "xlsx")
	require.Equal(t, 2, r.code, "%v", r.err)
	assert.NotContains(t, r.stderr, "storage")
	assert.NotContains(t, r.stderr, "matched", "nothing was reconciled")

	r = cli(t, "-config", cfg, "reconcile", "-format", "json")
	require.Equal(t, 1, r.code, "%v", r.err)
	assert.Equal(t, 1, strings.Count(r.stderr, "error: storage:"), "the store is where a good command line fails: %q", r.stderr)
	assert.NotContains(t, r.stderr, "usage:")
	saysOnce(t, r.stderr)
}

// settlements import checks the provider and the file before it opens
// the store or reads a byte.
func TestCommandLineImportChecksFirst(t *testing.T) {
	cfg := unusableStore(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.csv")

	r := cli(t, "-config", cfg, "settlements", "import", missing)
	require.Equal(t, 2, r.code, "no -provider: %v", r.err)
	assert.Equal(t, 1, strings.Count(r.stderr, "-provider is required"), r.stderr)
	assert.NotContains(t, r.stderr, "missing.csv", "the file was not looked at before the flags were checked")

	r = cli(t, "-config", cfg, "settlements", "import", "-provider", "kustom", missing)
	require.Equal(t, 1, r.code, "%v", r.err)
	assert.Equal(t, "error: settlements import: open "+missing+": no such file or directory\n", r.stderr, "said once, before the store")

	r = cli(t, "-config", cfg, "settlements", "import", "-provider", "vipps", dir)
	require.Equal(t, 1, r.code, "%v", r.err)
	assert.Equal(t, "error: settlements import: "+dir+" is a directory, not a settlement file\n", r.stderr)

	if os.Getuid() != 0 { // root reads anything
		locked := filepath.Join(dir, "locked.csv")
		require.NoError(t, os.WriteFile(locked, []byte("type\n"), 0o000))
		r = cli(t, "-config", cfg, "settlements", "import", "-provider", "kustom", locked)
		require.Equal(t, 1, r.code, "%v", r.err)
		assert.Equal(t, 1, strings.Count(r.stderr, "permission denied"), r.stderr)
		assert.NotContains(t, r.stderr, "storage")
	}
}

// Away from a terminal the progress of an import is plain lines, no
// carriage returns, rising to 99 % while the file is read, parsed and
// stored, and 100 % once, after the commit.
func TestCommandLineImportProgressLines(t *testing.T) {
	const rows = 20_000
	file := bigKustomCSV(t, rows)
	cfg := testConfigFile(t)
	r := cli(t, "-config", cfg, "settlements", "import", "-provider", "kustom", file)
	require.Equal(t, 0, r.code, "%v\n%s", r.err, r.stderr)
	assert.NotContains(t, r.stderr, "\r")
	assert.Contains(t, r.stdout, `"provider": "kustom"`)

	var pcts []int
	var last string
	for _, line := range strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n") {
		if !strings.HasPrefix(line, "importing kustom-settlement.csv: ") {
			continue
		}
		fields := strings.Fields(strings.TrimPrefix(line, "importing kustom-settlement.csv: "))
		pct, err := strconv.Atoi(strings.TrimSuffix(fields[0], "%"))
		require.NoError(t, err, line)
		pcts = append(pcts, pct)
		last = line
	}
	t.Logf("progress: %v", pcts)
	require.GreaterOrEqual(t, len(pcts), 5, "a line at every tenth of the file: %q", r.stderr)
	assert.Equal(t, 0, pcts[0])
	for i := 1; i < len(pcts); i++ {
		assert.Greater(t, pcts[i], pcts[i-1], "rising, no line twice")
	}
	assert.Equal(t, 99, pcts[len(pcts)-2], "99 %% until the commit")
	assert.Equal(t, 100, pcts[len(pcts)-1], "100 %% after it")
	assert.True(t, strings.HasSuffix(last, ", "+strconv.Itoa(rows)+" lines"), "the last line counts every line stored: %q", last)
	assert.Equal(t, 1, strings.Count(r.stderr, "100%"))
	assert.Contains(t, r.stderr, "done in ")
}

// A file that does not parse is said once: no "X: X", no progress drawn
// twice, no second report of the failure.
func TestCommandLineImportErrorSaidOnce(t *testing.T) {
	cfg := testConfigFile(t)
	bad := filepath.Join(t.TempDir(), "bad.csv")
	require.NoError(t, os.WriteFile(bad, []byte("garbage,x\n1,2\n"), 0o600))
	for _, tc := range []struct{ provider, says string }{
		{"vipps", "not a Vipps settlement file"},
		{"kustom", "required column(s) missing"},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			r := cli(t, "-config", cfg, "settlements", "import", "-provider", tc.provider, bad)
			require.Equal(t, 1, r.code, "%v", r.err)
			assert.Equal(t, 1, strings.Count(r.stderr, tc.says), "said once: %q", r.stderr)
			assert.Equal(t, 1, strings.Count(r.stderr, "error:"), r.stderr)
			assert.Equal(t, 1, strings.Count(r.stderr, "importing bad.csv:   0%"), "one progress line: %q", r.stderr)
			assert.NotContains(t, r.stderr, "100%", "a failed import is not done")
			saysOnce(t, r.stderr)
		})
	}
}

// On a terminal the progress is one bar redrawn in place: carriage
// returns, no line of its own until the end, 99 % until the commit and
// 100 % after; a failed job's bar ends where it stopped.
func TestProgressBarOnATerminal(t *testing.T) {
	for _, committed := range []bool{true, false} {
		var out bytes.Buffer
		p := &progress{w: &out, label: "importing f.csv", total: 1000, terminal: true, shown: -1}
		p.draw(false)
		for range 10 {
			p.add(100)
			p.setLines(50)
			p.drawn = time.Time{} // as if a tenth of a second had passed
		}
		p.add(0)
		p.finish(committed)
		s := out.String()
		assert.Equal(t, 1, strings.Count(s, "\n"), "one line, ended once: %q", s)
		assert.True(t, strings.HasSuffix(s, "\n"))
		assert.True(t, strings.HasPrefix(s, "\rimporting f.csv [------------------------------]   0%"), s)
		assert.Contains(t, s, " 99% 0.0/0.0 MiB, 50 lines", "the file read, not yet committed")
		assert.Equal(t, committed, strings.Contains(s, "100%"), "100 %% only after the commit: %q", s)
	}
}
