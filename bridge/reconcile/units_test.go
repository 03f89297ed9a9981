package reconcile

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func unitOf[T Movement | Line](msn string, v T) T {
	switch x := any(&v).(type) {
	case *Movement:
		x.MSN = msn
	case *Line:
		x.MSN = msn
	}
	return v
}

// Issue 9 case 10: one reference under two MSNs is two payments.
func TestMatchPerMSN(t *testing.T) {
	cfg := Config{Now: t0.Add(240 * time.Hour)}
	for _, c := range []struct {
		name       string
		ms         []Movement
		lines      []Line
		matches    []string
		exceptions []string
	}{
		{
			name: "same reference and amount under two units pair within each unit",
			ms: []Movement{unitOf("A", mv("ma", "ws-1", "", KindCapture, 100)),
				unitOf("B", mv("mb", "ws-1", "", KindCapture, 100))},
			lines: []Line{unitOf("B", ln("lb", "ws-1", "", KindCapture, 100, 0)),
				unitOf("A", ln("la", "ws-1", "", KindCapture, 100, 0))},
			matches: []string{"reference la|ma", "reference lb|mb"},
		},
		{
			name:       "a line of another unit does not settle our capture",
			ms:         []Movement{unitOf("A", mv("ma", "ws-1", "P1", KindCapture, 100))},
			lines:      []Line{unitOf("B", ln("lb", "ws-1", "P1", KindCapture, 100, 0))},
			exceptions: []string{"captured_not_settled |ma", "settled_unknown lb|"},
		},
		{
			name: "the group pass does not sum across units",
			ms: []Movement{unitOf("A", mv("ma1", "ws-1", "", KindCapture, 60)),
				unitOf("A", mv("ma2", "ws-1", "", KindCapture, 40)),
				unitOf("B", mv("mb", "ws-1", "", KindCapture, 50))},
			lines:      []Line{unitOf("A", ln("la", "ws-1", "", KindCapture, 150, 0))},
			exceptions: []string{"amount_mismatch la|ma1,ma2", "captured_not_settled |mb"},
		},
		{
			name: "a line without an MSN joins the unit of the capture with its pspReference",
			ms: []Movement{unitOf("A", mv("ma", "ws-1", "PA", KindCapture, 100)),
				unitOf("B", mv("mb", "ws-1", "PB", KindCapture, 100))},
			lines: []Line{unitOf("", ln("l1", "ws-1", "PB", KindCapture, 100, 0)),
				unitOf("A", ln("l2", "ws-1", "PA", KindCapture, 100, 0))},
			matches: []string{"id l1|mb", "id l2|ma"},
		},
		{
			name:    "a movement without an MSN pairs with a line of any unit",
			ms:      []Movement{unitOf("", mv("m", "ws-1", "", KindCapture, 100))},
			lines:   []Line{unitOf("B", ln("l", "ws-1", "", KindCapture, 100, 0))},
			matches: []string{"reference l|m"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := noErr(Run(cfg, c.ms, c.lines, nil))
			matches, exceptions, _ := describe(r)
			require.Equal(t, c.matches, matches, "matches")
			require.Equal(t, c.exceptions, exceptions, "exceptions")
		})
	}
}

func TestExceptionsNameTheMSN(t *testing.T) {
	cfg := Config{Now: t0.Add(240 * time.Hour)}
	ms := []Movement{unitOf("A", mv("ma", "ws-1", "P1", KindCapture, 100))}
	lines := []Line{unitOf("B", ln("lb", "ws-1", "P1", KindCapture, 100, 0))}
	r := noErr(Run(cfg, ms, lines, nil))
	require.Len(t, r.Exceptions, 2)
	byReason := map[Reason]Exception{}
	for _, x := range r.Exceptions {
		byReason[x.Reason] = x
	}
	require.Equal(t, "A", byReason[ReasonCapturedNotSettled].MSN)
	require.Equal(t, "B", byReason[ReasonSettledUnknown].MSN)
	require.Contains(t, byReason[ReasonSettledUnknown].Detail(), "under MSN B")
}

// Issue 9 case 12: a line that moves no money is informational, never
// settled_unknown, and still in exactly one match.
func TestZeroAmountLinesAreInformational(t *testing.T) {
	cfg := Config{Now: t0.Add(240 * time.Hour)}
	ms := []Movement{mv("m1", "ws-A", "P1", KindCapture, 100)}
	lines := []Line{
		ln("l1", "ws-A", "P1", KindCapture, 100, 0),
		ln("f1", "ws-A", "P1", KindFee, 0, 0),     // a fee of zero joins its capture
		ln("z1", "ws-A", "P1", KindCapture, 0, 0), // ours, under a settled pspReference
		ln("z2", "ws-A", "", KindOther, 0, 0),     // ours, no capture to tie to
		ln("z3", "ws-UNKNOWN", "", KindFee, 0, 0), // a reference we don't hold
		ln("z4", "ws-UNKNOWN", "", KindRefund, 0, 0),
	}
	r := noErr(Run(cfg, ms, lines, nil))
	matches, exceptions, _ := describe(r)
	require.Empty(t, exceptions)
	require.Equal(t, []string{"id f1,l1|m1", "informational z1,z2|", "informational z3,z4|"}, matches)
	for _, m := range r.Matches {
		if m.Pass == PassInformational {
			require.Zero(t, m.Gross)
			require.Zero(t, m.Fee)
		}
	}
	require.Equal(t, 6, r.Days[0].Matched)

	// A line of gross 0 with a fee does move money: the fee.
	r = noErr(Run(cfg, nil, []Line{ln("f", "ws-UNKNOWN", "", KindFee, 0, 3)}, nil))
	require.Len(t, r.Exceptions, 1)
	require.Equal(t, ReasonSettledUnknown, r.Exceptions[0].Reason)
}

// Issue 9 case 12: a line without pspReference equal to one of several
// same-amount captures of one reference settles the earliest (At, then ID).
func TestSameReferencePairsTheEarliestCapture(t *testing.T) {
	cfg := Config{Now: t0.Add(time.Hour)} // nothing is due yet
	// The pspReferences sort the other way round from At and ID.
	late := at(mv("m1", "ws-A", "P1", KindCapture, 100), t0.Add(time.Minute))
	early := at(mv("m9", "ws-A", "P2", KindCapture, 100), t0)
	sameTimeB := mv("mB", "ws-A", "P3", KindCapture, 100)
	sameTimeA := mv("mA", "ws-A", "P4", KindCapture, 100)
	line := ln("l", "ws-A", "", KindCapture, 100, 0)

	r := noErr(Run(cfg, []Movement{late, early}, []Line{line}, nil))
	matches, _, pending := describe(r)
	require.Equal(t, []string{"reference l|m9"}, matches)
	require.Equal(t, []string{"m1"}, pending)

	r = noErr(Run(cfg, []Movement{sameTimeB, sameTimeA}, []Line{line}, nil))
	matches, _, pending = describe(r)
	require.Equal(t, []string{"reference l|mA"}, matches)
	require.Equal(t, []string{"mB"}, pending)
}

// Issue 9 case 9: a service fee names no payment. It is charged to the
// sales unit, counted in its payout, and is no unknown money; a fee line
// of a reference we do not hold still is.
func TestServiceFeeIsTheUnits(t *testing.T) {
	cfg := Config{Now: t0.Add(240 * time.Hour)}
	svc := ln("svc", "", "svc-2025-03", KindFee, 0, 2500)
	svc.PayoutID = "P1"
	capture := ln("cap", "ws-1", "c1", KindCapture, 100000, 0)
	capture.PayoutID = "P1"
	stranger := ln("fee-x", "ws-stranger", "cx", KindFee, 0, 300)
	res := noErr(Run(cfg, []Movement{mv("m1", "ws-1", "c1", KindCapture, 100000)}, []Line{svc, capture, stranger},
		[]Payout{{Provider: Vipps, ID: "P1", MSN: "1", Date: "2025-03-03", Amount: 100000 - 2500, Currency: "NOK"}}))
	var unitFee *Match
	for i := range res.Matches {
		if res.Matches[i].Pass == PassUnitFee {
			unitFee = &res.Matches[i]
		}
	}
	require.NotNil(t, unitFee, "the service fee is matched to its unit")
	require.Equal(t, []string{"svc"}, unitFee.Lines)
	require.Equal(t, int64(2500), unitFee.Fee)
	require.Len(t, res.Exceptions, 1, "only the fee of a payment we do not hold: %+v", res.Exceptions)
	require.Equal(t, ReasonSettledUnknown, res.Exceptions[0].Reason)
	require.Equal(t, int64(-300), res.Exceptions[0].Amount, "an unknown fee is named by what it cost")
	require.Equal(t, "ws-stranger", res.Exceptions[0].Reference)
}
