package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
)

// Status reads are served from what this replica knows (issue 10): a
// change it commits shows at once; a change another replica commits shows
// once the copy is a second old and one read of the store has refreshed
// it in the background; a copy long unread is read again in the request.
func TestStatusReadsServedFromWhatWeKnow(t *testing.T) {
	e := startMain(t, nil, func(m *Main) { m.NoLoops = true })
	ctx := context.Background()
	_, a := e.checkout(e.order(nil).OrderID)
	require.Equal(t, "CREATED", e.status(a.ReturnToken).State)
	e.settle() // the read of the payment the page asked for

	// Another replica ends the payment: we change the store behind this
	// service's back.
	other := func(ref string, to bridge.PaymentState) {
		p, err := e.m.Store.Payment(ctx, ref)
		require.NoError(t, err)
		p.State, p.FailureReason = to, "changed by another replica"
		require.NoError(t, e.m.Store.Commit(ctx, &bridge.Change{Payment: p}))
	}
	other(a.Reference, bridge.StateAborted)
	require.Equal(t, "CREATED", e.status(a.ReturnToken).State, "a copy younger than a second is served as it is")
	e.clock.Advance(1100 * time.Millisecond)
	require.Equal(t, "CREATED", e.status(a.ReturnToken).State, "an older copy is served while one read refreshes it")
	e.settle()
	s := e.status(a.ReturnToken)
	require.Equal(t, "ABORTED", s.State, "the next read shows the other replica's change")
	require.True(t, s.Final)

	// A copy unread for longer than 10 s is not served: the request reads
	// the store.
	_, b := e.checkout(e.order(nil).OrderID)
	require.Equal(t, "CREATED", e.status(b.ReturnToken).State)
	e.settle()
	other(b.Reference, bridge.StateExpired)
	e.clock.Advance(11 * time.Second)
	require.Equal(t, "EXPIRED", e.status(b.ReturnToken).State)

	// A final state is not shown from a copy over a second old: the page
	// stops polling there, and FAILED can still move (a resent create
	// that landed after all).
	_, d := e.checkout(e.order(nil).OrderID)
	require.Equal(t, "CREATED", e.status(d.ReturnToken).State)
	e.settle()
	other(d.Reference, bridge.StateFailed)
	e.clock.Advance(1100 * time.Millisecond)
	e.status(d.ReturnToken) // served from the copy, which a refresh replaces
	e.settle()
	require.Equal(t, "FAILED", e.status(d.ReturnToken).State)
	other(d.Reference, bridge.StateCreated)
	e.clock.Advance(1100 * time.Millisecond)
	require.Equal(t, "CREATED", e.status(d.ReturnToken).State, "the final copy is read again in the request")

	// A change this replica commits (Vipps's webhook, then its read)
	// shows at once, without the clock moving.
	_, c := e.checkout(e.order(nil).OrderID)
	require.Equal(t, "CREATED", e.status(c.ReturnToken).State)
	e.settle()
	e.clock.Advance(2 * time.Second) // the page's read was 2 s ago
	require.NoError(t, e.m.Sandbox.Vipps.Approve(c.Reference))
	e.settle()
	require.Equal(t, bridge.StateAuthorized, e.payment(c.Reference).State)
	s = e.status(c.ReturnToken)
	require.Equal(t, "AUTHORIZED", s.State)
	require.True(t, s.Final)
	require.NotEmpty(t, s.Next)
}
