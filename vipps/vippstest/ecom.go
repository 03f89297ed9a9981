package vippstest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"
)

// The eCom API v2, as a view over the same payments as ePayment: "the eCom
// API uses the ePayment API behind the scenes", so an eCom payment can also
// be read and changed through ePayment (not the other way round), and its
// ePayment webhooks never fire. Instead the fake makes the eCom callback:
// one POST to {callbackPrefix}/v2/payments/{orderId}, unsigned, with the
// payment's authToken as Authorization, 3 s to answer, never retried.
// Errors are the eCom array [{errorGroup, errorCode, errorMessage,
// contextId}]. A unit with DirectCapture reports SALE: the reservation is
// captured the moment the user approves, with no capture call.

// Operation names of the eCom endpoints, as Calls counts them.
const (
	OpEcomInitiate = "ecom-initiate"
	OpEcomDetails  = "ecom-details"
	OpEcomCapture  = "ecom-capture"
	OpEcomCancel   = "ecom-cancel"
	OpEcomRefund   = "ecom-refund"
	OpEcomApprove  = "ecom-approve"
)

const ecomCallbackTimeout = 3 * time.Second

var orderIDPattern = regexp.MustCompile(`^[a-zA-Z0-9-]{1,50}$`)

// ecomInfo marks a payment initiated through eCom.
type ecomInfo struct {
	callbackPrefix string
	authToken      string
	text           string
	sale           bool // the unit captures at once (direct capture)
	// requestIDs are the X-Request-Ids already answered, per endpoint.
	requestIDs map[string]response
}

// EcomCallback is one callback the fake made (or lost).
type EcomCallback struct {
	OrderID       string
	URL           string
	Authorization string
	Status        string // RESERVED, SALE, CANCELLED, REJECTED, RESERVE_FAILED
	Body          []byte
	// Answer is the HTTP status, 0 when the request failed or was dropped.
	Answer  int
	Dropped bool
}

func (s *Server) ecomRoutes(add func(string, route)) {
	limit := func(n func() int) func(c *call) (response, bool) {
		return func(c *call) (response, bool) {
			return c.s.allow(c.op, c.unit.MSN, c.r.PathValue("orderId"), n())
		}
	}
	add("POST /ecomm/v2/payments", route{op: OpEcomInitiate, api: true, body: bodyRequired, handle: s.handleEcomInitiate})
	add("GET /ecomm/v2/payments/{orderId}/details", route{op: OpEcomDetails, api: true, limit: limit(s.queryLimit), handle: s.handleEcomDetails})
	add("POST /ecomm/v2/payments/{orderId}/capture", route{op: OpEcomCapture, api: true, body: bodyRequired, limit: limit(s.modifyLimit), handle: s.handleEcomCapture})
	add("PUT /ecomm/v2/payments/{orderId}/cancel", route{op: OpEcomCancel, api: true, body: bodyRequired, limit: limit(s.modifyLimit), handle: s.handleEcomCancel})
	add("POST /ecomm/v2/payments/{orderId}/refund", route{op: OpEcomRefund, api: true, body: bodyRequired, limit: limit(s.modifyLimit), handle: s.handleEcomRefund})
	add("POST /ecomm/v2/integration-test/payments/{orderId}/approve", route{op: OpEcomApprove, api: true, body: bodyRequired, handle: s.handleEcomApprove})
}

type ecomErrorJSON struct {
	ErrorGroup   string `json:"errorGroup"`
	ErrorCode    string `json:"errorCode"`
	ErrorMessage string `json:"errorMessage"`
	ContextID    string `json:"contextId"`
}

func (c *call) ecomFail(status int, group, code, msg string) response {
	return jsonResponse(status, []ecomErrorJSON{{ErrorGroup: group, ErrorCode: code, ErrorMessage: msg, ContextID: c.traceID}})
}

func (c *call) ecomInvalid(field, msg string) response {
	return c.ecomFail(http.StatusBadRequest, "InvalidRequest", field, msg)
}

// ecomPayment finds the caller's eCom payment of {orderId}: 35 when there
// is none (an ePayment payment is not visible through eCom).
func (c *call) ecomPayment() (*payment, response, bool) {
	id := c.r.PathValue("orderId")
	if !orderIDPattern.MatchString(id) {
		return nil, c.ecomInvalid("orderId", "orderId must match ^[a-zA-Z0-9-]{1,50}$"), false
	}
	p, ok := c.s.payments[paymentKey{msn: c.unit.MSN, reference: id}]
	if !ok || p.ecom == nil {
		return nil, c.ecomFail(http.StatusBadRequest, "Merchant", "35", "Requested Order not found"), false
	}
	return p, response{}, true
}

func (s *Server) handleEcomInitiate(c *call) response {
	var req struct {
		CustomerInfo *struct {
			MobileNumber string `json:"mobileNumber"`
		} `json:"customerInfo"`
		MerchantInfo *struct {
			MSN            string `json:"merchantSerialNumber"`
			CallbackPrefix string `json:"callbackPrefix"`
			FallBack       string `json:"fallBack"`
			AuthToken      string `json:"authToken"`
		} `json:"merchantInfo"`
		Transaction *struct {
			OrderID         string          `json:"orderId"`
			Amount          json.RawMessage `json:"amount"`
			TransactionText string          `json:"transactionText"`
		} `json:"transaction"`
	}
	if err := json.Unmarshal(c.body, &req); err != nil {
		return c.ecomInvalid("body", "The request body is not valid JSON: "+err.Error())
	}
	switch {
	case req.CustomerInfo == nil:
		return c.ecomInvalid("customerInfo", "customerInfo is required (it may be {})")
	case req.MerchantInfo == nil:
		return c.ecomInvalid("merchantInfo", "merchantInfo is required")
	case req.Transaction == nil:
		return c.ecomInvalid("transaction", "transaction is required")
	}
	m, t := req.MerchantInfo, req.Transaction
	amount, err := strconv.ParseInt(string(t.Amount), 10, 64)
	switch {
	case m.MSN != c.unit.MSN:
		return c.ecomInvalid("merchantSerialNumber", "merchantSerialNumber must be the sales unit of the access token")
	case !s.validCallbackURL(m.CallbackPrefix):
		return c.ecomInvalid("callbackPrefix", "callbackPrefix must be an https URL of at most 255 characters")
	case m.FallBack == "" || len(m.FallBack) > 255 || !s.validReturnURL(m.FallBack):
		return c.ecomInvalid("fallBack", "fallBack must be an https URL or a custom scheme of at most 255 characters")
	case len(m.AuthToken) > 255:
		return c.ecomInvalid("authToken", "authToken is at most 255 characters")
	case !orderIDPattern.MatchString(t.OrderID):
		return c.ecomInvalid("orderId", "orderId must match ^[a-zA-Z0-9-]{1,50}$")
	case err != nil:
		return c.ecomInvalid("amount", "amount must be an integer in øre")
	case amount < 100:
		return c.ecomInvalid("amount", "amount must be at least 100 øre")
	case t.TransactionText == "" || len([]rune(t.TransactionText)) > 100:
		return c.ecomInvalid("transactionText", "transactionText is required, at most 100 characters")
	case req.CustomerInfo.MobileNumber != "" && !regexp.MustCompile(`^\d{8}$`).MatchString(req.CustomerInfo.MobileNumber):
		return c.ecomInvalid("mobileNumber", "mobileNumber must be 8 digits without country code")
	case c.unit.Currency != "NOK":
		return c.ecomFail(http.StatusBadRequest, "Merchant", "37", "eCom payments are in NOK; this sales unit uses "+c.unit.Currency)
	}
	if resp, ok := s.allow(c.op, c.unit.MSN, t.OrderID, 2); !ok {
		return resp
	}
	k := paymentKey{msn: c.unit.MSN, reference: t.OrderID}
	if _, exists := s.payments[k]; exists {
		// Initiate is not idempotent: a repeat is refused, not answered.
		return c.ecomFail(http.StatusBadRequest, "Merchant", "34", "Unique constraint violation of the orderId")
	}
	now := s.now()
	p := &payment{
		msn: c.unit.MSN, reference: t.OrderID, amount: Amount{Currency: "NOK", Value: amount},
		state: StateCreated, userFlow: "WEB_REDIRECT", returnURL: m.FallBack, description: t.TransactionText,
		pspReference: s.newUUID(), createdAt: now, expiresAt: now.Add(paymentLifetime),
		ecom: &ecomInfo{callbackPrefix: m.CallbackPrefix, authToken: m.AuthToken, text: t.TransactionText,
			sale: c.unit.DirectCapture, requestIDs: map[string]response{}},
	}
	if req.CustomerInfo.MobileNumber != "" {
		p.phone = "47" + req.CustomerInfo.MobileNumber
	}
	p.token = s.randToken(32)
	p.redirectURL = s.baseURL + "/landing?token=" + p.token
	s.byToken[p.token] = k
	s.payments[k] = p
	s.order = append(s.order, k)
	s.open.add(k, p.expiresAt)
	s.emit(p, EventCreated, amount, "", true, now)
	return jsonResponse(http.StatusOK, struct {
		OrderID string `json:"orderId"`
		URL     string `json:"url"`
	}{p.reference, p.redirectURL})
}

func (s *Server) validCallbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || len(raw) > 255 || u.Host == "" {
		return false
	}
	return u.Scheme == "https" || (u.Scheme == "http" && s.opts.AllowInsecureLocalReturnURL && isLocalHost(u.Host))
}

type ecomLogJSON struct {
	Amount           int64  `json:"amount"`
	Operation        string `json:"operation"`
	OperationSuccess bool   `json:"operationSuccess"`
	RequestID        string `json:"requestId,omitempty"`
	TimeStamp        string `json:"timeStamp"`
	TransactionID    string `json:"transactionId"`
	TransactionText  string `json:"transactionText"`
}

type ecomSummaryJSON struct {
	CapturedAmount           int64 `json:"capturedAmount"`
	RemainingAmountToCapture int64 `json:"remainingAmountToCapture"`
	RefundedAmount           int64 `json:"refundedAmount"`
	RemainingAmountToRefund  int64 `json:"remainingAmountToRefund"`
}

// ecomLog is the payment's event log as eCom shows it, newest first.
func (p *payment) ecomLog() []ecomLogJSON {
	var out []ecomLogJSON
	for i, e := range p.events {
		op := ""
		switch e.Name {
		case EventCreated:
			op = "INITIATE"
		case EventAuthorized:
			op = "RESERVE"
			if p.ecom.sale {
				op = "SALE"
			}
		case EventCaptured:
			if p.ecom.sale && i > 0 && p.events[i-1].Name == EventAuthorized && e.IdempotencyKey == "" {
				continue // the SALE entry already says it
			}
			op = "CAPTURE"
		case EventRefunded:
			op = "REFUND"
		case EventCancelled:
			op = "VOID"
		case EventAborted, EventExpired, EventTerminated:
			op = "CANCEL"
		}
		out = append(out, ecomLogJSON{
			Amount: e.Amount.Value, Operation: op, OperationSuccess: e.Success, RequestID: e.IdempotencyKey,
			TimeStamp: e.Timestamp.UTC().Format(timestampFormat), TransactionID: p.pspReference, TransactionText: p.ecom.text,
		})
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func (p *payment) ecomSummary() *ecomSummaryJSON {
	if len(p.events) <= 1 {
		return nil // the user never reacted
	}
	return &ecomSummaryJSON{
		CapturedAmount: p.captured, RemainingAmountToCapture: p.capturable(),
		RefundedAmount: p.refunded, RemainingAmountToRefund: p.captured - p.refunded,
	}
}

func (s *Server) handleEcomDetails(c *call) response {
	p, resp, ok := c.ecomPayment()
	if !ok {
		return resp
	}
	return jsonResponse(http.StatusOK, struct {
		OrderID               string           `json:"orderId"`
		TransactionSummary    *ecomSummaryJSON `json:"transactionSummary,omitempty"`
		TransactionLogHistory []ecomLogJSON    `json:"transactionLogHistory"`
	}{p.reference, p.ecomSummary(), p.ecomLog()})
}

type ecomAction struct {
	MerchantInfo *struct {
		MSN string `json:"merchantSerialNumber"`
	} `json:"merchantInfo"`
	Transaction *struct {
		Amount          *int64 `json:"amount"`
		TransactionText string `json:"transactionText"`
	} `json:"transaction"`
	ShouldReleaseRemainingFunds bool `json:"shouldReleaseRemainingFunds"`
}

// ecomPaymentAction is the payment an action names and the action's body.
func (c *call) ecomPaymentAction() (*payment, ecomAction, response, bool) {
	p, resp, ok := c.ecomPayment()
	if !ok {
		return nil, ecomAction{}, resp, false
	}
	a, resp, ok := c.ecomAction()
	return p, a, resp, ok
}

func (c *call) ecomAction() (ecomAction, response, bool) {
	var a ecomAction
	if err := json.Unmarshal(c.body, &a); err != nil {
		return a, c.ecomInvalid("body", "The request body is not valid JSON: "+err.Error()), false
	}
	switch {
	case a.MerchantInfo == nil || a.MerchantInfo.MSN != c.unit.MSN:
		return a, c.ecomInvalid("merchantSerialNumber", "merchantInfo.merchantSerialNumber must be the sales unit of the access token"), false
	case a.Transaction == nil || a.Transaction.TransactionText == "" || len([]rune(a.Transaction.TransactionText)) > 100:
		return a, c.ecomInvalid("transactionText", "transaction.transactionText is required, at most 100 characters"), false
	}
	return a, response{}, true
}

// ecomIdempotent answers a repeated X-Request-Id with the first answer;
// the header is required (40 characters at most).
func (c *call) ecomIdempotent(p *payment, endpoint string, f func(id string) response) response {
	id := c.r.Header.Get("X-Request-Id")
	if id == "" || len(id) > 40 {
		return c.ecomInvalid("X-Request-Id", "X-Request-Id is required, at most 40 characters")
	}
	if prev, ok := p.ecom.requestIDs[endpoint+"\x00"+id]; ok {
		if !bytes.Equal(prev.body, nil) && prev.status == http.StatusOK {
			return prev.clone()
		}
	}
	resp := f(id)
	if resp.status == http.StatusOK {
		p.ecom.requestIDs[endpoint+"\x00"+id] = resp.clone()
	}
	return resp
}

func (s *Server) ecomActionAnswer(p *payment) response {
	return jsonResponse(http.StatusOK, struct {
		OrderID            string           `json:"orderId"`
		TransactionSummary *ecomSummaryJSON `json:"transactionSummary,omitempty"`
	}{p.reference, p.ecomSummary()})
}

func (s *Server) handleEcomCapture(c *call) response {
	p, a, resp, ok := c.ecomPaymentAction()
	if !ok {
		return resp
	}
	return c.ecomIdempotent(p, "capture", func(id string) response {
		if p.state != StateAuthorized {
			return c.ecomFail(http.StatusBadRequest, "Payment", "62", "The amount you tried to capture is not reserved")
		}
		amount := p.capturable()
		if a.Transaction.Amount != nil && *a.Transaction.Amount != 0 {
			amount = *a.Transaction.Amount
		}
		switch {
		case amount < 0:
			return c.ecomInvalid("amount", "amount must not be negative")
		case amount == 0 || amount > p.capturable():
			return c.ecomFail(http.StatusBadRequest, "Payment", "61", "Captured amount exceeds the reserved amount")
		}
		p.captured += amount
		s.emit(p, EventCaptured, amount, id, true, s.now())
		return s.ecomActionAnswer(p)
	})
}

func (s *Server) handleEcomRefund(c *call) response {
	p, a, resp, ok := c.ecomPaymentAction()
	if !ok {
		return resp
	}
	return c.ecomIdempotent(p, "refund", func(id string) response {
		if a.Transaction.Amount == nil || *a.Transaction.Amount <= 0 {
			return c.ecomInvalid("amount", "amount must be positive")
		}
		amount := *a.Transaction.Amount
		if p.captured == 0 {
			return c.ecomFail(http.StatusBadRequest, "Payment", "72", "Cannot refund a reserved order")
		}
		if amount > p.captured-p.refunded {
			return c.ecomFail(http.StatusBadRequest, "Payment", "71", "Cannot refund more than captured")
		}
		p.refunded += amount
		s.emit(p, EventRefunded, amount, id, true, s.now())
		return s.ecomActionAnswer(p)
	})
}

// handleEcomCancel: before reservation the payment is cancelled
// (TERMINATED underneath); a reservation is voided; after a capture only
// with shouldReleaseRemainingFunds, else 51.
func (s *Server) handleEcomCancel(c *call) response {
	p, a, resp, ok := c.ecomPaymentAction()
	if !ok {
		return resp
	}
	switch p.state {
	case StateCreated:
		p.state = StateTerminated
		s.emit(p, EventTerminated, p.amount.Value, "", true, s.now())
	case StateAuthorized:
		left := p.capturable()
		switch {
		case p.captured > 0 && !a.ShouldReleaseRemainingFunds:
			return c.ecomFail(http.StatusBadRequest, "Payment", "51", "Cannot cancel an already captured order")
		case left == 0:
			return c.ecomFail(http.StatusBadRequest, "Payment", "52", "Cannot cancel an order with nothing left to cancel")
		}
		p.cancelled += left
		s.emit(p, EventCancelled, left, "", true, s.now())
	default:
		return c.ecomFail(http.StatusBadRequest, "Payment", "52", "Cannot cancel an order in state "+string(p.state))
	}
	return s.ecomActionAnswer(p)
}

func (s *Server) handleEcomApprove(c *call) response {
	p, resp, ok := c.ecomPayment()
	if !ok {
		return resp
	}
	var req struct {
		CustomerPhoneNumber string `json:"customerPhoneNumber"`
		Token               string `json:"token"`
	}
	if err := json.Unmarshal(c.body, &req); err != nil {
		return c.ecomInvalid("body", "The request body is not valid JSON")
	}
	if (req.CustomerPhoneNumber == "") == (req.Token == "") {
		return c.ecomInvalid("customerPhoneNumber", "Give either customerPhoneNumber (8 digits) or token")
	}
	if req.CustomerPhoneNumber != "" && !regexp.MustCompile(`^\d{8}$`).MatchString(req.CustomerPhoneNumber) {
		return c.ecomInvalid("customerPhoneNumber", "customerPhoneNumber must be 8 digits")
	}
	if req.Token != "" && req.Token != p.token {
		return c.ecomFail(http.StatusBadRequest, "User", "81", "The token does not belong to this payment")
	}
	if p.state != StateCreated {
		return c.ecomFail(http.StatusBadRequest, "Payment", "42", "The payment is "+string(p.state)+" and cannot be approved")
	}
	phone := p.phone
	if req.CustomerPhoneNumber != "" {
		phone = "47" + req.CustomerPhoneNumber
	}
	if phone == "" {
		phone = defaultTestUser
	}
	_ = s.authorize(p, phone, false)
	return response{status: http.StatusOK, header: http.Header{}}
}

// ecomEvent runs after an event of an eCom payment: a direct-capture unit
// captures the reservation at once, and the states a user or time causes
// are called back once.
func (s *Server) ecomEvent(p *payment, ev Event) {
	status := ""
	switch ev.Name {
	case EventAuthorized:
		switch {
		case !ev.Success:
			status = "RESERVE_FAILED"
		case p.ecom.sale:
			p.captured = p.authorized
			p.events = append(p.events, Event{Reference: p.reference, PSPReference: s.newPSPReference(), Name: EventCaptured,
				Amount: p.amountOf(p.authorized), Timestamp: ev.Timestamp, Success: true})
			s.bookMovement(p, p.events[len(p.events)-1])
			status = "SALE"
		default:
			status = "RESERVED"
		}
	case EventAborted:
		status = "CANCELLED"
	case EventExpired:
		status = "REJECTED"
	default:
		return
	}
	body := marshalJSON(struct {
		MSN             json.Number `json:"merchantSerialNumber"`
		OrderID         string      `json:"orderId"`
		TransactionInfo struct {
			Amount        int64  `json:"amount"`
			Status        string `json:"status"`
			TimeStamp     string `json:"timeStamp"`
			TransactionID string `json:"transactionId"`
		} `json:"transactionInfo"`
	}{MSN: json.Number(p.msn), OrderID: p.reference, TransactionInfo: struct {
		Amount        int64  `json:"amount"`
		Status        string `json:"status"`
		TimeStamp     string `json:"timeStamp"`
		TransactionID string `json:"transactionId"`
	}{p.amount.Value, status, ev.Timestamp.UTC().Format(timestampFormat), p.pspReference}})
	cb := &EcomCallback{
		OrderID: p.reference, URL: p.ecom.callbackPrefix + "/v2/payments/" + url.PathEscape(p.reference),
		Authorization: p.ecom.authToken, Status: status, Body: body,
	}
	s.ecomCallbacks = append(s.ecomCallbacks, cb)
	if s.ecomDrop > 0 {
		s.ecomDrop--
		cb.Dropped = true
		return
	}
	if s.ctx.Err() != nil {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(s.ctx, ecomCallbackTimeout)
		defer cancel()
		answer := 0
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, cb.URL, bytes.NewReader(cb.Body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
			if cb.Authorization != "" {
				req.Header.Set("Authorization", cb.Authorization)
			}
			if res, err := s.client.Do(req); err == nil {
				answer = res.StatusCode
				res.Body.Close()
			}
		}
		s.mu.Lock()
		cb.Answer = answer // one attempt, whatever it got: never retried
		s.mu.Unlock()
	}()
}

// DropEcomCallbacks makes the next n eCom callbacks get lost on the way, as
// a single-shot callback can.
func (s *Server) DropEcomCallbacks(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ecomDrop = n
}

// EcomCallbacks returns copies of the callbacks made so far.
func (s *Server) EcomCallbacks() []EcomCallback {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]EcomCallback, 0, len(s.ecomCallbacks))
	for _, cb := range s.ecomCallbacks {
		out = append(out, *cb)
	}
	return out
}
