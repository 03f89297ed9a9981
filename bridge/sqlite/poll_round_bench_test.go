package sqlite

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"vippskco/bridge/storetest"
)

// BenchmarkPollRound is storetest.BenchPollRound on a SQLite file: what a
// claim and release of 64 of 2,000 waiting payments cost, and the bytes
// the store wrote for it (its log and the checkpoints' copies back, from
// the process's write calls).
//
//	go test -run '^$' -bench BenchmarkPollRound -benchtime 2000x ./bridge/sqlite/
func BenchmarkPollRound(b *testing.B) {
	s := openTestStore(b)
	b.Cleanup(func() { s.Close() })
	storetest.BenchPollRound(b, s, "KiB-written/round", func() float64 { return float64(writtenBytes(b)) })
}

// writtenBytes is what this process has passed to write calls so far
// (wchar in /proc/self/io).
func writtenBytes(b *testing.B) int64 {
	raw, err := os.ReadFile("/proc/self/io")
	if err != nil {
		b.Skipf("no /proc/self/io: %v", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal("no wchar in /proc/self/io")
	return 0
}
