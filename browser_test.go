package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// The shopper path in a real browser: headless Chromium clicks through the
// demo shop, the checkout stand-in in its iframe, the fake Vipps landing
// page and back to the confirmation (approve), our failure page (reject), or
// our waiting page and on to the confirmation once Vipps says yes (waiting).

// browserBudget is the most one subtest may take, start-up included.
const browserBudget = 60 * time.Second

// pageRecord is what the recorder script notes about every document the
// browser loads, in any frame: all pages here share one origin, so they all
// append to one localStorage list, which survives the navigations. (A frame
// whose first page reuses the window of its initial about:blank document may
// be recorded as about:blank only.)
type pageRecord struct {
	URL    string `json:"url"`
	Lang   string `json:"lang"`
	H1     int    `json:"h1"`
	Framed bool   `json:"framed"`
	Title  string `json:"title"`
}

const recorderKey = "__browser_test_pages"

// recorderJS runs in every frame before the page's own scripts (it comes
// through DevTools, so the pages' Content-Security-Policy does not apply).
const recorderJS = `(function () {
  function record() {
    try {
      var key = "` + recorderKey + `";
      var list = JSON.parse(localStorage.getItem(key) || "[]");
      list.push({
        url: location.href,
        lang: document.documentElement.getAttribute("lang") || "",
        h1: document.querySelectorAll("h1").length,
        framed: window.top !== window,
        title: document.title
      });
      localStorage.setItem(key, JSON.stringify(list));
    } catch (e) {}
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", record); } else { record(); }
})();`

// chromiumPath finds the browser: $CHROMIUM, Debian's /usr/bin/chromium, or
// chromium on the PATH.
func chromiumPath(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium"}
	if p, err := exec.LookPath("chromium"); err == nil {
		candidates = append(candidates, p)
	}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if fi, err := os.Stat(c); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return c
		}
	}
	t.Skip("chromium not found: install Debian's chromium (.ci/run does)")
	return ""
}

func TestBrowserShopperPath(t *testing.T) {
	chromium := chromiumPath(t)
	// approve and reject: the shopper decides on the landing page and the
	// browser comes straight back. waiting: the shopper comes back before
	// deciding (as from the app), so our waiting page must poll and move on
	// by itself once the payment is approved elsewhere.
	for _, mode := range []string{"approve", "reject", "waiting"} {
		t.Run(mode, func(t *testing.T) { shopperPathInBrowser(t, chromium, mode) })
	}
}

// browserSession is one headless Chromium with one tab, and what it saw.
type browserSession struct {
	t   *testing.T
	ctx context.Context // the tab; lives until the subtest ends

	mu      sync.Mutex
	console []string
}

func (b *browserSession) consoleLines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.console...)
}

// startBrowser starts Chromium with a fresh profile and the page recorder.
// The browser lives until the test ends; a failed test saves a screenshot,
// the page's HTML, the console and the pages seen first.
func startBrowser(t *testing.T, chromium string, deadline time.Time) *browserSession {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
		chromedp.WindowSize(1280, 1000),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	b := &browserSession{t: t, ctx: ctx}

	// Start the browser on a context without a deadline (the first action
	// binds the browser's life to its context), but do not wait past the
	// test's budget for it.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			cancelTab()
			cancelAlloc()
			require.NoError(t, err, "starting %s", chromium)
		}
	case <-time.After(time.Until(deadline)):
		cancelTab()
		cancelAlloc()
		t.Fatalf("%s did not start within the test's budget", chromium)
	}

	var consoleDone sync.WaitGroup
	consoleDone.Go(func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, fmt.Sprintf("%s %s:%d %s", m.Type, m.URL, m.Line+1, m.Text))
			b.mu.Unlock()
		}
	})
	_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: recorderJS})
	require.NoError(t, err)

	t.Cleanup(func() {
		if t.Failed() {
			b.saveArtifacts()
		}
		cancelTab()
		cancelAlloc()
		consoleDone.Wait()
	})
	return b
}

// saveArtifacts writes what the browser shows to $BROWSER_ARTIFACTS (or a
// temporary directory that is kept), one folder per test.
func (b *browserSession) saveArtifacts() {
	t := b.t
	root := os.Getenv("BROWSER_ARTIFACTS")
	if root == "" {
		var err error
		// Not t.TempDir: that one is removed when the test ends.
		if root, err = os.MkdirTemp("", "browser-artifacts-"); err != nil {
			t.Logf("browser artifacts: %v", err)
			return
		}
	}
	dir := filepath.Join(root, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("browser artifacts: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Logf("browser artifacts: %v", err)
		}
	}
	// A page in the middle of a navigation cannot be captured: try again.
	for try := 1; ; try++ {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err == nil {
			write("screenshot.png", png)
			break
		}
		if try == 5 || ctx.Err() != nil {
			t.Logf("browser artifacts: screenshot: %v", err)
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`)); err == nil {
		write("page.html", []byte(html))
	} else {
		t.Logf("browser artifacts: outer HTML: %v", err)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	pages, _ := b.pages(ctx)
	pj, _ := json.MarshalIndent(pages, "", "  ")
	write("pages.json", pj)
	write("console.txt", []byte(strings.Join(b.consoleLines(), "\n")+"\n"))
	t.Logf("browser artifacts in %s (page at failure: %s)", dir, loc)
	t.Logf("pages seen: %s", pj)
	t.Logf("console:\n%s", strings.Join(b.consoleLines(), "\n"))
}

// pages is the recorder's list of every document loaded so far.
func (b *browserSession) pages(ctx context.Context) ([]pageRecord, error) {
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`localStorage.getItem("`+recorderKey+`") || "[]"`))
	if err != nil {
		return nil, err
	}
	var out []pageRecord
	err = json.Unmarshal([]byte(raw), &out)
	return out, err
}

// advanceClock moves the service's frozen test clock on, as real time would,
// so the once-per-2-s status throttle lets the waiting page's polls read
// Vipps even when the webhook is slow.
func advanceClock(t *testing.T, e *testEnv) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				e.clock.Advance(3 * time.Second)
			}
		}
	})
	t.Cleanup(func() { close(stop); wg.Wait() })
}

func shopperPathInBrowser(t *testing.T, chromium string, mode string) {
	approve := mode != "reject"
	deadline := time.Now().Add(browserBudget)
	e := startMain(t, nil)
	advanceClock(t, e)
	base := e.m.PublicURL()
	b := startBrowser(t, chromium, deadline)
	ctx, cancel := context.WithDeadline(b.ctx, deadline)
	defer cancel()

	// step runs actions, failing the test with what it was doing.
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx, actions...), what)
	}
	location := func() *url.URL {
		t.Helper()
		loc, err := chromedp.Run(ctx, chromedp.Location())
		require.NoError(t, err)
		u, err := url.Parse(loc)
		require.NoError(t, err)
		return u
	}
	// waitJS waits until expr is true in the top window. Navigations
	// destroy the page's JavaScript context, so it evaluates again and again
	// rather than use one long poll.
	waitJS := func(what, expr string) {
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
				loc, _ := chromedp.Run(b.ctx, chromedp.Location())
				t.Fatalf("waiting for %s: %v (last error: %v; the browser is at %s)", what, ctx.Err(), err, loc)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	// waitPath waits until the top window shows a loaded page under prefix.
	waitPath := func(prefix string) *url.URL {
		t.Helper()
		waitJS("the browser to reach "+prefix,
			fmt.Sprintf(`location.pathname.startsWith(%q) && document.readyState !== "loading"`, prefix))
		return location()
	}
	lang := func() string {
		t.Helper()
		l, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.getAttribute("lang") || ""`))
		require.NoError(t, err)
		return l
	}

	// 1. The demo shop: two thermo mugs, Norwegian checkout.
	step("filling in the shop's cart",
		chromedp.Navigate(base+"/shop/"),
		chromedp.WaitVisible(chromedp.ID("to-checkout")),
		chromedp.SetValue(chromedp.ID("qty-termokopp"), "2"),
		chromedp.SetValue(chromedp.ID("locale"), "nb-NO"),
		chromedp.Click(chromedp.ID("to-checkout")),
	)
	checkout := waitPath("/shop/checkout/")
	orderID := strings.TrimPrefix(checkout.Path, "/shop/checkout/")
	require.NotEmpty(t, orderID)
	require.Equal(t, "nb", lang(), "the shop's checkout page")

	// 2. The checkout stand-in in its iframe: choose Vipps there. The choice
	// is a target=_top link, so the whole window must leave the shop.
	waitJS("the checkout stand-in in the iframe", `(function () {
		var f = document.querySelector("iframe#kco");
		var d = f && f.contentDocument;
		return !!d && d.readyState === "complete" && d.querySelector("#epm-vipps") !== null;
	})()`)
	frameNode := func() *chromedp.Node {
		t.Helper()
		for {
			nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS("iframe#kco")))
			require.NoError(t, err, "finding the checkout iframe")
			n := nodes[0]
			n.RLock() // chromedp updates the tree from browser events
			doc := n.ContentDocument
			n.RUnlock()
			if doc != nil && strings.Contains(doc.DocumentURL, "/checkout-page/") {
				return n
			}
			select {
			case <-ctx.Done():
				t.Fatalf("the checkout iframe's document never came: %v", ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	vippsLink, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS("#epm-vipps"), chromedp.FromNode(frameNode)))
	require.NoError(t, err, "finding the Vipps choice inside the iframe")
	require.Equal(t, "_top", vippsLink[0].AttributeValue("target"))
	require.Contains(t, vippsLink[0].AttributeValue("href"), "/checkout/webshop/vipps?")
	frameLang, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`document.querySelector("iframe#kco").contentDocument.documentElement.getAttribute("lang") || ""`))
	require.NoError(t, err)
	require.Equal(t, "nb", frameLang, "the checkout stand-in for an nb-NO order")
	step("clicking Vipps inside the checkout iframe",
		chromedp.Click(chromedp.CSS("#epm-vipps"), chromedp.FromNode(frameNode)))

	// 3. The fake Vipps landing page, at top level.
	landing := waitPath("/sandbox/vipps/landing")
	require.NotEmpty(t, landing.Query().Get("token"))
	step("waiting for the landing page's buttons",
		chromedp.WaitVisible(chromedp.ID("approve")),
		chromedp.WaitVisible(chromedp.ID("reject")),
	)
	top, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.top === window`))
	require.NoError(t, err)
	require.True(t, top, "the Vipps landing page must be the top window, never in a frame")
	require.Equal(t, "nb", lang(), "the landing page")
	ps, err := e.m.Store.PaymentsByOrder(context.Background(), orderID)
	require.NoError(t, err)
	require.Len(t, ps, 1)
	p := ps[0]
	require.Equal(t, int64(2*34900+4900), p.Amount.Value, "two thermo mugs and shipping")

	// 4. Approve or cancel, and follow the browser back to us.
	sawWaiting := false
	if mode == "waiting" {
		step("coming back before deciding", chromedp.Navigate(base+"/return/"+p.ReturnToken))
		step("waiting for our waiting page",
			chromedp.WaitVisible(chromedp.CSS("h1#title")),
			chromedp.WaitVisible(chromedp.CSS(`#status[role="status"]`)),
		)
		if u := location(); u.Path == "/return/"+p.ReturnToken {
			sawWaiting = true
			require.Equal(t, "nb", lang(), "the waiting page")
			reopen, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.ID("reopen")))
			require.NoError(t, err)
			require.Equal(t, landing.String(), reopen[0].AttributeValue("href"), "the waiting page reopens Vipps")
		}
		// The shopper approves in the app; the page finds out by itself.
		approveOnLandingPage(t, e, landing.String())
	} else if approve {
		step("approving on the landing page",
			chromedp.SetValue(chromedp.ID("phoneNumber"), "+47 912 34 567"),
			chromedp.Click(chromedp.ID("approve")),
		)
	}
	if approve {
		thanks := waitPath("/shop/thanks")
		require.Equal(t, orderID, thanks.Query().Get("order"))
		step("waiting for the shop's confirmation", chromedp.WaitVisible(chromedp.CSS("dd.state")))
		state, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("dd.state")))
		require.NoError(t, err)
		require.Equal(t, "Betalt (reservert, ikke trukket ennå)", strings.TrimSpace(state), "the state in words, not AUTHORIZED")
		ref, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("code.reference")))
		require.NoError(t, err)
		require.Equal(t, p.Reference, strings.TrimSpace(ref))
	} else {
		step("cancelling on the landing page", chromedp.Click(chromedp.ID("reject")))
		waitPath("/return/" + p.ReturnToken)
		// The return page may wait first; it moves on by itself.
		step("waiting for the failure page",
			chromedp.WaitVisible(chromedp.ID("reason")),
			chromedp.WaitVisible(chromedp.ID("retry")),
			chromedp.WaitVisible(chromedp.ID("back")),
		)
		reason, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("reason")))
		require.NoError(t, err)
		require.Contains(t, reason, "Du avbrøt betalingen")
		retry, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.ID("retry")))
		require.NoError(t, err)
		require.Contains(t, retry[0].AttributeValue("href"), "/checkout/webshop/vipps?kco_order_id="+url.QueryEscape(orderID))
	}
	require.Equal(t, "nb", lang(), "the page the shopper ends on")
	h1, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
	require.NoError(t, err)
	require.NotEmpty(t, strings.TrimSpace(h1), "the page the shopper ends on needs a heading")
	got, err := e.m.Store.PaymentsByOrder(context.Background(), orderID)
	require.NoError(t, err)
	require.Len(t, got, 1, "one attempt only")
	want := "AUTHORIZED"
	if !approve {
		want = "ABORTED"
	}
	require.Equal(t, want, string(got[0].State))

	// 5. Every page the browser loaded, in any frame: Norwegian, our pages
	// with a heading, and the landing page never framed.
	pages, err := b.pages(ctx)
	require.NoError(t, err)
	var paths []string
	sawLanding, sawReturn := false, false
	for _, pg := range pages {
		if pg.URL == "about:blank" {
			// A frame's initial empty document. When the frame's first
			// page reuses its window, as the spec allows, the recorder may
			// only see this one: the checkout iframe is checked above.
			continue
		}
		u, err := url.Parse(pg.URL)
		require.NoError(t, err)
		where := u.Path
		if pg.Framed {
			where = "[frame] " + where
		}
		paths = append(paths, where)
		require.Equal(t, "nb", pg.Lang, "html lang of %s", pg.URL)
		switch {
		case strings.HasPrefix(u.Path, "/sandbox/vipps/landing"):
			sawLanding = true
			require.False(t, pg.Framed, "the landing page loaded inside a frame: %s", pg.URL)
		case strings.HasPrefix(u.Path, "/return/"):
			sawReturn = true
			require.False(t, pg.Framed, "our return page loaded inside a frame: %s", pg.URL)
			require.Equal(t, 1, pg.H1, "our return page (waiting, confirmation or failure) needs one <h1>: %s", pg.URL)
		case strings.HasPrefix(u.Path, "/checkout/"):
			t.Errorf("the redirect answered with a page instead of sending the browser on (a framed request?): %s", pg.URL)
		case strings.HasPrefix(u.Path, "/sandbox/kustom/checkout-page/"):
			require.True(t, pg.Framed, "the checkout stand-in belongs in the shop's iframe")
		}
	}
	t.Logf("pages: %s", strings.Join(paths, " → "))
	// No script broke and the Content-Security-Policy refused nothing (the
	// waiting page's inline script and its fetch of /status need it).
	for _, line := range b.consoleLines() {
		if strings.HasPrefix(line, string(chromedp.ConsoleException)+" ") || strings.Contains(line, "Content Security Policy") {
			t.Errorf("browser console: %s", line)
		}
	}
	require.True(t, sawLanding, "the recorder never saw the landing page")
	if !approve || sawWaiting {
		require.True(t, sawReturn, "the recorder never saw our return page")
	}
}
