package reconcile

import (
	"math/rand/v2"
	"strconv"
	"time"
)

// oslo stands in for Europe/Oslo without needing the tz database.
var oslo = time.FixedZone("Oslo", 3600)

var genStart = time.Date(2025, 3, 3, 0, 0, 0, 0, oslo)

// genUnit is a sales unit of the generated merchant.
type genUnit struct {
	msn, currency string
	fee           FeeModel
	gross         bool // gross settlement
}

var genUnits = []genUnit{
	{msn: "123455", currency: "NOK", fee: FeeModel{Bps: 175, Fixed: 100, Tolerance: 1}},
	{msn: "223344", currency: "NOK", fee: FeeModel{Bps: 150, Fixed: 0, Tolerance: 1}},
	{msn: "334455", currency: "DKK", fee: FeeModel{Bps: 125, Fixed: 50, Tolerance: 1}, gross: true},
}

// genPayment records what the generator made for one payment, so that
// tests can plant discrepancies in it.
type genPayment struct {
	ref, kco string
	unit     int
	captures []int // positions in ms
	lines    []int // positions in lines of its capture lines
	refund   int   // position in ms, or -1
	refLine  int   // position in lines of the refund line, or -1
	simple   bool  // one capture, one line with pspReference and inline fee, no refund
	pending  bool  // captured within the settlement delay, no lines yet
}

// dataset is a generated reconciliation input.
type dataset struct {
	cfg      Config
	ms       []Movement
	lines    []Line
	payouts  []Payout
	payments []genPayment
	days     int
	rng      *rand.Rand
	seq      int
	// limit caps the movements made, when not zero; recent makes every
	// payment a recent one, not yet due.
	limit  int
	recent bool
}

func (d *dataset) next(prefix string) string {
	d.seq++
	return prefix + strconv.Itoa(d.seq)
}

// generate makes a balanced input of n payments over days days: every
// payment has 1–3 partial captures, some a partial refund; lines carry the
// unit's model fee, inline or (sometimes a day later) as a separate fee line;
// some lines lack a pspReference and some settle several captures in one
// line; a few payments are too recent to be settled; and Kustom settles some
// orders paid with Klarna. Payouts are made afterwards, per unit and day,
// from the lines, so they balance to the øre.
func generate(seed uint64, n, days int) *dataset {
	d := &dataset{days: days, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	d.cfg = Config{
		Now:         genStart.Add(time.Duration(days+4) * 24 * time.Hour),
		Location:    oslo,
		ExpectedFee: map[string]FeeModel{},
	}
	for _, u := range genUnits {
		d.cfg.ExpectedFee[u.msn] = u.fee
	}
	d.ms = make([]Movement, 0, n*21/10)
	d.lines = make([]Line, 0, n*21/10)
	d.payments = make([]genPayment, 0, n)
	for range n {
		d.payment()
	}
	for range n / 50 {
		d.kustomOrder()
	}
	d.makePayouts()
	return d
}

// generateSized makes exactly movements movements and lines lines over days
// days, for the benchmark: when there are enough lines, the remaining
// movements are recent captures, and the remaining lines are orders Kustom
// settled.
func generateSized(seed uint64, movements, lines, days int) *dataset {
	d := generate(seed, 0, days)
	d.ms = make([]Movement, 0, movements)
	d.lines = make([]Line, 0, lines+16)
	d.limit = movements
	for len(d.ms) < movements && len(d.lines) < lines-8 {
		d.payment()
	}
	d.recent = true
	for len(d.ms) < movements {
		d.payment()
	}
	for len(d.lines) < lines {
		d.kustomOrder()
	}
	d.lines = d.lines[:lines]
	d.makePayouts()
	return d
}

func (d *dataset) payment() {
	r := d.rng
	ui := r.IntN(len(genUnits))
	u := genUnits[ui]
	order := d.next("o")
	ref := "ws-" + order + "-1"
	kco := ref[3 : len(ref)-2]
	p := genPayment{ref: ref, kco: kco, unit: ui, refund: -1, refLine: -1}
	total := 1000 + r.Int64N(500000)
	parts := 1 + r.IntN(3)
	if d.limit > 0 {
		parts = min(parts, d.limit-len(d.ms))
	}
	if r.IntN(100) < 3 || d.recent {
		// Captured in the last hour: not due yet.
		p.pending = true
		parts = 1
	}
	day := r.IntN(d.days)
	at := genStart.Add(time.Duration(day)*24*time.Hour + time.Duration(r.IntN(20*3600))*time.Second)
	if p.pending {
		at = d.cfg.Now.Add(-time.Hour)
	}
	aggregate := parts > 1 && r.IntN(100) < 10
	if aggregate {
		// One settlement line for all captures: they happen the same day.
		at = at.Truncate(24 * time.Hour).Add(time.Duration(d.rng.IntN(3600)) * time.Second)
	}
	left := total
	var aggGross, aggFee int64
	var aggDate string
	for k := range parts {
		amt := left
		if k < parts-1 {
			amt = 1 + r.Int64N(left-int64(parts-k-1))
			if amt > left/2 {
				amt = left / 2
			}
		}
		left -= amt
		psp := d.next("p")
		m := Movement{
			ID: d.next("m"), Provider: Vipps, Reference: ref, KCOOrderID: kco, Unit: "shop-" + u.msn, MSN: u.msn,
			Kind: KindCapture, PSPReference: psp, Amount: amt, Currency: u.currency, At: at,
		}
		p.captures = append(p.captures, len(d.ms))
		d.ms = append(d.ms, m)
		date := at.Format(time.DateOnly)
		fee := u.fee.Expected(amt)
		switch {
		case p.pending:
		case aggregate:
			aggGross += amt
			aggFee += fee
			aggDate = date
		default:
			l := d.line(Vipps, KindCapture, ref, psp, u, amt, fee, date)
			if r.IntN(100) < 10 {
				l.PSPReference = ""
			}
			if r.IntN(100) < 10 {
				// The fee comes as its own line, sometimes a day later.
				l.Fee = 0
				fdate := date
				if r.IntN(2) == 0 {
					fdate = at.Add(24 * time.Hour).Format(time.DateOnly)
				}
				f := d.line(Vipps, KindFee, ref, psp, u, 0, fee, fdate)
				if l.PSPReference == "" {
					f.PSPReference = ""
				}
				d.lines = append(d.lines, f)
			}
			p.lines = append(p.lines, len(d.lines))
			d.lines = append(d.lines, l)
		}
		at = at.Add(time.Duration(r.IntN(30*3600)) * time.Second)
		if aggregate {
			at = m.At.Add(time.Minute)
		}
	}
	if aggregate {
		p.lines = append(p.lines, len(d.lines))
		d.lines = append(d.lines, d.line(Vipps, KindCapture, ref, "", u, aggGross, aggFee, aggDate))
	}
	p.simple = parts == 1 && !p.pending && len(p.lines) == 1 && d.lines[p.lines[0]].PSPReference != "" &&
		d.lines[p.lines[0]].Fee != 0
	if !p.pending && r.IntN(100) < 10 && (d.limit == 0 || len(d.ms) < d.limit) {
		amt := 1 + r.Int64N(total)
		at := d.ms[p.captures[len(p.captures)-1]].At.Add(time.Duration(1+r.IntN(20*3600)) * time.Second)
		psp := d.next("r")
		p.refund = len(d.ms)
		d.ms = append(d.ms, Movement{
			ID: d.next("m"), Provider: Vipps, Reference: ref, KCOOrderID: kco, Unit: "shop-" + u.msn, MSN: u.msn,
			Kind: KindRefund, PSPReference: psp, Amount: amt, Currency: u.currency, At: at,
		})
		p.refLine = len(d.lines)
		d.lines = append(d.lines, d.line(Vipps, KindRefund, ref, psp, u, -amt, 0, at.Format(time.DateOnly)))
		p.simple = false
	}
	d.payments = append(d.payments, p)
}

// line makes a settlement line in the payout of its unit and day.
func (d *dataset) line(p Provider, k Kind, ref, psp string, u genUnit, gross, fee int64, date string) Line {
	return Line{
		Provider: p, Source: "generated", SourceLine: d.seq, Key: d.next("l"), Kind: k, Reference: ref,
		PSPReference: psp, MSN: u.msn, Gross: gross, Fee: fee, Currency: u.currency,
		PayoutID: payoutID(p, u.msn, date), LedgerDate: date,
	}
}

func payoutID(p Provider, msn, date string) string {
	if p == Kustom {
		return "kustom-" + date
	}
	return msn + "-" + date
}

// kustomOrder is an order the shopper paid with Klarna: Kustom settles a
// sale and its fee, sometimes a return.
func (d *dataset) kustomOrder() {
	r := d.rng
	u := genUnit{currency: "NOK"}
	order := d.next("k")
	date := genStart.Add(time.Duration(r.IntN(d.days)) * 24 * time.Hour).Format(time.DateOnly)
	amt := 1000 + r.Int64N(300000)
	capture := d.next("c")
	d.lines = append(d.lines,
		d.line(Kustom, KindSale, order, capture, u, amt, 0, date),
		d.line(Kustom, KindFee, order, capture, u, 0, amt*299/10000, date))
	if r.IntN(10) == 0 {
		d.lines = append(d.lines, d.line(Kustom, KindReturn, order, "", u, -amt/2, 0, date))
	}
}

// makePayouts pays out every payout's lines: their net, or their gross
// (refunds included) for a unit on gross settlement.
func (d *dataset) makePayouts() {
	type acc struct {
		p          Payout
		net, gross int64
	}
	type key struct {
		p       Provider
		cur, id string
	}
	byID := map[key]*acc{}
	var ids []key
	for i := range d.lines {
		l := &d.lines[i]
		k := key{l.Provider, l.Currency, l.PayoutID}
		a := byID[k]
		if a == nil {
			a = &acc{p: Payout{Provider: l.Provider, ID: l.PayoutID, MSN: l.MSN, Date: l.LedgerDate, Currency: l.Currency}}
			for _, u := range genUnits {
				if u.msn == l.MSN {
					a.p.Gross = u.gross
				}
			}
			byID[k] = a
			ids = append(ids, k)
		}
		a.net += l.Gross - feeCost(l)
		if l.LedgerDate > a.p.Date {
			a.p.Date = l.LedgerDate
		}
		if l.Kind != KindFee {
			a.gross += l.Gross
		}
	}
	d.payouts = nil
	for _, id := range ids {
		a := byID[id]
		a.p.Amount = a.net
		if a.p.Gross {
			a.p.Amount = a.gross
		}
		d.payouts = append(d.payouts, a.p)
	}
}
