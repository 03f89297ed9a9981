package bridge

import (
	"context"
	"fmt"
	"time"

	"vippskco/bridge/reconcile"
	"vippskco/vipps"
)

// The rules a store applies before it writes: what it refuses, and what it
// fills in from its own clock. They are the domain's, not SQL's: written here
// once, every store calls them and keeps only its SQL, and the conformance
// suite in bridge/storetest holds each store to them.

// Validate refuses a payment that cannot be stored: one without a reference,
// which is its key.
func (p *Payment) Validate() error {
	if p.Reference == "" {
		return Errorf(ECodeInvalid, "", "payment has no reference")
	}
	return nil
}

// PrepareInsert fills in what a new payment takes from the store: its first
// version, and the store's clock for the times the caller left zero.
func (p *Payment) PrepareInsert(now time.Time) {
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now
	}
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = now
	}
	p.Version = 1
}

// PrepareInsert dates a history entry now unless the caller dated it.
func (e *HistoryEntry) PrepareInsert(now time.Time) {
	if e.At.IsZero() {
		e.At = now
	}
}

// PrepareInsert records an event as learned now unless the caller says when.
func (e *PaymentEvent) PrepareInsert(now time.Time) {
	if e.RecordedAt.IsZero() {
		e.RecordedAt = now
	}
}

// PrepareInsert records an input as received now unless the caller says when.
func (e *RawEvent) PrepareInsert(now time.Time) {
	if e.ReceivedAt.IsZero() {
		e.ReceivedAt = now
	}
}

// PrepareInsert fills in what a new notification takes from the store: its
// first version and, unless the caller set them, its creation time and a
// first attempt due at once.
func (n *Notification) PrepareInsert(now time.Time) {
	if n.CreatedAt.IsZero() {
		n.CreatedAt = now
	}
	if n.NextAttemptAt.IsZero() {
		n.NextAttemptAt = n.CreatedAt
	}
	n.Version = 1
}

// Validate refuses an operation without the keys that identify it: the ID,
// and the idempotency key that makes it happen once.
func (op *Operation) Validate() error {
	if op.ID == "" {
		return Errorf(ECodeInvalid, "", "operation has no ID")
	}
	if op.IdempotencyKey == "" {
		return Errorf(ECodeInvalid, "", "operation %q has no idempotency key", op.ID)
	}
	return nil
}

// PrepareInsert fills in what a new operation takes from the store: its
// first version, the store's clock for the times the caller left zero, and
// the pending state, which an operation is in from the moment it is stored
// until its outcome is known.
func (op *Operation) PrepareInsert(now time.Time) {
	if op.CreatedAt.IsZero() {
		op.CreatedAt = now
	}
	if op.UpdatedAt.IsZero() {
		op.UpdatedAt = now
	}
	if op.State == "" {
		op.State = OperationPending
	}
	op.Version = 1
}

// Validate refuses, before anything is written, a change without a payment,
// rows that name another payment than the change's, and rows without the
// keys they need. A row that names no payment is the change's.
func (c *Change) Validate() error {
	if c.Payment == nil {
		return Errorf(ECodeInvalid, "", "change has no payment")
	}
	ref := c.Payment.Reference
	for _, e := range c.History {
		if err := sameReference("history entry", e.Reference, ref); err != nil {
			return err
		}
	}
	for _, e := range c.Events {
		if err := sameReference("event", e.Reference, ref); err != nil {
			return err
		}
	}
	for _, n := range c.Notifications {
		if err := sameReference("notification", n.Reference, ref); err != nil {
			return err
		}
		if n.ID == "" {
			return Errorf(ECodeInvalid, "", "notification of payment %q has no ID", ref)
		}
	}
	for _, op := range c.Operations {
		if err := sameReference("operation", op.Reference, ref); err != nil {
			return err
		}
		if err := op.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// sameReference refuses a row of kind that names a payment other than ref.
func sameReference(kind, got, ref string) error {
	if got != "" && got != ref {
		return Errorf(ECodeInvalid, "", "%s of payment %q given with payment %q", kind, got, ref)
	}
	return nil
}

// ChangeRows is a store's SQL for each kind of row a Change holds, run inside
// one of its transactions. WriteChange calls it, so that every store writes a
// step of the state machine the same way and keeps only its SQL.
type ChangeRows interface {
	// UpdatePayment writes p over the stored row if the stored version is
	// p.Version, and sets p to the row as stored, its Version bumped. A stale
	// version is ErrConflict, a payment not stored ErrNotFound.
	UpdatePayment(ctx context.Context, p *Payment) error
	// InsertHistoryEntry appends e and sets its ID.
	InsertHistoryEntry(ctx context.Context, e *HistoryEntry) error
	// InsertPaymentEvent inserts e and sets its ID, unless an event with the
	// same reference, name and PSP reference is stored; it reports which.
	InsertPaymentEvent(ctx context.Context, e *PaymentEvent) (inserted bool, err error)
	// InsertNotification inserts n; a duplicate ID is ErrConflict.
	InsertNotification(ctx context.Context, n *Notification) error
	// InsertOperation inserts op; a duplicate ID or idempotency key is
	// ErrConflict.
	InsertOperation(ctx context.Context, op *Operation) error
	// InsertExchange appends ex to the provider log and sets its ID.
	InsertExchange(ctx context.Context, ex *ProviderExchange) error
}

// WriteChange writes a validated change through rows, inside the store's
// transaction that started at now, and returns the change as written: the
// payment first, so that a stale version stops the step before anything else
// is written, then its history, its events, its notifications and its
// operations, each row named for the payment and given what it takes from the
// store's clock, then its provider exchanges as they are. An event already
// stored is skipped and returned as the caller gave it, with ID 0, so the
// caller can tell it from one that was new.
// c itself is left as it is, for the store to SetStored once its transaction
// has committed.
func WriteChange(ctx context.Context, rows ChangeRows, c *Change, now time.Time) (*Change, error) {
	w := c.prepare(now)
	if err := rows.UpdatePayment(ctx, w.Payment); err != nil {
		return nil, err
	}
	for i := range w.History {
		if err := rows.InsertHistoryEntry(ctx, &w.History[i]); err != nil {
			return nil, err
		}
	}
	for i := range w.Events {
		e := &w.Events[i]
		inserted, err := rows.InsertPaymentEvent(ctx, e)
		if err != nil {
			return nil, fmt.Errorf("event %s %q: %w", e.Name, e.PSPReference, err)
		}
		if !inserted {
			*e = c.Events[i]
		}
	}
	for i := range w.Notifications {
		if err := rows.InsertNotification(ctx, &w.Notifications[i]); err != nil {
			return nil, fmt.Errorf("notification %q: %w", w.Notifications[i].ID, err)
		}
	}
	for i := range w.Operations {
		if err := rows.InsertOperation(ctx, &w.Operations[i]); err != nil {
			return nil, fmt.Errorf("operation %q: %w", w.Operations[i].ID, err)
		}
	}
	for i := range w.Exchanges {
		if err := rows.InsertExchange(ctx, &w.Exchanges[i]); err != nil {
			return nil, fmt.Errorf("%s %s exchange: %w", w.Exchanges[i].Provider, w.Exchanges[i].Operation, err)
		}
	}
	return w, nil
}

// prepare returns a copy of c as a store writes it at now, leaving c as it
// is: the payment updated now, every row named for the payment, and each
// row's PrepareInsert applied.
func (c *Change) prepare(now time.Time) *Change {
	p := *c.Payment
	p.UpdatedAt = now
	w := &Change{
		Payment:       &p,
		History:       append([]HistoryEntry(nil), c.History...),
		Events:        append([]PaymentEvent(nil), c.Events...),
		Notifications: append([]Notification(nil), c.Notifications...),
		Operations:    append([]Operation(nil), c.Operations...),
		Exchanges:     append([]ProviderExchange(nil), c.Exchanges...),
	}
	for i := range w.History {
		w.History[i].Reference = p.Reference
		w.History[i].PrepareInsert(now)
	}
	for i := range w.Events {
		w.Events[i].Reference = p.Reference
		w.Events[i].PrepareInsert(now)
	}
	for i := range w.Notifications {
		w.Notifications[i].Reference = p.Reference
		w.Notifications[i].PrepareInsert(now)
	}
	for i := range w.Operations {
		w.Operations[i].Reference = p.Reference
		w.Operations[i].PrepareInsert(now)
	}
	return w
}

// SetStored sets c, and what it points to, to stored: the change WriteChange
// returned, once the transaction it was written in has committed.
func (c *Change) SetStored(stored *Change) {
	*c.Payment = *stored.Payment
	copy(c.History, stored.History)
	copy(c.Events, stored.Events)
	copy(c.Notifications, stored.Notifications)
	copy(c.Operations, stored.Operations)
	copy(c.Exchanges, stored.Exchanges)
}

// Validate refuses a registration without the unit it is keyed by.
func (r *WebhookRegistration) Validate() error {
	if r.Unit == "" {
		return Errorf(ECodeInvalid, "", "webhook registration has no unit")
	}
	return nil
}

// PrepareInsert dates a registration now unless the caller dated it.
func (r *WebhookRegistration) PrepareInsert(now time.Time) {
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now
	}
}

// StoredAttempt is what a store reads back when an update of a payment
// matched no row: the stored version and the attempt's identity.
type StoredAttempt struct {
	Version     int64
	Unit        string
	KCOOrderID  string
	Attempt     int
	ReturnToken string
}

// UnmatchedUpdate says why an update of p matched no row, given the row
// as stored: a stale version, or an update that would make the payment
// another attempt. An attempt's unit, KCO order, attempt number and return
// token are what it is, fixed when it is stored; the stores leave them out
// of an update (SQLite would otherwise rewrite three indexes' entries on
// every state change) and check them in its WHERE instead. It never
// returns nil: an update that matched nothing did not happen.
func UnmatchedUpdate(p *Payment, stored StoredAttempt) error {
	if stored.Version != p.Version {
		return fmt.Errorf("version %d is not the stored version %d: %w", p.Version, stored.Version, ErrConflict)
	}
	if p.Unit != stored.Unit || p.KCOOrderID != stored.KCOOrderID || p.Attempt != stored.Attempt || p.ReturnToken != stored.ReturnToken {
		return fmt.Errorf("payment %s is attempt %d of KCO order %s for unit %s, and an update cannot make it another: %w",
			p.Reference, stored.Attempt, stored.KCOOrderID, stored.Unit, ErrConflict)
	}
	return fmt.Errorf("update of payment %s matched no row, yet its version and identity are as stored: %w", p.Reference, ErrConflict)
}

// CheckReadAsk refuses an ask for a read that names no unit, no time, no
// gap or nobody; nil asks for nothing.
func CheckReadAsk(a *ReadAsk) error {
	if a == nil {
		return nil
	}
	if len(a.Units) == 0 || a.At.IsZero() || a.Gap <= 0 || a.By == "" {
		return Errorf(ECodeInvalid, "", "an ask for a read needs units, a time, a gap and who asks")
	}
	return nil
}

// CheckSeenWebhook refuses to record a webhook without a signature: the
// record is keyed by it, and every unsigned webhook would look like a replay
// of the first.
func CheckSeenWebhook(signature string) error {
	if signature == "" {
		return Errorf(ECodeInvalid, "", "webhook has no signature")
	}
	return nil
}

// CheckLease refuses a lease that nobody holds or that ends as it starts:
// neither would keep a second replica off the row.
func CheckLease(owner string, lease time.Duration) error {
	if owner == "" {
		return Errorf(ECodeInvalid, "", "lease has no owner")
	}
	if lease <= 0 {
		return Errorf(ECodeInvalid, "", "lease of %s is not positive", lease)
	}
	return nil
}

// CheckNotificationState refuses a state to list notifications in that is
// not one of theirs; "" lists them in any state.
func CheckNotificationState(state string) error {
	switch state {
	case "", NotificationPending, NotificationDelivered, NotificationFailed:
		return nil
	}
	return Errorf(ECodeInvalid, "", "notification state %q is not one of %s, %s, %s",
		state, NotificationPending, NotificationDelivered, NotificationFailed)
}

// Validate refuses an import that cannot be started: one without a
// provider. The hash and the lines are checked as the store drains them
// (ValidateHash, ValidateSettlementLine), since a streaming import knows
// them only then.
func (imp *SettlementImport) Validate() error {
	if imp.Provider == "" {
		return Errorf(ECodeInvalid, "", "an import needs a provider")
	}
	return nil
}

// ValidateHash checks what a store reads once an import's lines are
// drained: the hash that makes importing the same file twice change
// nothing.
func (imp *SettlementImport) ValidateHash() error {
	if imp.Hash == "" {
		return Errorf(ECodeInvalid, "", "an import needs a hash")
	}
	return nil
}

// ValidateSettlementLine checks one line of an import as a store receives
// it: a line without a key could never be recognised when it comes again.
func ValidateSettlementLine(l reconcile.Line) error {
	if l.Key == "" {
		return Errorf(ECodeInvalid, "", "%s line %d has no key", l.Source, l.SourceLine)
	}
	return nil
}

// MovementKind is the kind of the money movement that a successful Vipps
// event of a payment records: a refund for REFUNDED, a capture for CAPTURED,
// the only other event a store reads Movements from.
func MovementKind(event string) string {
	if event == string(vipps.EventRefunded) {
		return OpRefund
	}
	return OpCapture
}
