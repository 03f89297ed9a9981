package reconcile

import "slices"

// matchUnits matches one reference's movements and lines of one provider
// and currency per sales unit: a reference settled under two MSNs is two
// payments. A line or movement with no MSN is of an unknown unit and joins
// the unit of the other side's item with its pspReference, or else the
// first unit (in MSN order) the other side has, or else the first unit.
// The common case, one unit, is one run as it is.
func (e *engine) matchUnits(rm, rl []int32) {
	e.run.msn = ""
	first, several := "", false
	note := func(msn string) {
		switch {
		case msn == "" || msn == first:
		case first == "":
			first = msn
		default:
			several = true
		}
	}
	for _, j := range rm {
		if note(e.ms[j].MSN); several {
			break
		}
	}
	for k := 0; k < len(rl) && !several; k++ {
		note(e.attrs(rl[k]).msn)
	}
	if !several {
		e.matchRun(rm, rl)
		return
	}

	// A line read twice is one line whatever unit it says, so duplicates
	// are found before the split; matchRun finds none left.
	kept := make([]int32, 0, len(rl))
	prev := int32(-1)
	for _, i := range rl {
		if prev >= 0 && e.key(prev) == e.key(i) {
			e.duplicateKey(i, prev)
			continue
		}
		prev = i
		kept = append(kept, i)
	}
	rl = kept

	var movUnits, lineUnits []string
	for _, j := range rm {
		if u := e.ms[j].MSN; u != "" {
			movUnits = append(movUnits, u)
		}
	}
	for _, i := range rl {
		if u := e.attrs(i).msn; u != "" {
			lineUnits = append(lineUnits, u)
		}
	}
	slices.Sort(movUnits)
	slices.Sort(lineUnits)
	movUnits, lineUnits = slices.Compact(movUnits), slices.Compact(lineUnits)
	units := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(movUnits), lineUnits...))))

	// Each movement's and line's unit, by position in rm and rl.
	mu, lu := make([]string, len(rm)), make([]string, len(rl))
	for k, j := range rm {
		mu[k] = e.ms[j].MSN
	}
	for k, i := range rl {
		lu[k] = e.attrs(i).msn
	}
	for k, j := range rm {
		if mu[k] != "" {
			continue
		}
		if psp := e.ms[j].PSPReference; psp != "" {
			for x, i := range rl {
				if lu[x] != "" && e.psp(i) == psp {
					mu[k] = lu[x]
					break
				}
			}
		}
		if mu[k] == "" {
			mu[k] = firstOf(lineUnits, units)
		}
	}
	for k, i := range rl {
		if lu[k] != "" {
			continue
		}
		if psp := e.psp(i); psp != "" {
			for x, j := range rm {
				if e.ms[j].MSN != "" && e.ms[j].PSPReference == psp {
					lu[k] = mu[x]
					break
				}
			}
		}
		if lu[k] == "" {
			lu[k] = firstOf(movUnits, units)
		}
	}

	var sm, sl []int32
	for _, u := range units {
		sm, sl = sm[:0], sl[:0]
		for k, j := range rm {
			if mu[k] == u {
				sm = append(sm, j)
			}
		}
		for k, i := range rl {
			if lu[k] == u {
				sl = append(sl, i)
			}
		}
		if len(sm) == 0 && len(sl) == 0 {
			continue
		}
		e.run.msn = u
		e.matchRun(sm, sl)
	}
	e.run.msn = ""
}

// firstOf is the first of units, or of all when units is empty.
func firstOf(units, all []string) string {
	if len(units) > 0 {
		return units[0]
	}
	return all[0]
}
