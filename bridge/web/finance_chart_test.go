package web

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"vippskco/bridge/i18n"
	"vippskco/bridge/reconcile"
)

// A month of days with both providers and one day with an exception
// draws one chart per currency, each in two sizes, with both providers'
// bars for every day they settled, the exception day marked, amounts on
// the y axis and days on the x axis, and a title and description.
func TestFinanceChartOfAMonth(t *testing.T) {
	var days []reconcile.DaySummary
	for d := 1; d <= 30; d++ {
		date := "2026-11-" + pad(d)
		days = append(days, reconcile.DaySummary{Provider: reconcile.Vipps, Currency: "NOK", Date: date,
			Totals: reconcile.Totals{Net: int64(d) * 125000, Lines: d}})
		if d%3 == 0 {
			days = append(days, reconcile.DaySummary{Provider: reconcile.Kustom, Currency: "NOK", Date: date,
				Totals: reconcile.Totals{Net: -int64(d) * 10000, Lines: 1}})
		}
	}
	days[10].Exceptions = 2 // 2026-11-09, a Vipps day
	days = append(days, reconcile.DaySummary{Provider: reconcile.Vipps, Currency: "EUR", Date: "2026-11-05", Totals: reconcile.Totals{Net: 4200}})
	charts := financeCharts(days, "2026-11-01", "2026-11-30", i18n.LangNB)
	require.Len(t, charts, 2, "one chart per currency")
	require.Equal(t, "EUR", charts[0].Currency)
	nok := charts[1]
	require.Equal(t, 30, nok.Dates)
	require.Equal(t, 1, nok.ExcDates)
	for name, svg := range map[string]string{"desktop": string(nok.Desktop), "phone": string(nok.Phone)} {
		require.Contains(t, svg, `role="img"`, name)
		require.Regexp(t, `<title id="[^"]+">Netto oppgjort per dag \(NOK\)</title><desc id="[^"]+">Netto oppgjort per dag i NOK`, svg, name)
		require.Equal(t, 30, strings.Count(svg, `data-provider="vipps"`), "%s: a Vipps bar per day", name)
		require.Equal(t, 10, strings.Count(svg, `data-provider="kustom"`), "%s: a Kustom bar every third day", name)
		require.Contains(t, svg, `data-provider="vipps" data-date="2026-11-30" data-net="3750000"`, name)
		require.Contains(t, svg, `data-provider="kustom" data-date="2026-11-30" data-net="-300000"`, name)
		require.Equal(t, 1, strings.Count(svg, `class="exc-mark"`), name)
		require.Contains(t, svg, `class="exc-mark" data-date="2026-11-09"`, name)
		require.Contains(t, svg, ">Vipps</text>", "%s: legend", name)
		require.Contains(t, svg, ">Kustom</text>", "%s: legend", name)
		require.Contains(t, svg, ">dag med avvik</text>", "%s: legend for the mark", name)
		require.Contains(t, svg, ">Netto (NOK)</text>", "%s: the y axis says what it counts", name)
		require.Contains(t, svg, ">Dag</text>", "%s: the x axis says what it counts", name)
		// Ticks: the largest day is 37 500 kr, the smallest −3 000 kr.
		ticks := regexp.MustCompile(`class="tick"[^>]*>([^<]+)<`).FindAllStringSubmatch(svg, -1)
		require.GreaterOrEqual(t, len(ticks), 3, name)
		var labels []string
		for _, m := range ticks {
			labels = append(labels, m[1])
		}
		require.Contains(t, labels, "0", name)
		require.Contains(t, labels, "40\u00a0000", "%s: %v", name, labels)
		require.Contains(t, labels, "−10\u00a0000", "%s: %v", name, labels)
		require.Contains(t, svg, `class="day"`, name)
		require.Contains(t, svg, ">01.11</text>", "%s: the first day is labelled", name)
	}
	// A month leaves no room to write every bar's value: each provider's
	// largest day is written.
	for _, svg := range []string{string(nok.Desktop), string(nok.Phone)} {
		values := regexp.MustCompile(`class="value"[^>]*>([^<]+)<`).FindAllStringSubmatch(svg, -1)
		require.Len(t, values, 2)
		require.Equal(t, "37\u00a0500", values[0][1])
		require.Equal(t, "−3\u00a0000", values[1][1])
	}
	// A week has room for every value.
	week := financeCharts(days[:9], "2026-11-01", "2026-11-07", i18n.LangEN)
	require.Equal(t, 7+2, strings.Count(string(week[0].Desktop), `class="value"`), "7 Vipps days and 2 Kustom days")
	require.Contains(t, string(nok.Desktop), `<title>Vipps 30.11: kr`+"\u00a0"+`37`+"\u00a0"+`500,00</title>`)
	require.Contains(t, string(nok.Phone), `width="360"`)
}

func pad(d int) string {
	if d < 10 {
		return "0" + string(rune('0'+d))
	}
	return string(rune('0'+d/10)) + string(rune('0'+d%10))
}

func TestNiceScale(t *testing.T) {
	for _, c := range []struct{ lo, hi, step, nlo, nhi int64 }{
		{0, 3750000, 1000000, 0, 4000000},
		{-300000, 3750000, 1000000, -1000000, 4000000},
		{0, 0, 100, 0, 100},
		{0, 4200, 1000, 0, 5000},
		{-5000, 0, 1000, -5000, 0},
	} {
		step, lo, hi := niceScale(c.lo, c.hi)
		require.Equal(t, []int64{c.step, c.nlo, c.nhi}, []int64{step, lo, hi}, "%d..%d", c.lo, c.hi)
	}
}
