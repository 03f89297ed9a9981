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
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"vippskco/bridge"
	"vippskco/bridge/config"
	"vippskco/bridge/finance"
	"vippskco/bridge/reconcile"
	"vippskco/klarna"
)

// epmArgs is `epm UNIT [-order KCO_ORDER_ID] [-locale nb-NO]`.
type epmArgs struct{ unit, order, locale string }

// parseEPM parses and checks the epm command line.
func parseEPM(fs *flag.FlagSet, args []string) (work, error) {
	var a epmArgs
	fs.StringVar(&a.order, "order", "", "KCO order id: the entry is for this order (required when redirect signing is on)")
	fs.StringVar(&a.locale, "locale", "", "the description's locale, e.g. nb-NO (default: the order's, then the unit's country's)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if a.unit, err = oneUnit(pos); err != nil {
		return nil, err
	}
	return func(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) error {
		return epmCommand(ctx, cfg, a, stdout, stderr)
	}, nil
}

// epmCommand prints the external_payment_methods entry for a unit, the
// same JSON as GET /api/v1/epm/{unit} (bridge.MerchantEPM). Given an
// order, it reads it from Kustom (in sandbox mode, from the running
// sandbox's fake) and records that exchange in the store.
func epmCommand(ctx context.Context, cfg *config.Config, args epmArgs, stdout, stderr io.Writer) error {
	unitID, order, locale := args.unit, &args.order, &args.locale
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

// webhooksArgs is `webhooks register|list UNIT` or `webhooks delete UNIT ID`.
type webhooksArgs struct{ action, unit, id string }

// parseWebhooks parses and checks the webhooks command line.
func parseWebhooks(fs *flag.FlagSet, args []string) (work, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) == 0 {
		return nil, usagef("name the action: register, list or delete")
	}
	a := webhooksArgs{action: pos[0]}
	want := 2
	switch a.action {
	case "register", "list":
	case "delete":
		want = 3
	default:
		return nil, usagef("unknown action %q (register, list or delete)", a.action)
	}
	if len(pos) != want {
		if want == 3 {
			return nil, usagef("delete takes UNIT and ID")
		}
		return nil, usagef("%s takes one UNIT", a.action)
	}
	a.unit = pos[1]
	if want == 3 {
		a.id = pos[2]
	}
	return func(ctx context.Context, cfg *config.Config, stdout, _ io.Writer) error {
		return webhooksCommand(ctx, cfg, a, stdout)
	}, nil
}

// webhooksCommand registers, lists or deletes a unit's webhook at Vipps.
func webhooksCommand(ctx context.Context, cfg *config.Config, args webhooksArgs, stdout io.Writer) error {
	if cfg.Sandbox {
		return errors.New("in sandbox mode the fake Vipps lives inside the running service, which registers its webhooks at start-up")
	}
	action, unitID := args.action, args.unit
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
		if err := vc.DeleteWebhook(ctx, args.id); err != nil {
			return err
		}
		if reg, err := svc.Store.WebhookRegistration(ctx, u.ID); err == nil && reg.ID == args.id {
			if err := svc.Store.DeleteWebhookRegistration(ctx, u.ID); err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "deleted webhook %s of unit %s\n", args.id, u.ID)
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

// importArgs is `settlements import -provider vipps|kustom [-separator ;]
// [-columns a,b,c] FILE`.
type importArgs struct {
	provider, path string
	csv            klarna.CSVOptions
}

// parseSettlements parses and checks the settlements command line; the
// file must be there, readable and not a directory before anything is
// read from it or the store is opened.
func parseSettlements(fs *flag.FlagSet, args []string) (work, error) {
	provider := fs.String("provider", "", "whose settlement the file is: vipps or kustom (required)")
	separator := fs.String("separator", "", "Kustom CSV separator, ; or , (default: read from the file)")
	columns := fs.String("columns", "", "Kustom CSV column order, comma-separated (default: the file's header)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) == 0 || pos[0] != "import" {
		return nil, usagef("the one action is import")
	}
	pos = pos[1:]
	a := importArgs{provider: *provider}
	switch a.provider {
	case "":
		return nil, usagef("-provider is required: vipps or kustom")
	case string(reconcile.Vipps), string(reconcile.Kustom):
	default:
		return nil, usagef("-provider must be vipps or kustom, not %q", a.provider)
	}
	if a.provider == string(reconcile.Vipps) && (*separator != "" || *columns != "") {
		return nil, usagef("-separator and -columns are for a Kustom CSV (-provider kustom)")
	}
	if *separator != "" {
		if *separator != ";" && *separator != "," {
			return nil, usagef("-separator must be ; or , not %q", *separator)
		}
		a.csv.Separator = []rune(*separator)[0]
	}
	if *columns != "" {
		for _, c := range strings.Split(*columns, ",") {
			if c = strings.TrimSpace(c); c == "" {
				return nil, usagef("-columns has an empty column name: %q", *columns)
			}
			a.csv.Columns = append(a.csv.Columns, c)
		}
	}
	switch len(pos) {
	case 0:
		return nil, usagef("name the FILE to import")
	case 1:
	default:
		return nil, usagef("import one FILE at a time, not %d", len(pos))
	}
	a.path = pos[0]
	if err := checkReadable(a.path); err != nil {
		return nil, fmt.Errorf("settlements import: %w", err)
	}
	return func(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) error {
		return importCommand(ctx, cfg, a, stdout, stderr)
	}, nil
}

// checkReadable says why path cannot be imported: it is missing, a
// directory, or cannot be opened.
func checkReadable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if info.IsDir() {
		return fmt.Errorf("%s is a directory, not a settlement file", path)
	}
	return nil
}

// importCommand imports a settlement file: one progress report over the
// whole job (the file is read once, by the parser, as the store takes its
// lines), at 99 % until the import is committed.
func importCommand(ctx context.Context, cfg *config.Config, args importArgs, stdout, stderr io.Writer) error {
	a, closeStore, err := openApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	f, err := os.Open(args.path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	svc := a.finance
	start := time.Now()
	var res bridge.ImportResult
	var warnings []string
	name := filepath.Base(args.path)
	bar := newProgress(stderr, "importing "+name, info.Size())
	file := &progressReader{r: f, p: bar}
	switch args.provider {
	case string(reconcile.Vipps):
		res, warnings, err = svc.ImportVippsFile(ctx, name, file, bar.setLines)
	case string(reconcile.Kustom):
		res, err = svc.ImportKustomCSV(ctx, name, file, args.csv, bar.setLines)
	}
	bar.finish(err == nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "done in %s\n", time.Since(start).Round(time.Millisecond))
	for _, w := range warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"provider": args.provider, "source": name, "result": res, "warnings": warnings})
}

// reconcileArgs is `reconcile [-from YYYY-MM-DD] [-to YYYY-MM-DD] [-format csv|json] [-dialect en|no]`.
type reconcileArgs struct {
	from, to, format string
	dialect          finance.CSVDialect
}

// parseReconcile parses and checks the reconcile command line.
func parseReconcile(fs *flag.FlagSet, args []string) (work, error) {
	now := time.Now()
	a := reconcileArgs{}
	fs.StringVar(&a.from, "from", now.AddDate(0, 0, -30).Format(time.DateOnly), "first day, YYYY-MM-DD")
	fs.StringVar(&a.to, "to", now.Format(time.DateOnly), "last day, YYYY-MM-DD")
	fs.StringVar(&a.format, "format", "csv", "csv or json")
	dialectName := fs.String("dialect", "en", "CSV dialect: en (commas, decimal points) or no (semicolons, decimal commas, BOM, for a Norwegian spreadsheet)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, usagef("takes no arguments, got %q", pos[0])
	}
	from, err := time.Parse(time.DateOnly, a.from)
	if err != nil {
		return nil, usagef("-from must be a day, YYYY-MM-DD, not %q", a.from)
	}
	to, err := time.Parse(time.DateOnly, a.to)
	if err != nil {
		return nil, usagef("-to must be a day, YYYY-MM-DD, not %q", a.to)
	}
	if to.Before(from) {
		return nil, usagef("-to %s is before -from %s", a.to, a.from)
	}
	if a.format != "csv" && a.format != "json" {
		return nil, usagef("-format must be csv or json, not %q", a.format)
	}
	if a.dialect, err = finance.ParseCSVDialect(*dialectName); err != nil {
		return nil, usagef("-dialect must be en or no, not %q", *dialectName)
	}
	return func(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) error {
		return reconcileCommand(ctx, cfg, a, stdout, stderr)
	}, nil
}

// reconcileCommand prints the reconciliation of a period.
func reconcileCommand(ctx context.Context, cfg *config.Config, args reconcileArgs, stdout, stderr io.Writer) error {
	a, closeStore, err := openApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	r, err := a.finance.Reconcile(ctx, args.from, args.to)
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
	if args.format == "json" {
		return json.NewEncoder(stdout).Encode(r)
	}
	return finance.WriteCSV(stdout, r, args.dialect)
}

// progressReader is a file whose reads move a progress report.
type progressReader struct {
	r io.Reader
	p *progress
}

func (r *progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	if n > 0 {
		r.p.add(int64(n))
	}
	return n, err
}

// progress reports one job, "label [#####-----] 45% 12.3/27.0 MiB, 120000
// lines": the share of the file the parser has read and the lines handed
// to the store. The file is read as the store takes its lines, so the
// share read is the share done, but the import is done only when it is
// committed: until finish the share shows at most 99 %. On a terminal it
// is one bar redrawn in place (at most every tenth of a second); anywhere
// else (a log, a pipe) it is a plain line at every tenth of the file. The
// parser and the store run in their own goroutines, so both update it
// under mu.
type progress struct {
	mu       sync.Mutex
	total, n int64
	lines    int
	w        io.Writer
	label    string
	terminal bool
	drawn    time.Time
	shown    int // the last share shown; -1 before the first
}

func newProgress(w io.Writer, label string, total int64) *progress {
	p := &progress{w: w, label: label, total: total, terminal: isTerminal(w), shown: -1}
	p.mu.Lock()
	p.draw(false)
	p.mu.Unlock()
	return p
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

func (p *progress) add(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n += n
	p.draw(false)
}

func (p *progress) setLines(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = n
	p.draw(false)
}

// pct is the share done, at most 99 until the job is committed.
func (p *progress) pct(committed bool) int {
	if committed {
		return 100
	}
	if p.total <= 0 {
		return 0
	}
	return int(min(p.n*100/p.total, 99))
}

// draw is called with mu held.
func (p *progress) draw(committed bool) {
	pct := p.pct(committed)
	if p.terminal {
		if now := time.Now(); committed || p.shown < 0 || now.Sub(p.drawn) >= 100*time.Millisecond {
			p.drawn = now
		} else {
			return
		}
		const width = 30
		fill := pct * width / 100
		fmt.Fprintf(p.w, "\r%s [%s%s] %3d%% %s", p.label, strings.Repeat("#", fill), strings.Repeat("-", width-fill), pct, p.amounts())
		p.shown = pct
		return
	}
	// A plain line at 0, every tenth, 99 and 100.
	if p.shown >= 0 && pct/10 == p.shown/10 && !(pct == 99 && p.shown != 99) && !committed {
		return
	}
	if pct == p.shown {
		return
	}
	fmt.Fprintf(p.w, "%s: %3d%% %s\n", p.label, pct, p.amounts())
	p.shown = pct
}

func (p *progress) amounts() string {
	return fmt.Sprintf("%.1f/%.1f MiB, %d lines", float64(p.n)/(1<<20), float64(p.total)/(1<<20), p.lines)
}

// finish ends the report: at 100 % when the job was committed, where it
// stopped otherwise.
func (p *progress) finish(committed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if committed {
		p.draw(true)
	}
	if p.terminal {
		fmt.Fprintln(p.w)
	}
}
