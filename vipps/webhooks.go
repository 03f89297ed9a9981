package vipps

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

const webhooksPath = "/webhooks/v1/webhooks"

// RegisterWebhook asks Vipps to post the given events (e.g.
// EPaymentWebhookEvents) to url (POST /webhooks/v1/webhooks, 201). The
// returned Secret is shown only here: store it to verify the deliveries
// with VerifyWebhook. Vipps allows a limited number of registrations per
// event and sales unit, and the request carries no idempotency key, so it
// is not repeated after an attempt that may have arrived: on
// ErrOutcomeUnknown, list the registrations to see whether it was made.
func (c *Client) RegisterWebhook(ctx context.Context, url string, events []string) (*RegisterWebhookResponse, error) {
	if url == "" {
		return nil, fmt.Errorf("%w: a webhook URL is required", ErrInvalidInput)
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("%w: a webhook needs at least one event", ErrInvalidInput)
	}
	body, err := json.Marshal(struct {
		URL    string   `json:"url"`
		Events []string `json:"events"`
	}{url, events})
	if err != nil {
		return nil, fmt.Errorf("vipps: encoding the webhook registration: %w", err)
	}
	r := &request{
		op: "webhook-register", method: http.MethodPost, path: webhooksPath,
		body: body, auth: true, change: true,
	}
	var out RegisterWebhookResponse
	if err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListWebhooks returns the sales unit's registrations
// (GET /webhooks/v1/webhooks). Secrets are not included.
func (c *Client) ListWebhooks(ctx context.Context) ([]Webhook, error) {
	r := &request{
		op: "webhook-list", method: http.MethodGet, path: webhooksPath,
		auth: true, resendable: true,
	}
	var out struct {
		Webhooks []Webhook `json:"webhooks"`
	}
	if err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return out.Webhooks, nil
}

// DeleteWebhook removes a registration (DELETE /webhooks/v1/webhooks/{id},
// 204). A delete is repeated after a timeout, so a 404 (IsNotFound) can
// mean that an earlier attempt already removed it.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	if id == "" {
		return fmt.Errorf("%w: a webhook id is required", ErrInvalidInput)
	}
	r := &request{
		op: "webhook-delete", method: http.MethodDelete, path: apiPath(webhooksPath, id),
		auth: true, resendable: true,
	}
	_, err := c.do(ctx, r)
	return err
}
