package bridge

import "context"

// Store keeps payments, their history and the provider log. Implementations
// (bridge/sqlite, later bridge/postgres) pass the conformance suite in
// bridge/storetest.
type Store interface {
	// InsertPayment stores a new attempt. It returns ErrConflict when the
	// reference, the return token, or the (unit, KCO order, attempt) triple
	// already exists, so two concurrent redirects cannot both create one.
	InsertPayment(ctx context.Context, p *Payment) error
	// Payment returns the payment with this reference or ErrNotFound.
	Payment(ctx context.Context, reference string) (*Payment, error)
	// PaymentByToken returns the payment whose ReturnToken is token or ErrNotFound.
	PaymentByToken(ctx context.Context, token string) (*Payment, error)
	// PaymentsByOrder returns every attempt for a KCO order, oldest first.
	PaymentsByOrder(ctx context.Context, kcoOrderID string) ([]*Payment, error)
	// UpdatePayment writes p if its Version equals the stored version, bumps
	// p.Version and p.UpdatedAt, and appends entry (when not nil) to the
	// history in the same transaction. A stale version gives ErrConflict and
	// changes nothing.
	UpdatePayment(ctx context.Context, p *Payment, entry *HistoryEntry) error
	// History returns a payment's history, oldest first.
	History(ctx context.Context, reference string) ([]HistoryEntry, error)
	// AppendExchange adds one provider request/response to the log.
	AppendExchange(ctx context.Context, ex *ProviderExchange) error
	// Exchanges returns the provider log of a payment, oldest first.
	Exchanges(ctx context.Context, reference string) ([]ProviderExchange, error)
	// Ping checks that the store is reachable.
	Ping(ctx context.Context) error
	// Close releases the store.
	Close() error
}
