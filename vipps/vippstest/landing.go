package vippstest

import (
	"bytes"
	_ "embed"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The landing page stands in for landing.vipps.no: the redirectUrl of a
// payment opens it, and its buttons approve or cancel as the user would in
// the app, then send the browser back to the returnUrl unchanged.

//go:embed landing.html
var landingHTML string

var landingTemplate = template.Must(template.New("landing").Parse(landingHTML))

type landingView struct {
	NotFound    bool
	Open        bool
	Merchant    string
	Amount      string
	Description string
	Token       string
	Phone       string
	ApproveURL  string
	RejectURL   string
	State       State
	StateText   string
	Error       string
	// ReturnURL was checked at create (https, a custom app scheme, or local
	// http), so it may go into href even when html/template would not
	// trust its scheme.
	ReturnURL template.URL
	// T is the page's one language.
	T landingText
}

func (s *Server) paymentByToken(token string) *payment {
	if token == "" {
		return nil
	}
	k, ok := s.byToken[token]
	if !ok {
		return nil
	}
	return s.payments[k]
}

// handleLanding is GET /landing?token=….
func (s *Server) handleLanding(c *call) response {
	p := s.paymentByToken(c.r.URL.Query().Get("token"))
	if p == nil {
		return renderLanding(http.StatusNotFound, landingView{NotFound: true, T: landingTextForBrowser(c.r.Header.Get("Accept-Language"))})
	}
	return s.renderPayment(p, http.StatusOK, p.phone, "")
}

// handleLandingApprove is POST /landing/approve (form: token, phoneNumber).
func (s *Server) handleLandingApprove(c *call) response {
	form, _ := url.ParseQuery(string(c.body))
	p := s.paymentByToken(form.Get("token"))
	if p == nil {
		return renderLanding(http.StatusNotFound, landingView{NotFound: true, T: landingTextForBrowser(c.r.Header.Get("Accept-Language"))})
	}
	if p.state != StateCreated {
		return s.renderPayment(p, http.StatusConflict, "", "")
	}
	phone, ok := normalizePhone(form.Get("phoneNumber"))
	if !ok {
		return s.renderPayment(p, http.StatusBadRequest, form.Get("phoneNumber"), landingTextFor(p.amount.Currency).InvalidPhone)
	}
	if err := s.authorize(p, phone, true); err != nil {
		return s.renderPayment(p, http.StatusOK, "", landingTextFor(p.amount.Currency).Refused+p.refusal)
	}
	return s.backToMerchant(p)
}

// handleLandingReject is POST /landing/reject (form: token).
func (s *Server) handleLandingReject(c *call) response {
	form, _ := url.ParseQuery(string(c.body))
	p := s.paymentByToken(form.Get("token"))
	if p == nil {
		return renderLanding(http.StatusNotFound, landingView{NotFound: true, T: landingTextForBrowser(c.r.Header.Get("Accept-Language"))})
	}
	if p.state != StateCreated {
		return s.renderPayment(p, http.StatusConflict, "", "")
	}
	s.abort(p)
	return s.backToMerchant(p)
}

// backToMerchant sends the browser to the returnUrl exactly as given.
func (s *Server) backToMerchant(p *payment) response {
	if p.returnURL == "" {
		return s.renderPayment(p, http.StatusOK, "", "")
	}
	return response{status: http.StatusSeeOther, header: http.Header{"Location": {p.returnURL}}}
}

func (s *Server) renderPayment(p *payment, status int, phone, errText string) response {
	t := landingTextFor(p.amount.Currency)
	v := landingView{
		T:           t,
		Open:        p.state == StateCreated,
		Merchant:    p.msn,
		Amount:      formatAmount(p.amount),
		Description: p.description,
		Token:       p.token,
		Phone:       phone,
		ApproveURL:  s.baseURL + "/landing/approve",
		RejectURL:   s.baseURL + "/landing/reject",
		State:       p.state,
		StateText:   t.States[p.state],
		Error:       errText,
		ReturnURL:   template.URL(p.returnURL), // validated at create
	}
	if u := s.units[p.msn]; u != nil {
		v.Merchant = u.Name
	}
	if v.Error == "" && p.refusal != "" {
		v.Error = t.Refused + p.refusal
	}
	return renderLanding(status, v)
}

func renderLanding(status int, v landingView) response {
	var buf bytes.Buffer
	if err := landingTemplate.Execute(&buf, v); err != nil {
		panic("vippstest: rendering the landing page: " + err.Error())
	}
	return response{
		status: status,
		header: http.Header{
			"Content-Type":  {"text/html; charset=utf-8"},
			"Cache-Control": {"no-store"},
			// The real landing page refuses to load in a frame; so does
			// this one, which makes an iframe integration fail in tests.
			"X-Frame-Options":         {"DENY"},
			"Content-Security-Policy": {"frame-ancestors 'none'"},
		},
		body: buf.Bytes(),
	}
}

// normalizePhone accepts what a user types on the landing page: an MSISDN,
// "+47 912 34 567", or eight Norwegian digits, which get the 47 prefix.
func normalizePhone(raw string) (string, bool) {
	digits := strings.NewReplacer(" ", "", "\u00a0", "", "-", "").Replace(strings.TrimSpace(raw))
	digits = strings.TrimPrefix(digits, "+")
	digits = strings.TrimPrefix(digits, "00")
	if len(digits) == 8 {
		digits = "47" + digits
	}
	if !phonePattern.MatchString(digits) {
		return "", false
	}
	return digits, true
}

// formatAmount writes an amount the way the app shows it: "kr 1 499,00",
// "1.499,00 kr." for Danish kroner, "1 499,00 €".
func formatAmount(a Amount) string {
	v := a.Value
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	sep := " "
	if a.Currency == "DKK" {
		sep = "."
	}
	major := strconv.FormatInt(v/100, 10)
	var grouped strings.Builder
	for i, r := range major {
		if i > 0 && (len(major)-i)%3 == 0 {
			grouped.WriteString(sep)
		}
		grouped.WriteRune(r)
	}
	minor := strconv.FormatInt(v%100+100, 10)[1:]
	number := sign + grouped.String() + "," + minor
	switch a.Currency {
	case "NOK":
		return "kr " + number
	case "DKK":
		return number + " kr."
	case "EUR":
		return number + " €"
	}
	return number + " " + a.Currency
}
