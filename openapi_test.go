package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"vippskco/bridge/config"
	"vippskco/bridge/web"
)

// Our API is described by bridge/web/openapi.yaml. These tests hold the
// service to it: every /api route is in it and nothing else is, it is
// served and valid, and a walk of every route (its errors too) gets only
// answers the document allows, with every documented status produced.

func init() {
	// Settlement files are uploaded as XML too; kin-openapi checks such a
	// body as an opaque file.
	openapi3filter.RegisterBodyDecoder("application/xml", openapi3filter.FileBodyDecoder)
	// A CSV is documented as text: kin-openapi's own CSV decoder splits at
	// commas only, and the Norwegian dialect (and Kustom's reports) use ';'.
	openapi3filter.RegisterBodyDecoder("text/csv", openapi3filter.FileBodyDecoder)
}

// loadAPIDoc loads and validates an OpenAPI document.
func loadAPIDoc(t *testing.T, data []byte) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(data)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background()))
	return doc
}

// ginPath turns gin's /a/:b into OpenAPI's /a/{b}.
func ginPath(p string) string {
	return regexp.MustCompile(`:([A-Za-z_]+)`).ReplaceAllString(p, "{$1}")
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	doc := loadAPIDoc(t, web.OpenAPIYAML)
	var served, documented []string
	for _, r := range (&web.HTTP{}).Routes() {
		if strings.HasPrefix(r.Path, "/api/") {
			served = append(served, r.Method+" "+ginPath(r.Path))
		}
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	sort.Strings(served)
	sort.Strings(documented)
	require.NotEmpty(t, served)
	require.Equal(t, served, documented, "the routes under /api and the OpenAPI document's operations")
}

func TestOpenAPIServed(t *testing.T) {
	e := startMain(t, nil)
	get := func(path string) (*http.Response, []byte) {
		resp, err := e.http.Get(e.m.PublicURL() + path) // no token: the description is public
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
		return resp, b
	}
	respY, y := get("/api/v1/openapi.yaml")
	require.Contains(t, respY.Header.Get("Content-Type"), "yaml")
	require.Equal(t, web.OpenAPIYAML, y, "the embedded document, as written")
	respJ, j := get("/api/v1/openapi.json")
	require.Contains(t, respJ.Header.Get("Content-Type"), "application/json")
	require.True(t, json.Valid(j))

	docY, docJ := loadAPIDoc(t, y), loadAPIDoc(t, j)
	require.Equal(t, "3.1.0", docY.OpenAPI)
	a, err := json.Marshal(docY)
	require.NoError(t, err)
	b, err := json.Marshal(docJ)
	require.NoError(t, err)
	require.JSONEq(t, string(a), string(b), "the JSON is the YAML")
}

// apiWalk sends requests to the running service and holds each request
// and answer to the OpenAPI document.
type apiWalk struct {
	t      *testing.T
	e      *testEnv
	router routers.Router
	// seen is every (method, path, status) the walk produced.
	seen map[string]bool
}

// apiCall is one request of the walk. invalid says the document itself
// refuses the request (a missing required header, a value outside its
// enum): the validator must reject it, and the service must answer what
// the document says for it all the same.
type apiCall struct {
	method, path string
	token        string // "merchant", "finance", "basic" or "" for none
	header       map[string]string
	body         []byte
	contentType  string
	want         int
	invalid      bool
}

func (w *apiWalk) do(c apiCall) []byte {
	t := w.t
	t.Helper()
	name := fmt.Sprintf("%s %s", c.method, c.path)
	newReq := func() *http.Request {
		var body io.Reader
		if c.body != nil {
			body = bytes.NewReader(c.body)
		}
		req, err := http.NewRequest(c.method, w.e.m.PublicURL()+c.path, body)
		require.NoError(t, err)
		switch c.token {
		case "merchant":
			req.Header.Set("Authorization", "Bearer "+w.e.m.Config.APITokens.Merchant)
		case "finance":
			req.Header.Set("Authorization", "Bearer "+w.e.m.Config.APITokens.Finance)
		case "basic":
			req.SetBasicAuth("finance", w.e.m.Config.APITokens.Finance)
		}
		if c.contentType != "" {
			req.Header.Set("Content-Type", c.contentType)
		}
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		return req
	}

	vreq := newReq()
	route, params, err := w.router.FindRoute(vreq)
	require.NoError(t, err, "%s is a documented operation", name)
	in := &openapi3filter.RequestValidationInput{
		Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{
			// The service checks the tokens; the walk's 401s show it.
			AuthenticationFunc: func(context.Context, *openapi3filter.AuthenticationInput) error { return nil },
		},
	}
	err = openapi3filter.ValidateRequest(context.Background(), in)
	if c.invalid {
		require.Error(t, err, "%s: the document refuses this request", name)
	} else {
		require.NoError(t, err, "%s: the request is as documented", name)
	}

	resp, err := w.e.http.Do(newReq())
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, c.want, resp.StatusCode, "%s: %s", name, b)

	in.Request = newReq() // unread, for the response's check
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(b)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	})
	require.NoError(t, err, "%s: the %d answer is as documented: %s", name, resp.StatusCode, b)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && !strings.HasPrefix(route.Path, "/api/v1/openapi") {
		require.NoError(t, snakeCaseJSON(b), "%s: %s", name, b)
	}
	w.seen[route.Method+" "+route.Path+" "+fmt.Sprint(resp.StatusCode)] = true
	return b
}

// snakeCaseJSON says what in a JSON document is not as our API writes
// JSON: a key that is not snake_case (a Go field name such as RanAt) or a
// null (an empty list is [], an absent value is left out).
func snakeCaseJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	key := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	var walk func(path string, v any) error
	walk = func(path string, v any) error {
		switch v := v.(type) {
		case nil:
			return fmt.Errorf("%s is null", path)
		case map[string]any:
			for k, e := range v {
				if !key.MatchString(k) {
					return fmt.Errorf("key %q at %s is not snake_case", k, path)
				}
				if err := walk(path+"."+k, e); err != nil {
					return err
				}
			}
		case []any:
			for i, e := range v {
				if err := walk(fmt.Sprintf("%s[%d]", path, i), e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk("$", v)
}

func TestSnakeCaseCheckerCatchesGoKeys(t *testing.T) {
	for _, bad := range []string{
		`{"From":"2026-01-01"}`,
		`{"from":"2026-01-01","RanAt":"2026-01-02T00:00:00Z"}`,
		`{"matches":[{"LineKeys":[]}]}`,
		`{"a":{"kcoOrderID":"x"}}`,
		`{"exceptions":null}`,
		`{"Exceptions":null}`,
		`{"a":[1,null]}`,
	} {
		require.Error(t, snakeCaseJSON([]byte(bad)), bad)
	}
	for _, good := range []string{
		`{"from":"2026-01-01","ran_at":"x","matches":[],"exceptions":[{"line_keys":["a"],"kco_order_id":"x","amount":1}]}`,
		`{"error":{"code":"invalid","message":"m","request_id":"r1"}}`,
	} {
		require.NoError(t, snakeCaseJSON([]byte(good)), good)
	}
}

func TestOpenAPIConformance(t *testing.T) {
	// The outbox runs only when told, so that a notification waits for
	// its redelivery and is delivered when the walk says.
	e := startMain(t, nil, func(m *Main) { m.NoLoops = true })
	doc := loadAPIDoc(t, web.OpenAPIYAML)
	doc.Servers = openapi3.Servers{{URL: e.m.PublicURL()}}
	router, err := legacy.NewRouter(doc)
	require.NoError(t, err)
	w := &apiWalk{t: t, e: e, router: router, seen: map[string]bool{}}

	// Two payments, authorized.
	p := e.paid()
	p2 := e.paid()
	e.settle()
	amount := p.Amount.Value
	unit := p.Unit

	w.do(apiCall{method: "GET", path: "/api/v1/openapi.yaml", want: 200})
	w.do(apiCall{method: "GET", path: "/api/v1/openapi.json", want: 200})

	// EPM.
	w.do(apiCall{method: "GET", path: "/api/v1/epm/" + unit + "?kco_order_id=" + p.KCOOrderID + "&locale=nb-NO", token: "merchant", want: 200})
	w.do(apiCall{method: "GET", path: "/api/v1/epm/" + unit + "?kco_order_id=..%2Fetc", token: "merchant", want: 400})
	w.do(apiCall{method: "GET", path: "/api/v1/epm/no-such-unit?kco_order_id=" + p.KCOOrderID, token: "merchant", want: 404})
	// Signing is on in the sandbox: an entry with no order id would be
	// refused to every shopper, so it is refused here.
	noOrder := w.do(apiCall{method: "GET", path: "/api/v1/epm/" + unit, token: "merchant", want: 400})
	require.Contains(t, string(noOrder), "kco_order_id_required")

	// Payments.
	w.do(apiCall{method: "GET", path: "/api/v1/payments?kco_order_id=" + p.KCOOrderID, token: "merchant", want: 200})
	w.do(apiCall{method: "GET", path: "/api/v1/payments?kco_order_id=" + e.order(nil).OrderID, token: "merchant", want: 200})
	w.do(apiCall{method: "GET", path: "/api/v1/payments", token: "merchant", want: 400})
	w.do(apiCall{method: "GET", path: "/api/v1/payments?kco_order_id=..%2F", token: "merchant", want: 400})
	w.do(apiCall{method: "GET", path: "/api/v1/payments/" + p.Reference, token: "merchant", want: 200})
	w.do(apiCall{method: "GET", path: "/api/v1/payments/no-such-payment", token: "merchant", want: 404})
	w.do(apiCall{method: "GET", path: "/api/v1/payments/" + p.Reference + "/log", token: "merchant", want: 200})
	w.do(apiCall{method: "GET", path: "/api/v1/payments/no-such-payment/log", token: "merchant", want: 404})

	// Operations.
	amt := func(v int64) []byte {
		return fmt.Appendf(nil, `{"amount":{"value":%d,"currency":%q}}`, v, p.Amount.Currency)
	}
	op := func(kind, ref, key string, body []byte, want int, invalid bool) []byte {
		h := map[string]string{}
		if key != "" {
			h["Idempotency-Key"] = key
		}
		ct := ""
		if body != nil {
			ct = "application/json"
		}
		return w.do(apiCall{method: "POST", path: "/api/v1/payments/" + ref + "/" + kind, token: "merchant", header: h, body: body, contentType: ct, want: want, invalid: invalid})
	}
	// Every operation refuses a request without a token, however right
	// the rest of it is.
	sample, err := os.ReadFile("vipps/settlement/testdata/xml/Example-Net.xml")
	require.NoError(t, err)
	for path, item := range doc.Paths.Map() {
		for method, o := range item.Operations() {
			if o.Security != nil && len(*o.Security) == 0 {
				continue // public
			}
			c := apiCall{method: method, want: http.StatusUnauthorized, header: map[string]string{}}
			c.path = strings.NewReplacer("{unit}", unit, "{reference}", p.Reference, "{id}", "n1", "{provider}", "vipps").Replace(path)
			if o.Parameters.GetByInAndName("header", "Idempotency-Key") != nil {
				c.header["Idempotency-Key"] = "unauthorized"
			}
			switch {
			case o.RequestBody == nil:
			case strings.Contains(path, "settlements"):
				c.body, c.contentType = sample, "application/xml"
			default:
				c.body, c.contentType = amt(1), "application/json"
			}
			w.do(c)
		}
	}

	op("capture", p.Reference, "cap-1", amt(amount), 200, false)
	op("capture", p.Reference, "cap-1", amt(amount), 200, false) // replayed
	op("capture", p.Reference, "cap-1", amt(1), 409, false)      // the key with another request
	op("capture", p.Reference, "", amt(1), 400, true)
	op("capture", p.Reference, "cap-2", []byte(`{"amount":{}}`), 400, true)
	op("capture", p.Reference, "cap-3", []byte(`{"amount":{"value":1,"currency":"NOK"},"extra":1}`), 400, true)
	op("capture", p.Reference, "cap-4", amt(1), 422, false) // nothing left to capture
	op("capture", "no-such-payment", "cap-5", amt(1), 404, false)
	op("refund", p.Reference, "ref-1", amt(100), 200, false)
	op("refund", p.Reference, "ref-1", amt(200), 409, false)
	op("refund", p.Reference, "", amt(100), 400, true)
	op("refund", p.Reference, "ref-2", amt(amount*10), 422, false)
	op("refund", "no-such-payment", "ref-3", amt(1), 404, false)
	op("cancel", p2.Reference, "can-1", nil, 200, false)
	op("cancel", p.Reference, "can-1", nil, 409, false) // the key was for another payment
	op("cancel", p2.Reference, "", nil, 400, true)
	op("cancel", p.Reference, "can-2", nil, 422, false) // fully captured
	op("cancel", "no-such-payment", "can-3", nil, 404, false)
	e.settle()

	// Notifications: the operations made some, none sent yet.
	var list struct {
		Notifications []struct {
			ID, State string
		} `json:"notifications"`
	}
	require.NoError(t, json.Unmarshal(w.do(apiCall{method: "GET", path: "/api/v1/notifications?reference=" + p.Reference + "&state=pending&limit=10", token: "merchant", want: 200}), &list))
	require.NotEmpty(t, list.Notifications, "the capture was notified")
	id := list.Notifications[0].ID
	w.do(apiCall{method: "GET", path: "/api/v1/notifications", token: "merchant", want: 200})
	w.do(apiCall{method: "GET", path: "/api/v1/notifications?state=lost", token: "merchant", want: 400, invalid: true})
	w.do(apiCall{method: "GET", path: "/api/v1/notifications?limit=0", token: "merchant", want: 400, invalid: true})
	w.do(apiCall{method: "GET", path: "/api/v1/notifications/" + id, token: "merchant", want: 200})
	w.do(apiCall{method: "GET", path: "/api/v1/notifications/no-such-notification", token: "merchant", want: 404})
	w.do(apiCall{method: "POST", path: "/api/v1/notifications/" + id + "/redeliver", token: "merchant", want: 202})
	w.do(apiCall{method: "POST", path: "/api/v1/notifications/no-such-notification/redeliver", token: "merchant", want: 404})
	for range 5 {
		_, err := e.m.Service.DeliverOnce(context.Background())
		require.NoError(t, err)
	}
	w.do(apiCall{method: "GET", path: "/api/v1/notifications?state=delivered", token: "merchant", want: 200})
	w.do(apiCall{method: "POST", path: "/api/v1/notifications/" + id + "/redeliver", token: "merchant", want: 409})

	// Finance: a settlement file, a sync, the reconciliation.
	w.do(apiCall{method: "POST", path: "/api/v1/settlements/vipps?name=Example-Net.xml", token: "finance", body: sample, contentType: "application/xml", want: 200})
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	fw, err := mw.CreateFormFile("file", "settlement-report.csv")
	require.NoError(t, err)
	csvSample, err := os.ReadFile("vipps/settlement/testdata/csv/settlement-report.csv")
	require.NoError(t, err)
	_, _ = fw.Write(csvSample)
	require.NoError(t, mw.Close())
	w.do(apiCall{method: "POST", path: "/api/v1/settlements/vipps", token: "finance", body: mp.Bytes(), contentType: mw.FormDataContentType(), want: 200})
	w.do(apiCall{method: "POST", path: "/api/v1/settlements/vipps?name=bad.xml", token: "finance", body: []byte("<SettlementReport>"), contentType: "application/xml", want: 400})
	w.do(apiCall{method: "POST", path: "/api/v1/settlements/kustom?separator=tab", token: "finance", body: []byte("a\tb\n"), contentType: "text/csv", want: 400, invalid: true})
	w.do(apiCall{method: "POST", path: "/api/v1/settlements/paypal", token: "finance", body: []byte("x"), contentType: "application/octet-stream", want: 404})
	w.do(apiCall{method: "POST", path: "/api/v1/settlements/vipps", token: "finance", body: sample, contentType: "application/xml", header: map[string]string{"Origin": "https://elsewhere.example"}, want: 403})
	w.do(apiCall{method: "POST", path: "/api/v1/settlements/vipps", token: "basic", body: sample, contentType: "application/xml", want: 401})

	today := osloDay(e.clock.Now())
	weekAgo := osloDay(e.clock.Now().AddDate(0, 0, -7))
	w.do(apiCall{method: "POST", path: "/api/v1/settlements/sync?from=" + weekAgo + "&to=" + today, token: "finance", want: 200})
	w.do(apiCall{method: "POST", path: "/api/v1/settlements/sync?from=2026-13-45", token: "finance", want: 400})
	w.do(apiCall{method: "POST", path: "/api/v1/settlements/sync?from=yesterday", token: "finance", want: 400, invalid: true})
	w.do(apiCall{method: "POST", path: "/api/v1/settlements/sync", token: "finance", header: map[string]string{"Sec-Fetch-Site": "cross-site"}, want: 403})

	w.do(apiCall{method: "GET", path: "/api/v1/reconciliation?from=2018-01-01&to=2018-12-31", token: "finance", want: 200})
	w.do(apiCall{method: "GET", path: "/api/v1/reconciliation?from=2018-01-01&to=2018-12-31", token: "basic", want: 200})
	w.do(apiCall{method: "GET", path: "/api/v1/reconciliation", token: "finance", want: 200})
	w.do(apiCall{method: "GET", path: "/api/v1/reconciliation?from=2018-01-01&to=2018-12-31&format=csv", token: "finance", want: 200})
	w.do(apiCall{method: "GET", path: "/api/v1/reconciliation?from=2018-01-01&to=2018-12-31&format=csv&dialect=no", token: "finance", want: 200})
	w.do(apiCall{method: "GET", path: "/api/v1/reconciliation?format=csv&dialect=sv", token: "finance", want: 400, invalid: true})
	w.do(apiCall{method: "GET", path: "/api/v1/reconciliation?from=2026-02-30", token: "finance", want: 400})
	w.do(apiCall{method: "GET", path: "/api/v1/reconciliation?from=2026-03-01&to=2026-02-01", token: "finance", want: 400})
	w.do(apiCall{method: "GET", path: "/api/v1/reconciliation?format=xml", token: "finance", want: 400, invalid: true})

	// Every documented answer was given, but those the walk cannot cause
	// on a healthy service.
	notWalked := map[string]string{
		"500": "a fault of ours; errors_test and the fault tests make internal errors",
		"503": "our database out of reach; TestOutage and the store tests take it away",
		"502": "a provider out of reach or with an unknown outcome; the fault tests (fault_test.go) cause it",
	}
	var missing []string
	for path, item := range doc.Paths.Map() {
		for method, o := range item.Operations() {
			for status := range o.Responses.Map() {
				if _, ok := notWalked[status]; ok {
					continue
				}
				if !w.seen[method+" "+path+" "+status] {
					missing = append(missing, method+" "+path+" "+status)
				}
			}
		}
	}
	slices.Sort(missing)
	require.Empty(t, missing, "documented answers the walk did not produce")
}

// The command line's reconcile -format json is the API's JSON.
func TestReconcileCommandJSONIsTheAPIs(t *testing.T) {
	raw := testConfigRaw(t)
	b, err := yaml.Marshal(raw)
	require.NoError(t, err)
	cfgFile := t.TempDir() + "/config.yaml"
	require.NoError(t, os.WriteFile(cfgFile, b, 0o600))
	e := startMain(t, func(c *config.Config) { c.Storage.DSN = raw.Storage.DSN })

	sample, err := os.ReadFile("vipps/settlement/testdata/xml/Example-Net.xml")
	require.NoError(t, err)
	status, body := e.finance("POST", "/api/v1/settlements/vipps?name=Example-Net.xml", bytes.NewReader(sample))
	require.Equal(t, http.StatusOK, status, string(body))

	const from, to = "2018-01-01", "2018-12-31"
	status, api := e.finance("GET", "/api/v1/reconciliation?from="+from+"&to="+to, nil)
	require.Equal(t, http.StatusOK, status, string(api))
	var cli bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"-config", cfgFile, "reconcile", "-from", from, "-to", to, "-format", "json"}, noEnv, &cli, io.Discard))

	// They ran at different times; everything else is the same.
	strip := func(b []byte) map[string]any {
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m), string(b))
		ran, ok := m["ran_at"].(string)
		require.True(t, ok, "ran_at is there")
		_, err := time.Parse(time.RFC3339Nano, ran)
		require.NoError(t, err)
		delete(m, "ran_at")
		return m
	}
	a, c := strip(api), strip(cli.Bytes())
	require.NotEmpty(t, a["exceptions"], "the sample's lines are not ours: a reconciliation with something in it")
	require.Equal(t, a, c)
	require.NoError(t, snakeCaseJSON(cli.Bytes()))
}
