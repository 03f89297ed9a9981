package bridge

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"vippskco/vipps"
)

// Operation kinds.
const (
	OpCapture = "capture"
	OpCancel  = "cancel"
	OpRefund  = "refund"
)

// Operation states. An operation is pending from the moment it is stored
// (before Vipps is called) until its outcome is known; a pending operation
// whose lease has run out is one whose runner died, and recovery finishes it
// by reading the payment's event log, or by resending with the same key.
const (
	OperationPending   = "pending"
	OperationSucceeded = "succeeded"
	OperationFailed    = "failed"
)

// Operation is a capture, cancel or refund: asked for by the merchant, by
// the direct-capture policy, or by the double-payment guard.
type Operation struct {
	ID        string
	Reference string
	Kind      string
	// IdempotencyKey is the caller's key; it is unique. Internal operations
	// get deterministic keys (direct-capture-<reference>), which is what
	// makes them happen exactly once.
	IdempotencyKey string
	// RequestHash identifies the request body the key was first used with.
	RequestHash string
	Amount      Money
	// VippsIdempotencyKey is sent to Vipps on every try of this operation.
	VippsIdempotencyKey string
	// Source is merchant, direct-capture or guard.
	Source string
	State  string
	// ResponseStatus and ResponseBody are what the merchant API answered,
	// replayed for a repeated request with the same key.
	ResponseStatus int
	ResponseBody   json.RawMessage
	// Error says in words why it failed, with the provider's error code.
	Error    string
	Attempts int

	LeaseOwner string
	LeaseUntil time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
	Version    int64
}

// Operation sources.
const (
	SourceDirectCapture = "direct-capture"
	SourceGuard         = "guard"
)

// operationLease is how long a runner may hold an operation before another
// runner (after a crash) may take it over. It is longer than a Vipps call
// with all its retries.
const operationLease = 2 * time.Minute

func (s *Service) newOperation(p *Payment, kind, key, source string, amount Money) Operation {
	now := s.now()
	return Operation{
		ID: uuid.NewString(), Reference: p.Reference, Kind: kind, IdempotencyKey: key,
		RequestHash: requestHash(kind, p.Reference, amount), Amount: amount,
		VippsIdempotencyKey: uuid.NewString(), Source: source, State: OperationPending,
		CreatedAt: now, UpdatedAt: now,
	}
}

func requestHash(kind, reference string, amount Money) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s\n%s\n%d\n%s", kind, reference, amount.Value, amount.Currency))
	return hex.EncodeToString(h[:])
}

// OperationResult is what the merchant API answers for an operation: the
// stored response for a completed one, or the pending operation.
type OperationResult struct {
	Status int
	Body   json.RawMessage
}

// RequestOperation is a merchant's capture, cancel or refund, with Stripe's
// idempotency semantics: the same key and body replay the stored answer,
// the same key with another body is refused, and a request still in flight
// is a conflict. Amounts are checked against what Vipps says is left.
func (s *Service) RequestOperation(ctx context.Context, kind, reference, key string, amount Money) (*OperationResult, error) {
	if key == "" {
		return nil, Errorf(ECodeInvalid, "idempotency_key_missing", "the Idempotency-Key header is required")
	}
	if len(key) > 255 {
		return nil, Errorf(ECodeInvalid, "idempotency_key_invalid", "the Idempotency-Key header must be at most 255 characters")
	}
	p, err := s.Store.Payment(ctx, reference)
	if err != nil {
		return nil, NotFoundAs(err, "payment %s", Quote(reference))
	}
	if kind == OpCancel {
		amount = Money{Currency: p.Amount.Currency}
	} else {
		if amount.Currency == "" {
			amount.Currency = p.Amount.Currency
		}
		if amount.Currency != p.Amount.Currency {
			return nil, Errorf(ECodeInvalid, "currency_mismatch", "the payment is in %s, not %s", p.Amount.Currency, amount.Currency)
		}
		if amount.Value <= 0 {
			return nil, Errorf(ECodeInvalid, "amount_invalid", "amount must be a positive number of minor units")
		}
	}
	// The key is the merchant's: internal keys live in another namespace.
	storedKey := "merchant:" + key
	for range 3 {
		existing, err := s.Store.OperationByKey(ctx, storedKey)
		if err == nil {
			return s.replay(existing, kind, reference, amount)
		}
		if ErrorCode(err) != ECodeNotFound {
			return nil, err
		}
		op := s.newOperation(p, kind, storedKey, SourceMerchant, amount)
		err = s.Store.InsertOperation(ctx, &op)
		if errors.Is(err, ErrConflict) {
			continue // a concurrent request with the same key won: replay it
		}
		if err != nil {
			return nil, err
		}
		done, err := s.runOperation(ctx, op.ID, 10*time.Second)
		if err != nil {
			return nil, err
		}
		return operationResult(done), nil
	}
	return nil, Errorf(ECodeConflict, "busy", "try again")
}

// replay answers a repeated request from what is stored.
func (s *Service) replay(op *Operation, kind, reference string, amount Money) (*OperationResult, error) {
	if op.RequestHash != requestHash(kind, reference, amount) {
		return nil, Errorf(ECodeConflict, "idempotency_key_reused", "this Idempotency-Key was used with a different request")
	}
	return operationResult(op), nil
}

func operationResult(op *Operation) *OperationResult {
	if op.State == OperationPending {
		body, _ := json.Marshal(map[string]any{"error": map[string]any{
			"code": ECodeConflict, "reason": "operation_in_progress",
			"message":   "this operation is still in progress; its outcome will be in the payment and in a notification",
			"operation": OperationView(op),
		}})
		return &OperationResult{Status: http.StatusConflict, Body: body}
	}
	return &OperationResult{Status: op.ResponseStatus, Body: op.ResponseBody}
}

// goRun runs a stored operation in the background. If this process dies
// first, the operation sweep finds it.
func (s *Service) goRun(id string) {
	s.goBackground(func(bg context.Context) {
		ctx, cancel := context.WithTimeout(bg, operationLease)
		defer cancel()
		if _, err := s.runOperation(ctx, id, 30*time.Second); err != nil {
			s.logger().WarnContext(ctx, "running operation", "operation", id, "err", err)
		}
	})
}

// runOperation takes the lease of an operation (waiting up to wait for the
// payment's other operations), and runs it to a known outcome. It returns
// the operation as stored afterwards; a pending one means the outcome is
// still unknown and the sweep will finish it.
func (s *Service) runOperation(ctx context.Context, id string, wait time.Duration) (*Operation, error) {
	// The wait is real time, not the service clock: it bounds how long a
	// caller is kept waiting.
	deadline := time.Now().Add(wait)
	for {
		now := s.now()
		op, ok, err := s.Store.ClaimOperation(ctx, id, s.owner(), now, now.Add(operationLease))
		if err != nil {
			return nil, err
		}
		if op.State != OperationPending {
			return op, nil
		}
		if ok {
			return s.execute(ctx, op)
		}
		if !time.Now().Before(deadline) {
			return op, nil
		}
		select {
		case <-ctx.Done():
			return op, nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// execute runs a leased operation: read the payment, check the amount
// against what Vipps says is left, find out whether an earlier try already
// happened (the event log names our idempotency key), and only then call
// Vipps, always with the operation's own key.
func (s *Service) execute(ctx context.Context, op *Operation) (*Operation, error) {
	// Finish well inside the lease, so no other runner takes it over while
	// a call of ours may still reach Vipps.
	ctx, cancel := context.WithTimeout(ctx, operationLease-30*time.Second)
	defer cancel()
	p, err := s.Store.Payment(ctx, op.Reference)
	if err != nil {
		return nil, err
	}
	u, err := s.Unit(p.Unit)
	if err != nil {
		return nil, err
	}
	events, err := u.Vipps.GetEvents(ctx, op.Reference)
	if err != nil {
		return s.unknown(ctx, op, err)
	}
	for _, e := range events {
		if e.IdempotencyKey != nil && *e.IdempotencyKey == op.VippsIdempotencyKey && e.Success {
			// An earlier try reached Vipps: the operation happened once;
			// do not send it again.
			return s.succeed(ctx, u, op)
		}
	}
	p, err = s.sync(ctx, u, p, op.Source)
	if err != nil {
		return s.unknown(ctx, op, err)
	}
	if op.Attempts == 0 {
		// Read before acting. Once a try may have reached Vipps, the
		// amounts may already include it (and a CANCELLED event need not
		// carry our key), so a retry is resent with the same key instead,
		// and Vipps answers it as it answered the first.
		if reason := checkLeft(p, op); reason != "" {
			return s.fail(ctx, op, http.StatusUnprocessableEntity, "amount_exceeds_remaining", reason, nil)
		}
		if op.Kind == OpCapture && op.Source == SourceDirectCapture {
			surplus, err := s.surplus(ctx, p)
			if err != nil {
				return s.unknown(ctx, op, err)
			}
			if surplus {
				return s.fail(ctx, op, http.StatusConflict, "surplus_authorization", "the KCO order is paid by another attempt; this one is cancelled, not captured", nil)
			}
		}
	}
	op.Attempts++
	if err := s.Store.UpdateOperation(ctx, op); err != nil {
		return nil, err
	}
	amount := vipps.Amount{Currency: vipps.Currency(op.Amount.Currency), Value: op.Amount.Value}
	switch op.Kind {
	case OpCapture:
		_, err = u.Vipps.Capture(ctx, op.Reference, op.VippsIdempotencyKey, amount)
	case OpRefund:
		_, err = u.Vipps.Refund(ctx, op.Reference, op.VippsIdempotencyKey, amount)
	case OpCancel:
		_, err = u.Vipps.Cancel(ctx, op.Reference, op.VippsIdempotencyKey, false)
	default:
		return s.fail(ctx, op, http.StatusBadRequest, "unknown_operation", "unknown operation "+op.Kind, nil)
	}
	if err == nil {
		return s.succeed(ctx, u, op)
	}
	var verr *vipps.Error
	if !errors.Is(err, vipps.ErrOutcomeUnknown) && errors.As(err, &verr) && refusedForGood(verr) {
		msg := fmt.Sprintf("Vipps refused the %s (HTTP %d, code %s): %s", op.Kind, verr.StatusCode, verr.ErrorCode, cmp.Or(verr.Detail, verr.Title))
		return s.fail(ctx, op, http.StatusUnprocessableEntity, "vipps_refused", msg, verr)
	}
	return s.unknown(ctx, op, err)
}

// refusedForGood reports whether a Vipps error means the operation will
// never succeed with this key. A 409 (the same key still being processed),
// 423, 429, "idempotency key exists" (4020), "order processing" (6160) and
// "capture failed, retry later" (6280) are not refusals: the outcome is
// still open, and the same key is tried again later.
func refusedForGood(e *vipps.Error) bool {
	if e.StatusCode < 400 || e.StatusCode >= 500 {
		return false
	}
	switch e.StatusCode {
	case http.StatusConflict, http.StatusLocked, http.StatusTooManyRequests, http.StatusUnauthorized:
		return false
	}
	switch e.ErrorCode {
	case "4020", "6160", "6280":
		return false
	}
	return true
}

// checkLeft says why an operation asks for more than is left, or "".
func checkLeft(p *Payment, op *Operation) string {
	switch op.Kind {
	case OpCapture:
		if p.State != StateAuthorized {
			return fmt.Sprintf("the payment is %s; only an authorized payment can be captured", p.State)
		}
		if left := p.Authorized - p.Captured - p.Cancelled; op.Amount.Value > left {
			return fmt.Sprintf("capture of %d exceeds the %d %s minor units left to capture", op.Amount.Value, left, p.Amount.Currency)
		}
	case OpRefund:
		if left := p.Captured - p.Refunded; op.Amount.Value > left {
			return fmt.Sprintf("refund of %d exceeds the %d %s minor units left to refund", op.Amount.Value, left, p.Amount.Currency)
		}
	case OpCancel:
		if p.State == StateAuthorized && p.Authorized-p.Captured-p.Cancelled <= 0 {
			return "nothing is left to cancel: the payment is fully captured or already cancelled"
		}
		if p.State != StateAuthorized && p.State != StateCreated {
			return fmt.Sprintf("the payment is %s and cannot be cancelled", p.State)
		}
	}
	return ""
}

// succeed records the Vipps events the operation caused (with their
// notifications) and stores the merchant's answer: the payment after it.
func (s *Service) succeed(ctx context.Context, u *Unit, op *Operation) (*Operation, error) {
	p, err := s.Store.Payment(ctx, op.Reference)
	if err != nil {
		return nil, err
	}
	if p, err = s.sync(ctx, u, p, op.Source); err != nil {
		s.logger().WarnContext(ctx, "reading payment after operation", "reference", op.Reference, "err", err)
	}
	hist, _ := s.Store.History(ctx, op.Reference)
	body, _ := json.Marshal(map[string]any{"operation": OperationView(&Operation{
		ID: op.ID, Kind: op.Kind, Amount: op.Amount, State: OperationSucceeded, Source: op.Source, CreatedAt: op.CreatedAt,
	}), "payment": PaymentView(p, hist, false)})
	return s.finish(ctx, op, OperationSucceeded, http.StatusOK, body, "")
}

func (s *Service) fail(ctx context.Context, op *Operation, status int, reason, msg string, verr *vipps.Error) (*Operation, error) {
	e := map[string]any{"code": ECodeInvalid, "reason": reason, "message": msg}
	if verr != nil {
		e["vipps"] = map[string]any{"status": verr.StatusCode, "error_code": verr.ErrorCode, "title": verr.Title, "detail": verr.Detail, "trace_id": verr.TraceID}
	}
	body, _ := json.Marshal(map[string]any{"error": e})
	s.logger().InfoContext(ctx, "operation failed", "operation", op.ID, "reference", op.Reference, "kind", op.Kind, "reason", reason)
	done, err := s.finish(ctx, op, OperationFailed, status, body, msg)
	if err == nil && op.Source != SourceMerchant {
		// Nobody waits for the answer of an operation we started ourselves
		// (direct capture, the double-payment guard): tell the merchant.
		s.notifyOperationFailed(context.WithoutCancel(ctx), op, reason, msg)
	}
	return done, err
}

// notifyOperationFailed writes an operation.failed notification, once: its
// id comes from the operation, so a commit whose outcome was unknown (it
// may have landed, and reads as a conflict) is found and not made twice.
func (s *Service) notifyOperationFailed(ctx context.Context, op *Operation, reason, msg string) {
	id := uuid.NewSHA1(uuid.NameSpaceURL, []byte("vippskco:operation.failed:"+op.ID)).String()
	for range 5 {
		if _, err := s.Store.Notification(ctx, id); err == nil {
			return
		}
		p, err := s.Store.Payment(ctx, op.Reference)
		if err != nil {
			break
		}
		n := buildNotificationID(id, p, "operation.failed", nil, fmt.Sprintf("%s %s (%s): %s: %s", op.Source, op.Kind, op.ID, reason, msg), s.now())
		err = s.commit(ctx, &Change{Payment: p, Notifications: []Notification{n}})
		if err == nil {
			return
		}
		if ErrorCode(err) != ECodeConflict {
			s.logger().ErrorContext(ctx, "notifying a failed operation", "operation", op.ID, "err", err)
			return
		}
	}
}

func (s *Service) finish(ctx context.Context, op *Operation, state string, status int, body json.RawMessage, errText string) (*Operation, error) {
	op.State, op.ResponseStatus, op.ResponseBody, op.Error = state, status, body, errText
	op.LeaseOwner, op.LeaseUntil = "", time.Time{}
	if err := s.Store.UpdateOperation(context.WithoutCancel(ctx), op); err != nil {
		// A write whose outcome was unknown is sent again, and reads as a
		// conflict if the first one landed: look before calling it lost.
		if ErrorCode(err) == ECodeConflict {
			if stored, rerr := s.Store.Operation(context.WithoutCancel(ctx), op.ID); rerr == nil &&
				stored.State == state && stored.ResponseStatus == status && stored.Error == errText {
				return stored, nil
			}
		}
		return nil, err
	}
	return op, nil
}

// unknown leaves the operation pending: its outcome is not known, and it is
// resolved later by reading the event log, never by sending it with a new
// key. The lease is shortened so the sweep retries soon.
func (s *Service) unknown(ctx context.Context, op *Operation, cause error) (*Operation, error) {
	s.logger().WarnContext(ctx, "operation outcome unknown", "operation", op.ID, "reference", op.Reference, "kind", op.Kind, "attempts", op.Attempts, "err", cause)
	age := s.now().Sub(op.CreatedAt)
	if age > operationGiveUp {
		return s.fail(ctx, op, http.StatusBadGateway, "outcome_unknown", fmt.Sprintf("gave up after %s and %d tries without a known outcome: %v", operationGiveUp, op.Attempts, cause), nil)
	}
	op.Error = "outcome unknown: " + cause.Error()
	// The lease doubles as the retry backoff, growing with the operation's
	// age from 5 s to 5 minutes, which keeps retries well within Vipps's
	// five changes a minute per reference. Later operations of the payment
	// wait for this one (ClaimOperation), so nothing overtakes it meanwhile.
	backoff := min(max(age/4, 5*time.Second), 5*time.Minute)
	op.LeaseUntil = s.now().Add(backoff)
	if err := s.Store.UpdateOperation(context.WithoutCancel(ctx), op); err != nil {
		return nil, err
	}
	return op, nil
}

// operationGiveUp bounds how long an operation with an unknown outcome is
// retried; after that it is failed and reported, not retried forever.
const operationGiveUp = 2 * time.Hour

// SweepOperations finishes operations whose runner died or whose outcome
// was unknown. It runs at start-up and then periodically.
func (s *Service) SweepOperations(ctx context.Context) error {
	ops, err := s.Store.StaleOperations(ctx, s.now(), 50)
	if err != nil {
		return err
	}
	for _, op := range ops {
		if _, err := s.runOperation(ctx, op.ID, 0); err != nil {
			s.logger().WarnContext(ctx, "recovering operation", "operation", op.ID, "err", err)
		}
	}
	return nil
}
