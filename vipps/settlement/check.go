package settlement

import (
	"fmt"
	"math"
)

// Problem is one way a settlement does not add up.
type Problem struct {
	SettlementID string
	Line         int   // the settlement's Line
	Total        Total // the total that disagrees
	Stated       int64 // what the file states
	Computed     int64 // what the transactions, or the other totals, give
	Reason       string
}

func (p Problem) String() string {
	return fmt.Sprintf("settlement %s (line %d): %s: stated %s, computed %s: %s",
		p.SettlementID, p.Line, p.Total, formatMinor(p.Stated), formatMinor(p.Computed), p.Reason)
}

// Check compares each settlement's stated totals with its transactions and
// with each other, by the XML v3 rules: Capture and Refund are the sums of the
// captures and refunds, Gross = Capture + Refund, Fee is the sum of the fees,
// Net = Gross - Fee, and SettledAmount is Net for a net settlement and Gross for
// a gross one. Only the totals the file states are compared. It returns an
// empty slice when everything adds up.
func (r *Report) Check() []Problem {
	problems := []Problem{}
	for i := range r.Settlements {
		s := &r.Settlements[i]
		var capture, refund, gross, fee, net sum
		for _, t := range s.Transactions {
			if t.Kind == KindRefund {
				refund.add(t.Gross)
			} else {
				capture.add(t.Gross)
			}
			gross.add(t.Gross)
			fee.add(t.Fee)
			net.add(t.Net)
		}
		add := func(total Total, stated int64, computed sum, reason string) {
			if computed.overflow {
				problems = append(problems, Problem{SettlementID: s.ID, Line: s.Line, Total: total,
					Stated: stated, Reason: reason + " overflows int64"})
			} else if stated != computed.v {
				problems = append(problems, Problem{SettlementID: s.ID, Line: s.Line, Total: total,
					Stated: stated, Computed: computed.v, Reason: reason})
			}
		}
		has := s.Stated.Has
		if has(TotalCapture) {
			add(TotalCapture, s.Capture, capture, "sum of the captures")
		}
		if has(TotalRefund) {
			add(TotalRefund, s.Refund, refund, "sum of the refunds")
		}
		if has(TotalGross) {
			add(TotalGross, s.Gross, gross, "sum of the transactions' gross")
			if has(TotalCapture | TotalRefund) {
				add(TotalGross, s.Gross, sumOf(s.Capture, s.Refund), "stated Capture + Refund")
			}
		}
		if has(TotalFee) {
			add(TotalFee, s.Fee, fee, "sum of the fees")
		}
		if has(TotalNet) {
			add(TotalNet, s.Net, net, "sum of the transactions' net")
			if has(TotalGross | TotalFee) {
				add(TotalNet, s.Net, sumOf(s.Gross, -s.Fee), "stated Gross - Fee")
			}
		}
		if has(TotalSettled) {
			switch s.Type {
			case TypeNet:
				if has(TotalNet) {
					add(TotalSettled, s.Settled, sumOf(s.Net), "a net settlement pays out the stated Net")
				} else {
					add(TotalSettled, s.Settled, net, "a net settlement pays out the transactions' net")
				}
			case TypeGross:
				if has(TotalGross) {
					add(TotalSettled, s.Settled, sumOf(s.Gross), "a gross settlement settles the stated Gross")
				} else {
					add(TotalSettled, s.Settled, gross, "a gross settlement settles the transactions' gross")
				}
			}
		}
	}
	return problems
}

// sum adds int64 amounts and remembers an overflow instead of wrapping.
// Parsed amounts are bounded by MaxAmount, so only a file of billions of
// maximal amounts, or a Report built by hand, can overflow.
type sum struct {
	v        int64
	overflow bool
}

func (s *sum) add(x int64) {
	if (x > 0 && s.v > math.MaxInt64-x) || (x < 0 && s.v < math.MinInt64-x) {
		s.overflow = true
	}
	s.v += x
}

func sumOf(xs ...int64) sum {
	var s sum
	for _, x := range xs {
		s.add(x)
	}
	return s
}
