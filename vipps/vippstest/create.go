package vippstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

var (
	// referencePattern is the live rule since ePayment v1.7.0 (8–64); the
	// saved spec still says 8–50.
	referencePattern = regexp.MustCompile(`^[a-zA-Z0-9-]{8,64}$`)
	phonePattern     = regexp.MustCompile(`^\d{10,15}$`)
	quantityPattern  = regexp.MustCompile(`^\d+([\.]\d{1,8})?$`)
	expiresAtPattern = regexp.MustCompile(`^((?:(\d{4}-\d{2}-\d{2})(T|t)(\d{2}:\d{2}:\d{2}(?:\.\d+)?))(Z|z|([+-](?:2[0-3]|[01][0-9]):[0-5][0-9])))$`)
)

// minimumAmount is the smallest payment per currency (error 6010 below).
var minimumAmount = map[string]int64{"NOK": 100, "DKK": 1, "EUR": 1}

const (
	minExpiresAt = 10 * time.Minute
	maxExpiresAt = 60 * 24 * time.Hour // current docs; the saved spec says 28 days
)

type createRequest struct {
	amount         Amount
	method         string
	reference      string
	userFlow       string
	returnURL      string
	hasReturnURL   bool
	hasCustomer    bool
	phone          string
	hasPhone       bool
	description    string
	metadata       []metadataPair
	hasReceipt     bool
	receiptCurr    string
	receiptSum     int64 // the lines' totals (returns negative) plus the tip
	receiptSumOK   bool  // every amount the sum needs was valid
	expiresAt      string
	hasExpiresAt   bool
	receiptURL     string
	hasReceiptURL  bool
	hasQRFormat    bool
	hasDescription bool
}

type metadataPair struct{ key, value string }

// handleCreate is POST /epayment/v1/payments.
func (s *Server) handleCreate(c *call) response {
	key, resp, ok := c.idempotencyKey()
	if !ok {
		return resp
	}
	return c.idempotent("", key, errReferenceExists, func() response { return s.create(c, key) })
}

// peekReference finds the reference that the rate limit counts against,
// before the body is validated.
func peekReference(body []byte) string {
	o, ok := parseObject(body)
	if !ok {
		return ""
	}
	var ref string
	if raw, ok := o.get("reference"); ok && json.Unmarshal(raw, &ref) == nil {
		return ref
	}
	return ""
}

func (s *Server) create(c *call, idempotencyKey string) response {
	o, ok := parseObject(c.body)
	if !ok {
		return c.invalid(field("body", "The request body must be a JSON object."))
	}
	req, errs := parseCreate(o)
	if len(errs) > 0 {
		return c.invalid(errs...)
	}
	u := c.unit
	now := s.now()

	if req.method == "CARD" {
		return c.fail(errCannotCreate, "paymentMethod CARD is not available in the test environment.")
	}
	if req.amount.Currency != u.Currency {
		return c.fail(errInvalidCurrency, fmt.Sprintf("The currency %s is not valid for this sales unit; it uses %s.", req.amount.Currency, u.Currency))
	}
	if least := minimumAmount[req.amount.Currency]; req.amount.Value < least {
		return c.fail(errAmountTooSmall, fmt.Sprintf("The amount must be at least %d in minor units of %s.", least, req.amount.Currency))
	}
	if req.hasPhone && !phonePattern.MatchString(req.phone) {
		return c.fail(errInvalidPhone, "customer.phoneNumber must be an MSISDN: country code and number, digits only (^\\d{10,15}$).")
	}
	if req.userFlow == "WEB_REDIRECT" && !req.hasReturnURL {
		return c.fail(errMissingParameter, "returnUrl is required when userFlow is WEB_REDIRECT.")
	}
	if req.userFlow == "PUSH_MESSAGE" && !req.hasCustomer {
		return c.fail(errMissingParameter, "customer is required when userFlow is PUSH_MESSAGE.")
	}
	if req.hasReturnURL && !s.validReturnURL(req.returnURL) {
		return c.fail(errInvalidURL, "returnUrl must use https:// or a custom URL scheme.")
	}
	if req.hasReceiptURL && !s.validReturnURL(req.receiptURL) {
		return c.fail(errInvalidURL, "receiptUrl must use https:// or a custom URL scheme.")
	}
	if req.hasQRFormat && req.userFlow != "QR" {
		return c.invalid(field("qrFormat", "qrFormat can only be used with userFlow QR."))
	}
	if req.userFlow == "PUSH_MESSAGE" && !u.PushMessageAllowed {
		return c.fail(errPushNotAllowed, "The sales unit is not allowed to skip the landing page (PUSH_MESSAGE).")
	}
	if resp, ok := c.checkMetadata(req.metadata); !ok {
		return resp
	}
	if req.hasReceipt && req.receiptCurr != req.amount.Currency {
		return c.invalid(field("receipt.bottomLine.currency", "The receipt currency must be the payment currency "+req.amount.Currency+"."))
	}
	if req.hasReceipt && req.receiptSumOK && req.receiptSum != req.amount.Value {
		// Order Management computes the bottom line from the lines (its
		// totalAmount is deprecated): it must be what the user pays.
		return c.invalid(field("receipt.orderLines", fmt.Sprintf("The sum of the order lines and the tip (%d) must equal the payment amount (%d).", req.receiptSum, req.amount.Value)))
	}
	expiresAt := now.Add(paymentLifetime)
	if req.hasExpiresAt {
		t, resp, ok := c.checkExpiresAt(req, now)
		if !ok {
			return resp
		}
		expiresAt = t
	}
	k := paymentKey{msn: u.MSN, reference: req.reference}
	if _, exists := s.payments[k]; exists {
		return c.fail(errReferenceExists, "A payment with reference "+req.reference+" already exists for this sales unit.")
	}

	p := &payment{
		msn:          u.MSN,
		reference:    req.reference,
		amount:       req.amount,
		state:        StateCreated,
		userFlow:     req.userFlow,
		returnURL:    req.returnURL,
		phone:        req.phone,
		description:  req.description,
		pspReference: s.newUUID(),
		createdAt:    now,
		expiresAt:    expiresAt,
	}
	if len(req.metadata) > 0 {
		p.metadata = map[string]string{}
		for _, m := range req.metadata {
			p.metadata[m.key] = m.value
		}
	}
	// Every flow but PUSH_MESSAGE gets a URL. The fake has one landing page
	// for all of them; real Vipps answers NATIVE_REDIRECT with an app
	// deeplink and QR with a QR image link.
	if req.userFlow != "PUSH_MESSAGE" {
		p.token = s.randToken(32)
		p.redirectURL = s.baseURL + "/landing?token=" + p.token
		s.byToken[p.token] = k
	}
	s.payments[k] = p
	s.order = append(s.order, k)
	s.open.add(k, expiresAt)
	s.emit(p, EventCreated, p.amount.Value, idempotencyKey, true, now)

	return jsonResponse(http.StatusCreated, struct {
		Reference   string `json:"reference"`
		RedirectURL string `json:"redirectUrl,omitempty"`
	}{p.reference, p.redirectURL})
}

// validReturnURL admits https URLs and custom app schemes; plain http only
// for loopback hosts when the option allows it. Schemes that a browser
// would run or read locally are never a return address.
func (s *Server) validReturnURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return false
	}
	switch u.Scheme {
	case "https":
		return u.Host != ""
	case "http":
		return s.opts.AllowInsecureLocalReturnURL && u.Host != "" && isLocalHost(u.Host)
	case "javascript", "data", "file", "vbscript", "about", "blob", "ftp", "ws", "wss", "mailto", "tel":
		return false
	}
	return len(raw) > len(u.Scheme)+1
}

func (c *call) checkMetadata(pairs []metadataPair) (response, bool) {
	if len(pairs) > 5 {
		return c.fail(errMetadataCapacity, "metadata holds at most 5 key-value pairs."), false
	}
	seen := map[string]bool{}
	for _, m := range pairs {
		if seen[m.key] {
			return c.fail(errMetadataDuplicate, "metadata has the key "+m.key+" twice."), false
		}
		seen[m.key] = true
		if len([]rune(m.key)) > 100 {
			return c.fail(errMetadataKeyLength, "metadata keys are at most 100 characters."), false
		}
		if len([]rune(m.value)) > 500 {
			return c.fail(errMetadataValueLength, "metadata values are at most 500 characters."), false
		}
	}
	return response{}, true
}

func (c *call) checkExpiresAt(req createRequest, now time.Time) (time.Time, response, bool) {
	if req.userFlow != "PUSH_MESSAGE" && req.userFlow != "QR" {
		return time.Time{}, c.invalid(field("expiresAt", "expiresAt can only be combined with userFlow PUSH_MESSAGE or QR.")), false
	}
	if !c.unit.LongLivingPaymentsAllowed {
		return time.Time{}, c.fail(errLongLivingNotAllowed, "The sales unit is not approved for long-living payments."), false
	}
	if !req.hasReceipt {
		return time.Time{}, c.fail(errLongLivingNeedsReceipt, "A payment with expiresAt must have a receipt."), false
	}
	t, err := time.Parse(time.RFC3339Nano, strings.ToUpper(req.expiresAt))
	if err != nil {
		return time.Time{}, c.invalid(field("expiresAt", "expiresAt must be an RFC 3339 date-time.")), false
	}
	switch {
	case !t.After(now.Add(minExpiresAt)):
		return time.Time{}, c.fail(errExpiresTooSoon, "expiresAt must be more than 10 minutes in the future."), false
	case t.After(now.Add(maxExpiresAt)):
		return time.Time{}, c.fail(errExpiresTooLate, "expiresAt must be at most 60 days in the future."), false
	}
	return t.UTC(), response{}, true
}

// parseCreate checks types, required fields, patterns and enums of a
// CreatePaymentRequest. Business rules (currency of the unit, minimum
// amount, URL schemes, metadata limits) come after, with their codes.
func parseCreate(o object) (createRequest, fieldErrors) {
	var f fieldErrors
	var r createRequest
	r.amount, _ = f.amount(o, "", "amount")
	if pm, ok := f.object(o, "", "paymentMethod", true); ok {
		r.method, _ = f.enum(pm, "paymentMethod", "type", true, "WALLET", "CARD")
	}
	r.reference, _ = f.pattern(o, "", "reference", true, referencePattern)
	r.userFlow, _ = f.enum(o, "", "userFlow", true, "PUSH_MESSAGE", "NATIVE_REDIRECT", "WEB_REDIRECT", "QR")
	r.returnURL, r.hasReturnURL = f.str(o, "", "returnUrl", false)
	if cust, ok := f.object(o, "", "customer", false); ok {
		r.hasCustomer = true
		before := len(f)
		n := 0
		if ph, ok := f.str(cust, "customer", "phoneNumber", false); ok {
			r.phone, r.hasPhone = ph, true
			n++
		}
		if _, ok := f.strLen(cust, "customer", "personalQr", false, 5, 255); ok {
			n++
		}
		if _, ok := f.str(cust, "customer", "customerToken", false); ok {
			n++
		}
		switch {
		case n > 1:
			f.add("customer", "Specify only one of phoneNumber, personalQr and customerToken.")
		case n == 0 && len(f) == before:
			f.add("customer", "Specify one of phoneNumber, personalQr or customerToken.")
		}
	}
	f.enum(o, "", "customerInteraction", false, "CUSTOMER_PRESENT", "CUSTOMER_NOT_PRESENT")
	r.description, r.hasDescription = f.strLen(o, "", "paymentDescription", false, 3, 100)
	if rc, ok := f.object(o, "", "receipt", false); ok {
		r.hasReceipt = true
		r.receiptCurr, r.receiptSum, r.receiptSumOK = f.receipt(rc, "receipt")
	}
	if raw, ok := o.get("metadata"); ok {
		r.metadata = f.metadata(raw)
	}
	r.expiresAt, r.hasExpiresAt = f.pattern(o, "", "expiresAt", false, expiresAtPattern)
	if qf, ok := f.object(o, "", "qrFormat", false); ok {
		r.hasQRFormat = true
		f.enum(qf, "qrFormat", "format", true, "TEXT/TARGETURL", "IMAGE/SVG+XML", "IMAGE/PNG")
		f.integer(qf, "qrFormat", "size", false, 100, 2000)
	}
	r.receiptURL, r.hasReceiptURL = f.str(o, "", "receiptUrl", false)
	if pr, ok := f.object(o, "", "profile", false); ok {
		f.str(pr, "profile", "scope", false)
	}
	if ind, ok := f.object(o, "", "industryData", false); ok {
		if ad, ok := f.object(ind, "industryData", "airlineData", false); ok {
			p := "industryData.airlineData"
			f.strLen(ad, p, "agencyInvoiceNumber", true, 1, 6)
			f.strLen(ad, p, "airlineCode", true, 3, 3)
			f.strLen(ad, p, "airlineDesignatorCode", true, 2, 2)
			f.strLen(ad, p, "passengerName", true, 1, 49)
			f.strLen(ad, p, "ticketNumber", false, 1, 150)
		}
	}
	return r, f
}

// metadata reads a string-to-string object, keeping duplicate keys so that
// they can be refused with 4110.
func (f *fieldErrors) metadata(raw json.RawMessage) []metadataPair {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		f.add("metadata", "The metadata field must be a JSON object of strings.")
		return nil
	}
	var pairs []metadataPair
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			f.add("metadata", "The metadata field must be a JSON object of strings.")
			return nil
		}
		k, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			f.add("metadata", "The metadata field must be a JSON object of strings.")
			return nil
		}
		var sv string
		if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &sv) != nil {
			f.add("metadata."+k, "The JSON value could not be converted to System.String.")
			continue
		}
		pairs = append(pairs, metadataPair{key: k, value: sv})
	}
	return pairs
}

// receipt validates an Order Management receipt and returns the bottom
// line's currency and the receipt's sum: each line's totalAmount (negative
// when isReturn) plus the tip. Amounts are never negative: a discount is a
// line's non-negative discount, a returned item a line with isReturn, and
// Order Management has no negative lines. sumOK is false when an amount
// the sum needs was invalid (and so already reported).
func (f *fieldErrors) receipt(o object, path string) (currency string, sum int64, sumOK bool) {
	sumOK = true
	lines, ok := f.array(o, path, "orderLines", true)
	if ok && len(lines) == 0 {
		f.add(path+".orderLines", "The field orderLines must have at least one item.")
	}
	for i, raw := range lines {
		lp := fmt.Sprintf("%s.orderLines[%d]", path, i)
		l, ok := parseObject(raw)
		if !ok {
			f.add(lp, "Each order line must be a JSON object.")
			continue
		}
		f.strLen(l, lp, "name", true, 1, 2048)
		f.strLen(l, lp, "id", true, 1, 2048)
		total, ok := f.integer(l, lp, "totalAmount", true, 0, math.MaxInt64)
		f.integer(l, lp, "totalAmountExcludingTax", true, 0, math.MaxInt64)
		f.integer(l, lp, "totalTaxAmount", true, 0, math.MaxInt64)
		isReturn, _ := f.boolean(l, lp, "isReturn", false)
		switch {
		case !ok:
			sumOK = false
		case isReturn:
			sum -= total
		default:
			sum += total
		}
		_, hasPct := l.get("taxPercentage")
		_, hasRate := l.get("taxRate")
		if !hasPct && !hasRate {
			f.add(lp+".taxRate", "Either taxRate or taxPercentage must be set.")
		}
		f.integer(l, lp, "taxPercentage", false, 0, 100)
		f.integer(l, lp, "taxRate", false, 0, 10000)
		if ui, ok := f.object(l, lp, "unitInfo", false); ok {
			up := lp + ".unitInfo"
			if _, present := ui["unitPrice"]; !present {
				f.add(up+".unitPrice", "The unitPrice field is required.")
			}
			f.integer(ui, up, "unitPrice", false, 0, math.MaxInt64)
			if q, ok := f.pattern(ui, up, "quantity", true, quantityPattern); ok && len(q) > 10 {
				f.add(up+".quantity", "The field quantity must be a string with a maximum length of 10.")
			}
			f.enum(ui, up, "quantityUnit", false, "PCS", "KG", "KM", "MINUTE", "LITRE", "KWH")
		}
		f.integer(l, lp, "discount", false, 0, math.MaxInt64)
		f.str(l, lp, "productUrl", false)
		f.boolean(l, lp, "isShipping", false)
	}
	if bl, ok := f.object(o, path, "bottomLine", true); ok {
		bp := path + ".bottomLine"
		currency, _ = f.enum(bl, bp, "currency", true, "NOK", "DKK", "EUR")
		if tip, ok := f.integer(bl, bp, "tipAmount", false, 0, math.MaxInt64); ok {
			sum += tip
		} else if _, present := bl.get("tipAmount"); present {
			sumOK = false
		}
		f.str(bl, bp, "posId", false)
		f.str(bl, bp, "receiptNumber", false)
	}
	return currency, sum, sumOK
}
