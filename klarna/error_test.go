package klarna

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestParseError(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		header      http.Header
		body        string
		code        string
		messages    []string
		correlation string
		version     string
	}{
		{
			name:        "documented shape",
			status:      400,
			body:        `{"error_code":"BAD_VALUE","error_messages":["Bad value: order_amount","Bad value: locale"],"correlation_id":"1b4c6bfa-f182-43dd-bde0-6bec32a76cf0"}`,
			code:        "BAD_VALUE",
			messages:    []string{"Bad value: order_amount", "Bad value: locale"},
			correlation: "1b4c6bfa-f182-43dd-bde0-6bec32a76cf0",
		},
		{
			name:        "singular error_message merged, service_version kept",
			status:      403,
			body:        `{"error_code":"READ_ONLY_ORDER","error_messages":["Resource is read-only"],"error_message":"Order is complete","correlation_id":"c-1","service_version":"2.3.4"}`,
			code:        "READ_ONLY_ORDER",
			messages:    []string{"Resource is read-only", "Order is complete"},
			correlation: "c-1",
			version:     "2.3.4",
		},
		{
			name:     "only the singular message",
			status:   404,
			body:     `{"error_code":"NO_SUCH_ORDER","error_message":"Order not found"}`,
			code:     "NO_SUCH_ORDER",
			messages: []string{"Order not found"},
		},
		{
			name:   "HTML from a proxy",
			status: 502,
			body:   "<html><body><h1>502 Bad Gateway</h1></body></html>",
		},
		{
			name:        "empty body, correlation id from header",
			status:      401,
			header:      http.Header{"Klarna-Correlation-Id": {"hdr-42"}},
			correlation: "hdr-42",
		},
		{
			name:   "JSON of another shape",
			status: 500,
			body:   `["unexpected"]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := parseError("POST", "/checkout/v3/orders/x", tt.status, tt.header, []byte(tt.body))
			if e.StatusCode != tt.status || e.ErrorCode != tt.code || e.CorrelationID != tt.correlation || e.ServiceVersion != tt.version {
				t.Errorf("got %+v", e)
			}
			if !slices.Equal(e.ErrorMessages, tt.messages) {
				t.Errorf("messages = %q, want %q", e.ErrorMessages, tt.messages)
			}
			if string(e.Body) != tt.body {
				t.Errorf("body = %q, want the whole body %q", e.Body, tt.body)
			}
			if e.Method != "POST" || e.Path != "/checkout/v3/orders/x" {
				t.Errorf("method/path = %s %s", e.Method, e.Path)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	e := parseError("POST", "/checkout/v3/orders/abc", 403, nil,
		[]byte(`{"error_code":"READ_ONLY_ORDER","error_messages":["Resource is read-only"],"correlation_id":"c-9"}`))
	want := "klarna: POST /checkout/v3/orders/abc: 403 READ_ONLY_ORDER: Resource is read-only (correlation_id c-9)"
	if e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
	html := parseError("GET", "/checkout/v3/orders/abc", 502, nil, []byte("<h1>Bad Gateway</h1>"))
	if got := html.Error(); !strings.Contains(got, "502 Bad Gateway: <h1>Bad Gateway</h1>") {
		t.Errorf("Error() = %q", got)
	}
}

func TestErrorPredicates(t *testing.T) {
	notFound := fmt.Errorf("reading order: %w", &Error{StatusCode: 404})
	readOnly := fmt.Errorf("updating: %w", &Error{StatusCode: 403, ErrorCode: CodeReadOnlyOrder})
	if !IsNotFound(notFound) || IsNotFound(readOnly) || IsNotFound(errors.New("404")) {
		t.Error("IsNotFound")
	}
	if !IsReadOnlyOrder(readOnly) || IsReadOnlyOrder(notFound) {
		t.Error("IsReadOnlyOrder")
	}
}

func FuzzParseError(f *testing.F) {
	f.Add(400, []byte(`{"error_code":"BAD_VALUE","error_messages":["Bad value: locale"],"correlation_id":"x"}`))
	f.Add(403, []byte(`{"error_message":"x","error_messages":null}`))
	f.Add(502, []byte("<html>"))
	f.Add(500, []byte{0xff, 0xfe})
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := parseError("GET", "/p", status, nil, body)
		if string(e.Body) != string(body) {
			t.Fatal("body not kept whole")
		}
		_ = e.Error()
	})
}
