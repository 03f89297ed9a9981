package klarna_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"vippskco/klarna"
	"vippskco/klarna/klarnatest"
)

// clock is a settable clock for the fake.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func ptr[T any](v T) *T { return &v }

// newOrder is a valid Norwegian order: one sweater at 25 % VAT.
func newOrder() *klarna.Order {
	return &klarna.Order{
		PurchaseCountry:  "NO",
		PurchaseCurrency: "NOK",
		Locale:           "nb-NO",
		OrderAmount:      149900,
		OrderTaxAmount:   29980,
		OrderLines: []klarna.OrderLine{{
			Type: klarna.LineTypePhysical, Reference: "SW-1", Name: "Ullgenser", Quantity: 1,
			UnitPrice: 149900, TaxRate: 2500, TotalAmount: 149900, TotalTaxAmount: 29980,
		}},
		MerchantURLs: &klarna.MerchantURLs{
			Terms:        "https://shop.example/terms",
			Checkout:     "https://shop.example/checkout",
			Confirmation: "https://shop.example/thanks?order={checkout.order.id}",
			Push:         "https://shop.example/push?order={checkout.order.id}",
		},
		MerchantReference1: "ws-1001",
		ExternalPaymentMethods: []klarna.PaymentProvider{{
			Name:        "Vipps",
			RedirectURL: "http://localhost:8080/checkout/webshop/vipps?kco_order_id={checkout.order.id}",
			ImageURL:    "https://bridge.example/static/vipps.svg",
			Fee:         ptr(int64(0)),
			Description: "Husk: Vipps er alltid gebyrfritt når du betaler til bedrifter.",
		}},
	}
}

func newClient(t *testing.T, cfg klarna.Config) *klarna.Client {
	t.Helper()
	c, err := klarna.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	klarna.SetSleep(c, func(context.Context, time.Duration) error { return nil })
	return c
}

func startFake(t *testing.T, clk *clock) (*klarnatest.Server, *klarna.Client) {
	t.Helper()
	opts := klarnatest.Options{}
	if clk != nil {
		opts.Now = clk.Now
	}
	srv := klarnatest.NewServer(opts)
	t.Cleanup(srv.Close)
	return srv, newClient(t, klarna.Config{BaseURL: srv.URL(), APIKey: klarnatest.DefaultAPIKey})
}

func apiError(t *testing.T, err error) *klarna.Error {
	t.Helper()
	var e *klarna.Error
	if !errors.As(err, &e) {
		t.Fatalf("want *klarna.Error, got %T: %v", err, err)
	}
	return e
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  klarna.Config
	}{
		{"no API key", klarna.Config{}},
		{"blank API key", klarna.Config{APIKey: "  "}},
		{"relative base URL", klarna.Config{APIKey: "k", BaseURL: "api.kustom.co"}},
		{"base URL with query", klarna.Config{APIKey: "k", BaseURL: "https://api.kustom.co/?x=1"}},
		{"colon in username", klarna.Config{APIKey: "k", Username: "M1:x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := klarna.New(tt.cfg); err == nil {
				t.Error("want an error")
			}
		})
	}
	if _, err := klarna.New(klarna.Config{APIKey: "kco_test_api_x"}); err != nil {
		t.Errorf("minimal config: %v", err)
	}
}

func TestCreateReadUpdate(t *testing.T) {
	clk := newClock()
	srv, c := startFake(t, clk)
	ctx := context.Background()

	created, err := c.CreateOrder(ctx, newOrder())
	if err != nil {
		t.Fatal(err)
	}
	if created.OrderID == "" || created.Status != klarna.StatusCheckoutIncomplete || created.HTMLSnippet == "" {
		t.Fatalf("created: %+v", created)
	}
	if want := srv.URL() + "/checkout/v3/orders/" + created.OrderID; created.Location != want {
		t.Errorf("Location = %q, want %q", created.Location, want)
	}
	if created.StartedAt == nil || !created.StartedAt.Equal(clk.Now()) {
		t.Errorf("started_at = %v", created.StartedAt)
	}

	read, err := c.GetOrder(ctx, created.OrderID)
	if err != nil {
		t.Fatal(err)
	}
	if read.OrderAmount != 149900 || read.LinesTotal() != read.OrderAmount || read.MerchantReference1 != "ws-1001" ||
		len(read.ExternalPaymentMethods) != 1 || read.ExternalPaymentMethods[0].RedirectURL != newOrder().ExternalPaymentMethods[0].RedirectURL {
		t.Errorf("read: %+v", read)
	}

	clk.Advance(time.Hour)
	upd := newOrder()
	upd.OrderLines = append(upd.OrderLines, klarna.OrderLine{
		Type: klarna.LineTypeShippingFee, Name: "Frakt", Quantity: 1, UnitPrice: 4900, TaxRate: 2500,
		TotalAmount: 4900, TotalTaxAmount: 980,
	})
	upd.OrderAmount, upd.OrderTaxAmount = 154800, 30960
	updated, err := c.UpdateOrder(ctx, created.OrderID, upd)
	if err != nil {
		t.Fatal(err)
	}
	if updated.OrderAmount != 154800 || len(updated.OrderLines) != 2 || updated.OrderID != created.OrderID {
		t.Errorf("updated: %+v", updated)
	}
	if updated.LastModifiedAt == nil || !updated.LastModifiedAt.Equal(clk.Now()) || !updated.StartedAt.Equal(*created.StartedAt) {
		t.Errorf("timestamps: started %v modified %v", updated.StartedAt, updated.LastModifiedAt)
	}
	for op, want := range map[string]int{"create": 1, "read": 1, "update": 1, "abort": 0} {
		if got := srv.Calls(op); got != want {
			t.Errorf("Calls(%q) = %d, want %d", op, got, want)
		}
	}
}

func TestUpdateAfterKlarnaPaymentIsReadOnly(t *testing.T) {
	srv, c := startFake(t, nil)
	ctx := context.Background()
	created, err := c.CreateOrder(ctx, newOrder())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Complete(created.OrderID); err != nil {
		t.Fatal(err)
	}
	_, err = c.UpdateOrder(ctx, created.OrderID, newOrder())
	e := apiError(t, err)
	if e.StatusCode != http.StatusForbidden || e.ErrorCode != klarna.CodeReadOnlyOrder || e.CorrelationID == "" {
		t.Errorf("error: %+v", e)
	}
	if !klarna.IsReadOnlyOrder(err) || len(e.ErrorMessages) == 0 || !strings.Contains(string(e.Body), e.CorrelationID) {
		t.Errorf("error details lost: %+v body %s", e, e.Body)
	}
	if e.Method != http.MethodPost || e.Path != "/checkout/v3/orders/"+created.OrderID {
		t.Errorf("method/path: %s %s", e.Method, e.Path)
	}
	read, err := c.GetOrder(ctx, created.OrderID)
	if err != nil {
		t.Fatal(err)
	}
	if read.Status != klarna.StatusCheckoutComplete || read.CompletedAt == nil {
		t.Errorf("after Complete: status %q completed_at %v", read.Status, read.CompletedAt)
	}
}

func TestOrderExpiresAfter48Hours(t *testing.T) {
	clk := newClock()
	srv, c := startFake(t, clk)
	ctx := context.Background()
	created, err := c.CreateOrder(ctx, newOrder())
	if err != nil {
		t.Fatal(err)
	}

	clk.Advance(47 * time.Hour)
	if _, err := c.GetOrder(ctx, created.OrderID); err != nil {
		t.Fatalf("at 47 h: %v", err)
	}
	// A client interaction keeps it alive for another 48 hours.
	if err := srv.Touch(created.OrderID); err != nil {
		t.Fatal(err)
	}
	clk.Advance(47 * time.Hour)
	if _, err := c.GetOrder(ctx, created.OrderID); err != nil {
		t.Fatalf("47 h after the interaction: %v", err)
	}

	clk.Advance(time.Hour + time.Second)
	_, err = c.GetOrder(ctx, created.OrderID)
	if !klarna.IsNotFound(err) {
		t.Fatalf("after 48 h: want 404, got %v", err)
	}
	if e := apiError(t, err); e.CorrelationID == "" || e.ErrorCode == "" {
		t.Errorf("404 body not parsed: %+v", e)
	}
	if _, err := c.UpdateOrder(ctx, created.OrderID, newOrder()); !klarna.IsNotFound(err) {
		t.Errorf("update after expiry: %v", err)
	}
	if _, err := c.GetOrder(ctx, "no-such-order"); !klarna.IsNotFound(err) {
		t.Errorf("unknown order: %v", err)
	}
}

func TestAuthentication(t *testing.T) {
	const user, key = "M123456-web", "kco_test_api_0123456789"
	srv := klarnatest.NewServer(klarnatest.Options{Credentials: []klarnatest.Credential{{Username: user, APIKey: key}}})
	t.Cleanup(srv.Close)

	// A proxy in front of the fake records the header exactly as sent.
	var mu sync.Mutex
	var seen string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Get("Authorization")
		mu.Unlock()
		srv.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)

	tests := []struct {
		name       string
		username   string
		apiKey     string
		wantHeader string
		wantErr    bool
	}{
		{"API key as is", "", key, "Basic " + key, false},
		{"HTTP Basic with username", user, key, "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+key)), false},
		{"wrong key", "", "kco_test_api_wrong", "Basic kco_test_api_wrong", true},
		{"wrong username", "M999-x", key, "Basic " + base64.StdEncoding.EncodeToString([]byte("M999-x:"+key)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, klarna.Config{BaseURL: proxy.URL, Username: tt.username, APIKey: tt.apiKey})
			_, err := c.CreateOrder(context.Background(), newOrder())
			mu.Lock()
			got := seen
			mu.Unlock()
			if got != tt.wantHeader {
				t.Errorf("Authorization = %q, want %q", got, tt.wantHeader)
			}
			if !tt.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if e := apiError(t, err); e.StatusCode != http.StatusUnauthorized || e.CorrelationID == "" {
				t.Errorf("want 401 with a correlation id, got %+v", e)
			}
		})
	}
	if got := srv.Calls("create"); got != len(tests) {
		t.Errorf("Calls(create) = %d, want %d (rejected ones count)", got, len(tests))
	}
}

func TestBadValueWhenLinesDoNotAddUp(t *testing.T) {
	srv, c := startFake(t, nil)
	tests := []struct {
		name   string
		change func(*klarna.Order)
		field  string
	}{
		{"order_amount", func(o *klarna.Order) { o.OrderAmount = 100000 }, "order_amount"},
		{"order_tax_amount", func(o *klarna.Order) { o.OrderTaxAmount = 1 }, "order_tax_amount"},
		{"line total", func(o *klarna.Order) { o.OrderLines[0].Quantity = 2 }, "order_lines[0].total_amount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrder()
			tt.change(o)
			_, err := c.CreateOrder(context.Background(), o)
			e := apiError(t, err)
			if e.StatusCode != http.StatusBadRequest || e.ErrorCode != klarna.CodeBadValue || e.CorrelationID == "" {
				t.Fatalf("error: %+v", e)
			}
			found := false
			for _, m := range e.ErrorMessages {
				found = found || strings.HasPrefix(m, "Bad value: "+tt.field)
			}
			if !found {
				t.Errorf("messages %q do not name %s", e.ErrorMessages, tt.field)
			}
		})
	}
	if got := srv.Calls("create"); got != len(tests) {
		t.Errorf("Calls(create) = %d", got)
	}
}

func TestAbortOrder(t *testing.T) {
	srv, c := startFake(t, nil)
	ctx := context.Background()
	created, err := c.CreateOrder(ctx, newOrder())
	if err != nil {
		t.Fatal(err)
	}
	aborted, err := c.AbortOrder(ctx, created.OrderID)
	if err != nil {
		t.Fatal(err)
	}
	if aborted.OrderID != created.OrderID || !srv.Aborted(created.OrderID) {
		t.Errorf("abort: %+v", aborted)
	}
	if _, err := c.UpdateOrder(ctx, created.OrderID, newOrder()); !klarna.IsReadOnlyOrder(err) {
		t.Errorf("update after abort: %v", err)
	}
	if err := srv.Complete(created.OrderID); err == nil {
		t.Error("a shopper could pay an aborted order with Klarna")
	}
	if _, err := c.AbortOrder(ctx, "missing"); !klarna.IsNotFound(err) {
		t.Errorf("abort unknown: %v", err)
	}
}

func TestObserverRedactsAuthorization(t *testing.T) {
	srv := klarnatest.NewServer(klarnatest.Options{})
	t.Cleanup(srv.Close)
	var mu sync.Mutex
	var seen []klarna.Exchange
	c := newClient(t, klarna.Config{
		BaseURL: srv.URL(),
		APIKey:  klarnatest.DefaultAPIKey,
		Observer: func(_ context.Context, ex klarna.Exchange) {
			mu.Lock()
			seen = append(seen, ex)
			mu.Unlock()
		},
	})
	ctx := context.Background()
	created, err := c.CreateOrder(ctx, newOrder())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetOrder(ctx, "unknown-id"); err == nil {
		t.Fatal("want 404")
	}

	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 {
		t.Fatalf("%d exchanges, want 2", len(seen))
	}
	create, read := seen[0], seen[1]
	for _, ex := range seen {
		if got := ex.RequestHeaders.Get("Authorization"); got != "[redacted]" {
			t.Errorf("%s: Authorization = %q", ex.Op, got)
		}
		for name, values := range ex.RequestHeaders {
			for _, v := range values {
				if strings.Contains(v, klarnatest.DefaultAPIKey) {
					t.Errorf("%s: header %s leaks the key", ex.Op, name)
				}
			}
		}
		if ex.Attempt != 1 || ex.Started.IsZero() || ex.Duration <= 0 {
			t.Errorf("%s: attempt %d started %v duration %v", ex.Op, ex.Attempt, ex.Started, ex.Duration)
		}
	}
	if create.Op != "create" || create.OrderID != created.OrderID || create.StatusCode != http.StatusCreated ||
		create.Method != http.MethodPost || create.URL != srv.URL()+"/checkout/v3/orders" ||
		!strings.Contains(string(create.RequestBody), `"purchase_country":"NO"`) ||
		!strings.Contains(string(create.ResponseBody), created.OrderID) || create.Err != nil ||
		create.ResponseHeaders.Get("Location") == "" || create.RequestHeaders.Get("Content-Type") != "application/json" {
		t.Errorf("create exchange: %+v", create)
	}
	if read.Op != "read" || read.OrderID != "unknown-id" || read.StatusCode != http.StatusNotFound ||
		!klarna.IsNotFound(read.Err) || len(read.ResponseBody) == 0 || read.RequestBody != nil {
		t.Errorf("read exchange: %+v", read)
	}
}

// flaky fails the first n requests with the given status, then serves h.
func flaky(n, status int, h http.Handler) (http.Handler, *int) {
	var mu sync.Mutex
	calls := 0
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		fail := calls <= n
		mu.Unlock()
		if fail {
			w.WriteHeader(status)
			_, _ = w.Write([]byte("upstream trouble"))
			return
		}
		h.ServeHTTP(w, r)
	}), &calls
}

func TestRetries(t *testing.T) {
	srv := klarnatest.NewServer(klarnatest.Options{})
	t.Cleanup(srv.Close)
	created, err := srv.CreateOrder(*newOrder())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	t.Run("GET retried once after a 5xx", func(t *testing.T) {
		h, calls := flaky(1, http.StatusServiceUnavailable, srv.Handler())
		ts := httptest.NewServer(h)
		defer ts.Close()
		var attempts []int
		c := newClient(t, klarna.Config{BaseURL: ts.URL, APIKey: klarnatest.DefaultAPIKey,
			Observer: func(_ context.Context, ex klarna.Exchange) { attempts = append(attempts, ex.Attempt) }})
		if _, err := c.GetOrder(ctx, created.OrderID); err != nil {
			t.Fatal(err)
		}
		if *calls != 2 || len(attempts) != 2 || attempts[1] != 2 {
			t.Errorf("calls %d attempts %v", *calls, attempts)
		}
	})
	t.Run("GET gives up after the second 5xx", func(t *testing.T) {
		h, calls := flaky(5, http.StatusBadGateway, srv.Handler())
		ts := httptest.NewServer(h)
		defer ts.Close()
		c := newClient(t, klarna.Config{BaseURL: ts.URL, APIKey: klarnatest.DefaultAPIKey})
		_, err := c.GetOrder(ctx, created.OrderID)
		if e := apiError(t, err); e.StatusCode != http.StatusBadGateway || string(e.Body) != "upstream trouble" || *calls != 2 {
			t.Errorf("err %+v calls %d", e, *calls)
		}
	})
	t.Run("GET not retried after a 4xx", func(t *testing.T) {
		h, calls := flaky(0, 0, srv.Handler())
		ts := httptest.NewServer(h)
		defer ts.Close()
		c := newClient(t, klarna.Config{BaseURL: ts.URL, APIKey: klarnatest.DefaultAPIKey})
		if _, err := c.GetOrder(ctx, "missing"); !klarna.IsNotFound(err) || *calls != 1 {
			t.Errorf("err %v calls %d", err, *calls)
		}
	})
	t.Run("POST never retried", func(t *testing.T) {
		h, calls := flaky(1, http.StatusInternalServerError, srv.Handler())
		ts := httptest.NewServer(h)
		defer ts.Close()
		c := newClient(t, klarna.Config{BaseURL: ts.URL, APIKey: klarnatest.DefaultAPIKey})
		if _, err := c.CreateOrder(ctx, newOrder()); err == nil || *calls != 1 {
			t.Errorf("err %v calls %d", err, *calls)
		}
	})
	t.Run("GET retried once after a network error", func(t *testing.T) {
		ts := httptest.NewServer(srv.Handler())
		url := ts.URL
		ts.Close()
		var attempts int
		c := newClient(t, klarna.Config{BaseURL: url, APIKey: klarnatest.DefaultAPIKey,
			Observer: func(_ context.Context, ex klarna.Exchange) {
				attempts++
				if ex.Err == nil || ex.StatusCode != 0 {
					t.Errorf("exchange: %+v", ex)
				}
			}})
		if _, err := c.GetOrder(ctx, created.OrderID); err == nil || attempts != 2 {
			t.Errorf("err %v attempts %d", err, attempts)
		}
	})
}

// The sandbox mounts the fake under a path prefix; the client must keep it.
func TestBaseURLWithPathPrefix(t *testing.T) {
	mux := http.NewServeMux()
	ts := httptest.NewUnstartedServer(mux)
	base := "http://" + ts.Listener.Addr().String() + "/sandbox/kustom"
	fake := klarnatest.NewHandler(klarnatest.Options{}, base)
	mux.Handle("/sandbox/kustom/", http.StripPrefix("/sandbox/kustom", fake.Handler()))
	ts.Start()
	t.Cleanup(ts.Close)

	c := newClient(t, klarna.Config{BaseURL: base + "/", APIKey: klarnatest.DefaultAPIKey})
	created, err := c.CreateOrder(context.Background(), newOrder())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.Location, base+"/checkout/v3/orders/") {
		t.Errorf("Location = %q", created.Location)
	}
	if !strings.Contains(created.HTMLSnippet, base+"/checkout-page/"+created.OrderID) {
		t.Errorf("html_snippet = %q", created.HTMLSnippet)
	}
	if _, err := c.GetOrder(context.Background(), created.OrderID); err != nil {
		t.Fatal(err)
	}
}

// Order ids are path-escaped, so an id with odd characters cannot reach
// another route.
func TestOrderIDIsPathEscaped(t *testing.T) {
	var path string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.EscapedPath()
		w.WriteHeader(http.StatusNotFound)
	}))
	t.Cleanup(ts.Close)
	c := newClient(t, klarna.Config{BaseURL: ts.URL, APIKey: "k"})
	_, _ = c.GetOrder(context.Background(), "a/b?c")
	if path != "/checkout/v3/orders/a%2Fb%3Fc" {
		t.Errorf("path = %q", path)
	}
}
