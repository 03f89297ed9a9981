package vippstest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The operation names that Calls counts.
const (
	OpToken           = "token"
	OpCreate          = "create"
	OpGet             = "get"
	OpEvents          = "events"
	OpCapture         = "capture"
	OpCancel          = "cancel"
	OpRefund          = "refund"
	OpApprove         = "approve" // the test-only force approve
	OpWebhookRegister = "webhook-register"
	OpWebhookList     = "webhook-list"
	OpWebhookDelete   = "webhook-delete"
	OpLanding         = "landing"
	OpLandingApprove  = "landing-approve"
	OpLandingReject   = "landing-reject"
	OpLedgers         = "ledgers"     // Report API: GET /settlement/v1/ledgers
	OpReportDate      = "report-date" // Report API: a ledger date
	OpReportFeed      = "report-feed" // Report API: the feed
	OpAccountingToken = "miami-token" // POST /miami/v1/token (accounting keys)
	OpUnknown         = "unknown"     // a path or method no API serves
)

// apiOps are the operations behind the API gateway: they are the ones that
// fault injection hits unless Faults.Ops says otherwise.
var apiOps = []string{OpToken, OpCreate, OpGet, OpEvents, OpCapture, OpCancel, OpRefund,
	OpApprove, OpWebhookRegister, OpWebhookList, OpWebhookDelete, OpLedgers, OpReportDate, OpReportFeed,
	OpEcomInitiate, OpEcomDetails, OpEcomCapture, OpEcomCancel, OpEcomRefund, OpEcomApprove}

const maxBodyBytes = 1 << 20

// bodyRule says whether an operation takes a JSON body.
type bodyRule int

const (
	bodyNone bodyRule = iota
	bodyOptional
	bodyRequired
)

type route struct {
	op   string
	api  bool // behind APIM: needs token, subscription key and MSN
	body bodyRule
	// limit is the gateway's rate limit, checked after authentication and
	// before anything else about the request.
	limit  func(c *call) (response, bool)
	handle func(c *call) response
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	add := func(pattern string, rt route) { mux.Handle(pattern, s.serve(rt)) }

	add("POST /accesstoken/get", route{op: OpToken, handle: s.handleToken})
	add("POST /miami/v1/token", route{op: OpAccountingToken, handle: s.handleAccountingToken})

	add("POST /epayment/v1/payments", route{op: OpCreate, api: true, body: bodyRequired, limit: limitCreate, handle: s.handleCreate})
	add("GET /epayment/v1/payments/{reference}", route{op: OpGet, api: true, limit: limitQuery, handle: s.handleGet})
	add("GET /epayment/v1/payments/{reference}/events", route{op: OpEvents, api: true, limit: limitQuery, handle: s.handleEvents})
	add("POST /epayment/v1/payments/{reference}/capture", route{op: OpCapture, api: true, body: bodyRequired, limit: limitModify, handle: s.handleCapture})
	add("POST /epayment/v1/payments/{reference}/cancel", route{op: OpCancel, api: true, body: bodyOptional, limit: limitModify, handle: s.handleCancel})
	add("POST /epayment/v1/payments/{reference}/refund", route{op: OpRefund, api: true, body: bodyRequired, limit: limitModify, handle: s.handleRefund})
	// The spec puts force approve under /test/; the current guide also
	// shows it without. Both reach the same handler.
	add("POST /epayment/v1/test/payments/{reference}/approve", route{op: OpApprove, api: true, body: bodyRequired, handle: s.handleForceApprove})
	add("POST /epayment/v1/payments/{reference}/approve", route{op: OpApprove, api: true, body: bodyRequired, handle: s.handleForceApprove})

	s.ecomRoutes(add)

	add("POST /webhooks/v1/webhooks", route{op: OpWebhookRegister, api: true, body: bodyRequired, handle: s.handleWebhookRegister})
	add("GET /webhooks/v1/webhooks", route{op: OpWebhookList, api: true, handle: s.handleWebhookList})
	add("DELETE /webhooks/v1/webhooks/{id}", route{op: OpWebhookDelete, api: true, handle: s.handleWebhookDelete})

	add("GET /settlement/v1/ledgers", route{op: OpLedgers, api: true, handle: s.handleLedgers})
	add("GET /report/v2/ledgers/{ledgerId}/{topic}/dates/{ledgerDate}", route{op: OpReportDate, api: true, handle: s.handleReportDate})
	add("GET /report/v2/ledgers/{ledgerId}/{topic}/feed", route{op: OpReportFeed, api: true, handle: s.handleReportFeed})

	add("GET /landing", route{op: OpLanding, handle: s.handleLanding})
	add("POST /landing/approve", route{op: OpLandingApprove, handle: s.handleLandingApprove})
	add("POST /landing/reject", route{op: OpLandingReject, handle: s.handleLandingReject})

	// APIM answers an unknown operation (or a known path with the wrong
	// method) with 404 "Resource not found".
	add("/", route{op: OpUnknown, handle: func(*call) response {
		return apimError(http.StatusNotFound, "Resource not found")
	}})
	return mux
}

// call is one request being handled, with s.mu held.
type call struct {
	s       *Server
	op      string
	r       *http.Request
	body    []byte
	unit    *SalesUnit // set by authenticate
	granted []string   // an accounting partner's MSNs, set by authenticate
	traceID string
}

// response is computed under the lock and written after it is released, so
// that an injected hang never blocks other requests.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) clone() response {
	return response{status: r.status, header: r.header.Clone(), body: bytes.Clone(r.body)}
}

func (r response) write(w http.ResponseWriter) {
	for k, vs := range r.header {
		w.Header()[k] = vs
	}
	w.WriteHeader(r.status)
	_, _ = w.Write(r.body)
}

func jsonResponse(status int, v any) response {
	return response{
		status: status,
		header: http.Header{"Content-Type": {"application/json; charset=utf-8"}},
		body:   marshalJSON(v),
	}
}

// marshalJSON encodes the fake's own wire types without HTML escaping, as
// the real API does. The types cannot fail to encode.
func marshalJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("vippstest: encoding " + err.Error())
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func (s *Server) serve(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		s.mu.Lock()
		rec := s.record(rt.op, r, body)
		c := &call{s: s, op: rt.op, r: r, body: body, traceID: s.traceID()}
		var resp response
		var hang time.Duration
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			resp = c.problem(http.StatusRequestEntityTooLarge, "Payload Too Large", "The request body is larger than 1 MiB.", nil)
		case err != nil:
			resp = c.problem(http.StatusBadRequest, "Bad Request", "The request body could not be read.", nil)
		case s.injectServerError(rt.op):
			resp = c.fail(errInternal, "Injected fault: the request was not processed.")
		default:
			s.advance()
			resp = s.dispatch(c, rt)
			hang = s.injectHang(rt.op)
		}
		rec.Status = resp.status
		s.mu.Unlock()

		if hang > 0 {
			t := time.NewTimer(hang)
			defer t.Stop()
			select {
			case <-r.Context().Done():
				return // the client gave up; what it does not see is "outcome unknown"
			case <-s.ctx.Done():
				return
			case <-t.C:
			}
		}
		resp.write(w)
	})
}

func (s *Server) dispatch(c *call, rt route) response {
	if rt.api {
		if resp, ok := c.authenticate(); !ok {
			return resp
		}
		if rt.limit != nil {
			if resp, ok := rt.limit(c); !ok {
				return resp
			}
		}
		if resp, ok := c.checkSystemHeaders(); !ok {
			return resp
		}
	}
	if rt.body != bodyNone && (rt.body == bodyRequired || len(bytes.TrimSpace(c.body)) > 0) {
		if resp, ok := c.checkJSONContentType(); !ok {
			return resp
		}
	}
	if rt.body == bodyRequired && len(bytes.TrimSpace(c.body)) == 0 {
		return c.invalid(field("body", "A non-empty request body is required."))
	}
	return rt.handle(c)
}

// checkSystemHeaders enforces the 30-character limit of the Vipps-System-*
// headers; they are optional for merchants.
func (c *call) checkSystemHeaders() (response, bool) {
	var errs fieldErrors
	for _, h := range systemHeaders {
		if v := c.r.Header.Get(h); len(v) > 30 {
			errs.add(h, "The field %s must be a string with a maximum length of 30.", h)
		}
	}
	if len(errs) > 0 {
		return c.invalid(errs...), false
	}
	return response{}, true
}

var systemHeaders = []string{"Vipps-System-Name", "Vipps-System-Version", "Vipps-System-Plugin-Name", "Vipps-System-Plugin-Version"}

func (c *call) checkJSONContentType() (response, bool) {
	ct := c.r.Header.Get("Content-Type")
	mediaType, _, _ := strings.Cut(ct, ";")
	mediaType = strings.ToLower(strings.TrimSpace(mediaType))
	if mediaType != "application/json" && !(strings.HasPrefix(mediaType, "application/") && strings.HasSuffix(mediaType, "+json")) {
		return c.problem(http.StatusUnsupportedMediaType, "Unsupported Media Type",
			"Content-Type must be application/json, got "+strconv.Quote(ct)+".", nil), false
	}
	return response{}, true
}

// Problems (RFC 7807).

type extraDetail struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

type problemJSON struct {
	Type         string        `json:"type"`
	Title        string        `json:"title"`
	Detail       string        `json:"detail,omitempty"`
	Instance     string        `json:"instance"`
	Status       int           `json:"status"`
	TraceID      string        `json:"traceId"`
	ExtraDetails []extraDetail `json:"extraDetails,omitempty"`
}

// instance is the request path as the API behind the gateway sees it: the
// real examples show "/v1/payments/…/capture", without "/epayment".
func (c *call) instance() string {
	p := c.r.URL.Path
	for _, prefix := range []string{"/epayment", "/webhooks"} {
		if strings.HasPrefix(p, prefix+"/") {
			return strings.TrimPrefix(p, prefix)
		}
	}
	return p
}

func (c *call) problem(status int, title, detail string, extra []extraDetail) response {
	resp := jsonResponse(status, problemJSON{
		Type:         "https://httpstatuses.io/" + strconv.Itoa(status),
		Title:        title,
		Detail:       detail,
		Instance:     c.instance(),
		Status:       status,
		TraceID:      c.traceID,
		ExtraDetails: extra,
	})
	resp.header.Set("Content-Type", "application/problem+json; charset=utf-8")
	return resp
}

// errorCode is a domain error of the ePayment API: its HTTP status, its
// numeric code and its title.
type errorCode struct {
	status int
	code   string
	title  string
}

var (
	errInternal               = errorCode{500, "3010", "Internal error"}
	errCaptureIdempotency     = errorCode{409, "4010", "Capture idempotency conflict"}
	errIdempotency            = errorCode{409, "4020", "Idempotency error"}
	errInvalidAmount          = errorCode{400, "4040", "Invalid amount"}
	errInvalidPhone           = errorCode{400, "4070", "Invalid phone number"}
	errInvalidURL             = errorCode{400, "4090", "Invalid URL"}
	errMetadataCapacity       = errorCode{400, "4100", "Metadata capacity exceeded"}
	errMetadataDuplicate      = errorCode{400, "4110", "Metadata duplicate keys not allowed"}
	errMetadataKeyLength      = errorCode{400, "4120", "Metadata key length exceeded"}
	errMetadataValueLength    = errorCode{400, "4130", "Metadata value length exceeded"}
	errMissingParameter       = errorCode{400, "4140", "Missing required parameter"}
	errReferenceExists        = errorCode{409, "4150", "Reference already exists"}
	errRefundIdempotency      = errorCode{409, "4150", "Refund idempotency conflict"}
	errInvalidCurrency        = errorCode{400, "5040", "Invalid currency for merchant"}
	errLongLivingNotAllowed   = errorCode{400, "5050", "Long-living payment not allowed"}
	errCannotCreate           = errorCode{422, "5070", "Payment cannot be created"}
	errPushNotAllowed         = errorCode{403, "5080", "PUSH_MESSAGE not allowed"}
	errReferenceNotFound      = errorCode{404, "5090", "Reference not found"}
	errRefundNotPossible      = errorCode{400, "5100", "Refund not possible"}
	errAmountTooSmall         = errorCode{400, "6010", "Amount too small"}
	errRefundBeforeReserve    = errorCode{400, "6020", "Attempted refund before reservation"}
	errCancelPeriodExpired    = errorCode{400, "6030", "Cancel period expired"}
	errCannotCancelCaptured   = errorCode{400, "6040", "Cannot cancel a captured payment"}
	errCannotCancelAuthorized = errorCode{400, "6060", "Cannot cancel authorized payment"}
	errCaptureCancelled       = errorCode{400, "6070", "Cannot capture a cancelled payment"}
	errCaptureBeforeReserve   = errorCode{400, "6080", "Cannot capture before reservation"}
	errCaptureTooHigh         = errorCode{400, "6090", "Capture amount too high"}
	errCapturePeriodExpired   = errorCode{400, "6100", "Capture period expired"}
	errExpiresTooLate         = errorCode{400, "6110", "Expiration date is too late"}
	errExpiresTooSoon         = errorCode{400, "6120", "Expiration date is too soon"}
	errLongLivingNeedsReceipt = errorCode{400, "6130", "Long living payments require a receipt"}
	errMustCaptureFull        = errorCode{400, "6140", "Must capture full amount"}
	errNotEnoughRefundable    = errorCode{400, "6150", "Not enough refundable"}
	errAlreadyCaptured        = errorCode{400, "6170", "Payment already captured"}
	errCannotCancel           = errorCode{400, "6190", "Payment cannot be cancelled"}
	errCannotCapture          = errorCode{400, "6200", "Payment cannot be captured"}
	errCannotRefund           = errorCode{400, "6210", "Payment cannot be refunded"}
	errRefundPeriodExpired    = errorCode{400, "6220", "Refund period expired"}
	errAlreadyReserved        = errorCode{400, "6230", "Payment is already reserved"}
	errApproveFailed          = errorCode{400, "10010", "Approve failed"}
	errApproveNotAllowed      = errorCode{400, "10020", "Approve not allowed"}
)

func (c *call) fail(e errorCode, detail string) response {
	return c.problem(e.status, e.title, detail, []extraDetail{{Name: "ErrorCode", Reason: e.code}})
}

// invalid is a validation error: 400, the fields in extraDetails, no code.
func (c *call) invalid(errs ...extraDetail) response {
	return c.problem(http.StatusBadRequest, "Bad Request", "One or more validation errors occurred.", errs)
}

// apimError is an error in the Azure API Management format, which the
// gateway uses for 401, 403, 404 and 429 before the API sees the request.
func apimError(status int, message string) response {
	return jsonResponse(status, struct {
		StatusCode int    `json:"statusCode"`
		Message    string `json:"message"`
	}{status, message})
}

// Recording.

// RecordedRequest is one request that reached the fake.
type RecordedRequest struct {
	Op       string // one of the Op* names
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
	Status   int // the status the fake answered with
	At       time.Time
}

// SystemHeaders returns the Vipps-System-* headers the request carried.
func (r RecordedRequest) SystemHeaders() map[string]string {
	out := map[string]string{}
	for _, h := range systemHeaders {
		if v := r.Header.Get(h); v != "" {
			out[h] = v
		}
	}
	return out
}

func (s *Server) record(op string, r *http.Request, body []byte) *RecordedRequest {
	rec := &RecordedRequest{
		Op:       op,
		Method:   r.Method,
		Path:     r.URL.Path,
		RawQuery: r.URL.RawQuery,
		Header:   r.Header.Clone(),
		Body:     bytes.Clone(body),
		At:       s.now(),
	}
	s.requests = trimOldest(append(s.requests, rec), s.opts.RecordLimit)
	s.calls[op]++
	return rec
}

// trimOldest keeps the last limit entries once the slice has grown a
// quarter beyond it, so that trimming costs little per append.
func trimOldest[T any](xs []T, limit int) []T {
	if len(xs) <= limit+limit/4 {
		return xs
	}
	return append([]T(nil), xs[len(xs)-limit:]...)
}
