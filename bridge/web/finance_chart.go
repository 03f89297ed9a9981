package web

import (
	"bytes"
	"fmt"
	"html/template"
	"sort"
	"strconv"
	"strings"
	"time"

	"vippskco/bridge/i18n"
	"vippskco/bridge/reconcile"
)

// financeChart is one currency's chart, drawn twice: for a desktop and
// for a phone (390 px), the page's CSS showing the one that fits.
type financeChart struct {
	Currency        string
	Desktop, Phone  template.HTML
	Dates, ExcDates int
	Providers       []string
}

// chartProviders are the providers a chart always shows, in legend order,
// with their colours (Vipps orange; a blue that is not Vipps's).
var chartProviders = []struct {
	P     reconcile.Provider
	Name  string
	Color string
}{{reconcile.Vipps, "Vipps", "#FF5B24"}, {reconcile.Kustom, "Kustom", "#2E4BC6"}}

// chartSize is one variant's geometry, in SVG units (the SVG scales to its
// box, so these are also its CSS pixels at full width).
type chartSize struct {
	id                             string
	w, h, left, right, top, bottom int
	font                           int
}

var (
	desktopChart = chartSize{id: "d", w: 960, h: 340, left: 96, right: 16, top: 40, bottom: 48, font: 13}
	phoneChart   = chartSize{id: "p", w: 360, h: 320, left: 68, right: 8, top: 68, bottom: 44, font: 12}
)

// financeCharts draws one chart per currency of days: net settled per day
// on the y axis, the days of from..to on the x axis, a bar per provider
// and day, and a red triangle under each day with an exception.
func financeCharts(days []reconcile.DaySummary, from, to string, lang i18n.Lang) []financeChart {
	byCur := map[string][]reconcile.DaySummary{}
	for _, d := range days {
		byCur[d.Currency] = append(byCur[d.Currency], d)
	}
	curs := make([]string, 0, len(byCur))
	for c := range byCur {
		curs = append(curs, c)
	}
	sort.Strings(curs)
	var out []financeChart
	for _, cur := range curs {
		ds := byCur[cur]
		dates := chartDates(ds, from, to)
		net := map[reconcile.Provider]map[string]int64{}
		exc := map[string]bool{}
		for _, d := range ds {
			if net[d.Provider] == nil {
				net[d.Provider] = map[string]int64{}
			}
			net[d.Provider][d.Date] += d.Net
			if d.Exceptions > 0 {
				exc[d.Date] = true
			}
		}
		fc := financeChart{Currency: cur, Dates: len(dates), ExcDates: len(exc)}
		for _, p := range chartProviders {
			fc.Providers = append(fc.Providers, p.Name)
		}
		fc.Desktop = drawChart(desktopChart, cur, dates, net, exc, from, to, lang)
		fc.Phone = drawChart(phoneChart, cur, dates, net, exc, from, to, lang)
		out = append(out, fc)
	}
	return out
}

// chartDates are the days from..to when they are few enough to draw
// (at most 62), else the days that have figures.
func chartDates(ds []reconcile.DaySummary, from, to string) []string {
	seen := map[string]bool{}
	var dates []string
	for _, d := range ds {
		if !seen[d.Date] {
			seen[d.Date] = true
			dates = append(dates, d.Date)
		}
	}
	if all := daysBetween(from, to); len(all) > 0 && len(all) <= 62 {
		for _, d := range dates {
			if d < from || d > to {
				all = append(all, d)
			}
		}
		dates = all
	}
	sort.Strings(dates)
	return dates
}

func drawChart(sz chartSize, cur string, dates []string, net map[reconcile.Provider]map[string]int64, exc map[string]bool, from, to string, lang i18n.Lang) template.HTML {
	esc := template.HTMLEscapeString
	var lo, hi int64
	for _, p := range chartProviders {
		for _, v := range net[p.P] {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	step, lo, hi := niceScale(lo, hi)
	plotW := float64(sz.w - sz.left - sz.right)
	plotH := float64(sz.h - sz.top - sz.bottom)
	y := func(v int64) float64 { return float64(sz.top) + plotH*float64(hi-v)/float64(hi-lo) }
	id := "chart-" + strings.ToLower(cur) + "-" + sz.id
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg class="chart-%s" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-labelledby="%s-t %s-d" xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="%d">`,
		sz.id, sz.w, sz.h, sz.w, sz.h, id, id, sz.font)
	fmt.Fprintf(&b, `<title id="%s-t">%s (%s)</title><desc id="%s-d">%s</desc>`, id, esc(i18n.T(lang, "fin_chart")), esc(cur), id,
		esc(i18n.T(lang, "fin_chart_desc", cur, from, to)))
	// Legend, above the plot.
	x := float64(sz.left)
	for _, p := range chartProviders {
		fmt.Fprintf(&b, `<rect x="%.0f" y="8" width="14" height="14" fill="%s"/><text x="%.0f" y="20" fill="#1b1b1b">%s</text>`, x, p.Color, x+18, esc(p.Name))
		x += 18 + float64(len(p.Name))*float64(sz.font)*0.62 + 16
	}
	excLabel := i18n.T(lang, "fin_exc_day")
	if sz.id == "p" {
		x = float64(sz.left)
		fmt.Fprintf(&b, `<g transform="translate(0,20)">`)
	}
	fmt.Fprintf(&b, `<path d="M%.0f 22 l7 -13 l7 13 z" fill="#B42318"/><text x="%.0f" y="20" fill="#1b1b1b">%s</text>`, x, x+18, esc(excLabel))
	if sz.id == "p" {
		b.WriteString(`</g>`)
	}
	// Y axis: ticks, grid lines and amounts.
	unit := i18n.T(lang, "fin_amount_axis", cur)
	fmt.Fprintf(&b, `<text x="4" y="%d" fill="#5c5c5c" class="axis-label">%s</text>`, sz.top-10, esc(unit))
	for v := lo; v <= hi; v += step {
		yy := y(v)
		stroke := "#e3e3e3"
		if v == 0 {
			stroke = "#767676"
		}
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`, sz.left, yy, sz.w-sz.right, yy, stroke)
		fmt.Fprintf(&b, `<text class="tick" x="%d" y="%.1f" text-anchor="end" fill="#3d3d3d">%s</text>`, sz.left-6, yy+4, esc(axisAmount(lang, v)))
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#767676"/>`, sz.left, sz.top, sz.left, sz.h-sz.bottom)
	// Bars and day labels.
	slot := plotW / float64(max(len(dates), 1))
	bar := slot * 0.8 / float64(len(chartProviders))
	labelEvery := 1
	if maxLabels := int(plotW / float64(sz.font*4)); len(dates) > maxLabels && maxLabels > 0 {
		labelEvery = (len(dates) + maxLabels - 1) / maxLabels
	}
	// Each bar's value is written when the bars are wide enough; else
	// each provider's largest day is, and the others are in the bars'
	// titles and the days table.
	peak := map[reconcile.Provider]string{}
	for _, p := range chartProviders {
		var best int64 = -1
		for _, date := range dates {
			if v, ok := net[p.P][date]; ok && abs(v) > best {
				best, peak[p.P] = abs(v), date
			}
		}
	}
	for i, date := range dates {
		x0 := float64(sz.left) + float64(i)*slot + slot*0.1
		for j, p := range chartProviders {
			v, ok := net[p.P][date]
			if !ok {
				continue
			}
			top, bottom := y(max(v, 0)), y(min(v, 0))
			bx := x0 + float64(j)*bar
			fmt.Fprintf(&b, `<rect class="bar" data-provider="%s" data-date="%s" data-net="%d" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`,
				p.P, date, v, bx, top, bar*0.92, max(bottom-top, 0.5), p.Color, esc(p.Name), esc(dayLabel(lang, date)), esc(i18n.FormatMoney(lang, v, cur)))
			if bar >= 26 || peak[p.P] == date {
				ly := top - 4
				if v < 0 {
					ly = bottom + float64(sz.font)
				}
				fmt.Fprintf(&b, `<text class="value" x="%.1f" y="%.1f" text-anchor="middle" font-size="%d" fill="#1b1b1b">%s</text>`, bx+bar*0.46, ly, sz.font-2, esc(axisAmount(lang, v)))
			}
		}
		cx := x0 + slot*0.4
		if exc[date] {
			ty := float64(sz.h - sz.bottom + 4)
			fmt.Fprintf(&b, `<path class="exc-mark" data-date="%s" d="M%.1f %.1f l6 11 l-12 0 z" fill="#B42318"><title>%s: %s</title></path>`,
				date, cx, ty, esc(dayLabel(lang, date)), esc(excLabel))
		}
		if i%labelEvery == 0 {
			fmt.Fprintf(&b, `<text class="day" x="%.1f" y="%d" text-anchor="middle" fill="#3d3d3d">%s</text>`, cx, sz.h-sz.bottom+30, esc(dayLabel(lang, date)))
		}
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" fill="#5c5c5c" class="axis-label">%s</text>`, sz.w-sz.right, sz.h-4, esc(i18n.T(lang, "fin_day_axis")))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// daysBetween lists the days from..to (YYYY-MM-DD), or nil when they
// are not dates.
func daysBetween(from, to string) []string {
	a, err1 := time.Parse("2006-01-02", from)
	b, err2 := time.Parse("2006-01-02", to)
	if err1 != nil || err2 != nil || b.Before(a) {
		return nil
	}
	var out []string
	for d := a; !d.After(b) && len(out) <= 400; d = d.AddDate(0, 0, 1) {
		out = append(out, d.Format("2006-01-02"))
	}
	return out
}

// niceScale widens lo..hi (minor units, lo <= 0 <= hi) to a multiple of a
// step of 1, 2 or 5 × 10^n major units, with 3 to 6 ticks.
func niceScale(lo, hi int64) (step, nlo, nhi int64) {
	span := hi - lo
	if span <= 0 {
		span = 100
	}
	step = 100
	for p := int64(100); ; p *= 10 {
		found := false
		for _, m := range []int64{1, 2, 5} {
			if span/(p*m) <= 5 {
				step, found = p*m, true
				break
			}
		}
		if found || p > 1e15 {
			break
		}
	}
	nlo = floorTo(lo, step)
	nhi = -floorTo(-hi, step)
	if nhi == nlo {
		nhi = nlo + step
	}
	return step, nlo, nhi
}

func floorTo(v, step int64) int64 {
	q := v / step
	if v%step != 0 && v < 0 {
		q--
	}
	return q * step
}

// axisAmount writes minor units as whole major units, grouped as the
// language groups them: "12 000", "12,000", "12.000".
func axisAmount(lang i18n.Lang, v int64) string {
	neg := v < 0
	if neg {
		v = -v
	}
	digits := strconv.FormatInt((v+50)/100, 10)
	group := ","
	switch lang {
	case i18n.LangNB, i18n.LangFI:
		group = "\u00a0"
	case i18n.LangDA:
		group = "."
	}
	var s strings.Builder
	if neg {
		s.WriteString("−")
	}
	for i := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			s.WriteString(group)
		}
		s.WriteByte(digits[i])
	}
	return s.String()
}

// dayLabel is a day as the language writes it short: 05.12 in Nordic
// languages, 12-05 in English.
func dayLabel(lang i18n.Lang, date string) string {
	if len(date) != 10 {
		return date
	}
	if lang == i18n.LangEN {
		return date[5:]
	}
	return date[8:] + "." + date[5:7]
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
