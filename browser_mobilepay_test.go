package main

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// A Danish shopper's waiting page in a real browser: Danish, the MobilePay
// logo actually drawn (served by us and allowed by the page's
// Content-Security-Policy), MobilePay blue; once the payment is approved in
// the app the page moves on by itself to the Danish confirmation.
func TestBrowserMobilePayDanishPages(t *testing.T) {
	chromium := chromiumPath(t)
	deadline := time.Now().Add(browserBudget)
	e := startMain(t, mobilePayUnit("dk", "dk", "223344", "DKK", "DK"))
	o := e.mobilePayOrder("DK", "DKK", "da-DK", "20 12 34 56")
	p := checkoutAt(t, e, "dk", o)
	b := startBrowser(t, chromium, deadline)
	ctx, cancel := context.WithDeadline(b.ctx, deadline)
	defer cancel()

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(e.m.PublicURL()+"/return/"+p.ReturnToken),
		chromedp.WaitVisible(chromedp.CSS("h1#title")),
	), "opening the waiting page")
	eval := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		require.NoError(t, err, expr)
		return v
	}
	require.Equal(t, "da", eval(`document.documentElement.lang`))
	require.Equal(t, "Venter på din betaling", eval(`document.querySelector("h1").textContent`))
	// The logo has loaded once it is complete with a width.
	waitJS(t, ctx, "the MobilePay logo to be drawn", `(function () {
		var i = document.querySelector("img.logo");
		return !!i && i.complete && i.naturalWidth > 0 && i.getAttribute("alt") === "MobilePay";
	})()`)
	require.Equal(t, "rgb(90, 120, 255)", eval(`getComputedStyle(document.querySelector(".spinner")).borderTopColor`), "MobilePay blue")

	require.NoError(t, e.m.Sandbox.Vipps.Approve(p.Reference))
	advanceClock(t, e)
	waitJS(t, ctx, "the Danish confirmation", `document.body.innerText.indexOf("Tak! Betalingen er godkendt") >= 0`)
	require.Equal(t, "da", eval(`document.documentElement.lang`))
	require.NotContains(t, eval(`document.body.innerText`), "Vipps")
}

// waitJS waits until expr is true in the top window, evaluating it again
// after navigations.
func waitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	for {
		ectx, ecancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(ectx, chromedp.Evaluate[bool](expr))
		ecancel()
		if err == nil && ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v (last error: %v)", what, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
