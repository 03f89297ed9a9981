// Package reconcile matches what we know happened to shoppers' money (our
// captures and refunds, as Movements) against what the providers say they
// settled (Lines) and paid out (Payouts), and names every difference.
//
// The engine is pure: Run takes plain values and returns plain values, with
// no clock, no I/O and no dependency on the rest of the service, which maps
// its store and the providers' parsed settlement files and feeds into these
// types. Amounts are integer minor units; money in one currency is never
// compared with money in another.
//
// # Passes
//
// Following DESIGN.md section 6, per reference, provider, currency and
// sales unit (MSN), and separately for money in (captures, sales) and out
// (refunds, returns):
//
//  1. Ids: lines and movements with the same pspReference pair one to one
//     by exact amount, and what is left of that pspReference must sum
//     exactly. The provider's id is authoritative: if it does not sum, it is
//     an amount_mismatch; a further line for a pspReference already settled
//     is a duplicate_line.
//  2. Reference: what has no usable pspReference (none, or one the other
//     side does not have) pairs on reference and exact amount. Of several
//     movements of that amount, the earliest (by At, then ID) pairs first.
//  3. Groups: the rest must sum exactly, all lines against all movements or
//     against the earliest movements (partial captures settled in one line,
//     a capture settled in several). Otherwise it is an amount_mismatch.
//
// A reference settled under two MSNs is two payments: lines and movements
// pair only within one unit. A line or movement without an MSN is of an
// unknown unit and joins the unit of the other side's item with its
// pspReference, else the first unit (in MSN order) the other side has.
// Kustom lines have no unit and our movements are all Vipps.
//
// A line whose gross and fee are both zero moves no money: it is never
// matched against a movement or flagged, but put in an informational
// match (PassInformational) of its reference, so that every line is still
// in a match or an exception. A fee line of zero for a capture of ours
// joins that capture's match first, as any fee line does.
//
// Fee lines then join the match of their capture (by pspReference, or the
// reference as a whole), and each match's fees are checked against the
// fee model of its movements' sales unit. Lines of an order we hold nothing
// for are settled_unknown (Vipps) or the provider's own business (Kustom,
// unless we also captured the KCO order with Vipps: paid_twice). Movements
// left are pending until their settlement is due, then captured_not_settled
// or refund_not_settled. Finally every payout is checked, and lines are
// summed per ledger day and per payout.
//
// # Payouts
//
// A payout's lines are those with its PayoutID, of whatever ledger dates
// (a weekly or monthly payout covers From..Date). It must equal Opening,
// the balance carried in from days that paid nothing (refunds exceeding
// captures), plus its lines' net, or their gross on gross settlement (fees
// invoiced; refunds are still deducted). A payout with SameAs is another
// one read again (the API and a portal file): it is not checked, its
// summary names the payout it repeats and has Paid 0, so no total counts
// the money twice.
//
// # Periods
//
// With Config.From and To, the input should reach about 35 days beyond
// the period on either side: everything is matched on the whole input, so
// what crosses the period's edge (a capture on Nov 28 settled, or sold
// again by Kustom, in December) is matched the same way in the runs of
// both months. The Result then keeps what belongs to the period:
// exceptions, days and payouts by their Date, pending movements by their
// ledger date (Config.Location), and matches by the ledger date of their
// earliest movement, or of their earliest line when they have none. An
// exception's Date is the ledger date of its first line (in canonical
// order), so a paid_twice is in the period of the Kustom line. Month runs then add up to the quarter,
// each thing in exactly one month.
//
// # Arithmetic
//
// Every sum (of lines, movements, fees, totals, a payout's Opening and its
// lines) is checked; one that does not fit an int64 makes Run and
// Matcher.Run return an error wrapping ErrOverflow that names what
// overflowed, never a wrapped number. Amounts are shown to people with
// FormatMinor, in the currency's own number of decimals (MinorUnits).
//
// Each line is matched at most once and each movement at most once. A line
// whose Key was already read (within its reference) is the same line read
// again: each further reading is one duplicate_line and counts for nothing
// in any total.
//
// # Determinism
//
// Every group is put in a canonical order that compares every field before
// it is worked on, and every output is sorted, so the Result depends on the
// input as a set: running twice, or on shuffled input, gives a deep-equal
// Result. That is what makes re-running a day that was still open safe.
//
// # Cost
//
// A run holds each line in 32 bytes without pointers plus its key in a
// shared arena: what lines share (provider, kind, unit, currency, source,
// payout, ledger date) is interned, the pspReference is found in the key,
// the reference becomes the rank of one of our movements' references, and
// the rare amount or source line that does not fit is kept aside. Our
// movements' references are found through an open-addressing table of
// 8 bytes a slot, looked up 64 lines at a time so that the cache misses
// overlap; the lines and movements of a reference are linked through
// fields they need later anyway; match and exception key lists are windows
// of shared arrays, so a match costs no allocation of its own; and the
// references are worked through on up to GOMAXPROCS goroutines, each in
// its own range of ranks and its own region of the result.
//
// Run takes a []Line. A Matcher takes lines one at a time, copying what it
// keeps, so a caller streaming a settlement file (settlement.ParseCSVFunc)
// never holds the file's lines at 208 bytes each. BenchmarkRun1M reconciles
// a million lines against a million movements in memory; the product's own
// path (the real binary's settlements import and reconcile commands on a
// million-line file, SQLite and PostgreSQL) is BenchmarkSettlement1M in
// the repository's root.
package reconcile
