package main

// The test in production the Vipps MobilePay FAQ recommends: one real
// payment of the unit's smallest amount, with the unit's own keys,
// approved in the app, captured and refunded, every step checked.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/skip2/go-qrcode"

	"vippskco/bridge/config"
	"vippskco/vipps"
)

// smokeAmount is the smallest payment Vipps MobilePay takes in a currency,
// in minor units: 2 NOK, 1 DKK, 1 EUR.
func smokeAmount(currency string) int64 {
	if currency == "NOK" {
		return 200
	}
	return 100
}

// smokeAbout is what `help smoke` says the command does.
const smokeAbout = `Makes one real payment of the unit's smallest amount (2 NOK, 1 DKK or 1 EUR)
with the unit's keys at its vipps.base_url: prints the Vipps link and a QR
code, waits for you to approve it in the app, captures it, refunds it, checks
the payment's state after every step, its event log (what the webhooks carry)
and the unit's webhook registration, and prints a report to keep. A failure
names the step and shows Vipps's whole error body; a reservation left behind
by a failure is cancelled.`

// smokeArgs is `smoke UNIT [-phone MSISDN] [-wait 5m] [-return URL]`.
type smokeArgs struct {
	unit, phone, returnURL string
	wait                   time.Duration
}

// parseSmoke parses and checks the smoke command line.
func parseSmoke(fs *flag.FlagSet, args []string) (work, error) {
	var a smokeArgs
	fs.StringVar(&a.phone, "phone", "", "pre-fill the Vipps MobilePay landing page with this phone number (MSISDN, e.g. 4791234567)")
	fs.DurationVar(&a.wait, "wait", 5*time.Minute, "how long to wait for the approval in the app")
	fs.StringVar(&a.returnURL, "return", "{public_url}/healthz", "where the app sends the tester back after approving (https)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if a.unit, err = oneUnit(pos); err != nil {
		return nil, err
	}
	if a.wait <= 0 {
		return nil, usagef("-wait must be more than 0, not %s", a.wait)
	}
	if a.phone != "" && strings.Trim(a.phone, "0123456789") != "" {
		return nil, usagef("-phone must be digits only (an MSISDN such as 4791234567), not %q", a.phone)
	}
	return func(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) error {
		return smokeCommand(ctx, cfg, a, stdout, stderr)
	}, nil
}

// smokeCommand is `smoke UNIT`.
func smokeCommand(ctx context.Context, cfg *config.Config, args smokeArgs, stdout, stderr io.Writer) error {
	u, ok := cfg.Unit(args.unit)
	if !ok {
		return fmt.Errorf("no unit %q in the configuration", args.unit)
	}
	if cfg.Sandbox {
		return errors.New("smoke: in sandbox mode the fake Vipps lives inside the running service; run the smoke test with sandbox: false and the unit's keys (the Vipps test environment or production)")
	}
	// The store keeps every exchange in the provider log, as for any
	// other payment.
	a, closeStore, err := openApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	s := &smoke{
		vc: a.vipps[u.ID], unit: u, baseURL: u.Vipps.BaseURL, returnURL: cfg.ExpandPublicURL(args.returnURL, cfg.Server.PublicURL),
		webhookURL: a.service.WebhookURL(u.ID), phone: args.phone, wait: args.wait,
		out: stdout, progress: stderr,
	}
	return s.run(ctx)
}

// smoke is one run of the smoke test.
type smoke struct {
	vc                             *vipps.Client
	unit                           *config.Unit
	baseURL, returnURL, webhookURL string
	phone                          string
	wait                           time.Duration
	// pollEvery is the pace of the reads while waiting (default 2 s, as
	// Vipps's polling guidance has it).
	pollEvery     time.Duration
	out, progress io.Writer
	now           func() time.Time

	reference, psp string
	amount         vipps.Amount
	steps          []smokeStep
	authorized     bool
	settled        bool // refunded, or the reservation cancelled
}

type smokeStep struct {
	name, result string
	took         time.Duration
	err          error
}

// run makes the payment, step by step, and prints the report; it returns
// an error naming the step that failed.
func (s *smoke) run(ctx context.Context) error {
	if s.now == nil {
		s.now = time.Now
	}
	if s.pollEvery == 0 {
		s.pollEvery = 2 * time.Second
	}
	started := s.now()
	s.amount = vipps.Amount{Currency: vipps.Currency(s.unit.Currency), Value: smokeAmount(s.unit.Currency)}
	suffix := make([]byte, 3)
	if _, err := rand.Read(suffix); err != nil {
		return err
	}
	s.reference = fmt.Sprintf("smoke-%s-%s-%s", s.unit.ReferencePrefix, started.UTC().Format("20060102150405"), hex.EncodeToString(suffix))

	steps := []struct {
		name string
		do   func(context.Context) (string, error)
	}{
		{"create", s.create},
		{"approval", s.approval},
		{"capture", s.capture},
		{"refund", s.refund},
		{"events", s.events},
		{"webhook registration", s.webhook},
	}
	var failed *smokeStep
	for _, st := range steps {
		t0 := s.now()
		result, err := st.do(ctx)
		s.steps = append(s.steps, smokeStep{name: st.name, result: result, took: s.now().Sub(t0), err: err})
		if err != nil {
			failed = &s.steps[len(s.steps)-1]
			break
		}
	}
	if failed != nil && s.authorized && !s.settled {
		// Hold no money of the tester's: let go of what is reserved.
		ck, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		_, err := s.vc.Cancel(ck, s.reference, "cancel-"+s.reference, false)
		cancel()
		note := "the reservation was cancelled"
		if err != nil {
			note = "cancelling the reservation failed too, cancel it in the portal: " + err.Error()
		}
		s.steps = append(s.steps, smokeStep{name: "clean-up", result: note})
	}
	s.report(started, failed)
	if failed != nil {
		return fmt.Errorf("smoke test of unit %s failed at step %q: %w", s.unit.ID, failed.name, failed.err)
	}
	return nil
}

func (s *smoke) create(ctx context.Context) (string, error) {
	req := vipps.CreatePaymentRequest{
		Amount: s.amount, PaymentMethod: vipps.PaymentMethod{Type: "WALLET"}, Reference: s.reference,
		UserFlow: "WEB_REDIRECT", ReturnURL: s.returnURL,
		PaymentDescription: "Smoke test of " + s.unit.Name + ", refunded at once",
	}
	if s.phone != "" {
		req.Customer = &vipps.Customer{PhoneNumber: s.phone}
	}
	res, err := s.vc.CreatePayment(ctx, "create-"+s.reference, req)
	if err != nil {
		return "", err
	}
	if res.RedirectURL == "" {
		return "", errors.New("the create answer has no redirectUrl")
	}
	qr, err := qrcode.New(res.RedirectURL, qrcode.Low)
	if err != nil {
		return "", fmt.Errorf("drawing the QR code: %w", err)
	}
	fmt.Fprintf(s.out, "Open this link on a phone with the Vipps or MobilePay app, or scan the code:\n\n  %s\n\n%s\n", res.RedirectURL, qr.ToSmallString(false))
	p, err := s.vc.GetPayment(ctx, s.reference)
	if err != nil {
		return "", err
	}
	// Its state is the next step's to judge: a quick tester may have
	// approved (or rejected) it already.
	if p.Amount != s.amount {
		return "", fmt.Errorf("the new payment is for %d %s, not %d %s", p.Amount.Value, p.Amount.Currency, s.amount.Value, s.amount.Currency)
	}
	return "state " + string(p.State) + ", redirect link issued", nil
}

func (s *smoke) approval(ctx context.Context) (string, error) {
	deadline := s.now().Add(s.wait)
	start := s.now()
	defer fmt.Fprintln(s.progress)
	for {
		p, err := s.vc.GetPayment(ctx, s.reference)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(s.progress, "\rwaiting for approval in the app: %s of %s, state %s   ", s.now().Sub(start).Round(time.Second), s.wait, p.State)
		switch p.State {
		case vipps.StateAuthorized:
			s.authorized = true
			s.psp = p.PSPReference
			if p.Aggregate.AuthorizedAmount != s.amount {
				return "", fmt.Errorf("authorized %d %s, not %d %s", p.Aggregate.AuthorizedAmount.Value, p.Aggregate.AuthorizedAmount.Currency, s.amount.Value, s.amount.Currency)
			}
			return fmt.Sprintf("state AUTHORIZED, %d %s reserved", s.amount.Value, s.amount.Currency), nil
		case vipps.StateCreated:
		default:
			return "", fmt.Errorf("the payment ended %s instead of being approved", p.State)
		}
		if !s.now().Before(deadline) {
			return "", fmt.Errorf("not approved within %s (still %s); the payment expires by itself", s.wait, p.State)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(s.pollEvery):
		}
	}
}

func (s *smoke) capture(ctx context.Context) (string, error) {
	if _, err := s.vc.Capture(ctx, s.reference, "capture-"+s.reference, s.amount); err != nil {
		return "", err
	}
	return s.aggregate(ctx, func(a vipps.Aggregate) vipps.Amount { return a.CapturedAmount }, "captured")
}

func (s *smoke) refund(ctx context.Context) (string, error) {
	if _, err := s.vc.Refund(ctx, s.reference, "refund-"+s.reference, s.amount); err != nil {
		return "", err
	}
	s.settled = true
	return s.aggregate(ctx, func(a vipps.Aggregate) vipps.Amount { return a.RefundedAmount }, "refunded")
}

// aggregate reads the payment back and checks that it is AUTHORIZED with
// the whole amount in the part of the aggregate that pick takes.
func (s *smoke) aggregate(ctx context.Context, pick func(vipps.Aggregate) vipps.Amount, what string) (string, error) {
	p, err := s.vc.GetPayment(ctx, s.reference)
	if err != nil {
		return "", err
	}
	if got := pick(p.Aggregate); p.State != vipps.StateAuthorized || got != s.amount {
		return "", fmt.Errorf("read back: state %s, %s %d %s; want AUTHORIZED, %s %d %s", p.State, what, got.Value, got.Currency, what, s.amount.Value, s.amount.Currency)
	}
	return fmt.Sprintf("state AUTHORIZED, %d %s %s", s.amount.Value, s.amount.Currency, what), nil
}

// events checks the payment's event log, which holds what Vipps sends to
// the registered webhooks: each step's event, successful, for the amount.
func (s *smoke) events(ctx context.Context) (string, error) {
	evs, err := s.vc.GetEvents(ctx, s.reference)
	if err != nil {
		return "", err
	}
	var names []string
	for _, want := range []vipps.EventName{vipps.EventCreated, vipps.EventAuthorized, vipps.EventCaptured, vipps.EventRefunded} {
		i := slices.IndexFunc(evs, func(e vipps.PaymentEvent) bool { return e.Name == want })
		if i < 0 {
			return "", fmt.Errorf("no %s event in the payment's event log", want)
		}
		if e := evs[i]; !e.Success || e.Amount != s.amount {
			return "", fmt.Errorf("the %s event has success %t and amount %d %s; want true and %d %s", want, e.Success, e.Amount.Value, e.Amount.Currency, s.amount.Value, s.amount.Currency)
		}
		names = append(names, string(want))
	}
	return strings.Join(names, ", "), nil
}

// webhook checks that Vipps will send this unit's ePayment webhooks to us.
func (s *smoke) webhook(ctx context.Context) (string, error) {
	hooks, err := s.vc.ListWebhooks(ctx)
	if err != nil {
		return "", err
	}
	for _, h := range hooks {
		if h.URL != s.webhookURL {
			continue
		}
		for _, want := range []string{"epayments.payment.authorized.v1", "epayments.payment.captured.v1", "epayments.payment.refunded.v1"} {
			if !slices.Contains(h.Events, want) {
				return "", fmt.Errorf("the webhook %s at %s does not subscribe to %s; delete it and run `webhooks register %s`", h.ID, h.URL, want, s.unit.ID)
			}
		}
		return "registered at " + h.URL, nil
	}
	return "", fmt.Errorf("no webhook of MSN %s points at %s: run `webhooks register %s` (or register_webhooks: true) before going live", s.unit.MSN, s.webhookURL, s.unit.ID)
}

// report prints what a merchant keeps: the unit, the payment and each
// step with its result, and on failure Vipps's whole error body.
func (s *smoke) report(started time.Time, failed *smokeStep) {
	w := s.out
	fmt.Fprintln(w, "Vipps MobilePay smoke test")
	fmt.Fprintf(w, "  unit        %s (%s), MSN %s\n", s.unit.ID, s.unit.Name, s.unit.MSN)
	fmt.Fprintf(w, "  keys        %s\n", s.keys())
	fmt.Fprintf(w, "  API         %s\n", s.baseURL)
	fmt.Fprintf(w, "  started     %s\n", started.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "  amount      %d %s (minor units)\n", s.amount.Value, s.amount.Currency)
	fmt.Fprintf(w, "  reference   %s\n", s.reference)
	if s.psp != "" {
		fmt.Fprintf(w, "  pspReference %s\n", s.psp)
	}
	fmt.Fprintln(w, "  steps")
	for _, st := range s.steps {
		mark, text := "ok    ", st.result
		if st.err != nil {
			mark, text = "FAILED", st.err.Error()
		}
		fmt.Fprintf(w, "    %s %-21s %-8s %s\n", mark, st.name, st.took.Round(time.Millisecond), text)
	}
	if failed == nil {
		fmt.Fprintln(w, "  result      PASSED: the unit takes, captures and refunds payments")
		return
	}
	fmt.Fprintf(w, "  result      FAILED at step %q\n", failed.name)
	var ve *vipps.Error
	if errors.As(failed.err, &ve) {
		fmt.Fprintf(w, "  Vipps answered %d to %s %s", ve.StatusCode, ve.Method, ve.Path)
		if ve.RequestID != "" {
			fmt.Fprintf(w, " (request id %s)", ve.RequestID)
		}
		fmt.Fprintf(w, ":\n%s\n", ve.Body)
	}
}

func (s *smoke) keys() string {
	if s.unit.Vipps.Partner != "" {
		return "partner " + s.unit.Vipps.Partner + " (with the unit's Merchant-Serial-Number)"
	}
	return "the unit's own"
}
