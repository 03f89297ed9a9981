package klarna

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Kustom's hosts. The old *.klarna.com hosts stopped working on 2026-03-31.
const (
	ProductionURL = "https://api.kustom.co"
	PlaygroundURL = "https://api.playground.kustom.co"
)

const (
	defaultTimeout   = 30 * time.Second
	defaultUserAgent = "vippskco-klarna/1"
	// maxResponseBytes bounds what is read of one answer; an order with the
	// maximum of 1000 lines is far below it.
	maxResponseBytes = 16 << 20
)

// Config configures a Client.
type Config struct {
	// BaseURL is the API root, PlaygroundURL when empty. It may carry a path
	// prefix, e.g. "http://127.0.0.1:8080/sandbox/kustom" for a local fake.
	BaseURL string
	// Username is optional: "<MID>-<suffix>" as the Kustom Portal shows it.
	Username string
	// APIKey is required: "kco_test_api_…" or "kco_live_api_…".
	APIKey string
	// HTTPClient defaults to a client with a 30 s timeout, the API's own
	// request timeout.
	HTTPClient *http.Client
	// UserAgent is sent as User-Agent; a default names this package.
	UserAgent string
	// Observer, when set, is called after every attempt of every request,
	// successful or not, with the Authorization header redacted. It runs on
	// the caller's goroutine and must not block for long.
	Observer func(ctx context.Context, ex Exchange)
}

// Client calls the Checkout API v3. It is safe for concurrent use.
type Client struct {
	base          string // scheme://host[/prefix], no trailing slash
	authorization string
	hc            *http.Client
	userAgent     string
	observer      func(context.Context, Exchange)
	// sleep waits before a retry; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if strings.TrimSpace(cfg.APIKey) == "" {
		return nil, errors.New("klarna: config: APIKey is required")
	}
	if strings.ContainsAny(cfg.APIKey, " \t\r\n") {
		return nil, errors.New("klarna: config: APIKey contains white space")
	}
	if strings.Contains(cfg.Username, ":") {
		return nil, errors.New("klarna: config: Username must not contain ':'")
	}
	base := cfg.BaseURL
	if base == "" {
		base = PlaygroundURL
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("klarna: config: BaseURL: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("klarna: config: BaseURL %q must be an absolute http(s) URL", base)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("klarna: config: BaseURL %q must not carry a query, fragment or user info", base)
	}
	c := &Client{
		base:          strings.TrimRight(u.String(), "/"),
		authorization: authorization(cfg.Username, cfg.APIKey),
		hc:            cfg.HTTPClient,
		userAgent:     cfg.UserAgent,
		observer:      cfg.Observer,
		sleep:         sleepContext,
	}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: defaultTimeout}
	}
	if c.userAgent == "" {
		c.userAgent = defaultUserAgent
	}
	return c, nil
}

// authorization builds the header value the way Kustom documents it: the API
// key itself after "Basic" when there is no username, standard HTTP Basic
// otherwise.
func authorization(username, apiKey string) string {
	if username == "" {
		return "Basic " + apiKey
	}
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(username+":"+apiKey))
}

// request is one API call as the operations describe it.
type request struct {
	op      string // "create", "read", "update" or "abort"
	orderID string
	method  string
	path    string // escaped API path, e.g. /checkout/v3/orders/abc
	body    []byte
}

// response is a 2xx answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends r, retrying a GET once after a network error or a 5xx. POSTs are
// never retried: a create that timed out may have created an order, and a
// second one would leave two.
func (c *Client) do(ctx context.Context, r request) (*response, error) {
	attempts := 1
	if r.method == http.MethodGet {
		attempts = 2
	}
	for attempt := 1; ; attempt++ {
		res, err := c.attempt(ctx, r, attempt)
		if err == nil {
			return res, nil
		}
		if attempt >= attempts || !retryable(ctx, err) {
			return nil, err
		}
		// 150–300 ms: long enough to ride out a brief hiccup, short enough
		// for a shopper who is waiting on a redirect.
		delay := 150*time.Millisecond + rand.N(150*time.Millisecond)
		if serr := c.sleep(ctx, delay); serr != nil {
			return nil, err
		}
	}
}

// retryable says whether a failed GET is worth one more try: the network
// failed (and not because the caller gave up) or the server failed.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var apiErr *Error
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode >= 500
	}
	return true
}

func (c *Client) attempt(ctx context.Context, r request, n int) (*response, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	target := c.base + r.path
	req, err := http.NewRequestWithContext(ctx, r.method, target, body)
	if err != nil {
		return nil, fmt.Errorf("klarna: %s %s: %w", r.method, r.path, err)
	}
	req.Header.Set("Authorization", c.authorization)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)

	ex := Exchange{
		Op:             r.op,
		OrderID:        r.orderID,
		Method:         r.method,
		URL:            target,
		RequestHeaders: redact(req.Header),
		RequestBody:    r.body,
		Attempt:        n,
		Started:        time.Now(),
	}
	res, err := c.send(req, r)
	ex.Duration = time.Since(ex.Started)
	if res != nil {
		ex.StatusCode = res.status
		ex.ResponseHeaders = res.header
		ex.ResponseBody = res.body
		if ex.OrderID == "" && err == nil {
			ex.OrderID = peekOrderID(res.body)
		}
	}
	ex.Err = err
	if c.observer != nil {
		c.observer(ctx, ex)
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// send performs req and reads the whole answer. A non-2xx answer comes back
// with both the response (for the observer) and its *Error.
func (c *Client) send(req *http.Request, r request) (*response, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("klarna: %s %s: %w", r.method, r.path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	res := &response{status: resp.StatusCode, header: resp.Header, body: body}
	if err != nil {
		return res, fmt.Errorf("klarna: %s %s: reading %d response: %w", r.method, r.path, resp.StatusCode, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return res, parseError(r.method, r.path, resp.StatusCode, resp.Header, body)
	}
	return res, nil
}

func peekOrderID(body []byte) string {
	var doc struct {
		OrderID string `json:"order_id"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return ""
	}
	return doc.OrderID
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
