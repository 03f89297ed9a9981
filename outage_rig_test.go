package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/config"
)

// The outage rig: a PostgreSQL server of the test's own (so that it can be
// restarted), replicas that are processes of their own (so that one can be
// killed for real), and a load balancer in front of them that sends a
// request to another replica when one does not answer, as nginx or HAProxy
// do.

// testPostgres is a PostgreSQL server the test made with initdb and runs
// with pg_ctl, on a port of its own, with its data in a temporary folder.
type testPostgres struct {
	t     *testing.T
	bin   string // the folder of initdb and pg_ctl
	runAs string // the user they run as; "" is ourselves
	root  string
	data  string
	log   string
	port  int
}

// postgresBinDir finds a folder holding both initdb and pg_ctl, or "".
func postgresBinDir() string {
	dirs := []string{"/usr/local/bin"}
	versions, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(versions)))
	dirs = append(dirs, versions...)
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, d := range dirs {
		if isFile(filepath.Join(d, "initdb")) && isFile(filepath.Join(d, "pg_ctl")) {
			return d
		}
	}
	return ""
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir()
}

// startTestPostgres makes and starts a server; it is stopped, and its
// folder removed, when the test ends. It skips the test when the machine
// has no initdb and pg_ctl.
func startTestPostgres(t *testing.T) *testPostgres {
	t.Helper()
	bin := postgresBinDir()
	if bin == "" {
		t.Skip("PostgreSQL's initdb and pg_ctl are not on this machine (looked in /usr/local/bin, " +
			"/usr/lib/postgresql/*/bin and PATH): skipping the outage test, which restarts a server of its own")
	}
	pg := &testPostgres{t: t, bin: bin}
	root, err := os.MkdirTemp("", "vippskco-outage-pg-")
	require.NoError(t, err)
	pg.root, pg.data, pg.log = root, filepath.Join(root, "data"), filepath.Join(root, "postgres.log")
	t.Cleanup(func() { os.RemoveAll(root) })
	if os.Geteuid() == 0 {
		// initdb refuses to run as root: the server runs as postgres, in a
		// folder that user owns.
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("running as root, and there is no postgres user to run initdb as: skipping the outage test")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		require.NoError(t, os.Chown(root, uid, gid))
		pg.runAs = "postgres"
	}
	pg.run("initdb", "-D", pg.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	pg.port = freePort(t)
	// fsync=off only skips flushing the operating system's cache to disk: a
	// crash of PostgreSQL (an immediate shutdown) loses nothing committed,
	// which synchronous_commit (left on) still guarantees.
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s -c fsync=off -c max_connections=60",
		pg.port, pg.data)
	pg.run("pg_ctl", "-D", pg.data, "-l", pg.log, "-w", "-t", "60", "-o", opts, "start")
	t.Cleanup(func() {
		if out, err := pg.command("pg_ctl", "-D", pg.data, "-m", "immediate", "-w", "stop").CombinedOutput(); err != nil {
			t.Logf("stopping the test's PostgreSQL: %v\n%s", err, out)
		}
	})
	return pg
}

// DSN is where the server is, as the service's configuration names it.
func (pg *testPostgres) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.port)
}

// RestartImmediate restarts the server the way a crash does: every backend
// is killed without a checkpoint, and the new server recovers from the WAL
// before it accepts connections. It returns how long the server was gone.
func (pg *testPostgres) RestartImmediate() time.Duration {
	t0 := time.Now()
	pg.run("pg_ctl", "-D", pg.data, "-l", pg.log, "-m", "immediate", "-w", "-t", "60", "restart")
	return time.Since(t0)
}

// Log is the server's log so far.
func (pg *testPostgres) Log() string {
	b, _ := os.ReadFile(pg.log)
	return string(b)
}

func (pg *testPostgres) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(pg.bin, name)
	if pg.runAs == "" {
		return exec.Command(path, args...)
	}
	if runuser, err := exec.LookPath("runuser"); err == nil {
		return exec.Command(runuser, append([]string{"-u", pg.runAs, "--", path}, args...)...)
	}
	quoted := []string{shellQuote(path)}
	for _, a := range args {
		quoted = append(quoted, shellQuote(a))
	}
	return exec.Command("su", "-s", "/bin/sh", pg.runAs, "-c", strings.Join(quoted, " "))
}

func (pg *testPostgres) run(name string, args ...string) {
	pg.t.Helper()
	cmd := pg.command(name, args...)
	cmd.Dir = pg.root
	out, err := cmd.CombinedOutput()
	require.NoError(pg.t, err, "%s %s:\n%s\nserver log:\n%s", name, strings.Join(args, " "), out, pg.Log())
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// freePort is a loopback port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// offsetClock is real time plus an offset the test moves forward, shared
// by the fakes in the test's process and by every replica process.
type offsetClock struct{ offset atomic.Int64 }

func (c *offsetClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// The environment of a replica process.
const (
	envReplica   = "VIPPSKCO_OUTAGE_REPLICA"
	envDSN       = "VIPPSKCO_OUTAGE_DSN"
	envAddr      = "VIPPSKCO_OUTAGE_ADDR"
	envPublicURL = "VIPPSKCO_OUTAGE_PUBLIC_URL"
	envKustom    = "VIPPSKCO_OUTAGE_KUSTOM_URL"
	envVipps     = "VIPPSKCO_OUTAGE_VIPPS_URL"
	envHooks     = "VIPPSKCO_OUTAGE_HOOKS_URL"
	envLog       = "VIPPSKCO_OUTAGE_LOG"
)

// TestHelperOutageReplica is not a test: it is one replica of TestOutage,
// run in a process of its own so that the test can kill it with SIGKILL.
// It runs Main on the shared PostgreSQL, its providers pointed at the
// test's fakes, prints "ready" and then obeys its standard input: "offset
// N" moves its clock to real time + N ns; the end of input closes it.
func TestHelperOutageReplica(t *testing.T) {
	if os.Getenv(envReplica) == "" {
		t.Skip("a replica process of TestOutage; it runs only when TestOutage starts it")
	}
	var clock offsetClock
	cfg := testConfig(t, onPostgres(os.Getenv(envDSN)), func(c *config.Config) {
		c.Server.Addr = os.Getenv(envAddr)
		c.Server.PublicURL = os.Getenv(envPublicURL)
		c.MerchantWebhook.URL = os.Getenv(envHooks)
	})
	logFile, err := os.OpenFile(os.Getenv(envLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	defer logFile.Close()
	logger := slog.New(bridge.ContextHandler(quietAccessLog{slog.NewJSONHandler(logFile, nil)}))
	slog.SetDefault(logger)
	m := NewMain(cfg, logger)
	m.Now = clock.Now
	m.PollEvery = 200 * time.Millisecond
	m.Providers = Providers{KustomURL: os.Getenv(envKustom), VippsURL: os.Getenv(envVipps)}
	require.NoError(t, m.Run(context.Background()))
	fmt.Printf("ready %s\n", m.Addr())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if v, ok := strings.CutPrefix(in.Text(), "offset "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			require.NoError(t, err)
			clock.offset.Store(n)
			fmt.Printf("offset-set %d\n", n)
		}
	}
	require.NoError(t, m.Close())
}

// quietAccessLog leaves the access log out of a replica's log: the load
// balancer counts the requests, and the log is read for what went wrong.
type quietAccessLog struct{ slog.Handler }

func (h quietAccessLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "http request" && r.Level < slog.LevelWarn {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietAccessLog) WithAttrs(as []slog.Attr) slog.Handler {
	return quietAccessLog{h.Handler.WithAttrs(as)}
}

func (h quietAccessLog) WithGroup(name string) slog.Handler {
	return quietAccessLog{h.Handler.WithGroup(name)}
}

// replicaProc is one replica process.
type replicaProc struct {
	n      int
	addr   string
	logf   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	output *lockedBuffer
	exited chan struct{}
	killed atomic.Bool
}

// startReplica runs replica n as a process of this test binary, listening
// on addr, and waits until it serves.
func startReplica(t *testing.T, n int, addr string, env map[string]string) *replicaProc {
	t.Helper()
	r := &replicaProc{
		n: n, addr: addr, logf: filepath.Join(t.TempDir(), fmt.Sprintf("replica-%d.log", n)),
		lines: make(chan string, 16), output: &lockedBuffer{}, exited: make(chan struct{}),
	}
	r.cmd = exec.Command(os.Args[0], "-test.run=^TestHelperOutageReplica$", "-test.count=1")
	r.cmd.Env = append(os.Environ(), envReplica+"=1", envAddr+"="+r.addr, envLog+"="+r.logf)
	for k, v := range env {
		r.cmd.Env = append(r.cmd.Env, k+"="+v)
	}
	var err error
	r.stdin, err = r.cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := r.cmd.StdoutPipe()
	require.NoError(t, err)
	r.cmd.Stderr = r.output
	require.NoError(t, r.cmd.Start())
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(r.output, line)
			if strings.HasPrefix(line, "ready ") || strings.HasPrefix(line, "offset-set ") {
				r.lines <- line
			}
		}
		_ = r.cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.exited
	})
	r.await(t, "ready ", 30*time.Second)
	return r
}

func (r *replicaProc) await(t *testing.T, prefix string, within time.Duration) {
	t.Helper()
	timer := time.NewTimer(within)
	defer timer.Stop()
	for {
		select {
		case line := <-r.lines:
			if strings.HasPrefix(line, prefix) {
				return
			}
		case <-r.exited:
			t.Fatalf("replica %d exited before %q:\n%s\nits log:\n%s", r.n, prefix, r.output, r.Log())
		case <-timer.C:
			t.Fatalf("replica %d: no %q within %s:\n%s", r.n, prefix, within, r.output)
		}
	}
}

// Kill ends the replica with SIGKILL: no drain, no lease released, its
// connections reset under whatever they were doing.
func (r *replicaProc) Kill() {
	r.killed.Store(true)
	_ = r.cmd.Process.Kill()
	<-r.exited
}

// SetOffset moves the replica's clock to real time + d.
func (r *replicaProc) SetOffset(t *testing.T, d time.Duration) {
	t.Helper()
	_, err := fmt.Fprintf(r.stdin, "offset %d\n", int64(d))
	require.NoError(t, err)
	r.await(t, "offset-set ", 10*time.Second)
}

// Log is the replica's JSON log.
func (r *replicaProc) Log() string {
	b, _ := os.ReadFile(r.logf)
	return string(b)
}

// balancer is the load balancer in front of the replicas: round robin, and
// like nginx's proxy_next_upstream or HAProxy's retry-on, a request that
// could not be handed to a replica (connection refused) goes to the next
// one, and so does a GET whose replica went away before answering (GETs are
// idempotent; a POST that may have reached a replica is answered 502, and
// its sender retries).
type balancer struct {
	targets   []*lbTarget
	next      atomic.Uint64
	seq       atomic.Uint64
	transport *http.Transport
	// failovers counts requests sent again to another replica; cutOff
	// those a replica had taken when it was killed.
	failovers, cutOff atomic.Int64
}

type lbTarget struct {
	n         int
	host      string
	served    atomic.Int64
	inFlight  atomic.Int64
	downUntil atomic.Int64
	// killedAt is when the test killed this replica (Unix ns; 0: alive).
	killedAt atomic.Int64
}

func newBalancer(hosts []string) *balancer {
	b := &balancer{transport: &http.Transport{
		MaxIdleConnsPerHost: 128, IdleConnTimeout: 30 * time.Second, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
	}}
	for i, h := range hosts {
		b.targets = append(b.targets, &lbTarget{n: i, host: h})
	}
	return b
}

// headerTries tells the client how many replicas its request was sent to.
const headerTries = "X-Test-Lb-Tries"

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if r.Header.Get("X-Request-Id") == "" {
		r.Header.Set("X-Request-Id", fmt.Sprintf("lb-%d", b.seq.Add(1)))
	}
	idempotent := r.Method == http.MethodGet || r.Method == http.MethodHead
	start := int(b.next.Add(1))
	tries := 0
	for i := range 2 * len(b.targets) {
		tgt := b.targets[(start+i)%len(b.targets)]
		if i < len(b.targets) && time.Now().UnixNano() < tgt.downUntil.Load() {
			continue
		}
		tries++
		if tries > 1 {
			b.failovers.Add(1)
		}
		out, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+tgt.host+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		out.Header = r.Header.Clone()
		out.Host = r.Host
		sent := time.Now().UnixNano()
		tgt.inFlight.Add(1)
		resp, err := b.transport.RoundTrip(out)
		tgt.inFlight.Add(-1)
		if err != nil {
			refused := errors.Is(err, syscall.ECONNREFUSED)
			if refused {
				tgt.downUntil.Store(time.Now().Add(time.Second).UnixNano())
			}
			if k := tgt.killedAt.Load(); k != 0 && sent < k {
				// (The transport may have tried it again on a new
				// connection, and been refused: it was cut off all the
				// same.)
				b.cutOff.Add(1)
			}
			if (refused || idempotent) && r.Context().Err() == nil {
				continue
			}
			break
		}
		tgt.served.Add(1)
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.Header().Set(headerTries, strconv.Itoa(tries))
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		resp.Body.Close()
		return
	}
	w.Header().Set(headerTries, strconv.Itoa(tries))
	http.Error(w, "no replica answered", http.StatusBadGateway)
}

// storeFailureLine matches a log line that reports a failure to reach
// PostgreSQL, in the words of pgx, the net package or the server itself.
var storeFailureLine = regexp.MustCompile(`failed to connect|connection refused|unexpected EOF|SQLSTATE 57P0|SQLSTATE 08|conn closed|broken pipe|connection reset|database is unavailable|store_unavailable|outcome unknown`)

// logRequestID is the request id a JSON log line carries, if any.
var logRequestID = regexp.MustCompile(`"request_id":"([^"]+)"`)

// storeFailures reads the replicas' logs: the lines that report a failure
// to reach the store, and the shopper requests (by request id) that met
// one.
func storeFailures(logs ...string) (lines int, requests map[string]bool, sample []string) {
	requests = map[string]bool{}
	for _, l := range logs {
		for line := range strings.SplitSeq(l, "\n") {
			if !storeFailureLine.MatchString(line) {
				continue
			}
			lines++
			if len(sample) < 5 {
				sample = append(sample, line)
			}
			if m := logRequestID.FindStringSubmatch(line); m != nil {
				requests[m[1]] = true
			}
		}
	}
	return lines, requests, sample
}
