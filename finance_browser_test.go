package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// The finance page in headless Chromium at a phone's width (390 px) and a
// desktop's (1280 px), in Norwegian and in English: the page never
// scrolls sideways (its tables scroll inside their .table-wrap), the
// chart that fits the width is the one shown and fits in it, and a
// screenshot of each is kept in $BROWSER_ARTIFACTS when that is set.
func TestFinancePageInBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	e, from, to := financeMonth(t)
	deadline := time.Now().Add(browserBudget)
	b := startBrowser(t, chromium, deadline)
	ctx, cancel := context.WithDeadline(b.ctx, deadline)
	defer cancel()
	_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Authorization": "Bearer " + e.m.Config.APITokens.Finance}})
	require.NoError(t, err)
	artifacts := os.Getenv("BROWSER_ARTIFACTS")
	if artifacts != "" {
		artifacts = filepath.Join(artifacts, t.Name())
		require.NoError(t, os.MkdirAll(artifacts, 0o755))
	}
	for _, lang := range []string{"nb", "en"} {
		for _, width := range []int64{390, 1280} {
			what := fmt.Sprintf("%s at %d px", lang, width)
			require.NoError(t, chromedp.Do(ctx,
				chromedp.EmulateViewport(width, 844),
				chromedp.Navigate(e.m.PublicURL()+"/finance?lang="+lang+"&from="+from+"&to="+to),
				chromedp.WaitVisible(chromedp.ID("days-table")),
			), what)
			got, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`(function () {
  var shown = Array.prototype.filter.call(document.querySelectorAll("figure.chart svg"), function (s) { return getComputedStyle(s).display !== "none"; });
  return {
    lang: document.documentElement.lang,
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    charts: shown.map(function (s) { return s.getAttribute("class"); }).join(" "),
    chartWidth: shown.length ? Math.max.apply(null, shown.map(function (s) { return s.getBoundingClientRect().right; })) : -1,
    tables: document.querySelectorAll(".table-wrap > table").length,
    bare: document.querySelectorAll("table:not(.table-wrap > table)").length
  };
})()`))
			require.NoError(t, err, what)
			if artifacts != "" {
				png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
				require.NoError(t, err, what)
				require.NoError(t, os.WriteFile(filepath.Join(artifacts, fmt.Sprintf("finance-%s-%d.png", lang, width)), png, 0o644))
			}
			require.Equal(t, lang, got["lang"], what)
			require.LessOrEqual(t, got["scrollWidth"], got["innerWidth"], "%s: the page scrolls sideways: %v", what, got)
			require.Equal(t, float64(4), got["tables"], "%s: every table is in a .table-wrap", what)
			require.Equal(t, float64(0), got["bare"], what)
			want := "chart-d"
			if width < 640 {
				want = "chart-p"
			}
			require.Equal(t, want, got["charts"], "%s: the chart made for the width is shown", what)
			require.LessOrEqual(t, got["chartWidth"], got["innerWidth"], "%s: the chart fits", what)
		}
	}
}
