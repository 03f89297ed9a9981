package klarna

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

const ordersPath = "/checkout/v3/orders"

func orderPath(orderID string) string {
	return ordersPath + "/" + url.PathEscape(orderID)
}

// GetOrder reads a checkout order. A 404 (unknown or expired order) is an
// *Error for which IsNotFound is true.
func (c *Client) GetOrder(ctx context.Context, orderID string) (*Order, error) {
	if orderID == "" {
		return nil, errors.New("klarna: GetOrder: empty order id")
	}
	res, err := c.do(ctx, request{op: "read", orderID: orderID, method: http.MethodGet, path: orderPath(orderID)})
	if err != nil {
		return nil, err
	}
	return decodeOrder("read", res.body)
}

// CreateOrder creates a checkout order and returns it as Kustom stored it,
// with OrderID, Status and HTMLSnippet set. The returned order's Location
// holds the Location header of the answer.
func (c *Client) CreateOrder(ctx context.Context, o *Order) (*Order, error) {
	if o == nil {
		return nil, errors.New("klarna: CreateOrder: nil order")
	}
	body, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("klarna: CreateOrder: %w", err)
	}
	res, err := c.do(ctx, request{op: "create", method: http.MethodPost, path: ordersPath, body: body})
	if err != nil {
		return nil, err
	}
	created, err := decodeOrder("create", res.body)
	if err != nil {
		return nil, err
	}
	created.Location = res.header.Get("Location")
	return created, nil
}

// UpdateOrder updates a checkout order while it is checkout_incomplete.
// Fields that o leaves out keep their value. After the shopper completed the
// order the answer is 403 READ_ONLY_ORDER (see IsReadOnlyOrder).
func (c *Client) UpdateOrder(ctx context.Context, orderID string, o *Order) (*Order, error) {
	if orderID == "" {
		return nil, errors.New("klarna: UpdateOrder: empty order id")
	}
	if o == nil {
		return nil, errors.New("klarna: UpdateOrder: nil order")
	}
	body, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("klarna: UpdateOrder: %w", err)
	}
	res, err := c.do(ctx, request{op: "update", orderID: orderID, method: http.MethodPost, path: orderPath(orderID), body: body})
	if err != nil {
		return nil, err
	}
	return decodeOrder("update", res.body)
}

// AbortOrder marks a checkout order as aborted, so that the shopper can no
// longer complete it. The spec answers with the order; if an answer comes
// without a body, the order is read back.
func (c *Client) AbortOrder(ctx context.Context, orderID string) (*Order, error) {
	if orderID == "" {
		return nil, errors.New("klarna: AbortOrder: empty order id")
	}
	res, err := c.do(ctx, request{op: "abort", orderID: orderID, method: http.MethodPost, path: orderPath(orderID) + "/abort"})
	if err != nil {
		return nil, err
	}
	if len(strings.TrimSpace(string(res.body))) == 0 {
		return c.GetOrder(ctx, orderID)
	}
	return decodeOrder("abort", res.body)
}

func decodeOrder(op string, body []byte) (*Order, error) {
	var o Order
	if err := json.Unmarshal(body, &o); err != nil {
		return nil, fmt.Errorf("klarna: %s: decoding order: %w (body: %s)", op, err, excerpt(body, 200))
	}
	return &o, nil
}

// RedirectPlaceholder is the placeholder Kustom replaces with the order id in
// merchant URLs and, as production integrations rely on, in the
// redirect_url of external payment methods.
const RedirectPlaceholder = "{checkout.order.id}"

// ExpandRedirectURL does what Kustom does to a URL template: every
// {checkout.order.id} becomes the order id, escaped so that it is safe both
// in a path segment and in a query value.
func ExpandRedirectURL(tmpl, orderID string) string {
	id := strings.ReplaceAll(url.QueryEscape(orderID), "+", "%20")
	return strings.ReplaceAll(tmpl, RedirectPlaceholder, id)
}
