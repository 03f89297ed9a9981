package bridge

// Change is everything one step of the state machine writes, in one
// transaction guarded by Payment.Version: the payment, its history, the
// Vipps events newly learned, the notifications they cause and the
// operations they start. Either all of it is stored or none.
type Change struct {
	Payment       *Payment
	History       []HistoryEntry
	Events        []PaymentEvent
	Notifications []Notification
	Operations    []Operation
}
