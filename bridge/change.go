package bridge

// Change is everything one step of the state machine writes, in one
// transaction guarded by Payment.Version: the payment, its history, the
// Vipps events newly learned, the notifications they cause and the
// operations they start, and the provider exchanges whose answer the step
// acts on. Either all of it is stored or none.
type Change struct {
	Payment       *Payment
	History       []HistoryEntry
	Events        []PaymentEvent
	Notifications []Notification
	Operations    []Operation
	// Exchanges go to the provider log in the step's own transaction, under
	// their own references (a Kustom read is logged under its order's log
	// key), so that the answer and what it led to are one commit.
	Exchanges []ProviderExchange
}
