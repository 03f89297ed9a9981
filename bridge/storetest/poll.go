package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
)

// references lists the references of ps in order.
func references(ps []*bridge.Payment) []string {
	refs := make([]string, len(ps))
	for i, p := range ps {
		refs[i] = p.Reference
	}
	return refs
}

func testNextPollAt(t *testing.T, s bridge.Store) {
	ctx := t.Context()
	p := newPayment("KCO-1-1", "unit-a", "KCO-1", 1)
	p.NextPollAt = time.Date(2025, 3, 14, 15, 9, 31, 535897000, cet)

	tests := []struct {
		name  string
		write func(t *testing.T)
	}{
		{"set at insert", func(t *testing.T) {
			mustInsert(t, s, p)
		}},
		{"moved by UpdatePayment", func(t *testing.T) {
			p.NextPollAt = p.NextPollAt.Add(2 * time.Second)
			require.NoError(t, UpdatePayment(ctx, s, p, nil))
		}},
		{"cleared by UpdatePayment", func(t *testing.T) {
			p.NextPollAt = time.Time{}
			require.NoError(t, UpdatePayment(ctx, s, p, nil))
		}},
		{"set by Commit", func(t *testing.T) {
			p.NextPollAt = time.Date(1969, 7, 20, 20, 17, 40, 123456000, cet)
			mustCommit(t, s, &bridge.Change{Payment: p})
		}},
		{"set by ReleasePoll", func(t *testing.T) {
			p.NextPollAt = time.Date(2199, 12, 31, 23, 59, 59, 999999000, cet)
			require.NoError(t, s.ReleasePoll(ctx, p.Reference, "", p.NextPollAt))
		}},
		{"cleared by Commit", func(t *testing.T) {
			p.NextPollAt = time.Time{}
			mustCommit(t, s, &bridge.Change{Payment: p})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.write(t)
			got := mustPayment(t, s, p.Reference)
			requirePaymentEqual(t, p, got)
			if p.NextPollAt.IsZero() {
				require.Equal(t, time.Time{}, got.NextPollAt, "none must read back as the zero time")
			}
			byToken, err := s.PaymentByToken(ctx, p.ReturnToken)
			require.NoError(t, err)
			requirePaymentEqual(t, p, byToken)
			byOrder, err := s.PaymentsByOrder(ctx, p.KCOOrderID)
			require.NoError(t, err)
			require.Len(t, byOrder, 1)
			requirePaymentEqual(t, p, byOrder[0])
		})
	}
}

func testClaimDuePolls(t *testing.T, s bridge.Store) {
	const lease = 30 * time.Second
	due := map[string]time.Time{
		"KCO-A-1": base.Add(-3 * time.Second),
		"KCO-B-1": base.Add(-time.Second),
		"KCO-C-1": base,
		"KCO-D-1": base.Add(time.Microsecond),
		"KCO-E-1": {},
		"KCO-F-1": base.Add(-2 * time.Second),
	}
	stored := map[string]*bridge.Payment{}
	for ref, at := range due {
		p := newPayment(ref, "unit-a", ref[:5], 1)
		p.NextPollAt = at
		mustInsert(t, s, p)
		stored[ref] = p
	}

	tests := []struct {
		name  string
		now   time.Time
		owner string
		limit int
		want  []string
	}{
		{"due ones, earliest first", base, "r1", 10, []string{"KCO-A-1", "KCO-F-1", "KCO-B-1", "KCO-C-1"}},
		{"leased ones are not claimed again", base, "r2", 10, []string{}},
		{"a lease holds until it runs out", base.Add(lease - time.Second), "r2", 10, []string{"KCO-D-1"}},
		{"an expired lease is claimed again, up to the limit", base.Add(lease + time.Second), "r3", 2, []string{"KCO-A-1", "KCO-F-1"}},
		{"the rest", base.Add(lease + time.Second), "r4", 10, []string{"KCO-B-1", "KCO-C-1"}},
		{"nothing left", base.Add(lease + time.Second), "r5", 10, []string{}},
		{"never polled", base.Add(24 * time.Hour), "r6", 10, []string{"KCO-A-1", "KCO-F-1", "KCO-B-1", "KCO-C-1", "KCO-D-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := s.ClaimDuePolls(t.Context(), tt.now, tt.owner, lease, tt.limit)
			require.NoError(t, err)
			require.Equal(t, tt.want, references(ps))
			for _, p := range ps {
				// A poll lease is not a change of the payment.
				requirePaymentEqual(t, stored[p.Reference], p)
				requirePaymentEqual(t, stored[p.Reference], mustPayment(t, s, p.Reference))
			}
		})
	}
}

// testRaceClaimDuePolls is ten replicas polling at once: none gets a
// payment another one got.
func testRaceClaimDuePolls(t *testing.T, s bridge.Store) {
	const n, claimers, limit = 20, 10, 3
	for i := range n {
		p := newPayment(fmt.Sprintf("KCO-%02d-1", i), "unit-a", fmt.Sprintf("KCO-%02d", i), 1)
		p.NextPollAt = base.Add(-time.Duration(i) * time.Second)
		mustInsert(t, s, p)
	}

	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		got   = make([][]*bridge.Payment, claimers)
		errs  = make([]error, claimers)
	)
	for i := range claimers {
		wg.Go(func() {
			<-start
			got[i], errs[i] = s.ClaimDuePolls(t.Context(), base, fmt.Sprintf("r%d", i), time.Minute, limit)
		})
	}
	close(start)
	wg.Wait()

	owner := map[string]int{}
	for i := range claimers {
		require.NoError(t, errs[i], "claimer %d", i)
		require.LessOrEqual(t, len(got[i]), limit)
		for _, p := range got[i] {
			prev, dup := owner[p.Reference]
			require.False(t, dup, "%s claimed by %d and %d", p.Reference, prev, i)
			owner[p.Reference] = i
		}
	}
	rest, err := s.ClaimDuePolls(t.Context(), base, "last", time.Minute, n)
	require.NoError(t, err)
	for _, p := range rest {
		prev, dup := owner[p.Reference]
		require.False(t, dup, "%s claimed by %d and by the last claimer", p.Reference, prev)
		owner[p.Reference] = claimers
	}
	require.Len(t, owner, n, "some due payments were never claimed")
}

func testReleasePoll(t *testing.T, s bridge.Store) {
	const lease = 30 * time.Second
	tests := []struct {
		name  string
		owner string
		next  time.Time
		// claimedAt and notClaimedAt are times after base at which the
		// payment is, and is not, claimed again.
		claimedAt    []time.Duration
		notClaimedAt []time.Duration
		wantNext     bool
	}{
		{"owner frees the lease and schedules the next poll", "r1", base.Add(5 * time.Second),
			[]time.Duration{5 * time.Second}, []time.Duration{4 * time.Second}, true},
		{"zero stops polling", "r1", time.Time{},
			nil, []time.Duration{time.Second, 365 * 24 * time.Hour}, true},
		{"another owner cannot free the lease", "r2", base.Add(time.Second),
			[]time.Duration{lease + time.Second}, []time.Duration{2 * time.Second}, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			prefix := fmt.Sprintf("KCO-%d", i)
			p := newPayment(prefix+"-1", "unit-a", prefix, 1)
			p.NextPollAt = base
			mustInsert(t, s, p)
			ps, err := s.ClaimDuePolls(ctx, base, "r1", lease, 1)
			require.NoError(t, err)
			require.Equal(t, []string{p.Reference}, references(ps))

			require.NoError(t, s.ReleasePoll(ctx, p.Reference, tt.owner, tt.next))
			got := mustPayment(t, s, p.Reference)
			require.Equal(t, p.Version, got.Version, "ReleasePoll changed the version")
			requireTimeEqual(t, "UpdatedAt", p.UpdatedAt, got.UpdatedAt)
			if tt.wantNext {
				requireTimeEqual(t, "NextPollAt", tt.next, got.NextPollAt)
			}

			// Other cases' payments may be claimed too; only this one counts.
			for _, d := range tt.notClaimedAt {
				ps, err := s.ClaimDuePolls(ctx, base.Add(d), "r3", lease, 10)
				require.NoError(t, err)
				require.NotContains(t, references(ps), p.Reference, "claimed at base+%s", d)
			}
			for _, d := range tt.claimedAt {
				ps, err := s.ClaimDuePolls(ctx, base.Add(d), "r3", lease, 10)
				require.NoError(t, err)
				require.Contains(t, references(ps), p.Reference, "not claimed at base+%s", d)
			}
		})
	}
}

// testPollSoon: a wish to read a payment makes its poll due now, but never
// sooner than the gap after its last claimed read, never later than it is
// already due, and a release by the poller reading it keeps an ask made
// during the read.
func testPollSoon(t *testing.T, s bridge.Store) {
	const gap = 2 * time.Second
	ctx := t.Context()
	require.ErrorIs(t, s.PollSoon(ctx, "KCO-none-1", base, gap, "webhook"), bridge.ErrNotFound)
	insert := func(t *testing.T, ref string, next time.Time) *bridge.Payment {
		p := newPayment(ref+"-1", "unit-a", ref, 1)
		p.NextPollAt = next
		mustInsert(t, s, p)
		return p
	}
	next := func(t *testing.T, ref string) time.Time { return mustPayment(t, s, ref).NextPollAt }
	claim := func(t *testing.T, at time.Time, ref string) *bridge.Payment {
		ps, err := s.ClaimDuePolls(ctx, at, "r1", time.Minute, 100)
		require.NoError(t, err)
		for _, p := range ps {
			if p.Reference == ref {
				return p
			}
		}
		t.Fatalf("%s not claimed at %s", ref, at)
		return nil
	}

	t.Run("never read: due now", func(t *testing.T) {
		p := insert(t, "KCO-soon-a", base.Add(10*time.Minute))
		require.NoError(t, s.PollSoon(ctx, p.Reference, base, gap, "webhook"))
		requireTimeEqual(t, "NextPollAt", base, next(t, p.Reference))
	})
	t.Run("no more polls: due now", func(t *testing.T) {
		p := insert(t, "KCO-soon-b", time.Time{})
		require.NoError(t, s.PollSoon(ctx, p.Reference, base, gap, "webhook"))
		requireTimeEqual(t, "NextPollAt", base, next(t, p.Reference))
	})
	t.Run("due sooner already: unchanged", func(t *testing.T) {
		p := insert(t, "KCO-soon-c", base.Add(-time.Second))
		require.NoError(t, s.PollSoon(ctx, p.Reference, base, gap, "webhook"))
		requireTimeEqual(t, "NextPollAt", base.Add(-time.Second), next(t, p.Reference))
	})
	t.Run("read just now: due a gap after the read", func(t *testing.T) {
		p := insert(t, "KCO-soon-d", base)
		claim(t, base, p.Reference)
		require.NoError(t, s.ReleasePoll(ctx, p.Reference, "r1", base.Add(10*time.Minute)))
		require.NoError(t, s.PollSoon(ctx, p.Reference, base.Add(500*time.Millisecond), gap, "webhook"))
		requireTimeEqual(t, "NextPollAt", base.Add(gap), next(t, p.Reference))
		ps, err := s.ClaimDuePolls(ctx, base.Add(gap-time.Millisecond), "r2", time.Minute, 100)
		require.NoError(t, err)
		require.NotContains(t, references(ps), p.Reference, "read again within the gap")
	})
	t.Run("asked during a read: the release keeps it", func(t *testing.T) {
		p := insert(t, "KCO-soon-e", base)
		claim(t, base, p.Reference)
		require.NoError(t, s.PollSoon(ctx, p.Reference, base.Add(300*time.Millisecond), gap, "webhook"))
		require.NoError(t, s.ReleasePoll(ctx, p.Reference, "r1", base.Add(10*time.Minute)))
		requireTimeEqual(t, "NextPollAt", base.Add(gap), next(t, p.Reference))
		// The next read is the answer to that ask, and says who asked;
		// after it the poller's own schedule holds again.
		require.Equal(t, "webhook", claim(t, base.Add(gap), p.Reference).ReadAskedBy)
		require.NoError(t, s.ReleasePolls(ctx, "r1", []bridge.PollRelease{{Reference: p.Reference, Next: base.Add(10 * time.Minute)}}))
		requireTimeEqual(t, "NextPollAt", base.Add(10*time.Minute), next(t, p.Reference))
	})
	t.Run("asked during a read, release sooner: the release's", func(t *testing.T) {
		p := insert(t, "KCO-soon-f", base)
		claim(t, base, p.Reference)
		require.NoError(t, s.PollSoon(ctx, p.Reference, base.Add(300*time.Millisecond), gap, "webhook"))
		require.NoError(t, s.ReleasePolls(ctx, "r1", []bridge.PollRelease{{Reference: p.Reference, Next: base.Add(time.Second)}}))
		requireTimeEqual(t, "NextPollAt", base.Add(time.Second), next(t, p.Reference))
	})
	t.Run("asked during a read made after its claim: due a gap after the read", func(t *testing.T) {
		// A batch's reads start over a second after its claim: the ask
		// counted its gap from the claim, the release counts it from the
		// read, and so does an ask made after the release.
		p := insert(t, "KCO-soon-h", base)
		claim(t, base, p.Reference)
		require.NoError(t, s.PollSoon(ctx, p.Reference, base.Add(10*time.Millisecond), gap, "webhook"))
		read := base.Add(700 * time.Millisecond)
		require.NoError(t, s.ReleasePolls(ctx, "r1", []bridge.PollRelease{{Reference: p.Reference, Next: base.Add(10 * time.Minute), Read: read, Gap: gap}}))
		requireTimeEqual(t, "NextPollAt", read.Add(gap), next(t, p.Reference))
		require.NoError(t, s.PollSoon(ctx, p.Reference, base.Add(time.Second), gap, "status"))
		requireTimeEqual(t, "NextPollAt", read.Add(gap), next(t, p.Reference))
		ps, err := s.ClaimDuePolls(ctx, read.Add(gap-time.Millisecond), "r2", time.Minute, 100)
		require.NoError(t, err)
		require.NotContains(t, references(ps), p.Reference, "read again within the gap after the read")
		require.Equal(t, "status", claim(t, read.Add(gap), p.Reference).ReadAskedBy, "the next read answers the asks")
		require.NoError(t, s.ReleasePolls(ctx, "r1", []bridge.PollRelease{{Reference: p.Reference, Next: read.Add(time.Hour), Read: read.Add(gap + 50*time.Millisecond), Gap: gap}}))
	})
	t.Run("asked during a slow read, released twice: the ask holds", func(t *testing.T) {
		// The read was answered more than a gap after its claim, and the
		// release landed twice (a retry after its answer was lost): the
		// ask is still due a gap after the read, and still says who asked.
		// A release that comes late never moves the last read back.
		p := insert(t, "KCO-soon-i", base)
		claim(t, base, p.Reference)
		require.NoError(t, s.PollSoon(ctx, p.Reference, base.Add(100*time.Millisecond), gap, "webhook"))
		read := base.Add(3 * time.Second)
		release := []bridge.PollRelease{{Reference: p.Reference, Next: time.Time{}, Read: read, Gap: gap}}
		require.NoError(t, s.ReleasePolls(ctx, "r1", release))
		require.NoError(t, s.ReleasePolls(ctx, "r1", release))
		requireTimeEqual(t, "NextPollAt", read.Add(gap), next(t, p.Reference))
		require.NoError(t, s.ReleasePolls(ctx, "r1", []bridge.PollRelease{{Reference: p.Reference, Next: time.Time{}, Read: base.Add(time.Second), Gap: gap}}))
		requireTimeEqual(t, "NextPollAt", read.Add(gap), next(t, p.Reference))
		require.NoError(t, s.PollSoon(ctx, p.Reference, read.Add(500*time.Millisecond), gap, "status"))
		requireTimeEqual(t, "NextPollAt", read.Add(gap), next(t, p.Reference))
		require.Equal(t, "status", claim(t, read.Add(gap), p.Reference).ReadAskedBy, "the asks are answered by the next read")
		require.NoError(t, s.ReleasePolls(ctx, "r1", []bridge.PollRelease{{Reference: p.Reference, Next: time.Time{}, Read: read.Add(gap + 10*time.Millisecond), Gap: gap}}))
		require.True(t, next(t, p.Reference).IsZero(), "answered: no more polls, as the release said")
	})
	t.Run("asked before the read: answered by it", func(t *testing.T) {
		p := insert(t, "KCO-soon-g", base.Add(time.Hour))
		require.NoError(t, s.PollSoon(ctx, p.Reference, base, gap, "status"))
		got, err := s.ClaimDuePoll(ctx, p.Reference, base, "r1", time.Minute)
		require.NoError(t, err)
		require.NotNil(t, got)
		require.Equal(t, "status", got.ReadAskedBy)
		again, err := s.ClaimDuePoll(ctx, p.Reference, base, "r2", time.Minute)
		require.NoError(t, err)
		require.Nil(t, again, "claimed twice while the lease holds")
		require.NoError(t, s.ReleasePoll(ctx, p.Reference, "r1", base.Add(10*time.Minute)))
		requireTimeEqual(t, "NextPollAt", base.Add(10*time.Minute), next(t, p.Reference))
		// Answered: the poller's next read is its own.
		require.Empty(t, claim(t, base.Add(10*time.Minute), p.Reference).ReadAskedBy)
		_, err = s.ClaimDuePoll(ctx, "KCO-none-1", base, "r1", time.Minute)
		require.ErrorIs(t, err, bridge.ErrNotFound)
	})
}

// testReleasePolls releases a batch in one call: each payment gets its own
// next poll (zero: none), the leases are freed, an unknown reference is
// skipped, and no version changes.
func testReleasePolls(t *testing.T, s bridge.Store) {
	ctx := t.Context()
	var ps []*bridge.Payment
	for i := range 3 {
		p := newPayment(fmt.Sprintf("KCO-rel-%d-1", i), "unit-a", fmt.Sprintf("KCO-rel-%d", i), 1)
		p.NextPollAt = base
		mustInsert(t, s, p)
		ps = append(ps, p)
	}
	claimed, err := s.ClaimDuePolls(ctx, base, "r1", time.Minute, 10)
	require.NoError(t, err)
	require.ElementsMatch(t, references(ps), references(claimed))
	require.NoError(t, s.ReleasePolls(ctx, "r1", []bridge.PollRelease{
		{Reference: ps[0].Reference, Next: base.Add(2 * time.Second)},
		{Reference: "KCO-unknown-1", Next: base},
		{Reference: ps[1].Reference, Next: time.Time{}},
		{Reference: ps[2].Reference, Next: base.Add(time.Hour)},
	}))
	got := mustPayment(t, s, ps[0].Reference)
	requireTimeEqual(t, "NextPollAt", base.Add(2*time.Second), got.NextPollAt)
	require.Equal(t, ps[0].Version, got.Version)
	require.True(t, mustPayment(t, s, ps[1].Reference).NextPollAt.IsZero())
	requireTimeEqual(t, "NextPollAt", base.Add(time.Hour), mustPayment(t, s, ps[2].Reference).NextPollAt)
	// The leases are free: the first is claimed again when due.
	again, err := s.ClaimDuePolls(ctx, base.Add(2*time.Second), "r2", time.Minute, 10)
	require.NoError(t, err)
	require.Equal(t, []string{ps[0].Reference}, references(again))
	require.NoError(t, s.ReleasePolls(ctx, "r2", nil))
}
