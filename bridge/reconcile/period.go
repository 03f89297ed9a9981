package reconcile

import "slices"

// inPeriod reports whether ledger date d is within Config.From..To. A
// thing without a date is kept: it cannot be placed in any other period.
func (e *engine) inPeriod(d string) bool {
	if d == "" {
		return true
	}
	return (e.cfg.From == "" || d >= e.cfg.From) && (e.cfg.To == "" || d <= e.cfg.To)
}

// ownsLines reports whether a match of lines (those of them in state st)
// without movements is the period's: by its earliest line's ledger date.
func (e *engine) ownsLines(lines []int32, st uint8) bool {
	if !e.period {
		return true
	}
	first := ""
	for _, i := range lines {
		if d := e.book(i).date; e.lineState[i] == st && (first == "" || d < first) {
			first = d
		}
	}
	return e.inPeriod(first)
}

// keepPeriod drops from the Result what is not the period's: matches
// marked by ownMatches, exceptions, days and payouts dated outside it, and
// pending movements of a ledger date outside it. Everything was matched
// on the whole input first, so what crosses the period's edge is matched
// the same way in the run of either side; then each thing is reported in
// exactly one period.
func (e *engine) keepPeriod() {
	r := e.res
	r.Matches = slices.DeleteFunc(r.Matches, func(m Match) bool { return m.Pass == "" })
	r.Exceptions = slices.DeleteFunc(r.Exceptions, func(x Exception) bool { return !e.inPeriod(x.Date) })
	r.Pending = slices.DeleteFunc(r.Pending, func(p Pending) bool {
		return !e.inPeriod(p.At.In(e.loc).Format("2006-01-02"))
	})
	r.Days = slices.DeleteFunc(r.Days, func(d DaySummary) bool { return !e.inPeriod(d.Date) })
	r.Payouts = slices.DeleteFunc(r.Payouts, func(p PayoutSummary) bool { return !e.inPeriod(p.Date) })
}
