package sandbox

import (
	"time"

	"vippskco/bridge"
	"vippskco/bridge/finance"
	"vippskco/klarna"
)

// App is what the demo shop uses of the running service.
type App struct {
	Kustom        *klarna.Client
	Service       *bridge.Service
	Finance       *finance.Service
	MerchantToken string
	// WebhookSecret is the secret the shop verifies our notifications with.
	WebhookSecret string
	Now           func() time.Time
}
