package settlement

import (
	"cmp"
	"math"
	"slices"
	"strings"
)

// txSums are a settlement's transactions summed as Check sums them.
type txSums struct {
	n                                int
	capture, refund, gross, fee, net sum
}

func (s *txSums) add(t *Transaction) {
	s.n++
	if t.Kind == KindRefund {
		s.refund.add(t.Gross)
	} else {
		s.capture.add(t.Gross)
	}
	s.gross.add(t.Gross)
	s.fee.add(t.Fee)
	s.net.add(t.Net)
}

// check is Report.Check for a settlement whose transactions are gone: it
// checks a copy that has, for transactions, one capture and one refund
// with the same sums. A sum that overflowed (billions of maximal amounts)
// is reported as such.
func (s *txSums) check(set *Settlement) []Problem {
	var problems []Problem
	for _, x := range []struct {
		t    Total
		s    sum
		name string
	}{{TotalCapture, s.capture, "captures"}, {TotalRefund, s.refund, "refunds"}, {TotalGross, s.gross, "transactions' gross"},
		{TotalFee, s.fee, "fees"}, {TotalNet, s.net, "transactions' net"}} {
		if x.s.overflow {
			problems = append(problems, Problem{SettlementID: set.ID, Line: set.Line, Total: x.t,
				Reason: "sum of the " + x.name + " overflows int64"})
		}
	}
	if len(problems) > 0 {
		return problems
	}
	c := *set
	c.Transactions = []Transaction{
		{Kind: KindCapture, Gross: s.capture.v, Fee: s.fee.v, Net: s.net.v},
		{Kind: KindRefund, Gross: s.refund.v},
	}
	return (&Report{Settlements: []Settlement{c}}).Check()
}

// txSeen finds a transaction id seen twice in one settlement with 16 bytes
// a transaction: ids of up to 17 digits (Vipps uses 10) are kept as
// numbers, others in a list, and the check sorts them at the end.
type txSeen struct {
	ids   []seenID
	names []string
}

type seenID struct {
	id   uint64 // digits<<57 | value, or 1<<63 | position in names
	set  uint32
	line uint32 // 1<<31 set: attached at the end
}

func (x *txSeen) add(set int, id string, line int, late bool) {
	e := seenID{set: uint32(set), line: uint32(min(line, math.MaxInt32))}
	if late {
		e.line |= 1 << 31
	}
	if v, ok := digits(id); ok {
		e.id = v
	} else {
		e.id = 1<<63 | uint64(len(x.names))
		x.names = append(x.names, id)
	}
	x.ids = append(x.ids, e)
}

// digits is an id of 1 to 17 decimal digits as a number that also keeps
// its length ("007" is not "7").
func digits(s string) (uint64, bool) {
	if len(s) == 0 || len(s) > 17 {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return uint64(len(s))<<57 | v, true
}

type duplicateID struct {
	set         int
	id          string
	line, first int
}

// duplicate finds the id ParseCSV would report first: the second reading
// of an id in a settlement that comes first in the order transactions were
// attached (in file order, then the late ones in file order).
func (x *txSeen) duplicate() (duplicateID, bool) {
	slices.SortFunc(x.ids, func(a, b seenID) int {
		if c := cmp.Compare(a.set, b.set); c != 0 {
			return c
		}
		if c := x.cmpID(a, b); c != 0 {
			return c
		}
		return cmp.Compare(a.line, b.line)
	})
	var d duplicateID
	var at uint32
	found := false
	for i := 1; i < len(x.ids); i++ {
		a, b := x.ids[i-1], x.ids[i]
		if a.set != b.set || x.cmpID(a, b) != 0 {
			continue
		}
		if p := i - 2; p >= 0 && x.ids[p].set == a.set && x.cmpID(x.ids[p], a) == 0 {
			continue // a third reading; the second was seen already
		}
		if !found || b.line < at {
			found, at = true, b.line
			d = duplicateID{set: int(a.set), id: x.name(a), line: int(b.line &^ (1 << 31)), first: int(a.line &^ (1 << 31))}
		}
	}
	x.ids, x.names = nil, nil
	return d, found
}

func (x *txSeen) cmpID(a, b seenID) int {
	if a.id>>63 == 0 || b.id>>63 == 0 {
		return cmp.Compare(a.id, b.id)
	}
	return strings.Compare(x.names[a.id&^(1<<63)], x.names[b.id&^(1<<63)])
}

// name is the id as the file wrote it.
func (x *txSeen) name(e seenID) string {
	if e.id>>63 != 0 {
		return x.names[e.id&^(1<<63)]
	}
	n, v := int(e.id>>57), e.id&(1<<57-1)
	b := make([]byte, n)
	for i := n - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b)
}
