package vipps

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// problemBody is the documented ePayment problem example, with odd spacing
// on purpose: the body must come back byte for byte.
const problemBody = `{"type":"https://httpstatuses.io/400",  "title":"Cannot capture before reservation","detail":"The payment must be reserved before it can be captured.","instance":"/v1/payments/acme-order-1234-1/capture","status":400,"extraDetails":[{"name":"ErrorCode","reason":"6080"}],"traceId":"00-813b6d3c0a4f8e2b9d7c6a5b4e3f2a1b-7c6b5a4d3e2f1a0b-01"}
`

func TestProblemJSONKeptWhole(t *testing.T) {
	ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.Header().Set("Request-Id", "req-42")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, problemBody)
	})
	c := newTestClient(t, testConfig(ts.URL(), &sleeper{}))
	_, err := c.Capture(context.Background(), "acme-order-1234-1", "capture-key-1", nok499)

	var e *Error
	require.True(t, errors.As(err, &e), "%v", err)
	assert.Equal(t, []byte(problemBody), e.Body)
	assert.Equal(t, http.StatusBadRequest, e.StatusCode)
	assert.Equal(t, "POST", e.Method)
	assert.Equal(t, "/epayment/v1/payments/acme-order-1234-1/capture", e.Path)
	assert.Equal(t, "https://httpstatuses.io/400", e.Type)
	assert.Equal(t, "Cannot capture before reservation", e.Title)
	assert.Equal(t, "The payment must be reserved before it can be captured.", e.Detail)
	assert.Equal(t, "/v1/payments/acme-order-1234-1/capture", e.Instance)
	assert.Equal(t, "00-813b6d3c0a4f8e2b9d7c6a5b4e3f2a1b-7c6b5a4d3e2f1a0b-01", e.TraceID)
	assert.Equal(t, "6080", e.ErrorCode)
	assert.Equal(t, []ExtraDetail{{Name: "ErrorCode", Reason: "6080"}}, e.ExtraDetails)
	assert.Equal(t, "req-42", e.RequestID)
	assert.Equal(t, "6080", ErrorCodeOf(err))
	assert.False(t, IsNotFound(err))
	assert.Contains(t, err.Error(), "400 Bad Request")
	assert.Contains(t, err.Error(), "error code 6080")
	assert.Contains(t, err.Error(), "Cannot capture before reservation")
}

func TestErrorShapes(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   Error // only the parsed fields are compared
		inText string
	}{
		{
			name: "Azure APIM statusCode/message", status: 401,
			body:   `{ "statusCode": 401, "message": "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription." }`,
			want:   Error{Title: "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."},
			inText: "401 Unauthorized: Access denied",
		},
		{
			name: "Azure responseInfo/result", status: 403,
			body:   `{"responseInfo":{"responseCode":403,"responseMessage":"Forbidden"},"result":{"message":"(An error from Azure API Management, possibly related to authentication)"}}`,
			want:   Error{Title: "Forbidden", Detail: "(An error from Azure API Management, possibly related to authentication)"},
			inText: "403 Forbidden: Forbidden: (An error from Azure",
		},
		{
			name: "validation problem", status: 400,
			body:   `{"type":"https://tools.ietf.org/html/rfc7231#section-6.5.1","title":"One or more validation errors occurred.","status":400,"traceId":"00-aa-bb-00","extraDetails":[{"name":"Reference","reason":"The field Reference must match the regular expression."}]}`,
			want:   Error{Type: "https://tools.ietf.org/html/rfc7231#section-6.5.1", Title: "One or more validation errors occurred.", TraceID: "00-aa-bb-00", ExtraDetails: []ExtraDetail{{Name: "Reference", Reason: "The field Reference must match the regular expression."}}},
			inText: "Reference: The field Reference must match",
		},
		{
			name: "ASP.NET errors map", status: 400,
			body: `{"title":"One or more validation errors occurred.","status":400,"errors":{"url":["The url field is required."],"events":["At least one event."]}}`,
			want: Error{Title: "One or more validation errors occurred.", ExtraDetails: []ExtraDetail{{Name: "events", Reason: "At least one event."}, {Name: "url", Reason: "The url field is required."}}},
		},
		{
			name: "numeric error code", status: 400,
			body: `{"title":"x","extraDetails":[{"name":"ErrorCode","reason":6090}]}`,
			want: Error{Title: "x", ErrorCode: "6090", ExtraDetails: []ExtraDetail{{Name: "ErrorCode", Reason: "6090"}}},
		},
		{
			name: "eCom array", status: 402,
			body:   `[{"errorGroup":"Payment","errorCode":"44","errorMessage":"Refused by issuer because of expired card","contextId":"a1b2c3"}]`,
			want:   Error{Type: "Payment", ErrorCode: "44", Title: "Refused by issuer because of expired card", TraceID: "a1b2c3"},
			inText: "error code 44",
		},
		{
			name: "HTML from a gateway", status: 502,
			body:   `<html><body><h1>502 Bad Gateway</h1></body></html>`,
			inText: "502 Bad Gateway: <html>",
		},
		{name: "empty", status: 500, body: ``, inText: "500 Internal Server Error"},
		{name: "JSON string", status: 500, body: `"oops"`, inText: `"oops"`},
		{name: "wrong types", status: 400, body: `{"title":{"a":1},"extraDetails":"nope","result":"x"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newError("POST", "/epayment/v1/payments", &response{status: tt.status, body: []byte(tt.body)})
			assert.Equal(t, []byte(tt.body), e.Body, "the body is kept whole")
			assert.Equal(t, tt.status, e.StatusCode)
			assert.Equal(t, tt.want.Type, e.Type)
			assert.Equal(t, tt.want.Title, e.Title)
			assert.Equal(t, tt.want.Detail, e.Detail)
			assert.Equal(t, tt.want.TraceID, e.TraceID)
			assert.Equal(t, tt.want.ErrorCode, e.ErrorCode)
			assert.Equal(t, tt.want.ExtraDetails, e.ExtraDetails)
			assert.Contains(t, e.Error(), tt.inText)
		})
	}
}

// TestAzureErrorOverHTTP: an APIM error on an API call keeps its body and
// is not retried.
func TestAzureErrorOverHTTP(t *testing.T) {
	body := `{ "statusCode": 403, "message": "Out of call volume quota." }`
	ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		jsonReply(w, http.StatusForbidden, body)
	})
	c := newTestClient(t, testConfig(ts.URL(), &sleeper{}))
	_, err := c.GetEvents(context.Background(), "acme-order-1234-1")
	var e *Error
	require.True(t, errors.As(err, &e))
	assert.Equal(t, []byte(body), e.Body)
	assert.Equal(t, "Out of call volume quota.", e.Title)
	assert.Equal(t, "", ErrorCodeOf(err))
	assert.Len(t, ts.apiRequests(), 1)
}

func TestIsNotFound(t *testing.T) {
	ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"type":"https://httpstatuses.io/404","title":"Not Found","status":404,"extraDetails":[{"name":"ErrorCode","reason":"5090"}],"traceId":"t"}`)
	})
	c := newTestClient(t, testConfig(ts.URL(), &sleeper{}))
	_, err := c.GetPayment(context.Background(), "acme-order-missing")
	assert.True(t, IsNotFound(err))
	assert.Equal(t, "5090", ErrorCodeOf(err))
	assert.False(t, IsNotFound(errors.New("other")))
	assert.False(t, IsNotFound(nil))
	assert.Equal(t, "", ErrorCodeOf(nil))
	assert.True(t, IsNotFound(fmt.Errorf("wrapped: %w", err)))
}

func TestOutcomeUnknownErrorUnwraps(t *testing.T) {
	inner := &Error{StatusCode: 500, ErrorCode: "3010"}
	var err error = &OutcomeUnknownError{Op: "capture", Reference: "r", IdempotencyKey: "k", Err: inner}
	assert.ErrorIs(t, err, ErrOutcomeUnknown)
	assert.ErrorIs(t, fmt.Errorf("ctx: %w", err), ErrOutcomeUnknown)
	assert.Equal(t, "3010", ErrorCodeOf(err))
	assert.Contains(t, err.Error(), "outcome unknown")
	assert.Contains(t, err.Error(), `"k"`)
}

func FuzzParseErrorBody(f *testing.F) {
	f.Add([]byte(problemBody))
	f.Add([]byte(`{"statusCode":401,"message":"x"}`))
	f.Add([]byte(`{"responseInfo":{"responseCode":401,"responseMessage":"x"},"result":{"message":"y"}}`))
	f.Add([]byte(`[{"errorGroup":"Payment","errorCode":"44"}]`))
	f.Add([]byte(`{"errors":{"a":["b"]}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		orig := append([]byte(nil), body...)
		e := newError("GET", "/x", &response{status: 400, body: body})
		if string(e.Body) != string(orig) {
			t.Fatalf("body changed")
		}
		_ = e.Error()
	})
}
