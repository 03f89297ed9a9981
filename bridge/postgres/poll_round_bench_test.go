package postgres

import (
	"testing"

	"vippskco/bridge/storetest"
)

// BenchmarkPollRound is storetest.BenchPollRound on PostgreSQL: what a
// claim and release of 64 of 2,000 waiting payments cost, and the
// write-ahead log the server wrote for it (pg_current_wal_lsn; nothing
// else should write to the server meanwhile).
//
//	VIPPSKCO_TEST_POSTGRES_DSN=… go test -run '^$' -bench BenchmarkPollRound -benchtime 2000x ./bridge/postgres/
func BenchmarkPollRound(b *testing.B) {
	s, _ := openStore(b, nil)
	storetest.BenchPollRound(b, s, "KiB-WAL/round", func() float64 {
		var at float64
		if err := s.pool.QueryRow(b.Context(), `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')`).Scan(&at); err != nil {
			b.Fatal(err)
		}
		return at
	})
}
