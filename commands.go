package main

// The command line: everything but serving.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"vippskco/bridge"
	"vippskco/bridge/config"
	"vippskco/bridge/reconcile"
	"vippskco/klarna"
)

// epmCommand prints the external_payment_methods entry for a unit, the
// same JSON as GET /api/v1/epm/{unit} (bridge.MerchantEPM). Given an
// order, it reads it from Kustom (in sandbox mode, from the running
// sandbox's fake) and records that exchange in the store.
func epmCommand(ctx context.Context, cfg *config.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("epm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	order := fs.String("order", "", "KCO order id: the entry is for this order (required when redirect signing is on)")
	locale := fs.String("locale", "", "the description's locale, e.g. nb-NO (default: the order's, then the unit's country's)")
	unitID := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		unitID, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if unitID == "" || fs.NArg() > 0 {
		return errors.New("usage: epm UNIT [-order KCO_ORDER_ID] [-locale nb-NO]")
	}
	p := Providers{}
	if cfg.Sandbox {
		p.KustomURL = cfg.Server.PublicURL + "/sandbox/kustom"
	}
	var st bridge.Store
	if *order != "" {
		s, err := openStore(ctx, cfg, nil, nil)
		if err != nil {
			return err
		}
		defer s.Close()
		st = s
	}
	a, err := wire(cfg, st, p, cfg.Server.PublicURL, nil, nil, nil)
	if err != nil {
		return err
	}
	out, err := a.service.MerchantEPM(ctx, unitID, bridge.MerchantEPMRequest{OrderID: *order, Locale: *locale})
	if err != nil {
		return err
	}
	for _, w := range out.Warnings {
		fmt.Fprintf(stderr, "warning: %s: %s\n", w.Code, w.Message)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// webhooksCommand registers, lists or deletes a unit's webhook at Vipps:
// `webhooks register UNIT`, `webhooks list UNIT`, `webhooks delete UNIT ID`.
func webhooksCommand(ctx context.Context, cfg *config.Config, args []string, stdout io.Writer) error {
	if len(args) < 2 {
		return errors.New("usage: webhooks register|list UNIT, or webhooks delete UNIT ID")
	}
	if cfg.Sandbox {
		return errors.New("in sandbox mode the fake Vipps lives inside the running service, which registers its webhooks at start-up")
	}
	action, unitID := args[0], args[1]
	u, ok := cfg.Unit(unitID)
	if !ok {
		return fmt.Errorf("no unit %q in the configuration", unitID)
	}
	a, closeStore, err := openApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	svc, vc := a.service, a.vipps[u.ID]
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	switch action {
	case "register":
		reg, err := svc.EnsureWebhook(ctx, u.ID)
		if err != nil {
			return err
		}
		return enc.Encode(map[string]any{"unit": reg.Unit, "id": reg.ID, "url": reg.URL, "events": reg.Events})
	case "list":
		list, err := vc.ListWebhooks(ctx)
		if err != nil {
			return err
		}
		return enc.Encode(map[string]any{"webhooks": list})
	case "delete":
		if len(args) < 3 {
			return errors.New("usage: webhooks delete UNIT ID")
		}
		if err := vc.DeleteWebhook(ctx, args[2]); err != nil {
			return err
		}
		if reg, err := svc.Store.WebhookRegistration(ctx, u.ID); err == nil && reg.ID == args[2] {
			if err := svc.Store.DeleteWebhookRegistration(ctx, u.ID); err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "deleted webhook %s of unit %s\n", args[2], u.ID)
		return nil
	}
	return fmt.Errorf("unknown webhooks action %q (register, list or delete)", action)
}

// openApp opens the configured store and wires the services on it exactly
// as the server does; closeStore releases the store.
func openApp(ctx context.Context, cfg *config.Config) (a *app, closeStore func() error, err error) {
	st, err := openStore(ctx, cfg, nil, nil)
	if err != nil {
		return nil, nil, err
	}
	if a, err = wire(cfg, st, Providers{}, cfg.Server.PublicURL, nil, nil, nil); err != nil {
		st.Close()
		return nil, nil, err
	}
	return a, st.Close, nil
}

// settlementsCommand imports a settlement file from the command line:
// `settlements import -provider vipps|kustom FILE`.
func settlementsCommand(ctx context.Context, cfg *config.Config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "import" {
		return errors.New("usage: settlements import -provider vipps|kustom [-separator ';'] [-columns a,b,c] FILE")
	}
	fs := flag.NewFlagSet("settlements import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	provider := fs.String("provider", "vipps", "whose settlement the file is: vipps or kustom")
	separator := fs.String("separator", "", "Kustom CSV separator, ; or , (default: read from the file)")
	columns := fs.String("columns", "", "Kustom CSV column order, comma-separated (default: the file's header)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("settlements import: give exactly one FILE")
	}
	path := fs.Arg(0)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	a, closeStore, err := openApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	svc := a.finance
	start := time.Now()
	var res bridge.ImportResult
	var warnings []string
	name := path[strings.LastIndex(path, "/")+1:]
	// The file is read once, by the parser, as the store takes its lines:
	// the bar follows both.
	bar := &progress{total: info.Size(), w: stderr, label: "importing " + name}
	file := &progressReader{r: f, p: bar}
	switch *provider {
	case string(reconcile.Vipps):
		res, warnings, err = svc.ImportVippsFile(ctx, name, file, bar.setLines)
	case string(reconcile.Kustom):
		opt := klarna.CSVOptions{}
		if *separator != "" {
			opt.Separator = []rune(*separator)[0]
		}
		if *columns != "" {
			opt.Columns = strings.Split(*columns, ",")
		}
		res, err = svc.ImportKustomCSV(ctx, name, file, opt, bar.setLines)
	default:
		return fmt.Errorf("settlements import: -provider must be vipps or kustom, not %q", *provider)
	}
	bar.done()
	if err != nil {
		fmt.Fprintln(stderr, "failed")
		return err
	}
	fmt.Fprintf(stderr, "done in %s\n", time.Since(start).Round(time.Millisecond))
	for _, w := range warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"provider": *provider, "source": name, "result": res, "warnings": warnings})
}

// reconcileCommand prints the reconciliation of a period:
// `reconcile [-from YYYY-MM-DD] [-to YYYY-MM-DD] [-format csv|json]`.
func reconcileCommand(ctx context.Context, cfg *config.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	today := time.Now().Format("2006-01-02")
	from := fs.String("from", time.Now().AddDate(0, 0, -30).Format("2006-01-02"), "first day, YYYY-MM-DD")
	to := fs.String("to", today, "last day, YYYY-MM-DD")
	format := fs.String("format", "csv", "csv or json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	a, closeStore, err := openApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	r, err := a.finance.Reconcile(ctx, *from, *to)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%d matched, %d exceptions, %d pending, %d payouts\n", len(r.Matches), len(r.Exceptions), len(r.Pending), len(r.Payouts))
	if os.Getenv("GOGC") == "" {
		// From here the result is all that lives, and writing it makes
		// garbage a row at a time: collect what the matcher held, then
		// collect the rows' garbage long before the heap doubles (a
		// million exceptions are some 330 MiB, which GOGC=100 let grow to
		// twice that). That costs a few collections of the result.
		runtime.GC()
		defer debug.SetGCPercent(debug.SetGCPercent(25))
	}
	switch *format {
	case "csv":
		return r.WriteCSV(stdout)
	case "json":
		return json.NewEncoder(stdout).Encode(r)
	}
	return fmt.Errorf("reconcile: -format must be csv or json, not %q", *format)
}

// progressReader is a file whose reads move a progress bar.
type progressReader struct {
	r io.Reader
	p *progress
}

func (r *progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.p.add(int64(n))
	return n, err
}

// progress draws "label [#####-----] 45% 12.3/27.0 MiB, 120000 lines" on
// one line: the share of the file the parser has read and the lines handed
// to the store, at most every tenth of a second. The parser and the store
// run in their own goroutines, so both update it under mu.
type progress struct {
	mu       sync.Mutex
	total, n int64
	lines    int
	w        io.Writer
	label    string
	drawn    time.Time
}

func (p *progress) add(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n += n
	p.draw(p.n == p.total)
}

func (p *progress) setLines(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = n
	p.draw(false)
}

// draw is called with mu held.
func (p *progress) draw(force bool) {
	if now := time.Now(); force || now.Sub(p.drawn) >= 100*time.Millisecond {
		p.drawn = now
	} else {
		return
	}
	pct := 100
	if p.total > 0 {
		pct = int(p.n * 100 / p.total)
	}
	const width = 30
	fill := pct * width / 100
	fmt.Fprintf(p.w, "\r%s [%s%s] %3d%% %.1f/%.1f MiB, %d lines", p.label, strings.Repeat("#", fill), strings.Repeat("-", width-fill),
		pct, float64(p.n)/(1<<20), float64(p.total)/(1<<20), p.lines)
}

// done draws the final state and ends the line.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw(true)
	fmt.Fprintln(p.w)
}
