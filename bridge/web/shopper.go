package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"vippskco/bridge"
	"vippskco/bridge/i18n"
	"vippskco/templates"
)

// redirect is the EPM redirect_url: it validates the order and sends the
// shopper to Vipps at top level.
func (h *HTTP) redirect(c *gin.Context) {
	unitID := c.Param("unit")
	kcoOrderID := c.Query("kco_order_id")
	p, err := h.Service.StartCheckout(c.Request.Context(), unitID, kcoOrderID, c.Query("sig"))
	if err != nil {
		h.redirectError(c, unitID, kcoOrderID, p, err)
		return
	}
	u, _ := h.Service.Unit(unitID)
	target := p.RedirectURL
	if p.State.Final() || target == "" {
		// Already paid: the return page shows the outcome; never Vipps again.
		target = h.Service.PublicURL + "/return/" + p.ReturnToken
	}
	lang := i18n.LangFromLocale(p.Locale)
	// KCO runs in an iframe and the Vipps landing page must never load in
	// one. A browser tells us when this request is a frame navigation; then
	// we answer with a page that moves the top window instead.
	if dest := c.GetHeader("Sec-Fetch-Dest"); dest == "iframe" || dest == "frame" {
		b := u.Brand()
		h.Pages.Render(c.Writer, http.StatusOK, "breakout", &PageData{
			Lang: lang, Brand: b, Title: i18n.T(lang, "breakout_title", b.Name), Body: i18n.T(lang, "breakout_body"),
			NextURL: target, RetryLabel: i18n.T(lang, "breakout_button", b.Name),
		})
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusSeeOther, target)
}

func (h *HTTP) redirectError(c *gin.Context, unitID, kcoOrderID string, p *bridge.Payment, err error) {
	u, _ := h.Service.Units[unitID]
	// The order's language when we read it; else the unit's (an order
	// Kustom no longer has is the unit's shop's), else the browser's.
	lang := i18n.LangFromAcceptLanguage(c.GetHeader("Accept-Language"))
	if p != nil {
		lang = i18n.LangFromLocale(p.Locale)
	} else if l, ok := u.Lang(); ok {
		lang = l
	}
	code, reason := bridge.ErrorCode(err), bridge.ErrorReason(err)
	if code == bridge.ECodeInternal {
		h.logger().ErrorContext(c.Request.Context(), "redirect failed", "unit", bridge.Quote(unitID), "err", err)
	} else {
		h.logger().InfoContext(c.Request.Context(), "redirect refused", "unit", bridge.Quote(unitID), "reason", reason, "err", err)
	}
	if wantsJSON(c) {
		writeJSONError(c, err)
		return
	}
	b := u.Brand()
	d := &PageData{Lang: lang, Brand: b, Title: i18n.T(lang, "error_title"), Body: i18n.T(lang, errorMessageKey(reason, code), b.Name), Reason: reason}
	if u != nil {
		if code == bridge.ECodeUnavailable && bridge.ValidKCOOrderID(kcoOrderID) {
			d.RetryURL = c.Request.URL.String()
		}
		if bridge.ValidKCOOrderID(kcoOrderID) {
			d.CheckoutURL = bridge.ExpandURL(u.CheckoutURL, &bridge.Payment{KCOOrderID: kcoOrderID})
		} else if home := shopHome(u.CheckoutURL); home != "" {
			// No order to go back to: the way back is the shop itself.
			d.CheckoutURL, d.BackLabel = home, i18n.T(lang, "back_to_shop")
		}
	}
	h.Pages.Render(c.Writer, errorStatus(c, err), "error", d)
}

// shopHome is the shop's front page for a checkout URL template: the URL
// itself when it names no order, else its scheme and host.
func shopHome(checkoutURL string) string {
	if checkoutURL == "" {
		return ""
	}
	if !strings.Contains(checkoutURL, "{") {
		return checkoutURL
	}
	u, err := url.Parse(strings.NewReplacer("{kco_order_id}", "x", "{reference}", "x").Replace(checkoutURL))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host + "/"
}

func wantsJSON(c *gin.Context) bool {
	a := c.GetHeader("Accept")
	return strings.Contains(a, "application/json") && !strings.Contains(a, "text/html")
}

// returnPage is where Vipps sends the shopper back: it waits with a clear
// status, then moves on to the confirmation, or shows why it failed.
func (h *HTTP) returnPage(c *gin.Context) {
	token := c.Param("token")
	v, err := h.Service.PaymentForShopper(c.Request.Context(), token, bridge.SourceReturn)
	if err != nil && storeUnavailable(err) {
		// Our database is out of reach for longer than the store waits:
		// the payment is not lost, only not readable yet. The waiting page
		// asks the status URL until it is, and then moves on.
		lang := i18n.LangFromAcceptLanguage(c.GetHeader("Accept-Language"))
		h.logger().WarnContext(c.Request.Context(), "return page: the store is unavailable; showing the waiting page", "err", err)
		h.Pages.Render(c.Writer, http.StatusOK, "waiting", &PageData{Lang: lang, Brand: bridge.VippsBrand,
			Title: i18n.T(lang, "waiting_title"), Body: i18n.T(lang, "waiting_body", bridge.VippsBrand.Name),
			StatusURL: h.Service.PublicURL + "/status/" + url.PathEscape(token)})
		return
	}
	if err != nil {
		lang := i18n.LangFromAcceptLanguage(c.GetHeader("Accept-Language"))
		code := bridge.ErrorCode(err)
		// A return, not a start: say we cannot find the payment.
		title := i18n.T(lang, "error_title")
		if code == bridge.ECodeNotFound {
			title = i18n.T(lang, "return_unknown_title")
		}
		h.Pages.Render(c.Writer, errorStatus(c, err), "error", &PageData{Lang: lang, Brand: bridge.VippsBrand,
			Title: title, Body: i18n.T(lang, errorMessageKey(bridge.ErrorReason(err), code)), Reason: bridge.ErrorReason(err)})
		return
	}
	p, u := v.Payment, v.Unit
	lang := i18n.LangFromLocale(p.Locale)
	b := u.Brand()
	d := &PageData{Lang: lang, Brand: b, Amount: i18n.FormatMoney(lang, p.Amount.Value, p.Amount.Currency), OrderNumber: orderNumber(p), Reference: p.Reference}
	switch {
	case p.State == bridge.StateAuthorized:
		if u.ConfirmationURL != "" {
			c.Header("Cache-Control", "no-store")
			c.Redirect(http.StatusSeeOther, v.Next)
			return
		}
		d.Title, d.Body = i18n.T(lang, "confirmed_title"), i18n.T(lang, "confirmed_body", b.Name)
		h.Pages.Render(c.Writer, http.StatusOK, "confirmation", d)
	case p.State.Final():
		d.Title = i18n.T(lang, "failed_title")
		d.Body = i18n.T(lang, "reason_"+string(p.State), b.Name)
		d.RetryURL = h.Service.RetryURL(u, p.KCOOrderID)
		d.RetryLabel = i18n.T(lang, "failed_retry", b.Name)
		d.CheckoutURL = bridge.ExpandURL(u.CheckoutURL, p)
		h.Pages.Render(c.Writer, http.StatusOK, "failure", d)
	default:
		d.Title, d.Body = i18n.T(lang, "waiting_title"), i18n.T(lang, "waiting_body", b.Name)
		d.VippsURL, d.ReopenLabel = p.RedirectURL, i18n.T(lang, "waiting_reopen", b.Name)
		d.CheckoutURL = bridge.ExpandURL(u.CheckoutURL, p)
		d.StatusURL = h.Service.PublicURL + "/status/" + token
		h.Pages.Render(c.Writer, http.StatusOK, "waiting", d)
	}
}

// StatusJSON is the body of GET /status/{token}.
type StatusJSON struct {
	Reference string       `json:"reference"`
	State     string       `json:"state"`
	Final     bool         `json:"final"`
	Amount    bridge.Money `json:"amount"`
	Next      string       `json:"next,omitempty"`
	Message   string       `json:"message"`
}

func (h *HTTP) status(c *gin.Context) error {
	v, err := h.Service.PaymentForShopper(c.Request.Context(), c.Param("token"), bridge.SourceStatus)
	if err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, StatusJSON{
		Reference: v.Payment.Reference, State: string(v.Payment.State), Final: v.Final,
		Amount: v.Payment.Amount, Next: v.Next, Message: shopperMessage(v),
	})
	return nil
}

// assetTypes are the files under /assets/ and their content types: the
// payment method marks (SVG, with PNG fallbacks) and the favicon.
var assetTypes = map[string]string{
	"vipps.svg":     "image/svg+xml",
	"vipps.png":     "image/png",
	"mobilepay.svg": "image/svg+xml",
	"mobilepay.png": "image/png",
	"favicon.ico":   "image/x-icon",
}

// asset serves GET and HEAD /assets/{file} (the EPM image_url and our
// pages' marks) and /favicon.ico.
func (h *HTTP) asset(c *gin.Context) error {
	name := c.Param("file")
	if c.Request.URL.Path == "/favicon.ico" {
		name = "favicon.ico"
	}
	typ, ok := assetTypes[name]
	if !ok {
		return bridge.Errorf(bridge.ECodeNotFound, "", "no such asset")
	}
	b, err := templates.FS.ReadFile(name)
	if err != nil {
		return err
	}
	c.Header("Cache-Control", "public, max-age=86400")
	c.Header("X-Content-Type-Options", "nosniff")
	// net/http answers a HEAD with these headers and the length, and drops
	// the body.
	c.Data(http.StatusOK, typ, b)
	return nil
}

// shopperMessage is the one-line status the waiting page shows, in the
// order's language.
func shopperMessage(v *bridge.ShopperView) string {
	lang := i18n.LangFromLocale(v.Payment.Locale)
	switch {
	case v.Payment.State == bridge.StateAuthorized:
		return i18n.T(lang, "confirmed_title")
	case v.Final:
		return i18n.T(lang, "failed_title")
	}
	return i18n.T(lang, "waiting_body", v.Unit.Brand().Name)
}
