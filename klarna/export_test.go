package klarna

import (
	"context"
	"time"
)

// SetSleep replaces the wait before a retry, so tests run without delay.
func SetSleep(c *Client, f func(ctx context.Context, d time.Duration) error) { c.sleep = f }
