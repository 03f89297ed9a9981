package reconcile

import (
	"bufio"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkRun1M reconciles 1,000,000 settlement lines against 1,000,000
// movements (the target: at most 5 s and 512 MiB on two cores).
// The input is generated once, outside the timer.
//
// Memory is reported four ways:
//   - B/op (and engine-alloc-MiB) is every byte Run allocates, an upper bound
//     on what the engine itself can hold at any moment;
//   - input-MiB is the heap in use by the generated input after a GC;
//   - peak-heap-MiB is the heap in use (runtime/metrics objects + unused
//     heap spans), sampled every millisecond while Run runs, input included,
//     so engine-peak-MiB = peak-heap-MiB − input-MiB is the engine's peak;
//   - VmHWM-MiB is the process's peak resident set, reset after generating
//     the input (/proc/self/clear_refs), so it is the whole process during Run.
func BenchmarkRun1M(b *testing.B) {
	const n = 1_000_000
	d := generateSized(11, n, n, 30)
	if len(d.ms) != n || len(d.lines) != n {
		b.Fatalf("generated %d movements and %d lines", len(d.ms), len(d.lines))
	}
	debug.FreeOSMemory()
	input := heapInUse()
	resetPeakRSS()

	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, heapInUse())
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	var r *Result
	for b.Loop() {
		r = noErr(Run(d.cfg, d.ms, d.lines, d.payouts))
	}
	elapsed := b.Elapsed()
	runtime.ReadMemStats(&after)
	close(stop)
	wg.Wait()

	b.ReportMetric(float64(n)*float64(b.N)/elapsed.Seconds(), "lines/s")
	b.ReportMetric(mib(after.TotalAlloc-before.TotalAlloc)/float64(b.N), "engine-alloc-MiB")
	b.ReportMetric(mib(input), "input-MiB")
	b.ReportMetric(mib(peak), "peak-heap-MiB")
	b.ReportMetric(mib(peak-min(peak, input)), "engine-peak-MiB")
	if hwm := peakRSS(); hwm > 0 {
		b.ReportMetric(mib(hwm), "VmHWM-MiB")
	}
	b.ReportMetric(float64(len(r.Matches)), "matches")
	b.ReportMetric(float64(len(r.Exceptions)), "exceptions")
}

func mib(v uint64) float64 { return float64(v) / (1 << 20) }

var heapSamples = []metrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/memory/classes/heap/unused:bytes"},
}

func heapInUse() uint64 {
	s := make([]metrics.Sample, len(heapSamples))
	copy(s, heapSamples)
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}

// resetPeakRSS resets VmHWM to the current resident set (Linux).
func resetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSS is VmHWM in bytes, or 0 where there is no /proc.
func peakRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
