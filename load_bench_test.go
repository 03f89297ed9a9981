package main

// BenchmarkLoad (issue 10, performance at real volume): the real service
// binary in its own process, the strict fakes of Kustom and Vipps in
// another, the load from this one (load_rig_test.go), with N payments
// waiting at Vipps all along, so that the poller reads them while the
// phases run, as it would on a busy day.
//
//	go test -run '^$' -bench '^BenchmarkLoad$' -benchtime 1x -timeout 30m .
//
// With VIPPSKCO_TEST_POSTGRES_DSN set it runs on PostgreSQL too (a fresh
// schema). VIPPSKCO_LOAD_WAITING (default 2000) is N,
// VIPPSKCO_LOAD_CLIENTS (default "1,16,64,256") the concurrent clients of
// each phase, VIPPSKCO_LOAD_SECONDS (default 5) the length of a phase.
// VIPPSKCO_LOAD_PROFILE=DIR keeps the service's CPU profile of every phase
// there (from its operations listener), for `go tool pprof`; with
// VIPPSKCO_LOAD_TRACE=1 as well, a runtime trace of each phase instead
// (`go tool trace`), which shows what a slow request waited for.
// VIPPSKCO_LOAD_PHASES (say "status,unknown") runs only the phases named,
// VIPPSKCO_LOAD_STORES (say "postgres") only the stores named.
// VIPPSKCO_LOAD_REPEAT=N runs each phase N times at each client count and
// shows the run of median throughput, with the range.
//
// The phases, each at every client count, in this order: the three that
// read the waiting payments first, while exactly N wait (every redirect of
// the later phases leaves one more waiting):
//
//  1. status: GET /status/{token} of a random waiting payment.
//  2. webhook unknown: a signed ePayment webhook for a reference we never made.
//  3. webhook known: bursts of 5 signed webhooks for a random waiting payment.
//  4. redirect: the shopper's GET of the EPM redirect_url, a new KCO order
//     each (made before the phase), answered 303; "added" is the latency
//     minus the provider time the service reports in Server-Timing.
//  5. bare: the same two provider calls (read the KCO order, create the
//     Vipps payment) by the product's own clients, nothing stored: the floor.
//     bare bridge: the same behind an HTTP server in a process of its own
//     (load_bare_bridge_test.go): the floor for anything that takes the
//     shopper's request; its CPU ms/op is that process's.
//     durable bridge: the bare bridge with the writes no bridge that keeps
//     its promises can skip (the attempt and its idempotency key committed
//     before the create, its answer after), each in a transaction of its
//     own on a store of the run's kind: the floor for a bridge that stores.
//
// CPU ms/op is the service process's CPU time (user + system) during the
// phase over its operations: all of its work, the poller's included.

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vippskco/bridge/config"
)

// loadSizes are the knobs of a run.
type loadSizes struct {
	waiting int
	clients []int
	phase   time.Duration
	quiet   time.Duration // the idle window, after the waiting payments are all being polled
	profile string        // VIPPSKCO_LOAD_PROFILE: a folder for the service's CPU profile of each phase
	trace   bool          // VIPPSKCO_LOAD_TRACE=1: a runtime trace of each phase there instead
	phases  []string      // VIPPSKCO_LOAD_PHASES: the phases to run (their short names); none means all
	repeat  int           // VIPPSKCO_LOAD_REPEAT: runs of each phase at each client count; the table shows the median
	// pace is VIPPSKCO_LOAD_PACE: for some phases, a row more at
	// pacedClients whose operations start at a steady rate (ops/s), not
	// as fast as the clients go; its latencies count from each
	// operation's due time, so a late start counts too.
	pace map[string]float64
}

// pacedClients is the most operations a paced row has in flight.
const pacedClients = 64

// defaultPace: the targets' rates for status reads and unknown-reference
// webhooks, and redirects at 250/s, well below what either store serves
// here flat out, so that the time our code adds is not a queue for the CPU;
// the two bridges at the same 250/s show what latency a bridge that does
// only the unavoidable has at that pace on this machine.
var defaultPace = map[string]float64{phaseRedirect: 250, phaseBareBridge: 250, phaseDurableBridge: 250, phaseStatus: 5000, phaseUnknown: 5000}

// pacedPhases are the phases a pace may be set for.
var pacedPhases = []string{phaseRedirect, phaseBareBridge, phaseDurableBridge, phaseStatus, phaseUnknown}

// loadStep is one row's load: clients in flight, and the pace their
// operations start at (0: as fast as they go).
type loadStep struct {
	clients int
	pace    float64
}

// stepsOf is the rows phase runs: one per client count, and a paced one
// when the run paces it.
func stepsOf(s loadSizes, phase string) []loadStep {
	var steps []loadStep
	for _, c := range clientsOf(s, phase) {
		steps = append(steps, loadStep{clients: c})
	}
	if p := s.pace[phase]; p > 0 && s.runs(phase) {
		steps = append(steps, loadStep{clients: pacedClients, pace: p})
	}
	return steps
}

// loadPhaseNames are the short names VIPPSKCO_LOAD_PHASES takes.
var loadPhaseNames = map[string]string{
	"redirect": phaseRedirect,
	"bare":     phaseBare,
	"bridge":   phaseBareBridge,
	"durable":  phaseDurableBridge,
	"status":   phaseStatus,
	"unknown":  phaseUnknown,
	"known":    phaseKnown,
}

// runs reports whether the run includes phase.
func (s loadSizes) runs(phase string) bool {
	return len(s.phases) == 0 || slices.Contains(s.phases, phase)
}

func loadSizesFromEnv(tb testing.TB) loadSizes {
	s := loadSizes{waiting: 2000, clients: []int{1, 16, 64, 256}, phase: 5 * time.Second, quiet: 5 * time.Second, repeat: 1, pace: defaultPace}
	if v := os.Getenv("VIPPSKCO_LOAD_WAITING"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			tb.Fatalf("VIPPSKCO_LOAD_WAITING=%q: want a positive whole number", v)
		}
		s.waiting = n
	}
	if v := os.Getenv("VIPPSKCO_LOAD_CLIENTS"); v != "" {
		s.clients = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				tb.Fatalf("VIPPSKCO_LOAD_CLIENTS=%q: want positive whole numbers separated by commas", v)
			}
			s.clients = append(s.clients, n)
		}
	}
	if v := os.Getenv("VIPPSKCO_LOAD_SECONDS"); v != "" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || n <= 0 {
			tb.Fatalf("VIPPSKCO_LOAD_SECONDS=%q: want a positive number", v)
		}
		s.phase = time.Duration(n * float64(time.Second))
	}
	if v := os.Getenv("VIPPSKCO_LOAD_PROFILE"); v != "" {
		if err := os.MkdirAll(v, 0o755); err != nil {
			tb.Fatalf("VIPPSKCO_LOAD_PROFILE=%q: %v", v, err)
		}
		s.profile = v
	}
	switch v := os.Getenv("VIPPSKCO_LOAD_TRACE"); v {
	case "", "0":
	case "1":
		if s.profile == "" {
			tb.Fatalf("VIPPSKCO_LOAD_TRACE=1 needs VIPPSKCO_LOAD_PROFILE=DIR, the folder the traces go to")
		}
		s.trace = true
	default:
		tb.Fatalf("VIPPSKCO_LOAD_TRACE=%q: want 1 (a runtime trace of each phase instead of its CPU profile) or 0", v)
	}
	if v := os.Getenv("VIPPSKCO_LOAD_REPEAT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			tb.Fatalf("VIPPSKCO_LOAD_REPEAT=%q: want a positive whole number", v)
		}
		s.repeat = n
	}
	if v := os.Getenv("VIPPSKCO_LOAD_PACE"); v != "" {
		s.pace = map[string]float64{}
		for _, f := range strings.Split(v, ",") {
			if strings.TrimSpace(f) == "off" {
				continue
			}
			name, rate, _ := strings.Cut(strings.TrimSpace(f), "=")
			phase, ok := loadPhaseNames[name]
			n, err := strconv.ParseFloat(rate, 64)
			if !ok || !slices.Contains(pacedPhases, phase) || err != nil || n <= 0 {
				tb.Fatalf("VIPPSKCO_LOAD_PACE=%q: want off, or phase=ops/s pairs separated by commas (phases redirect, bridge, durable, status, unknown)", v)
			}
			s.pace[phase] = n
		}
	}
	if v := os.Getenv("VIPPSKCO_LOAD_PHASES"); v != "" {
		for _, name := range strings.Split(v, ",") {
			phase, ok := loadPhaseNames[strings.TrimSpace(name)]
			if !ok {
				tb.Fatalf("VIPPSKCO_LOAD_PHASES=%q: %q is not one of redirect, bare, bridge, durable, status, unknown, known", v, name)
			}
			s.phases = append(s.phases, phase)
		}
	}
	return s
}

func BenchmarkLoad(b *testing.B) {
	sizes := loadSizesFromEnv(b)
	bin := filepath.Join(b.TempDir(), "vippskco")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	stores := []struct {
		name string
		edit func(*config.Config)
	}{{"sqlite", nil}}
	if dsn := os.Getenv("VIPPSKCO_TEST_POSTGRES_DSN"); dsn != "" {
		stores = append(stores, struct {
			name string
			edit func(*config.Config)
		}{"postgres", onPostgres(benchPostgresSchema(b, dsn))})
	}
	if only := os.Getenv("VIPPSKCO_LOAD_STORES"); only != "" {
		stores = slices.DeleteFunc(stores, func(st struct {
			name string
			edit func(*config.Config)
		}) bool {
			return !slices.Contains(strings.Split(only, ","), st.name)
		})
		if len(stores) == 0 {
			b.Fatalf("VIPPSKCO_LOAD_STORES=%q: want sqlite, postgres or both (postgres needs VIPPSKCO_TEST_POSTGRES_DSN)", only)
		}
	}
	b.ResetTimer()
	for _, st := range stores {
		rep := runLoad(b, bin, st.name, st.edit, sizes)
		// Errors are a finding to report (the table counts them and names
		// the first), not a failure of the measurement.
		fmt.Fprint(os.Stdout, rep.markdown())
	}
}

// TestLoadRigSmoke runs the rig with tiny numbers, so that it keeps
// working: every phase does something and nothing fails. The service is
// this test binary running run() (no build), on SQLite.
func TestLoadRigSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes")
	}
	pace := map[string]float64{phaseRedirect: 20, phaseStatus: 200, phaseUnknown: 200}
	rep := runLoad(t, "", "sqlite", nil, loadSizes{waiting: 20, clients: []int{1, 4}, phase: time.Second, quiet: time.Second, repeat: 2, pace: pace})
	t.Log("\n" + rep.markdown())
	paced := 0
	for _, row := range rep.rows {
		if row.ops == 0 || row.errs > 0 {
			t.Errorf("%s at %d clients: %d operations, %d errors (%s)", row.phase, row.clients, row.ops, row.errs, row.firstErr)
		}
		if row.pace > 0 {
			// Paced, the load starts one operation every 1/pace s: as many
			// as fit in the phase, not more, not fewer.
			paced++
			if want := int(row.pace); row.ops != want {
				t.Errorf("%s paced at %.0f/s for 1 s: %d operations, want %d", row.phase, row.pace, row.ops, want)
			}
		}
		if row.phase == phaseRedirect && row.addedP50 <= 0 {
			t.Errorf("redirect at %d clients: no time of our own (%s)", row.clients, row.addedP50)
		}
	}
	if paced != len(pace) {
		t.Errorf("%d paced rows, want one for each of %v", paced, pace)
	}
	// At most one Vipps read per payment per 2 s, at the fake, while
	// webhook bursts ask for reads beside the poller's.
	if len(rep.readGaps) == 0 {
		t.Error("no known-reference rows: the reads' gaps were not measured")
	}
	for _, st := range rep.readGaps {
		if st.under > 0 {
			t.Errorf("known references at %d clients: %s", st.clients, st)
		}
	}
}

const (
	phaseRedirect      = "redirect"
	phaseBare          = "bare provider calls"
	phaseBareBridge    = "bare bridge"
	phaseDurableBridge = "durable bridge"
	phaseStatus        = "status read"
	phaseUnknown       = "webhook, unknown ref"
	phaseKnown         = "webhook, known ref ×5"
)

// loadRow is one phase at one client count.
type loadRow struct {
	phase    string
	clients  int
	pace     float64 // ops/s the operations were started at; 0: as fast as the clients went
	ops      int
	errs     int
	firstErr string
	elapsed  time.Duration
	p50, p99 time.Duration
	// addedP50 and addedP99 are the latency less the provider time the
	// service reported (not for the bare calls).
	addedP50, addedP99 time.Duration
	cpu                time.Duration // the service's, during the phase
	vippsReads         int           // payment reads at the fake Vipps during the phase, the poller's included
	ratio              float64       // redirect rows: ops/s over the bare calls' at the same clients
	ratioBridge        float64       // redirect rows: ops/s over the bare bridge's at the same clients
	ratioDurable       float64       // redirect rows: ops/s over the durable bridge's at the same clients
	note               string
}

func (r loadRow) rate() float64 { return float64(r.ops) / r.elapsed.Seconds() }

// loadReport is the run on one store.
type loadReport struct {
	store      string
	sizes      loadSizes
	setupRate  float64 // redirects/s while making the waiting payments
	idleCPU    float64 // the service's CPU share with N waiting, nothing else
	idleReads  float64 // Vipps reads/s meanwhile (the poller)
	rows       []loadRow
	knownReads []string       // per known-reference row: reads per payment per 2 s
	readGaps   []readGapStats // per known-reference row: how close together one payment's reads came
	loadAvg    string         // the machine's load average at the start, /proc/loadavg: others' work skews every figure
}

// errOutOfWork ends a worker whose phase ran out of prepared work.
var errOutOfWork = errors.New("out of prepared work")

// runLoad starts the rig on one store, makes the waiting payments, measures
// the idle service, then runs the phases.
func runLoad(tb testing.TB, bin, store string, edit func(*config.Config), sizes loadSizes) *loadReport {
	r := startLoadRig(tb, bin, edit)
	defer r.stop()
	if sizes.profile != "" {
		r.profile, r.trace = filepath.Join(sizes.profile, store), sizes.trace
	}
	rep := &loadReport{store: store, sizes: sizes}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		rep.loadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}

	// The waiting payments: redirects nobody follows to Vipps.
	setup := r.newOrders(sizes.waiting)
	start := time.Now()
	var failed atomic.Int64
	var firstErr atomic.Value
	pool(len(setup), 16, func(i int) {
		if _, err := r.redirect(setup[i]); err != nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
		}
	})
	rep.setupRate = float64(len(setup)) / time.Since(start).Seconds()
	if n := failed.Load(); n > 0 {
		tb.Fatalf("%d of %d setup redirects failed, the first: %v\n%s", n, len(setup), firstErr.Load(), r.serviceLog())
	}
	waiting := r.waitingPayments()
	if len(waiting) != sizes.waiting {
		tb.Fatalf("%d payments wait at Vipps, want %d", len(waiting), sizes.waiting)
	}

	// Idle: the poller's first read is 5 s after create; from then on it
	// reads every waiting payment every 2 s.
	time.Sleep(5 * time.Second)
	cpu0, reads0 := r.cpuTime(), r.vippsReads()
	stopProfile := r.startProfile("idle", 0, sizes.quiet)
	time.Sleep(sizes.quiet)
	stopProfile()
	rep.idleCPU = float64(r.cpuTime()-cpu0) / float64(sizes.quiet)
	rep.idleReads = float64(sumReads(r.vippsReads(), reads0, nil)) / sizes.quiet.Seconds()

	// The phases that read the waiting payments run first, while exactly
	// sizes.waiting payments wait: every redirect of the later phases
	// leaves one more waiting (tens of thousands by their end), which is
	// not the load these phases are sized for.
	runID := strconv.FormatInt(time.Now().UnixNano(), 36)

	// 1. Status reads of the waiting payments.
	for _, step := range stepsOf(sizes, phaseStatus) {
		rep.rows = append(rep.rows, r.measureRepeated(phaseStatus, step, sizes, func() loadOp {
			return func(_ int, rnd *rand.Rand, rec recordFunc) error {
				t0 := time.Now()
				provider, err := r.status(waiting[rnd.IntN(len(waiting))].token)
				lat := time.Since(t0)
				rec(lat, lat-provider, err)
				return nil
			}
		}))
	}

	// 2. Webhooks for references we never made.
	var hookSeq atomic.Int64
	for _, step := range stepsOf(sizes, phaseUnknown) {
		rep.rows = append(rep.rows, r.measureRepeated(phaseUnknown, step, sizes, func() loadOp {
			return func(_ int, _ *rand.Rand, rec recordFunc) error {
				n := int(hookSeq.Add(1))
				t0 := time.Now()
				provider, err := r.webhook(fmt.Sprintf("unknown-%s-%d", runID, n), n)
				lat := time.Since(t0)
				rec(lat, lat-provider, err)
				return nil
			}
		}))
	}

	// 3. Bursts of 5 webhooks per waiting payment; then the Vipps reads
	// each of those payments got during the phase, and the shortest time
	// between two reads of one payment.
	waitingSet := waitingRefs(waiting)
	for _, c := range clientsOf(sizes, phaseKnown) {
		var mu sync.Mutex
		hit := map[string]bool{}
		before := r.vippsReads()
		r.readGaps() // from now on
		began := time.Now()
		row := r.measureRepeated(phaseKnown, loadStep{clients: c}, sizes, func() loadOp {
			return func(_ int, rnd *rand.Rand, rec recordFunc) error {
				p := waiting[rnd.IntN(len(waiting))]
				mu.Lock()
				hit[p.ref] = true
				mu.Unlock()
				for range 5 {
					n := int(hookSeq.Add(1))
					t0 := time.Now()
					provider, err := r.webhook(p.ref, n)
					lat := time.Since(t0)
					rec(lat, lat-provider, err)
				}
				return nil
			}
		})
		spent := time.Since(began) // every run's, for the reads counted over all of them
		after, gaps := r.vippsReads(), r.readGaps()
		total := 0
		for ref := range hit {
			total += after[ref] - before[ref]
		}
		per2s := spent.Seconds() / 2
		all := float64(sumReads(after, before, waitingSet)) / float64(len(waiting)) / per2s
		st := gapStats(c, gaps, waitingSet)
		rep.readGaps = append(rep.readGaps, st)
		rep.knownReads = append(rep.knownReads, fmt.Sprintf("%d clients: %d payments got bursts; Vipps reads per payment per 2 s: mean %.1f (all waiting: mean %.1f); %s",
			c, len(hit), float64(total)/float64(max(len(hit), 1))/per2s, all, st))
		rep.rows = append(rep.rows, row)
	}

	// The webhook phases leave hundreds of thousands of rows behind: a
	// quiet spell lets the store settle (PostgreSQL's autovacuum, SQLite's
	// log) before the redirects, as the idle window did before the first
	// phase.
	if sizes.runs(phaseStatus) || sizes.runs(phaseUnknown) || sizes.runs(phaseKnown) {
		time.Sleep(sizes.quiet)
	}

	// 4. Redirects, each on a new KCO order made before the phase.
	best := rep.setupRate
	for _, step := range stepsOf(sizes, phaseRedirect) {
		var ranOut atomic.Bool // set by any worker that found no order left
		row := r.measureRepeated(phaseRedirect, step, sizes, func() loadOp {
			orders := r.newOrders(int(cmp.Or(step.pace, best)*sizes.phase.Seconds()*2) + 4*step.clients)
			var next atomic.Int64
			return func(_ int, _ *rand.Rand, rec recordFunc) error {
				i := int(next.Add(1) - 1)
				if i >= len(orders) {
					ranOut.Store(true)
					return errOutOfWork
				}
				t0 := time.Now()
				provider, err := r.redirect(orders[i])
				lat := time.Since(t0)
				rec(lat, lat-provider, err)
				return nil
			}
		})
		if ranOut.Load() {
			row.note = strings.TrimPrefix(row.note+"; ran out of prepared orders", "; ")
		}
		best = max(best, row.rate())
		rep.rows = append(rep.rows, row)
	}

	// 5. The same provider calls, bare.
	kc, vc := r.bareClients()
	var bareSeq atomic.Int64
	for _, c := range clientsOf(sizes, phaseBare) {
		rep.rows = append(rep.rows, r.measureRepeated(phaseBare, loadStep{clients: c}, sizes, func() loadOp {
			return func(_ int, rnd *rand.Rand, rec recordFunc) error {
				ref := fmt.Sprintf("bare-%s-%d", runID, bareSeq.Add(1))
				t0 := time.Now()
				_, err := bareCreate(kc, vc, setup[rnd.IntN(len(setup))].id, ref)
				rec(time.Since(t0), 0, err)
				return nil
			}
		}))
	}

	// 5b. The same, behind an HTTP server of its own: the bare bridge;
	// 5c. and with the writes no bridge can skip: the durable bridge.
	for _, phase := range []string{phaseBareBridge, phaseDurableBridge} {
		if !sizes.runs(phase) {
			continue
		}
		bareURL, pid := r.startBareBridge(phase == phaseDurableBridge)
		r.cpuPid = pid
		var answered, failed atomic.Int64
		for _, step := range stepsOf(sizes, phase) {
			rep.rows = append(rep.rows, r.measureRepeated(phase, step, sizes, func() loadOp {
				return func(_ int, rnd *rand.Rand, rec recordFunc) error {
					link := bareURL + strings.TrimPrefix(setup[rnd.IntN(len(setup))].redirect, r.serviceURL)
					t0 := time.Now()
					_, err := r.redirectAt(link)
					rec(time.Since(t0), 0, err)
					if err != nil {
						failed.Add(1)
					} else {
						answered.Add(1)
					}
					return nil
				}
			}))
		}
		r.cpuPid = 0
		if phase == phaseDurableBridge {
			r.checkKept(bareURL, answered.Load(), failed.Load())
		}
	}

	// Ratios of the redirect rows to the bare calls at the same clients.
	for i := range rep.rows {
		if rep.rows[i].phase != phaseRedirect || rep.rows[i].pace > 0 {
			continue
		}
		for _, b := range rep.rows {
			if b.clients != rep.rows[i].clients || b.ops == 0 || b.pace > 0 {
				continue
			}
			switch b.phase {
			case phaseBare:
				rep.rows[i].ratio = rep.rows[i].rate() / b.rate()
			case phaseBareBridge:
				rep.rows[i].ratioBridge = rep.rows[i].rate() / b.rate()
			case phaseDurableBridge:
				rep.rows[i].ratioDurable = rep.rows[i].rate() / b.rate()
			}
		}
	}
	return rep
}

// clientsOf is the client counts phase runs at: none when the run leaves
// it out.
func clientsOf(s loadSizes, phase string) []int {
	if !s.runs(phase) {
		return nil
	}
	return s.clients
}

func waitingRefs(w []loadPayment) map[string]bool {
	m := make(map[string]bool, len(w))
	for _, p := range w {
		m[p.ref] = true
	}
	return m
}

// readGapStats says how close together the waiting payments' Vipps reads
// came at the fake: the shortest time between two reads of one payment,
// and how many payments were read twice within 2 s. "At most one read per
// payment per 2 s" is that count at zero; reads per 2-s unit of a phase
// cannot show it, as a payment read at 0, 2 and 4 s of a 5-s phase makes
// 1.2 of them.
type readGapStats struct {
	clients  int
	shortest time.Duration
	under    int // payments read twice within 2 s
	twice    int // payments read at least twice
}

func gapStats(clients int, gaps map[string]time.Duration, only map[string]bool) readGapStats {
	st := readGapStats{clients: clients}
	for ref, g := range gaps {
		if !only[ref] {
			continue
		}
		if st.twice == 0 || g < st.shortest {
			st.shortest = g
		}
		st.twice++
		if g < 2*time.Second {
			st.under++
		}
	}
	return st
}

func (st readGapStats) String() string {
	if st.twice == 0 {
		return "no payment was read twice"
	}
	return fmt.Sprintf("shortest time between two reads of one payment %.3f s, %d of %d payments read twice within 2 s", st.shortest.Seconds(), st.under, st.twice)
}

// sumReads adds up after-before over the references in only (all if nil).
func sumReads(after, before map[string]int, only map[string]bool) int {
	n := 0
	for ref, a := range after {
		if only == nil || only[ref] {
			n += a - before[ref]
		}
	}
	return n
}

// loadOp is one client's operation: it records what it did with rec, and
// returns errOutOfWork when it has nothing left to do.
type loadOp func(w int, rnd *rand.Rand, rec recordFunc) error

// measureRepeated runs a phase at one client count sizes.repeat times,
// each with an operation newOp makes before it starts, and returns the
// run of median throughput, noting the range when it ran more than once:
// on a shared machine one run can be a third off the next.
func (r *loadRig) measureRepeated(phase string, step loadStep, sizes loadSizes, newOp func() loadOp) loadRow {
	runs := make([]loadRow, 0, sizes.repeat)
	for range max(sizes.repeat, 1) {
		runs = append(runs, r.measure(phase, step, sizes.phase, newOp()))
	}
	if step.pace > 0 {
		// Paced runs share a rate: the one shown is the run of median p99.
		slices.SortFunc(runs, func(a, b loadRow) int { return cmp.Compare(a.p99, b.p99) })
	} else {
		slices.SortFunc(runs, func(a, b loadRow) int { return cmp.Compare(a.rate(), b.rate()) })
	}
	row := runs[len(runs)/2]
	switch {
	case len(runs) > 1 && step.pace > 0:
		row.note = fmt.Sprintf("median p99 of %d: %.1f–%.1f ms", len(runs), float64(runs[0].p99)/1e6, float64(runs[len(runs)-1].p99)/1e6)
	case len(runs) > 1:
		row.note = fmt.Sprintf("median of %d: %.0f–%.0f/s", len(runs), runs[0].rate(), runs[len(runs)-1].rate())
	}
	for _, run := range runs {
		if run.errs > 0 && row.errs == 0 {
			row.errs, row.firstErr = run.errs, run.firstErr // an error in any run shows
		}
	}
	return row
}

// recordFunc records one operation: its latency, the part of it that is
// our own (redirects), and its error.
type recordFunc func(lat, added time.Duration, err error)

// measure runs op on step.clients workers for d (a worker ends early when
// op says errOutOfWork) and sums up what they recorded, with the service's
// CPU time over the phase. With a pace, the operations are due at steady
// intervals from the start, each taken by the next free worker; one that
// starts late has its lateness added to its latency (and to the time our
// code adds), so a service that falls behind shows it in the p99 rather
// than in a pause of the load.
func (r *loadRig) measure(phase string, step loadStep, d time.Duration, op loadOp) loadRow {
	clients := step.clients
	var due atomic.Int64 // the next operation's number, with a pace
	var interval time.Duration
	if step.pace > 0 {
		interval = time.Duration(float64(time.Second) / step.pace)
	}
	type result struct {
		lat, added []time.Duration
		errs       int
		firstErr   string
	}
	results := make([]result, clients)
	var wg sync.WaitGroup
	reads0 := r.vippsReads()
	label := phase
	if step.pace > 0 {
		label += " paced"
	}
	stopProfile := r.startProfile(label, clients, d)
	defer stopProfile()
	cpu0 := r.cpuTime()
	start := time.Now()
	deadline := start.Add(d)
	for w := range clients {
		wg.Go(func() {
			res := &results[w]
			rnd := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			record := func(lat, added time.Duration, err error) {
				if err != nil {
					res.errs++
					if res.firstErr == "" {
						res.firstErr = err.Error()
					}
					return
				}
				res.lat = append(res.lat, lat)
				res.added = append(res.added, added)
			}
			// Paced, the phase's due operations all run, however late:
			// stopping at the deadline would drop the latest, the ones a
			// service that fell behind made wait longest.
			for interval > 0 || time.Now().Before(deadline) {
				rec := recordFunc(record)
				if interval > 0 {
					at := start.Add(time.Duration(due.Add(1)-1) * interval)
					if !at.Before(deadline) {
						return
					}
					if wait := time.Until(at); wait > 0 {
						time.Sleep(wait)
					} else if late := -wait; late > 0 {
						rec = func(lat, added time.Duration, err error) { record(lat+late, added+late, err) }
					}
				}
				if op(w, rnd, rec) == errOutOfWork {
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if step.pace > 0 {
		// The last operation was due just before the deadline: the
		// paced phase lasted d, or longer when it fell behind.
		elapsed = max(elapsed, d)
	}
	row := loadRow{phase: phase, clients: clients, pace: step.pace, elapsed: elapsed, cpu: r.cpuTime() - cpu0}
	row.vippsReads = sumReads(r.vippsReads(), reads0, nil)
	var lat, added []time.Duration
	for _, res := range results {
		lat, added = append(lat, res.lat...), append(added, res.added...)
		row.errs += res.errs
		row.firstErr = cmp.Or(row.firstErr, res.firstErr)
	}
	row.ops = len(lat)
	row.p50, row.p99 = quantile(lat, 0.50), quantile(lat, 0.99)
	if phase != phaseBare && phase != phaseBareBridge && phase != phaseDurableBridge {
		row.addedP50, row.addedP99 = quantile(added, 0.50), quantile(added, 0.99)
	}
	return row
}

// quantile is the q-quantile of ds (nearest rank); zero when empty.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// markdown is the report as the README's performance section shows it.
func (rep *loadReport) markdown() string {
	var sb strings.Builder
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) }
	fmt.Fprintf(&sb, "\n### %s: %d waiting payments, %s per phase\n\n", rep.store, rep.sizes.waiting, rep.sizes.phase)
	fmt.Fprintf(&sb, "%d CPUs for the service, the fakes and the load alike; load average at the start %s.\n", runtime.NumCPU(), rep.loadAvg)
	fmt.Fprintf(&sb, "Setup: %d redirects at 16 clients, %.0f/s. Idle with them waiting: the service uses %.1f%% of a core, "+
		"reading Vipps %.0f times/s (the poller).\n\n", rep.sizes.waiting, rep.setupRate, 100*rep.idleCPU, rep.idleReads)
	sb.WriteString("| phase | clients | ops/s | ours/bare | ours/bare bridge | ours/durable bridge | p50 ms | p99 ms | added p50 ms | added p99 ms | errors | CPU ms/op | Vipps reads/s |\n")
	sb.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	ratioOf := func(x float64) string {
		if x > 0 {
			return fmt.Sprintf("%.2f", x)
		}
		return ""
	}
	for _, r := range rep.rows {
		ratio, ratioBridge, ratioDurable, a50, a99 := "", "", "", ms(r.addedP50), ms(r.addedP99)
		switch r.phase {
		case phaseRedirect:
			ratio, ratioBridge, ratioDurable = ratioOf(r.ratio), ratioOf(r.ratioBridge), ratioOf(r.ratioDurable)
		case phaseBare, phaseBareBridge, phaseDurableBridge:
			a50, a99 = "", ""
		}
		cpu := "–"
		if r.ops > 0 {
			cpu = fmt.Sprintf("%.2f", float64(r.cpu)/1e6/float64(r.ops))
		}
		phase := r.phase
		if r.pace > 0 {
			phase += fmt.Sprintf(", paced at %.0f/s", r.pace)
		}
		if r.note != "" {
			phase += " (" + r.note + ")"
		}
		fmt.Fprintf(&sb, "| %s | %d | %.0f | %s | %s | %s | %s | %s | %s | %s | %d | %s | %.0f |\n",
			phase, r.clients, r.rate(), ratio, ratioBridge, ratioDurable, ms(r.p50), ms(r.p99), a50, a99, r.errs, cpu, float64(r.vippsReads)/r.elapsed.Seconds())
	}
	sb.WriteString("\n")
	for _, s := range rep.knownReads {
		sb.WriteString("- " + s + "\n")
	}
	for _, r := range rep.rows {
		if r.errs > 0 {
			fmt.Fprintf(&sb, "- %s at %d clients, first error: %s\n", r.phase, r.clients, r.firstErr)
		}
	}
	return sb.String()
}
