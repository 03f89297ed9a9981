package bridge

import (
	"context"
	"fmt"
	"strings"
	"time"

	"vippskco/bridge/reconcile"
)

// Store keeps everything the bridge remembers. It is the union of the roles
// below, so that main can wire one value while a piece of the domain, or a
// test fake, can name only the role it uses. Implementations (bridge/sqlite,
// bridge/postgres) pass the conformance suite in bridge/storetest.
type Store interface {
	PaymentStore
	ProviderLog
	RawEventLog
	PollSchedule
	OperationStore
	Outbox
	WebhookRegistrationStore
	WebhookReplayStore
	SettlementStore

	// Ping checks that the store is reachable.
	Ping(ctx context.Context) error
	// MigrationsApplied reports whether every migration this build knows
	// is applied: a replica of an older build must not serve a newer
	// schema, nor the other way round.
	MigrationsApplied(ctx context.Context) (bool, error)
	// Close releases the store.
	Close() error
}

// PaymentStore keeps the payments (one per attempt) and what the state
// machine has written about them: their history and the Vipps events it
// applied. Commit writes one step of the state machine, with the
// notifications and operations it causes, in one transaction.
type PaymentStore interface {
	// InsertPayment stores a new attempt, and in the same transaction
	// appends log to the provider log (the exchanges the attempt was made
	// from) and sets their IDs. It returns ErrConflict when the reference,
	// the return token, or the (unit, KCO order, attempt) triple already
	// exists, so two concurrent redirects cannot both create one; then
	// nothing is stored.
	InsertPayment(ctx context.Context, p *Payment, log ...ProviderExchange) error
	// Payment returns the payment with this reference or ErrNotFound.
	Payment(ctx context.Context, reference string) (*Payment, error)
	// PaymentByToken returns the payment whose ReturnToken is token or ErrNotFound.
	PaymentByToken(ctx context.Context, token string) (*Payment, error)
	// PaymentsByTokens returns the payments whose ReturnTokens are among
	// tokens, in no order; tokens that belong to no payment (the empty one
	// included) are left out. It reads at most MaxTokensRead tokens.
	PaymentsByTokens(ctx context.Context, tokens []string) ([]*Payment, error)
	// PaymentsByOrder returns every attempt for a KCO order, oldest first.
	PaymentsByOrder(ctx context.Context, kcoOrderID string) ([]*Payment, error)
	// History returns a payment's history, oldest first.
	History(ctx context.Context, reference string) ([]HistoryEntry, error)

	// Commit writes one step of the state machine (see Change) in one
	// transaction if c.Payment.Version equals the stored version, then bumps
	// c.Payment.Version and sets UpdatedAt. Events already stored (same
	// reference, name and PSP reference) are skipped, not an error. A stale
	// version, or an operation whose idempotency key exists, gives
	// ErrConflict and stores nothing.
	Commit(ctx context.Context, c *Change) error
	// PaymentEvents returns the Vipps events applied to a payment, oldest first.
	PaymentEvents(ctx context.Context, reference string) ([]PaymentEvent, error)
	// CaptureDeadlinesDue returns, earliest deadline first, up to limit
	// AUTHORIZED payments with an amount left to capture whose capture
	// deadline needs a notice: none sent yet and the deadline not after
	// warnBy, or the deadline not after now and its passing not yet told.
	CaptureDeadlinesDue(ctx context.Context, warnBy, now time.Time, limit int) ([]*Payment, error)
}

// ProviderLog keeps every request made to a provider with its answer, whether
// or not it led to a payment, so that a payment's log shows exactly what was
// said. It is only appended to.
type ProviderLog interface {
	// AppendExchange adds one provider request/response to the log.
	AppendExchange(ctx context.Context, ex *ProviderExchange) error
	// Exchanges returns the provider log of a payment, oldest first.
	Exchanges(ctx context.Context, reference string) ([]ProviderExchange, error)
	// PurgeExchanges deletes up to limit exchanges that started before
	// before, oldest first, and returns how many it deleted: the log's
	// retention (it holds personal data).
	PurgeExchanges(ctx context.Context, before time.Time, limit int) (int, error)
}

// RawEventLog keeps every input exactly as it arrived (webhook bodies, what
// polls and page reads returned), whether or not it could be matched to a
// payment or changed anything. It is only appended to.
type RawEventLog interface {
	// AppendRawEvent keeps one input as it arrived and sets its ID.
	AppendRawEvent(ctx context.Context, e *RawEvent) error
	// RawEvents returns the raw inputs about a payment, oldest first.
	RawEvents(ctx context.Context, reference string) ([]RawEvent, error)
}

// PollSchedule is when each payment is to be read from Vipps next. Replicas
// share it through leases, so that one payment is polled by one of them at a
// time. The lease is kept beside the payment, not in it: claiming a poll does
// not change the payment's Version.
//
// A claim is a read of the payment at Vipps about to be made, and is
// remembered as its last read until the release says when the read was
// answered (PollRelease.Read): PollSoon never makes a poll due sooner than
// a gap after the last read, so that every channel's wish to read a
// payment (a webhook, a page) is coalesced into the poller's reads,
// whichever replica holds them.
type PollSchedule interface {
	// ClaimDuePolls leases up to limit payments whose NextPollAt is set and
	// not after now, and whose poll lease is free or expired, to owner until
	// now+lease, and records now as their last read. Two replicas never get
	// the same payment while a lease holds.
	ClaimDuePolls(ctx context.Context, now time.Time, owner string, lease time.Duration, limit int) ([]*Payment, error)
	// ClaimDuePoll is ClaimDuePolls for one payment: it returns the payment
	// leased, or nil when its poll is not due or another holds its lease.
	// It gives ErrNotFound for an unknown payment.
	ClaimDuePoll(ctx context.Context, reference string, now time.Time, owner string, lease time.Duration) (*Payment, error)
	// ReleasePoll sets a payment's NextPollAt (zero: no more polls) and
	// frees the poll lease if owner holds it. It does not touch Version.
	// A PollSoon asked since the last claim keeps its earlier time: a
	// signal that came while the poller was reading is not lost by the
	// poller's own schedule.
	ReleasePoll(ctx context.Context, reference, owner string, next time.Time) error
	// ReleasePolls is ReleasePoll for many payments in one write; an
	// unknown reference is skipped.
	ReleasePolls(ctx context.Context, owner string, polls []PollRelease) error
	// PollSoon makes a payment's poll due at now, or at its last read plus
	// gap if that is later, unless it is due sooner already, and keeps by,
	// the channel asking, as ReadAskedBy until a read answers it. It gives
	// ErrNotFound for an unknown payment.
	PollSoon(ctx context.Context, reference string, now time.Time, gap time.Duration, by string) error
}

// PollRelease is one payment's next poll, for ReleasePolls.
type PollRelease struct {
	Reference string
	Next      time.Time // zero: no more polls
	// Read, when set, is when the read made under the claim was answered.
	// It becomes the payment's last read, in place of the claim's time
	// (never in place of a later claim's, should the release come late),
	// and an ask made during the claim (PollSoon) is then due no sooner
	// than Gap after it: the claim is when the read was planned, and a
	// batch's reads start over a second after it, so an ask counted from
	// the claim could come due less than Gap after the read itself.
	Read time.Time
	Gap  time.Duration
}

// OperationStore keeps the captures, cancels and refunds, each stored before
// Vipps is called so that its outcome can be recovered after a crash, and
// leases them to one runner at a time.
type OperationStore interface {
	// InsertOperation stores a new operation (Version 1). A duplicate ID or
	// idempotency key gives ErrConflict.
	InsertOperation(ctx context.Context, op *Operation) error
	// Operation returns an operation by ID or ErrNotFound.
	Operation(ctx context.Context, id string) (*Operation, error)
	// OperationByKey returns the operation with this idempotency key or ErrNotFound.
	OperationByKey(ctx context.Context, key string) (*Operation, error)
	// Operations returns a payment's operations, oldest first.
	Operations(ctx context.Context, reference string) ([]*Operation, error)
	// UpdateOperation writes op if its Version is the stored one, then bumps
	// Version and UpdatedAt; otherwise ErrConflict and nothing changes.
	UpdateOperation(ctx context.Context, op *Operation) error
	// ClaimOperation leases a pending operation to owner until until, if its
	// lease is free or expired at now AND no other pending operation of the
	// same payment holds a live lease or was stored before it, so a
	// payment's operations run one at a time, in order, across replicas: a
	// later capture never overtakes an earlier one whose outcome is unknown.
	// It reports whether the lease was taken and returns the operation as
	// stored after the claim.
	ClaimOperation(ctx context.Context, id, owner string, now, until time.Time) (*Operation, bool, error)
	// StaleOperations returns up to limit pending operations whose lease is
	// free or expired at now: the ones whose runner died or never started.
	StaleOperations(ctx context.Context, now time.Time, limit int) ([]*Operation, error)
}

// Outbox keeps the notifications to the merchant, written by Commit with the
// change they report, until they are delivered or given up. Deliverers on
// several replicas share it through leases.
type Outbox interface {
	// ClaimNotifications leases up to limit undelivered, not given-up
	// notifications whose NextAttemptAt is not after now and whose lease is
	// free or expired, to owner until now+lease, oldest first.
	ClaimNotifications(ctx context.Context, now time.Time, owner string, lease time.Duration, limit int) ([]*Notification, error)
	// UpdateNotification writes n if its Version is the stored one, then
	// bumps Version; otherwise ErrConflict.
	UpdateNotification(ctx context.Context, n *Notification) error
	// Notification returns one notification or ErrNotFound.
	Notification(ctx context.Context, id string) (*Notification, error)
	// Notifications lists notifications, newest first, filtered by
	// reference and state (NotificationPending/Delivered/Failed; "" = all).
	Notifications(ctx context.Context, reference, state string, limit int) ([]*Notification, error)
}

// WebhookRegistrationStore keeps our webhook at Vipps for each sales unit,
// with the secret its signatures are checked with.
type WebhookRegistrationStore interface {
	// SaveWebhookRegistration stores (or replaces) a unit's registration.
	SaveWebhookRegistration(ctx context.Context, r *WebhookRegistration) error
	// WebhookRegistration returns a unit's registration or ErrNotFound.
	WebhookRegistration(ctx context.Context, unit string) (*WebhookRegistration, error)
	// DeleteWebhookRegistration forgets a unit's registration.
	DeleteWebhookRegistration(ctx context.Context, unit string) error
}

// WebhookReplayStore remembers the webhooks already received, for as long as
// a replay of one could still pass the signature's age check, so that a
// replayed webhook is recognised and dropped.
type WebhookReplayStore interface {
	// SeenWebhook records a webhook signature and reports whether it was
	// already recorded (a replay). Records older than keepUntil's window are
	// forgotten: keepUntil is when this record may be dropped.
	SeenWebhook(ctx context.Context, signature string, keepUntil time.Time) (bool, error)
	// RecordWebhook is SeenWebhook and, for a webhook not seen before,
	// AppendRawEvent of its body, in one write: it reports whether the
	// webhook was seen before, and then keeps nothing, and otherwise the
	// unit of the payment with the event's reference, read in the same
	// transaction. With ask, a new webhook whose payment belongs to one
	// of ask.Units also asks for a read of it, as PollSoon does, in the
	// same write. The webhooks of concurrent callers may share one
	// commit; each returns once its own is committed.
	RecordWebhook(ctx context.Context, signature string, keepUntil time.Time, raw *RawEvent, ask *ReadAsk) (WebhookRecord, error)
}

// ReadAsk is RecordWebhook's PollSoon: for a new webhook whose payment
// belongs to one of Units (the sales units of the merchant serial number
// the event names), the payment's read is asked for at At, no sooner than
// Gap after its last read, by By.
type ReadAsk struct {
	Units []string
	At    time.Time
	Gap   time.Duration
	By    string
}

// WebhookRecord is what RecordWebhook found.
type WebhookRecord struct {
	// Seen: the same delivery was recorded before, and nothing was kept.
	Seen bool
	// PaymentUnit is the sales unit of the payment the event names, ""
	// when we have no payment with its reference (or Seen).
	PaymentUnit string
	// ReadAsked: the payment's read was asked for in the same write (a
	// ReadAsk was given and PaymentUnit is one of its units).
	ReadAsked bool
}

// SettlementStore keeps what reconciliation works from: the settlement lines
// and payouts imported from the providers' reports, the feed cursors of those
// imports, and the money our payments moved.
type SettlementStore interface {
	// ImportSettlement drains imp.AllLines() in batches of SettlementBatch
	// lines, then reads imp.Hash, Payouts and Warnings, and stores the
	// import all or nothing as readers see it: SettlementLines shows none
	// of its lines until all of them and its payouts are stored, and an
	// import that fails, is cancelled or is killed shows nothing (see each
	// store for how). Memory is bounded by a batch, not by the import.
	//
	// Lines whose Key is known are left alone, except that a line stored
	// as Open becomes closed, with the closed day's gross and fee, when it
	// comes again closed, and a line stored without a PayoutID takes the
	// one it comes again with. Payouts are keyed by (provider, ID); a known
	// payout is left alone except that one seen again with an earlier From
	// takes that From and its Opening. A new payout whose lines in this
	// import are all stored already under one other payout of the same
	// provider, currency and amount is the same money read from another
	// source (the Report API and a portal file): it is stored with SameAs
	// naming that payout. An import whose (provider, hash) was imported
	// before reports AlreadyImported and changes nothing.
	ImportSettlement(ctx context.Context, imp *SettlementImport) (ImportResult, error)
	// SettlementLines returns the lines with from <= LedgerDate <= to
	// (YYYY-MM-DD), ordered by provider, ledger date and key, as one slice:
	// for a few lines (tools, tests). A reconciliation reads a period's
	// lines with EachSettlementLine, which holds none of them.
	SettlementLines(ctx context.Context, from, to string) ([]reconcile.Line, error)
	// EachSettlementLine calls fn with each line q selects, once, ordered
	// by ledger date and provider, and within those so that the lines of
	// one import come together in the order stored (a file's settlements,
	// each a unit's payout, in runs: the reconciliation keeps what a run of
	// lines shares once). The line and its strings are fn's only during
	// the call: fn copies what it keeps. An error from fn stops the read
	// and is returned as it is.
	EachSettlementLine(ctx context.Context, q SettlementLineQuery, fn func(*reconcile.Line) error) error
	// SettlementPayouts returns the payouts with from <= Date <= to.
	SettlementPayouts(ctx context.Context, from, to string) ([]reconcile.Payout, error)
	// Movements returns the successful captures and refunds of our payments
	// that happened in [from, to), as one slice: for a few (tools, tests).
	Movements(ctx context.Context, from, to time.Time) ([]Movement, error)
	// EachMovement calls fn with each successful capture and refund of our
	// payments that happened in [from, to), in the order they happened.
	// The movement is fn's only during the call. An error from fn stops
	// the read and is returned.
	EachMovement(ctx context.Context, from, to time.Time, fn func(*Movement) error) error
	// CountMovements is how many movements EachMovement would give for
	// [from, to) now, so that a caller can size what it keeps of them.
	CountMovements(ctx context.Context, from, to time.Time) (int, error)
	// ReportCursor returns a persisted feed cursor ("" when none).
	ReportCursor(ctx context.Context, key string) (string, error)
	// SetReportCursor persists a feed cursor.
	SetReportCursor(ctx context.Context, key, cursor string) error
}

// SettlementLineQuery selects the settlement lines a reconciliation reads:
// the lines of the ledger days From..To, and every line of the payouts
// dated PayoutsFrom..PayoutsTo whatever its ledger date (a weekly or
// monthly payout, or a file that dates its lines by sales day, covers days
// before its own date). Dates are YYYY-MM-DD and inclusive; an empty
// PayoutsFrom/PayoutsTo selects no payouts' lines.
type SettlementLineQuery struct {
	From, To               string
	PayoutsFrom, PayoutsTo string
}

// Validate checks that the query's dates are dates and its ranges are not
// reversed.
func (q SettlementLineQuery) Validate() error {
	for _, d := range []struct{ name, v string }{{"from", q.From}, {"to", q.To}, {"payouts from", q.PayoutsFrom}, {"payouts to", q.PayoutsTo}} {
		if d.v == "" && (d.name == "payouts from" || d.name == "payouts to") {
			continue
		}
		if _, err := time.Parse("2006-01-02", d.v); err != nil {
			return Errorf(ECodeInvalid, "bad_date", "settlement lines: %s must be a date YYYY-MM-DD, not %s", d.name, Quote(d.v))
		}
	}
	if q.To < q.From {
		return Errorf(ECodeInvalid, "bad_range", "settlement lines: to (%s) is before from (%s)", Quote(q.To), Quote(q.From))
	}
	if (q.PayoutsFrom == "") != (q.PayoutsTo == "") || q.PayoutsTo < q.PayoutsFrom {
		return Errorf(ECodeInvalid, "bad_range", "settlement lines: payouts %s..%s is not a range", Quote(q.PayoutsFrom), Quote(q.PayoutsTo))
	}
	return nil
}

// MaxTokensRead bounds one PaymentsByTokens call.
const MaxTokensRead = 256

// CheckTokensRead refuses a PaymentsByTokens call over MaxTokensRead.
func CheckTokensRead(tokens []string) error {
	if len(tokens) > MaxTokensRead {
		return fmt.Errorf("%d tokens in one read, more than %d", len(tokens), MaxTokensRead)
	}
	return nil
}

// NewerSchema is the error of opening a database that holds migrations
// this build does not know, a newer build's: this build was not made for
// that schema, and neither migrates it nor runs on it. Run the newer
// build, or restore the database from before it.
func NewerSchema(unknown []string) error {
	return fmt.Errorf("the database's schema is newer than this build: it holds migrations this build does not know (%s); run the build that applied them",
		strings.Join(unknown, ", "))
}
