package finance

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"vippskco/bridge"
	"vippskco/bridge/reconcile"
)

// The field limits of a settlement import, whatever its source (a Vipps
// CSV, XLSX or XML report, a Kustom CSV, the Report and Settlements APIs).
// They are far above real data: Vipps references are at most 50
// characters and pspReferences, Kustom order ids (UUIDs), capture and
// refund ids and payment references a few dozen; a file name is a line of
// text. A field over its limit refuses the import with an error naming the
// line and the field: ids are matching keys, and are never truncated.
const (
	// MaxIDLen bounds ids and codes: references, transaction ids, payout
	// ids, MSNs, currencies, dates.
	MaxIDLen = 256
	// MaxTextLen bounds free text: the source's name. A warning, which is
	// our own text quoting the file, is cut to it instead.
	MaxTextLen = 1024
	// maxKeyLen bounds a line's key, which joins several ids.
	maxKeyLen = 8 * MaxIDLen
	// MaxCSVRecord bounds one record of a CSV file (a line, or the lines
	// of one record with quoted line breaks). A longer one is refused as
	// it is read, before it is held in memory.
	MaxCSVRecord = 64 << 10
)

// fieldTooLong is the error of a field over its limit.
func fieldTooLong(where, field string, n, limit int) error {
	return bridge.Errorf(bridge.ECodeInvalid, "field_too_long",
		"%s: %s is %d bytes long, more than the %d a settlement import takes", where, field, n, limit)
}

// checkLine checks the fields of a line against their limits.
func checkLine(l *reconcile.Line) error {
	where := fmt.Sprintf("%.*s line %d", MaxTextLen, l.Source, l.SourceLine)
	for _, f := range []struct {
		name  string
		v     string
		limit int
	}{
		{"the reference (order id)", l.Reference, MaxIDLen},
		{"the transaction id (pspReference, capture or refund id)", l.PSPReference, MaxIDLen},
		{"the MSN", l.MSN, MaxIDLen},
		{"the currency", l.Currency, MaxIDLen},
		{"the payout id (settlement id, payment reference)", l.PayoutID, MaxIDLen},
		{"the date", l.LedgerDate, MaxIDLen},
		{"the kind", string(l.Kind), MaxIDLen},
		{"the source name", l.Source, MaxTextLen},
		{"the key (the transaction type and ids)", l.Key, maxKeyLen},
	} {
		if len(f.v) > f.limit {
			return fieldTooLong(where, f.name, len(f.v), f.limit)
		}
	}
	return nil
}

// checkPayout checks the fields of a payout against their limits.
func checkPayout(p *reconcile.Payout) error {
	where := fmt.Sprintf("%.*s payout %.*s", MaxTextLen, p.Source, MaxIDLen, p.ID)
	for _, f := range []struct {
		name  string
		v     string
		limit int
	}{
		{"the payout id", p.ID, MaxIDLen},
		{"the MSN", p.MSN, MaxIDLen},
		{"the date", p.Date, MaxIDLen},
		{"the first date", p.From, MaxIDLen},
		{"the payout it repeats", p.SameAs, MaxIDLen},
		{"the currency", p.Currency, MaxIDLen},
		{"the source name", p.Source, MaxTextLen},
	} {
		if len(f.v) > f.limit {
			return fieldTooLong(where, f.name, len(f.v), f.limit)
		}
	}
	return nil
}

// importSettlement hands imp to the store with every line and payout
// checked against the field limits, and its warnings cut to MaxTextLen:
// the one way an import of any source reaches the store. A line over a
// limit ends a streamed import (which then stores nothing) with the
// error.
func (s *Service) importSettlement(ctx context.Context, imp *bridge.SettlementImport) (bridge.ImportResult, error) {
	if len(imp.Source) > MaxTextLen {
		return bridge.ImportResult{}, fieldTooLong("the import", "the source name", len(imp.Source), MaxTextLen)
	}
	check := func() error {
		for i := range imp.Payouts {
			if err := checkPayout(&imp.Payouts[i]); err != nil {
				return err
			}
		}
		for i, w := range imp.Warnings {
			if len(w) > MaxTextLen {
				imp.Warnings[i] = w[:MaxTextLen] + "…"
			}
		}
		return nil
	}
	for i := range imp.Lines {
		if err := checkLine(&imp.Lines[i]); err != nil {
			return bridge.ImportResult{}, err
		}
	}
	if imp.Stream == nil {
		if err := check(); err != nil {
			return bridge.ImportResult{}, err
		}
		return s.Store.ImportSettlement(ctx, imp)
	}
	inner := imp.Stream
	imp.Stream = func(yield func(reconcile.Line, error) bool) {
		ok := true
		inner(func(l reconcile.Line, err error) bool {
			if err == nil {
				err = checkLine(&l)
			}
			if err != nil {
				ok = false
				yield(reconcile.Line{}, err)
				return false
			}
			ok = yield(l, nil)
			return ok
		})
		// The payouts and warnings are complete once the lines are.
		if ok {
			if err := check(); err != nil {
				yield(reconcile.Line{}, err)
			}
		}
	}
	return s.Store.ImportSettlement(ctx, imp)
}

// csvRecordGuard refuses a CSV stream, as it is read, at a record longer
// than max bytes: it counts the bytes since the last line break outside
// quotes (a quote toggles, so an escaped "" toggles twice).
type csvRecordGuard struct {
	r      io.Reader
	max    int
	run    int
	lines  int // the line breaks read
	start  int // the line breaks before the record being read
	quoted bool
	source string
}

func (g *csvRecordGuard) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	b := p[:n]
	for len(b) > 0 {
		i := bytes.IndexAny(b, "\"\n")
		if i < 0 {
			g.run += len(b)
			break
		}
		g.run += i + 1
		if b[i] == '"' {
			g.quoted = !g.quoted
		} else if g.lines++; !g.quoted {
			g.start, g.run = g.lines, 0
		}
		if g.run > g.max {
			break
		}
		b = b[i+1:]
	}
	if g.run > g.max {
		return 0, bridge.Errorf(bridge.ECodeInvalid, "record_too_long",
			"%.*s line %d: a record of more than %d KiB; no settlement record is that long", MaxTextLen, g.source, g.start+1, g.max>>10)
	}
	return n, err
}
