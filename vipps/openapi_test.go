package vipps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/require"
)

// specDir holds copies of the Vipps API specs the client is checked
// against; testdata/SOURCES.md says where each came from.
const specDir = "testdata"

// orderManagementRef is the remote document epayment.v1.yml takes its
// Receipt from. It is read from the newest Order Management spec instead
// of its 2.3.24 copy: 2.3.24 requires taxPercentage and has no taxRate,
// while Order Management now deprecates taxPercentage for taxRate, which
// is all the client sends.
const orderManagementRef = "https://raw.githubusercontent.com/vippsas/vipps-order-management-api/2.3.24/docs/swagger.yaml"

func specPath(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join(specDir, filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("spec %s: %v", p, err)
	}
	return p
}

// loadSpec loads a spec with external references allowed, reading the one
// remote reference of the ePayment spec from its local copy so the test
// never goes to the network.
func loadSpec(t *testing.T, rel string) *openapi3.T {
	t.Helper()
	p := specPath(t, rel)
	omCopy := specPath(t, "order-management/swagger.yaml")
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = true
	loader.ReadFromURIFunc = func(l *openapi3.Loader, u *url.URL) ([]byte, error) {
		if u.Scheme == "https" || u.Scheme == "http" {
			plain := *u
			plain.Fragment = ""
			if plain.String() != orderManagementRef {
				return nil, fmt.Errorf("unexpected remote reference %s", u)
			}
			return os.ReadFile(omCopy)
		}
		return openapi3.ReadFromFile(l, u)
	}
	doc, err := loader.LoadFromFile(p)
	require.NoError(t, err, "loading %s", p)
	return doc
}

// validator checks captured requests against one spec.
type validator struct {
	router routers.Router
	base   string // the server URL set in the doc
}

func newValidator(t *testing.T, doc *openapi3.T, base string, opts ...openapi3.ValidationOption) *validator {
	t.Helper()
	// The saved specs name the real Vipps hosts; route against the test
	// server instead (with the path prefix the client was given).
	doc.Servers = openapi3.Servers{{URL: base}}
	router, err := legacy.NewRouter(doc, opts...)
	require.NoError(t, err)
	return &validator{router: router, base: base}
}

// validate checks one request as the test server received it.
// excludeBody skips the body check for a body the spec does not describe.
func (v *validator) validate(t *testing.T, name string, rec recorded, serverURL string, excludeBody bool) {
	t.Helper()
	req, err := http.NewRequest(rec.Method, serverURL+rec.Path, bytes.NewReader(rec.Body))
	require.NoError(t, err)
	req.Header = rec.Header.Clone()
	route, params, err := v.router.FindRoute(req)
	require.NoError(t, err, "%s: %s %s has no route in the spec", name, rec.Method, rec.Path)
	err = openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
		Request:    req,
		PathParams: params,
		Route:      route,
		Options: &openapi3filter.Options{
			MultiError:                        true,
			ExcludeRequestBody:                excludeBody,
			RejectWhenRequestBodyNotSpecified: !excludeBody,
			AuthenticationFunc:                bearerPresent,
		},
	})
	if err != nil {
		t.Errorf("%s: %s %s does not match the spec:\n%v\nbody: %s", name, rec.Method, rec.Path, err, rec.Body)
	}
}

// bearerPresent stands in for Vipps' token check: both specs declare an
// apiKey scheme on the Authorization header, so the request must carry a
// bearer token.
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if !strings.HasPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ") {
		return errors.New("no bearer token")
	}
	return nil
}

// fixCustomerOneOf makes the Customer oneOf decidable. In the saved
// ePayment spec the three variants (CustomerPhoneNumber, PersonalQrCode,
// CustomerToken) have no required properties, so {"phoneNumber": …}
// matches all three and a strict oneOf check fails for every customer.
// Each variant is given its one property as required, which is what the
// spec text says ("specifying more than one of these will result in an
// error"). This corrects the document; the client's request is unchanged.
func fixCustomerOneOf(t *testing.T, doc *openapi3.T) {
	t.Helper()
	for name, prop := range map[string]string{
		"CustomerPhoneNumber": "phoneNumber",
		"PersonalQrCode":      "personalQr",
		"CustomerToken":       "customerToken",
	} {
		ref, ok := doc.Components.Schemas[name]
		require.True(t, ok, "schema %s", name)
		ref.Value.Required = []string{prop}
	}
}

// TestRequestsMatchOpenAPISpec sends real requests through the client to a
// test server and validates each against the saved specs: ePayment v1.4.1
// (with its Order Management 2.3.24 Receipt), the Webhooks API and the
// access token API.
//
// Differences allowed, all listed in notes/vipps.md §9 or §3.3:
//   - reference length: the spec says 8–50, the live API 8–64 (§9.1). The
//     references used here are within 50, so nothing is relaxed for it.
//   - OrderLine.taxRate (basis points) is a newer Order Management field
//     (§3.1, OM-SPEC) that 2.3.24 lacks. 2.3.24 does not forbid extra
//     properties, so it validates as is; taxPercentage, which 2.3.24
//     requires, is sent as well.
//   - cancel with {"cancelTransactionOnly":true}: the body is documented
//     (§3.3, EP-DOC cancel.md) but the v1.4.1 spec declares no body for
//     cancel, so that one request is checked without its body. The plain
//     cancel sends no body and is checked strictly.
//
// Corrected in the loaded documents: the Customer oneOf
// (fixCustomerOneOf), and the access token spec's invalid examples are not
// checked.
func TestRequestsMatchOpenAPISpec(t *testing.T) {
	const prefix = "/sandbox/vipps"
	ts := newPrefixedTestServer(t, prefix, okAPI)
	base := ts.URL()

	epayment := loadSpec(t, "epayment/epayment.v1.yml")
	fixCustomerOneOf(t, epayment)
	ep := newValidator(t, epayment, base)
	// The Webhooks spec puts /webhooks in its server URLs and /v1/webhooks
	// in its paths.
	wh := newValidator(t, loadSpec(t, "webhooks/swagger.yaml"), base+"/webhooks")
	// The access token spec's access_token examples end in " <truncated>",
	// which is not valid for their "byte" format, so the document fails its
	// own example check; the examples play no part in validating requests.
	at := newValidator(t, loadSpec(t, "access-token/swagger.yaml"), base, openapi3.DisableExamplesValidation())

	c := newTestClient(t, testConfig(base, &sleeper{}))
	ctx := context.Background()
	ref := "acme-order-1234-1"

	minimal := CreatePaymentRequest{
		Amount:        Amount{Currency: NOK, Value: 100},
		PaymentMethod: PaymentMethod{Type: "WALLET"},
		Reference:     "acme-order-1234-2",
		UserFlow:      UserFlowWebRedirect,
		ReturnURL:     "https://shop.example/return/abc",
	}
	tests := []struct {
		name        string
		spec        *validator
		call        func() error
		excludeBody bool
	}{
		{"create with receipt", ep, func() error { _, err := c.CreatePayment(ctx, "create-key-1", testCreateRequest()); return err }, false},
		{"create minimal", ep, func() error { _, err := c.CreatePayment(ctx, "create-key-2", minimal); return err }, false},
		{"get", ep, func() error { _, err := c.GetPayment(ctx, ref); return err }, false},
		{"events", ep, func() error { _, err := c.GetEvents(ctx, ref); return err }, false},
		{"capture", ep, func() error { _, err := c.Capture(ctx, ref, "capture-key-1", nok499); return err }, false},
		{"refund", ep, func() error {
			_, err := c.Refund(ctx, ref, "refund-key-1", Amount{Currency: NOK, Value: 100})
			return err
		}, false},
		{"cancel", ep, func() error { _, err := c.Cancel(ctx, ref, "cancel-key-1", false); return err }, false},
		{"cancel transaction only", ep, func() error { _, err := c.Cancel(ctx, ref, "cancel-key-2", true); return err }, true},
		{"force approve", ep, func() error { return c.ForceApprove(ctx, ref, "4791234567") }, false},
		{"webhook register", wh, func() error {
			_, err := c.RegisterWebhook(ctx, "https://shop.example/webhooks/vipps/webshop", EPaymentWebhookEvents)
			return err
		}, false},
		{"webhook list", wh, func() error { _, err := c.ListWebhooks(ctx); return err }, false},
		{"webhook delete", wh, func() error { return c.DeleteWebhook(ctx, "7a5f0b8e-3c1d-4e2f-8a9b-0c1d2e3f4a5b") }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(ts.apiRequests())
			require.NoError(t, tt.call())
			reqs := ts.apiRequests()
			require.Len(t, reqs, before+1)
			tt.spec.validate(t, tt.name, reqs[before], ts.Server.URL, tt.excludeBody)
		})
	}

	t.Run("token", func(t *testing.T) {
		tokens := ts.tokenRequests()
		require.Len(t, tokens, 1)
		at.validate(t, "token", tokens[0], ts.Server.URL, false)
	})
}

// TestOpenAPIValidationCatchesMistakes makes sure the validation above has
// teeth: requests that break the spec are reported.
func TestOpenAPIValidationCatchesMistakes(t *testing.T) {
	ts := newTestServer(t, okAPI)
	doc := loadSpec(t, "epayment/epayment.v1.yml")
	fixCustomerOneOf(t, doc)
	v := newValidator(t, doc, ts.URL())
	good := http.Header{}
	good.Set("Authorization", "Bearer x")
	good.Set("Ocp-Apim-Subscription-Key", "k")
	good.Set("Merchant-Serial-Number", "123456")
	good.Set("Idempotency-Key", "k1")
	good.Set("Content-Type", "application/json")
	tests := []struct {
		name   string
		header func(http.Header)
		body   string
	}{
		{"decimal amount", nil, `{"modificationAmount":{"currency":"NOK","value":499.5}}`},
		{"unknown currency", nil, `{"modificationAmount":{"currency":"SEK","value":100}}`},
		{"MSN as a 7-digit number", func(h http.Header) { h.Set("Merchant-Serial-Number", "1234567") }, `{"modificationAmount":{"currency":"NOK","value":100}}`},
		{"no idempotency key", func(h http.Header) { h.Del("Idempotency-Key") }, `{"modificationAmount":{"currency":"NOK","value":100}}`},
		{"no bearer", func(h http.Header) { h.Del("Authorization") }, `{"modificationAmount":{"currency":"NOK","value":100}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := good.Clone()
			if tt.header != nil {
				tt.header(h)
			}
			req, err := http.NewRequest("POST", ts.URL()+"/epayment/v1/payments/acme-order-1234-1/capture", strings.NewReader(tt.body))
			require.NoError(t, err)
			req.Header = h
			route, params, err := v.router.FindRoute(req)
			require.NoError(t, err)
			err = openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
				Request: req, PathParams: params, Route: route,
				Options: &openapi3filter.Options{AuthenticationFunc: bearerPresent},
			})
			require.Error(t, err)
		})
	}
}
