package web

import (
	"net/http"
	"net/url"
	"sort"

	"github.com/gin-gonic/gin"

	"vippskco/bridge"
	"vippskco/bridge/i18n"
	"vippskco/bridge/reconcile"
)

// FinancePage is what /finance shows, in one language: totals, a chart of
// the days per currency, the exceptions first, then the payouts and the
// days.
type FinancePage struct {
	PageData
	From, To   string
	Totals     []financeTotal
	Charts     []financeChart
	Exceptions []financeException
	Payouts    []payoutView
	Days       []dayView
	Pending    int
	CSVURL     string // the Norwegian (semicolon) CSV
	CSVURLEN   string // the comma-separated CSV
	// SwitchURL and SwitchName are the link to the page in the other
	// language (English, or back to the unit's); SwitchLang its lang.
	SwitchURL, SwitchName, SwitchLang string
}

type financeTotal struct {
	Provider, Currency   string
	Gross, Fees, Net     string
	NetMinor             int64
	Lines, Matched, Excs int
}

type payoutView struct {
	Date, Provider, Currency, ID string
	Gross, Fees, Net, Paid       string
	Lines, Exceptions            int
	Balanced                     bool
}

type dayView struct {
	Date, Provider, Currency string
	Gross, Fees, Net         string
	NetMinor                 int64
	Lines, Matched, Excs     int
}

type financeException struct {
	reconcile.Exception
	ReasonText       string
	Amount, Expected string
	PaymentURL       string
}

// financeLang is the page's language: ?lang= when it names one we have,
// else the unit's.
func (h *HTTP) financeLang(c *gin.Context) (lang, home i18n.Lang) {
	home = h.FinanceLang
	if home == "" {
		home = i18n.LangEN
	}
	switch q := i18n.Lang(c.Query("lang")); q {
	case i18n.LangEN, i18n.LangNB, i18n.LangDA, i18n.LangFI:
		return q, home
	}
	return home, home
}

func providerName(p reconcile.Provider) string {
	switch p {
	case reconcile.Vipps:
		return "Vipps"
	case reconcile.Kustom:
		return "Kustom"
	}
	return string(p)
}

func (h *HTTP) financePage(c *gin.Context) {
	from, to := h.period(c)
	lang, home := h.financeLang(c)
	brand := bridge.Brand{Name: i18n.T(lang, "fin_brand"), Color: "#1B1B1B"}
	r, err := h.Finance.Reconcile(c.Request.Context(), from, to)
	if err != nil {
		h.Pages.Render(c.Writer, HTTPStatus(bridge.ErrorCode(err)), "error", &PageData{Lang: lang, Brand: brand,
			Title: i18n.T(lang, "fin_title"), Body: bridge.ErrorMessage(err), Reason: bridge.ErrorReason(err)})
		return
	}
	q := url.Values{"from": {from}, "to": {to}}
	d := &FinancePage{From: from, To: to, Pending: len(r.Pending),
		CSVURL:   "/api/v1/reconciliation?format=csv&dialect=no&" + q.Encode(),
		CSVURLEN: "/api/v1/reconciliation?format=csv&dialect=en&" + q.Encode()}
	if home != i18n.LangEN {
		other := i18n.LangEN
		if lang == i18n.LangEN {
			other = home
		}
		sq := url.Values{"from": {from}, "to": {to}, "lang": {string(other)}}
		d.SwitchURL, d.SwitchName, d.SwitchLang = "/finance?"+sq.Encode(), i18n.LangName(other), string(other)
	}
	d.PageData = PageData{Lang: lang, Brand: brand, Title: i18n.T(lang, "fin_title")}
	money := func(v int64, cur string) string { return i18n.FormatMoney(lang, v, cur) }
	totals := map[string]*financeTotal{}
	sums := map[string]*reconcile.Totals{}
	var keys []string
	for _, day := range r.Days {
		k := string(day.Provider) + " " + day.Currency
		if sums[k] == nil {
			sums[k] = &reconcile.Totals{}
			totals[k] = &financeTotal{Provider: providerName(day.Provider), Currency: day.Currency}
			keys = append(keys, k)
		}
		t := sums[k]
		t.Gross += day.Gross
		t.Fees += day.Fees
		t.Net += day.Net
		t.Lines += day.Lines
		t.Matched += day.Matched
		t.Exceptions += day.Exceptions
		d.Days = append(d.Days, dayView{Date: day.Date, Provider: providerName(day.Provider), Currency: day.Currency,
			Gross: money(day.Gross, day.Currency), Fees: money(day.Fees, day.Currency), Net: money(day.Net, day.Currency),
			NetMinor: day.Net, Lines: day.Lines, Matched: day.Matched, Excs: day.Exceptions})
	}
	sort.Strings(keys)
	for _, k := range keys {
		t, ft := sums[k], totals[k]
		ft.Gross, ft.Fees, ft.Net = money(t.Gross, ft.Currency), money(t.Fees, ft.Currency), money(t.Net, ft.Currency)
		ft.NetMinor = t.Net
		ft.Lines, ft.Matched, ft.Excs = t.Lines, t.Matched, t.Exceptions
		d.Totals = append(d.Totals, *ft)
	}
	for _, e := range r.Exceptions {
		reason := i18n.T(lang, "fin_reason_"+string(e.Reason))
		if reason == "" {
			reason = string(e.Reason)
		}
		fe := financeException{Exception: e, ReasonText: reason, Amount: money(e.Amount, e.Currency), Expected: money(e.Expected, e.Currency)}
		fe.Provider = reconcile.Provider(providerName(e.Provider))
		if e.Reference != "" && e.Provider == reconcile.Vipps {
			fe.PaymentURL = "/api/v1/payments/" + e.Reference
		}
		d.Exceptions = append(d.Exceptions, fe)
	}
	for _, p := range r.Payouts {
		m := func(v int64) string { return money(v, p.Currency) }
		d.Payouts = append(d.Payouts, payoutView{Date: p.Date, Provider: providerName(p.Provider), Currency: p.Currency, ID: p.ID,
			Gross: m(p.Gross), Fees: m(p.Fees), Net: m(p.Net), Paid: m(p.Paid), Lines: p.Lines, Exceptions: p.Exceptions,
			Balanced: p.Paid == p.Net})
	}
	d.Charts = financeCharts(r.Days, from, to, lang)
	h.Pages.Render(c.Writer, http.StatusOK, "finance", &d.PageData, d)
}
