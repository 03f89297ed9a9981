package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"vippskco/bridge/config"
)

// Every page a shopper, a shop or finance sees in the sandbox, in headless
// Chromium at a phone's width (390 px) and a desktop's (1280 px): nothing
// wider than the window, and one language per page. Screenshots are always
// written to $BROWSER_ARTIFACTS when it is set (CI keeps that folder).

// langWords are words that mark a language: a page in one language must
// use some of its own and none of another's. They are whole words,
// matched case-insensitively, chosen not to occur in the other language
// (nor in names like Kustom Checkout, Vipps or Klarna).
var langWords = map[string][]string{
	"nb": {"og", "ikke", "på", "til", "betalingen", "bestillingen", "kassen", "beløp", "beløpet", "butikken", "vi", "er", "fant", "venter", "handlekurv", "antall", "tilbake", "avbryt", "godkjenn"},
	"en": {"the", "and", "payment", "order", "your", "you", "back", "waiting", "amount", "not", "is", "we", "cannot", "found", "shop", "approve", "cancel", "please", "expired"},
}

// foreignWords returns the words of other languages that text uses, and
// how many of its own language's.
func foreignWords(lang, text string) (foreign []string, own int) {
	words := map[string]bool{}
	for _, w := range regexp.MustCompile(`[\p{L}]+`).FindAllString(strings.ToLower(text), -1) {
		words[w] = true
	}
	for l, list := range langWords {
		for _, w := range list {
			if !words[w] {
				continue
			}
			if l == lang {
				own++
			} else {
				foreign = append(foreign, l+":"+w)
			}
		}
	}
	return foreign, own
}

func TestForeignWordsCanFail(t *testing.T) {
	f, own := foreignWords("nb", "Fant ikke bestillingen. Order not found: the order does not exist or has expired.")
	require.NotEmpty(t, f, "a mixed page is caught")
	require.Positive(t, own)
	f, own = foreignWords("nb", "Venter på betalingen. Fullfør betalingen i Vipps-appen. Tilbake til kassen")
	require.Empty(t, f)
	require.Positive(t, own)
	f, _ = foreignWords("en", "Waiting for your payment. Tilbake til kassen")
	require.NotEmpty(t, f)
}

// browserPage is one page to look at.
type browserPage struct {
	name, url, lang string
	// frame: the page is loaded in a sandboxed iframe filling a page of
	// ours (the breakout page only makes sense in a frame; the sandbox
	// stops its script from moving the top window), and measured inside.
	frame bool
	// header is sent with the navigation (the finance page's Basic auth).
	header map[string]any
	// check, when set, is JavaScript that must come true on the page, and
	// what it means.
	check, checkWhat string
}

func TestBrowserPagesFitAndSpeakOneLanguage(t *testing.T) {
	chromium := chromiumPath(t)
	deadline := time.Now().Add(browserBudget)
	// Without a confirmation_url our own confirmation page shows; the
	// shop's order page is opened directly.
	e := startMain(t, func(c *config.Config) { c.Units[0].ConfirmationURL = "" })
	base := e.m.PublicURL()

	// The orders and payments the pages show.
	shopOrder := func() string {
		t.Helper()
		resp, err := e.http.PostForm(base+"/shop/cart", url.Values{"qty_termokopp": {"2"}, "qty_ullsokker": {"1"}, "locale": {"nb-NO"}, "phone": {"+47 912 34 567"}})
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		return strings.TrimPrefix(resp.Header.Get("Location"), "/shop/checkout/")
	}
	open := shopOrder()
	waiting := shopOrder()
	_, pw := e.checkout(waiting)
	require.NotNil(t, pw)
	confirmed := shopOrder()
	_, pc := e.checkout(confirmed)
	require.NotNil(t, pc)
	require.NoError(t, e.m.Sandbox.Vipps.Approve(pc.Reference))
	failed := shopOrder()
	_, pf := e.checkout(failed)
	require.NotNil(t, pf)
	require.NoError(t, e.m.Sandbox.Vipps.Reject(pf.Reference))
	e.settle()
	gone := "3fa85f64-5717-4562-b3fc-2c963f66afa6"
	finance := "Basic " + base64.StdEncoding.EncodeToString([]byte("finance:"+e.m.Config.APITokens.Finance))

	pages := []browserPage{
		{name: "shop", url: base + "/shop/", lang: "nb"},
		{name: "shop-checkout", url: base + "/shop/checkout/" + open, lang: "nb",
			check: `(function () {
				var f = document.querySelector("iframe#kco"), d = f && f.contentDocument;
				if (!d || d.readyState !== "complete" || !d.querySelector("#epm-vipps")) { return false; }
				return f.getBoundingClientRect().height + 2 >= d.documentElement.scrollHeight;
			})()`,
			checkWhat: "the checkout frame grows to its page, so the Vipps choice is not hidden in it"},
		{name: "checkout-stand-in", url: e.m.Sandbox.KustomURL() + "/checkout-page/" + open, lang: "nb"},
		{name: "breakout", url: e.redirectURL(open), lang: "nb", frame: true},
		{name: "vipps-landing", url: pw.RedirectURL, lang: "nb"},
		{name: "waiting", url: base + "/return/" + pw.ReturnToken, lang: "nb"},
		{name: "confirmation", url: base + "/return/" + pc.ReturnToken, lang: "nb"},
		{name: "shop-order", url: base + "/shop/thanks?order=" + url.QueryEscape(confirmed), lang: "nb"},
		{name: "failure", url: base + "/return/" + pf.ReturnToken, lang: "nb"},
		{name: "error-unknown-return", url: base + "/return/no-such-payment", lang: "en"},
		{name: "error-malformed-order", url: base + "/checkout/webshop/vipps?kco_order_id=%7Bcheckout.order.id%7D", lang: "nb"},
		{name: "error-expired-order", url: e.redirectURL(gone), lang: "nb"},
		{name: "shop-expired-order", url: base + "/shop/checkout/" + gone, lang: "nb"},
		{name: "finance", url: base + "/finance", lang: "nb", header: map[string]any{"Authorization": finance}},
	}

	b := startBrowser(t, chromium, deadline)
	ctx, cancel := context.WithDeadline(b.ctx, deadline)
	defer cancel()
	artifacts := os.Getenv("BROWSER_ARTIFACTS")
	if artifacts != "" {
		artifacts = filepath.Join(artifacts, t.Name())
		require.NoError(t, os.MkdirAll(artifacts, 0o755))
	}

	type measure struct {
		Lang        string `json:"lang"`
		Text        string `json:"text"`
		ScrollWidth int    `json:"scrollWidth"`
		InnerWidth  int    `json:"innerWidth"`
		Ready       string `json:"ready"`
		H1          int    `json:"h1"`
	}
	measureJS := func(doc, win string) string {
		return fmt.Sprintf(`(function () {
			var d = %s, w = %s;
			if (!d || !d.documentElement || !d.body) { return JSON.stringify({ready: "none"}); }
			return JSON.stringify({lang: d.documentElement.getAttribute("lang") || "", text: d.body.innerText,
				scrollWidth: Math.max(d.documentElement.scrollWidth, d.body.scrollWidth), innerWidth: w.innerWidth,
				ready: d.readyState, h1: d.querySelectorAll("h1").length});
		})()`, doc, win)
	}
	frameDoc := `document.querySelector("iframe#under-test") && document.querySelector("iframe#under-test").contentDocument`
	frameWin := `document.querySelector("iframe#under-test").contentWindow`

	for _, width := range []int64{390, 1280} {
		_, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width: width, Height: 900, DeviceScaleFactor: 1, Mobile: width < 600,
		})
		require.NoError(t, err)
		for _, pg := range pages {
			name := fmt.Sprintf("%s-%d", pg.name, width)
			headers := network.Headers{}
			for k, v := range pg.header {
				headers[k] = v
			}
			_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: headers})
			require.NoError(t, err)
			doc, win := "document", "window"
			if pg.frame {
				doc, win = frameDoc, frameWin
				require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/shop/")), name)
				_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(function () {
					document.body.innerHTML = "";
					var f = document.createElement("iframe");
					f.id = "under-test";
					f.setAttribute("sandbox", "allow-same-origin");
					f.style.cssText = "position:fixed;top:0;left:0;width:100%%;height:100%%;border:0;background:#fff";
					f.src = %q;
					document.body.appendChild(f);
					return true;
				})()`, pg.url)))
				require.NoError(t, err, name)
			} else {
				require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(pg.url)), name)
			}
			var m measure
			for {
				raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](measureJS(doc, win)))
				if err == nil && json.Unmarshal([]byte(raw), &m) == nil && m.Ready == "complete" && m.Text != "" {
					break
				}
				select {
				case <-ctx.Done():
					t.Fatalf("%s: the page never loaded: %v (last error %v)", name, ctx.Err(), err)
				case <-time.After(50 * time.Millisecond):
				}
			}
			checked := true
			if pg.check != "" {
				checked = false
				for try := 0; try < 40 && !checked; try++ {
					checked, _ = chromedp.Run(ctx, chromedp.Evaluate[bool](pg.check))
					if !checked {
						time.Sleep(50 * time.Millisecond)
					}
				}
			}
			if artifacts != "" {
				png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
				if err == nil {
					err = os.WriteFile(filepath.Join(artifacts, name+".png"), png, 0o644)
				}
				if err != nil {
					t.Errorf("%s: screenshot: %v", name, err)
				}
			}
			t.Run(name, func(t *testing.T) {
				// A phone widens its layout viewport to a page that
				// overflows, so compare with the device's width too.
				require.LessOrEqual(t, int64(m.ScrollWidth), width, "the page is %d px wide in a %d px window (horizontal overflow)", m.ScrollWidth, width)
				require.LessOrEqual(t, m.ScrollWidth, m.InnerWidth, "the page is wider than the window (horizontal overflow)")
				require.Equal(t, width, int64(m.InnerWidth), "the window's width")
				require.True(t, checked, pg.checkWhat)
				require.Equal(t, 1, m.H1, "one <h1>")
				require.Equal(t, pg.lang, m.Lang, "<html lang>")
				// The merchant's name (the unit's, as configured: "Demo
				// Shop") is a name, not the page's language.
				text := m.Text
				for _, u := range e.m.Config.Units {
					text = strings.ReplaceAll(text, u.Name, "")
				}
				foreign, own := foreignWords(pg.lang, text)
				require.Empty(t, foreign, "words of another language on a %s page:\n%s", pg.lang, m.Text)
				require.Positive(t, own, "no word of %s on the page:\n%s", pg.lang, m.Text)
			})
		}
	}
	_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{}})
	require.NoError(t, err)
}
