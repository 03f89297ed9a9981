package klarnatest

// The fake's Settlements API v1: GET /settlements/v1/payouts,
// /payouts/{payment_reference}, /payouts/summary and /transactions, with the
// same credentials as the rest of the fake.
//
// Where the money comes from. Every order that the shopper completes with
// Klarna in the fake (Complete, or "pay with Klarna" on the checkout page)
// is taken as captured in full at that moment, which a real merchant does
// later through Order Management. The capture gives a SALE transaction
// (amount = order_amount, a fresh capture_id, the order's merchant
// references, sale and capture date = completed_at) and Klarna's fee on it:
// a PURCHASE_FEE_PERCENTAGE and a PURCHASE_FEE_FIXED FEE transaction with
// the same capture_id (SetSettlementFees; 1.99 % and 1.00 by default, each
// line left out when it is 0). Orders paid with an external payment method
// never get here, as with the real Kustom; AddSettlementTransaction plants
// rows that the fake would not make, such as a SALE for an EPM order (the
// order was paid twice). SetStatus does not capture anything.
//
// Signs. As in the spec's totals and in Klarna's settlement formula, every
// amount is a magnitude and the type gives its direction: the FEE rows are
// positive and fee_amount subtracts them.
//
// Payouts. A transaction waits unseen until the fake clock reaches midnight
// UTC after its capture date, its payout date; then all due transactions of
// one payout date and currency become a NET payout with a fresh 8-character
// payment_reference, and only from then on do they show in /transactions.
// The payout's totals are the sums of its transactions by type; when
// returns and fees exceed sales, the payout is 0, the shortfall is booked as
// deposit_amount and carried as debt (opening/closing_debt_balance_amount),
// which later payouts repay (repay_amount). Every payout satisfies
// klarna.Payout.Check. Payouts and transactions are listed in the order
// they were made, so pages already read never change.
//
// Choices where the spec says nothing: size must be 1…500 and offset ≥ 0
// (400 BAD_VALUE otherwise), an unknown payment_reference is 404 NOT_FOUND
// on /payouts/{ref} and an empty list on /transactions, date filters accept
// a full date-time or a bare date (midnight UTC) and are inclusive.

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"vippskco/klarna"
)

// Fee defaults of the fake, and the merchant id its payouts carry.
const (
	DefaultFeeBasisPoints = 199 // 1.99 % of the captured amount
	DefaultFeeFixed       = 100 // 1.00 in minor units per capture
	SettlementMerchantID  = "M0000001"
)

// maxPlantedAmount bounds a planted amount so that no sum can overflow.
const maxPlantedAmount = 1_000_000_000_000_000

const settlementsBase = "/settlements/v1"

type settlementBook struct {
	feeFixed, feeBasisPoints int64
	// pending wait for their payout date.
	pending []pendingTx
	// settled are in a payout, in the order they were paid out.
	settled []klarna.Transaction
	payouts []klarna.Payout
	refs    map[string]int // payment_reference → index in payouts
	debt    map[string]int64
}

type pendingTx struct {
	tx  klarna.Transaction
	due time.Time
}

// bookLocked returns the settlement state, made on first use.
func (s *Server) bookLocked() *settlementBook {
	if s.settlements == nil {
		s.settlements = &settlementBook{
			feeFixed:       DefaultFeeFixed,
			feeBasisPoints: DefaultFeeBasisPoints,
			refs:           map[string]int{},
			debt:           map[string]int64{},
		}
	}
	return s.settlements
}

func (s *Server) registerSettlementRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+settlementsBase+"/payouts", s.handlePayouts)
	mux.HandleFunc("GET "+settlementsBase+"/payouts/summary", s.handlePayoutSummary)
	mux.HandleFunc("GET "+settlementsBase+"/payouts/{payment_reference}", s.handlePayout)
	mux.HandleFunc("GET "+settlementsBase+"/transactions", s.handleTransactions)
}

// SetSettlementFees sets Klarna's fee on later captures: a percentage in
// basis points (199 = 1.99 %, rounded half up to the minor unit) and a
// fixed amount in minor units. 0 leaves that fee line out.
func (s *Server) SetSettlementFees(fixed, basisPoints int64) error {
	if fixed < 0 || basisPoints < 0 || basisPoints > 10000 || fixed > maxPlantedAmount {
		return fmt.Errorf("klarnatest: SetSettlementFees(%d, %d): out of range", fixed, basisPoints)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bookLocked()
	b.feeFixed, b.feeBasisPoints = fixed, basisPoints
	return nil
}

// recordKlarnaCaptureLocked books the capture of an order that the shopper
// just completed with Klarna.
func (s *Server) recordKlarnaCaptureLocked(o klarna.Order, at time.Time) {
	b := s.bookLocked()
	at = stamp(at)
	sale := klarna.Transaction{
		Amount:             o.OrderAmount,
		CaptureID:          uuid.NewString(),
		MerchantReference1: o.MerchantReference1,
		MerchantReference2: o.MerchantReference2,
		SaleDate:           at,
		Type:               klarna.TxSale,
		CaptureDate:        at,
		OrderID:            o.OrderID,
		ShortOrderID:       shortOrderID(o.OrderID),
		CurrencyCode:       strings.ToUpper(o.PurchaseCurrency),
		PurchaseCountry:    strings.ToUpper(o.PurchaseCountry),
		DetailedType:       "PURCHASE",
	}
	if o.ShippingAddress != nil {
		sale.ShippingCountry = strings.ToUpper(o.ShippingAddress.Country)
	}
	b.add(sale)
	fee := func(amount int64, detailed string) {
		if amount <= 0 {
			return
		}
		f := sale
		f.Type, f.DetailedType, f.Amount = klarna.TxFee, detailed, amount
		b.add(f)
	}
	fee(percentFee(o.OrderAmount, b.feeBasisPoints), "PURCHASE_FEE_PERCENTAGE")
	fee(b.feeFixed, "PURCHASE_FEE_FIXED")
}

// percentFee is amount × bp / 10000, rounded half up, without overflow.
func percentFee(amount, bp int64) int64 {
	if amount <= 0 || bp <= 0 {
		return 0
	}
	return amount/10000*bp + (amount%10000*bp+5000)/10000
}

func (b *settlementBook) add(tx klarna.Transaction) {
	b.pending = append(b.pending, pendingTx{tx: tx, due: payoutDate(tx.CaptureDate)})
}

// payoutDate is midnight UTC after the capture date.
func payoutDate(capture time.Time) time.Time {
	c := capture.UTC()
	return time.Date(c.Year(), c.Month(), c.Day()+1, 0, 0, 0, 0, time.UTC)
}

// shortOrderID stands in for Klarna's short order id.
func shortOrderID(orderID string) string {
	id := strings.ReplaceAll(orderID, "-", "")
	if len(id) > 10 {
		id = id[:10]
	}
	return strings.ToUpper(id)
}

// AddSettlementTransaction plants a transaction, as if Kustom had booked it.
// Type, OrderID and CurrencyCode are required and the type must be one the
// spec lists. When OrderID names an order in the fake, an empty currency,
// purchase country or merchant reference is taken from it. CaptureDate
// defaults to now and SaleDate to CaptureDate; PaymentReference and
// PayoutURL are set when it is paid out, at the first midnight UTC after
// CaptureDate (a CaptureDate in the past is paid out on the next request,
// in a payout of its own dated that midnight). It returns the transaction
// as stored.
func (s *Server) AddSettlementTransaction(tx klarna.Transaction) (klarna.Transaction, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx.Type = strings.ToUpper(strings.TrimSpace(tx.Type))
	var probe klarna.PayoutTotals
	if err := probe.Add(tx.Type, 0); err != nil {
		return klarna.Transaction{}, fmt.Errorf("klarnatest: AddSettlementTransaction: %w", err)
	}
	if tx.OrderID == "" {
		return klarna.Transaction{}, fmt.Errorf("klarnatest: AddSettlementTransaction: OrderID is required")
	}
	if tx.Amount > maxPlantedAmount || tx.Amount < -maxPlantedAmount {
		return klarna.Transaction{}, fmt.Errorf("klarnatest: AddSettlementTransaction: amount %d out of range", tx.Amount)
	}
	if rec, ok := s.orders[tx.OrderID]; ok {
		o := rec.order
		if tx.CurrencyCode == "" {
			tx.CurrencyCode = o.PurchaseCurrency
		}
		if tx.PurchaseCountry == "" {
			tx.PurchaseCountry = o.PurchaseCountry
		}
		if tx.MerchantReference1 == "" {
			tx.MerchantReference1 = o.MerchantReference1
		}
		if tx.MerchantReference2 == "" {
			tx.MerchantReference2 = o.MerchantReference2
		}
	}
	tx.CurrencyCode = strings.ToUpper(tx.CurrencyCode)
	tx.PurchaseCountry = strings.ToUpper(tx.PurchaseCountry)
	if len(tx.CurrencyCode) != 3 {
		return klarna.Transaction{}, fmt.Errorf("klarnatest: AddSettlementTransaction: currency %q", tx.CurrencyCode)
	}
	if tx.CaptureDate.IsZero() {
		tx.CaptureDate = s.now()
	}
	tx.CaptureDate = stamp(tx.CaptureDate)
	if tx.SaleDate.IsZero() {
		tx.SaleDate = tx.CaptureDate
	}
	tx.SaleDate = stamp(tx.SaleDate)
	if tx.ShortOrderID == "" {
		tx.ShortOrderID = shortOrderID(tx.OrderID)
	}
	tx.PaymentReference, tx.PayoutURL = "", ""
	s.bookLocked().add(tx)
	return tx, nil
}

// Payouts returns the payouts made so far, after making those that are
// due by the fake clock.
func (s *Server) Payouts() []klarna.Payout {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.settleLocked()
	return slices.Clone(b.payouts)
}

// SettlementTransactions returns the paid-out transactions and, apart, those
// still waiting for their payout date.
func (s *Server) SettlementTransactions() (settled, pending []klarna.Transaction) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.settleLocked()
	for _, p := range b.pending {
		pending = append(pending, p.tx)
	}
	return slices.Clone(b.settled), pending
}

// settleLocked turns every due transaction into payouts.
func (s *Server) settleLocked() *settlementBook {
	b := s.bookLocked()
	now := s.now()
	type key struct {
		due      time.Time
		currency string
	}
	groups := map[key][]klarna.Transaction{}
	var keys []key
	kept := b.pending[:0]
	for _, p := range b.pending {
		if now.Before(p.due) {
			kept = append(kept, p)
			continue
		}
		k := key{p.due, p.tx.CurrencyCode}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], p.tx)
	}
	clear(b.pending[len(kept):])
	b.pending = kept
	slices.SortStableFunc(keys, func(a, c key) int {
		if d := a.due.Compare(c.due); d != 0 {
			return d
		}
		return strings.Compare(a.currency, c.currency)
	})
	for _, k := range keys {
		b.payout(s.base, k.due, k.currency, groups[k])
	}
	return b
}

func (b *settlementBook) payout(base string, date time.Time, currency string, txs []klarna.Transaction) {
	ref := b.newRef()
	for i := range txs {
		txs[i].PaymentReference = ref
		txs[i].PayoutURL = base + settlementsBase + "/payouts/" + url.PathEscape(ref)
	}
	totals, err := klarna.TotalsFromTransactions(currency, txs)
	if err != nil {
		// Types and amounts were checked when the rows were booked.
		panic(fmt.Sprintf("klarnatest: payout %s: %v", ref, err))
	}
	net := totals.SettlementAmount
	debt := b.debt[currency]
	totals.OpeningDebtBalanceAmount = debt
	if net < 0 {
		totals.DepositAmount = -net
		totals.SettlementAmount = 0
		debt += -net
	} else {
		totals.RepayAmount = min(debt, net)
		totals.SettlementAmount = net - totals.RepayAmount
		debt -= totals.RepayAmount
	}
	totals.ClosingDebtBalanceAmount = debt
	b.debt[currency] = debt
	b.refs[ref] = len(b.payouts)
	b.payouts = append(b.payouts, klarna.Payout{
		Totals:                 totals,
		PaymentReference:       ref,
		PayoutDate:             date,
		CurrencyCode:           currency,
		MerchantSettlementType: klarna.SettlementNet,
		MerchantID:             SettlementMerchantID,
		TransactionsURL:        base + settlementsBase + "/transactions?payment_reference=" + url.QueryEscape(ref),
	})
	b.settled = append(b.settled, txs...)
}

const refAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// newRef makes a payment reference like the spec's "XISA93DJ".
func (b *settlementBook) newRef() string {
	for {
		var raw [8]byte
		_, _ = rand.Read(raw[:])
		for i := range raw {
			raw[i] = refAlphabet[int(raw[i])%len(refAlphabet)]
		}
		if _, taken := b.refs[string(raw[:])]; !taken {
			return string(raw[:])
		}
	}
}

// page reads size and offset; ok is false after it answered 400.
func page(w http.ResponseWriter, q url.Values) (size, offset int, ok bool) {
	size, offset = 20, 0
	if v := q.Get("size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > klarna.MaxPageSize {
			writeError(w, http.StatusBadRequest, klarna.CodeBadValue, fmt.Sprintf("Bad value: size (an integer from 1 to %d)", klarna.MaxPageSize))
			return 0, 0, false
		}
		size = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, klarna.CodeBadValue, "Bad value: offset (an integer of 0 or more)")
			return 0, 0, false
		}
		offset = n
	}
	return size, offset, true
}

// dateParam reads start_date or end_date: an ISO 8601 date-time, or a bare
// date meaning midnight UTC.
func dateParam(w http.ResponseWriter, q url.Values, name string, required bool) (time.Time, bool) {
	v := q.Get(name)
	if v == "" {
		if required {
			writeError(w, http.StatusBadRequest, klarna.CodeBadValue, "Bad value: "+name+" (required)")
			return time.Time{}, false
		}
		return time.Time{}, true
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), true
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, true
	}
	writeError(w, http.StatusBadRequest, klarna.CodeBadValue, "Bad value: "+name+" (an ISO 8601 date-time like 2020-01-23T00:00:00Z)")
	return time.Time{}, false
}

// payoutFilter reads the date and currency filters of /payouts and
// /payouts/summary.
func payoutFilter(w http.ResponseWriter, q url.Values, required bool) (func(klarna.Payout) bool, bool) {
	start, ok := dateParam(w, q, "start_date", required)
	if !ok {
		return nil, false
	}
	end, ok := dateParam(w, q, "end_date", required)
	if !ok {
		return nil, false
	}
	cur := strings.ToUpper(q.Get("currency_code"))
	return func(p klarna.Payout) bool {
		return (start.IsZero() || !p.PayoutDate.Before(start)) &&
			(end.IsZero() || !p.PayoutDate.After(end)) &&
			(cur == "" || p.CurrencyCode == cur)
	}, true
}

// pagination answers the page [offset, offset+size) of total items, with
// links that keep the request's filters.
func (s *Server) pagination(r *http.Request, path string, total, offset, size, count int) klarna.Pagination {
	p := klarna.Pagination{Count: int64(count), Total: int64(total), Offset: int64(offset)}
	link := func(off int) string {
		q := r.URL.Query()
		q.Set("offset", strconv.Itoa(off))
		q.Set("size", strconv.Itoa(size))
		return s.base + settlementsBase + path + "?" + q.Encode()
	}
	if offset+count < total {
		p.Next = link(offset + count)
	}
	if offset > 0 {
		p.Prev = link(max(0, offset-size))
	}
	return p
}

func window[T any](items []T, offset, size int) []T {
	if offset >= len(items) {
		return []T{}
	}
	return items[offset:min(len(items), offset+size)]
}

func (s *Server) handlePayouts(w http.ResponseWriter, r *http.Request) {
	s.count("list-payouts")
	if _, ok := s.admit(w, r, false); !ok {
		return
	}
	q := r.URL.Query()
	keep, ok := payoutFilter(w, q, false)
	if !ok {
		return
	}
	size, offset, ok := page(w, q)
	if !ok {
		return
	}
	s.mu.Lock()
	var all []klarna.Payout
	for _, p := range s.settleLocked().payouts {
		if keep(p) {
			all = append(all, p)
		}
	}
	s.mu.Unlock()
	items := window(all, offset, size)
	writeJSON(w, http.StatusOK, klarna.PayoutPage{Payouts: items, Pagination: s.pagination(r, "/payouts", len(all), offset, size, len(items))})
}

func (s *Server) handlePayout(w http.ResponseWriter, r *http.Request) {
	s.count("get-payout")
	if _, ok := s.admit(w, r, false); !ok {
		return
	}
	ref := r.PathValue("payment_reference")
	s.mu.Lock()
	b := s.settleLocked()
	i, found := b.refs[ref]
	var p klarna.Payout
	if found {
		p = b.payouts[i]
	}
	s.mu.Unlock()
	if !found {
		writeError(w, http.StatusNotFound, codeNotFound, "No payout found with payment_reference "+ref)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) handlePayoutSummary(w http.ResponseWriter, r *http.Request) {
	s.count("payout-summary")
	if _, ok := s.admit(w, r, false); !ok {
		return
	}
	keep, ok := payoutFilter(w, r.URL.Query(), true)
	if !ok {
		return
	}
	s.mu.Lock()
	byCur := map[string]*klarna.PayoutSummary{}
	var order []string
	for _, p := range s.settleLocked().payouts {
		if !keep(p) {
			continue
		}
		sum, ok := byCur[p.CurrencyCode]
		if !ok {
			sum = &klarna.PayoutSummary{SettlementCurrency: p.CurrencyCode, PayoutDateStart: p.PayoutDate, PayoutDateEnd: p.PayoutDate}
			byCur[p.CurrencyCode] = sum
			order = append(order, p.CurrencyCode)
		}
		if p.PayoutDate.Before(sum.PayoutDateStart) {
			sum.PayoutDateStart = p.PayoutDate
		}
		if p.PayoutDate.After(sum.PayoutDateEnd) {
			sum.PayoutDateEnd = p.PayoutDate
		}
		addTotals(&sum.Totals, p.Totals)
	}
	s.mu.Unlock()
	slices.Sort(order)
	out := make([]klarna.PayoutSummary, 0, len(order))
	for _, c := range order {
		out = append(out, *byCur[c])
	}
	writeJSON(w, http.StatusOK, out)
}

// addTotals adds the totals that a summary carries.
func addTotals(dst *klarna.PayoutTotals, t klarna.PayoutTotals) {
	dst.SaleAmount += t.SaleAmount
	dst.ReturnAmount += t.ReturnAmount
	dst.ReversalAmount += t.ReversalAmount
	dst.FeeAmount += t.FeeAmount
	dst.FeeCorrectionAmount += t.FeeCorrectionAmount
	dst.CommissionAmount += t.CommissionAmount
	dst.TaxAmount += t.TaxAmount
	dst.RepayAmount += t.RepayAmount
	dst.HoldbackAmount += t.HoldbackAmount
	dst.ReleaseAmount += t.ReleaseAmount
	dst.SettlementAmount += t.SettlementAmount
}

func (s *Server) handleTransactions(w http.ResponseWriter, r *http.Request) {
	s.count("list-transactions")
	if _, ok := s.admit(w, r, false); !ok {
		return
	}
	q := r.URL.Query()
	size, offset, ok := page(w, q)
	if !ok {
		return
	}
	ref, orderID := q.Get("payment_reference"), q.Get("order_id")
	s.mu.Lock()
	var all []klarna.Transaction
	for _, t := range s.settleLocked().settled {
		if (ref == "" || t.PaymentReference == ref) && (orderID == "" || t.OrderID == orderID) {
			all = append(all, t)
		}
	}
	s.mu.Unlock()
	items := window(all, offset, size)
	writeJSON(w, http.StatusOK, klarna.TransactionPage{Transactions: items, Pagination: s.pagination(r, "/transactions", len(all), offset, size, len(items))})
}
