package bridge

import (
	"cmp"
	"iter"
	"time"

	"vippskco/bridge/reconcile"
)

// SettlementImport is one file or one API pull.
//
// Its lines are Lines followed by what Stream yields. An API pull, whose
// lines are few, sets Lines; a file import sets Stream, which parses the
// file as the store drains it, so that no more than a batch of lines is in
// memory whatever the size of the file. The store reads Hash, Payouts and
// Warnings only once every line is drained: a streaming parser fills them
// in as it goes (the hash of the bytes it read, the payouts of the
// settlements it closed).
type SettlementImport struct {
	Provider reconcile.Provider
	Source   string
	// Hash is the SHA-256 of the file, or of the API pages, hex.
	Hash  string
	Lines []reconcile.Line
	// Stream, when set, yields the lines after Lines. An error it yields
	// ends the import, and nothing of it is kept. It is ranged over once:
	// a store must not replay it.
	Stream   iter.Seq2[reconcile.Line, error]
	Payouts  []reconcile.Payout
	Warnings []string
}

// AllLines yields Lines and then the lines of Stream.
func (imp *SettlementImport) AllLines() iter.Seq2[reconcile.Line, error] {
	return func(yield func(reconcile.Line, error) bool) {
		for _, l := range imp.Lines {
			if !yield(l, nil) {
				return
			}
		}
		if imp.Stream == nil {
			return
		}
		for l, err := range imp.Stream {
			if !yield(l, err) || err != nil {
				return
			}
		}
	}
}

// SettlementBatch is how many lines a store writes at a time while it
// drains an import: small enough that a batch costs little memory and
// holds a write lock briefly, large enough that a million lines take a
// few hundred round trips.
const SettlementBatch = 5000

// ImportResult says what an import changed.
type ImportResult struct {
	NewLines        int  `json:"new_lines"`
	KnownLines      int  `json:"known_lines"`
	NewPayouts      int  `json:"new_payouts"`
	ClosedLines     int  `json:"closed_lines"`
	AlreadyImported bool `json:"already_imported"`
}

// Movement is money we know moved at Vipps: a successful CAPTURED or
// REFUNDED event of one of our payments.
type Movement struct {
	Reference    string
	KCOOrderID   string
	Unit         string
	Kind         string // capture or refund
	PSPReference string
	Amount       int64
	Currency     string
	At           time.Time
}

// PayoutLines counts, per payout id of an import's lines, its lines and
// those already stored under another payout id: the evidence that a payout
// read from a second source (the Report API and a portal file name one
// payout by different ids) is one already stored. Both stores keep one per
// import.
type PayoutLines map[string]*payoutCount

type payoutCount struct {
	total     int
	elsewhere map[string]int
}

// Count adds n incoming lines of payout incoming that are stored already
// under payout stored ("" for lines new to the store, or stored without
// one).
func (pl PayoutLines) Count(incoming, stored string, n int) {
	if incoming == "" {
		return
	}
	p := pl[incoming]
	if p == nil {
		p = &payoutCount{elsewhere: map[string]int{}}
		pl[incoming] = p
	}
	p.total += n
	if stored != "" && stored != incoming {
		p.elsewhere[stored] += n
	}
}

// SameAs is the one other payout id that every incoming line of payout id
// is stored under, or "".
func (pl PayoutLines) SameAs(id string) string {
	p := pl[id]
	if p == nil || len(p.elsewhere) != 1 {
		return ""
	}
	for other, n := range p.elsewhere {
		if n == p.total {
			return other
		}
	}
	return ""
}

// PayoutRepeats is what a payout id stores as its SameAs when its lines are
// all those of the stored payout other (of the same amount and currency),
// which itself repeats otherSameAs ("" for none): the payout stored first,
// so that a chain never forms; "" when other already repeats id.
func PayoutRepeats(id, other, otherSameAs string) string {
	if otherSameAs == id {
		return ""
	}
	return cmp.Or(otherSameAs, other)
}
