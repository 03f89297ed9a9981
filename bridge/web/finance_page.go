package web

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"sort"

	"github.com/gin-gonic/gin"

	"vippskco/bridge"
	"vippskco/bridge/i18n"
	"vippskco/bridge/reconcile"
)

// FinancePage is what /finance shows: totals, a chart of the days, the
// exceptions first, then the payouts.
type FinancePage struct {
	PageData
	From, To   string
	Totals     []financeTotal
	Chart      template.HTML
	Exceptions []financeException
	Payouts    []payoutView
	Days       []reconcile.DaySummary
	Pending    int
	CSVURL     string
}

type financeTotal struct {
	Provider, Currency   string
	Gross, Fees, Net     string
	Lines, Matched, Excs int
}

type payoutView struct {
	Date, Provider, Currency, ID string
	Gross, Fees, Net, Paid       string
	Lines, Exceptions            int
	Balanced                     bool
}

type financeException struct {
	reconcile.Exception
	Amount, Expected string
	PaymentURL       string
}

func (h *HTTP) financePage(c *gin.Context) {
	from, to := h.period(c)
	lang := i18n.LangFromAcceptLanguage(c.GetHeader("Accept-Language"))
	r, err := h.Finance.Reconcile(c.Request.Context(), from, to)
	if err != nil {
		h.Pages.Render(c.Writer, HTTPStatus(bridge.ErrorCode(err)), "error", &PageData{Lang: lang, Brand: bridge.VippsBrand,
			Title: i18n.T(lang, "fin_title"), Body: bridge.ErrorMessage(err), Reason: bridge.ErrorReason(err)})
		return
	}
	d := &FinancePage{From: from, To: to, Days: r.Days, Pending: len(r.Pending),
		CSVURL: "/api/v1/reconciliation?format=csv&from=" + from + "&to=" + to}
	d.PageData = PageData{Lang: lang, Brand: bridge.Brand{Name: "Finance", Color: "#1B1B1B"}, Title: i18n.T(lang, "fin_title")}
	totals := map[string]*financeTotal{}
	sums := map[string]*reconcile.Totals{}
	var keys []string
	for _, day := range r.Days {
		k := string(day.Provider) + " " + day.Currency
		if sums[k] == nil {
			sums[k] = &reconcile.Totals{}
			totals[k] = &financeTotal{Provider: string(day.Provider), Currency: day.Currency}
			keys = append(keys, k)
		}
		t := sums[k]
		t.Gross += day.Gross
		t.Fees += day.Fees
		t.Net += day.Net
		t.Lines += day.Lines
		t.Matched += day.Matched
		t.Exceptions += day.Exceptions
	}
	sort.Strings(keys)
	for _, k := range keys {
		t, ft := sums[k], totals[k]
		ft.Gross, ft.Fees, ft.Net = i18n.FormatMoney(lang, t.Gross, ft.Currency), i18n.FormatMoney(lang, t.Fees, ft.Currency), i18n.FormatMoney(lang, t.Net, ft.Currency)
		ft.Lines, ft.Matched, ft.Excs = t.Lines, t.Matched, t.Exceptions
		d.Totals = append(d.Totals, *ft)
	}
	for _, e := range r.Exceptions {
		fe := financeException{Exception: e, Amount: i18n.FormatMoney(lang, e.Amount, e.Currency), Expected: i18n.FormatMoney(lang, e.Expected, e.Currency)}
		if e.Reference != "" && e.Provider == reconcile.Vipps {
			fe.PaymentURL = "/api/v1/payments/" + e.Reference
		}
		d.Exceptions = append(d.Exceptions, fe)
	}
	for _, p := range r.Payouts {
		m := func(v int64) string { return i18n.FormatMoney(lang, v, p.Currency) }
		d.Payouts = append(d.Payouts, payoutView{Date: p.Date, Provider: string(p.Provider), Currency: p.Currency, ID: p.ID,
			Gross: m(p.Gross), Fees: m(p.Fees), Net: m(p.Net), Paid: m(p.Paid), Lines: p.Lines, Exceptions: p.Exceptions,
			Balanced: p.Paid == p.Net})
	}
	d.Chart = dayChart(r.Days, lang)
	h.Pages.Render(c.Writer, http.StatusOK, "finance", &d.PageData, d)
}

// dayChart draws the net settled per day as an SVG bar chart, one colour
// per provider and currency, so a gap or a spike stands out at a glance.
func dayChart(days []reconcile.DaySummary, lang i18n.Lang) template.HTML {
	if len(days) == 0 {
		return ""
	}
	dates := []string{}
	seen := map[string]bool{}
	series := map[string]map[string]int64{}
	var names []string
	var maxV int64 = 1
	for _, d := range days {
		if !seen[d.Date] {
			seen[d.Date] = true
			dates = append(dates, d.Date)
		}
		k := string(d.Provider) + " " + d.Currency
		if series[k] == nil {
			series[k] = map[string]int64{}
			names = append(names, k)
		}
		series[k][d.Date] += d.Net
		if v := abs(series[k][d.Date]); v > maxV {
			maxV = v
		}
	}
	sort.Strings(dates)
	sort.Strings(names)
	colors := []string{"#FF5B24", "#5A78FF", "#0A7D38", "#8C1D18"}
	const w, h, pad = 720, 220, 30
	slot := float64(w-2*pad) / float64(len(dates))
	bar := slot / float64(len(names)+1)
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`, w, h+40, template.HTMLEscapeString(i18n.T(lang, "fin_chart")))
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/>`, pad, h, w-pad, h)
	for i, date := range dates {
		x0 := float64(pad) + float64(i)*slot
		for j, n := range names {
			v := series[n][date]
			bh := float64(abs(v)) / float64(maxV) * float64(h-pad)
			y := float64(h) - bh
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`,
				x0+float64(j)*bar+bar/2, y, bar*0.9, bh, colors[j%len(colors)], template.HTMLEscapeString(n), date,
				template.HTMLEscapeString(i18n.FormatMoney(lang, v, n[len(n)-3:])))
		}
		if len(dates) <= 16 || i%((len(dates)+15)/16) == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" text-anchor="middle">%s</text>`, x0+slot/2, h+16, date[5:])
		}
	}
	for j, n := range names {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d" font-size="12">%s</text>`,
			pad+j*160, h+24, colors[j%len(colors)], pad+j*160+16, h+35, template.HTMLEscapeString(n))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
