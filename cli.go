package main

// The command line's manners, those of a Go tool: one table of commands,
// each parsing and checking all its flags and arguments before the
// configuration is loaded or any work begins; `-h`, `--help`, `help` and
// `help COMMAND` print to stdout and exit 0; a usage error (an unknown
// command or flag, a missing argument, a bad value) is said once, with the
// command's short usage, on stderr, and exits 2; any other error is said
// once and exits 1.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"vippskco/bridge/config"
)

// command is one entry of the command line.
type command struct {
	name    string
	summary string // one line, for the list of commands
	args    string // what follows the name in the usage line
	about   string // more, for `help NAME`; may be empty
	// parse parses and checks args with fs (the -config flag is already
	// on it) before the configuration is loaded, and returns the work.
	// Its errors are usage errors (usagef) unless they say why the work
	// cannot be done (a file that cannot be read).
	parse func(fs *flag.FlagSet, args []string) (work, error)
}

// work is a command's work, given the loaded configuration.
type work func(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) error

// commands is the table: the order of the usage text.
var commands = []*command{
	{name: "serve", summary: "run the service (the default command)", parse: parseServe},
	{name: "epm", summary: "print a unit's external_payment_methods entry for the KCO order",
		args: "UNIT [-order KCO_ORDER_ID] [-locale nb-NO]", parse: parseEPM},
	{name: "webhooks", summary: "register, list or delete a unit's webhook at Vipps",
		args: "register|list UNIT | delete UNIT ID", parse: parseWebhooks},
	{name: "settlements", summary: "import a Vipps or Kustom settlement file",
		args:  "import -provider vipps|kustom [-separator ';'] [-columns a,b,c] FILE",
		about: "Imports a settlement report into the store: a Vipps report from the business portal (XML v3, CSV or\nXLSX) or a Kustom settlement CSV. Importing the same file twice changes nothing.",
		parse: parseSettlements},
	{name: "reconcile", summary: "print the reconciliation of a period",
		args: "[-from YYYY-MM-DD] [-to YYYY-MM-DD] [-format csv|json] [-dialect en|no]", parse: parseReconcile},
	{name: "smoke", summary: "a real payment of the smallest amount, captured and refunded",
		args: "UNIT [-phone MSISDN] [-wait 5m] [-return URL]", about: smokeAbout, parse: parseSmoke},
	{name: "help", summary: "print this text, or a command's usage: help COMMAND", args: "[COMMAND]"},
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

const topUsageLine = "usage: vippskco [-config FILE] [COMMAND] [ARGS]"

// printUsage writes the usage text that lists every command.
func printUsage(w io.Writer) {
	fmt.Fprintf(w, "vippskco is the Vipps MobilePay external payment method for Kustom (Klarna) Checkout.\n\n%s\n\nCommands:\n", topUsageLine)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nFlags:\n  -config FILE  the configuration file (default config.yaml); also taken after the command\n")
	fmt.Fprint(w, "\nWithout a command it serves. Run 'vippskco help COMMAND' for a command's flags.\n")
	fmt.Fprint(w, "Exit status: 0 done, 1 failed, 2 usage error (nothing was done).\n")
}

// usageLine is c's one-line usage.
func (c *command) usageLine() string {
	return strings.TrimSpace("usage: vippskco " + c.name + " " + c.args)
}

// printHelp writes c's usage, what it does and its flags.
func (c *command) printHelp(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, c.usageLine())
	fmt.Fprintln(w)
	if c.about != "" {
		fmt.Fprintln(w, c.about)
	} else {
		fmt.Fprintln(w, strings.ToUpper(c.summary[:1])+c.summary[1:]+".")
	}
	if fs != nil {
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

// usageError is a command line that cannot be run as given: exit 2.
type usageError struct {
	cmd *command // nil: the top level
	msg string
}

func (e *usageError) Error() string {
	if e.cmd == nil {
		return "vippskco: " + e.msg
	}
	return "vippskco " + e.cmd.name + ": " + e.msg
}

// usagef is a usage error of the command being parsed.
func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// exitCode is the process's exit status for run's error.
func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		return 2
	}
	return 1
}

// report says run's error on stderr, once; a usage error with the short
// usage of its command.
func report(stderr io.Writer, err error) {
	if err == nil {
		return
	}
	var ue *usageError
	if !errors.As(err, &ue) {
		fmt.Fprintln(stderr, "error:", err)
		return
	}
	fmt.Fprintln(stderr, ue.Error())
	if ue.cmd == nil {
		fmt.Fprintln(stderr, topUsageLine)
		names := make([]string, len(commands))
		for i, c := range commands {
			names[i] = c.name
		}
		fmt.Fprintf(stderr, "commands: %s. Run 'vippskco help' for more.\n", strings.Join(names, ", "))
		return
	}
	fmt.Fprintln(stderr, ue.cmd.usageLine())
	fmt.Fprintf(stderr, "Run 'vippskco help %s' for details.\n", ue.cmd.name)
}

// parseArgs parses fs from args, flags and arguments in any order ("--"
// ends the flags), and returns the arguments. A bad flag is a usage
// error; -h and --help give flag.ErrHelp.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{msg: err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// oneUnit is the one positional argument of a command that takes a UNIT.
func oneUnit(pos []string) (string, error) {
	switch len(pos) {
	case 0:
		return "", usagef("name the UNIT")
	case 1:
		return pos[0], nil
	}
	return "", usagef("one UNIT, not %d arguments", len(pos))
}

// newFlagSet is a command's flag set: silent (errors are reported once,
// by report) and with -config.
func newFlagSet(name string, cfgPath *string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(cfgPath, "config", *cfgPath, "path of the configuration file")
	return fs
}

// run parses the whole command line, then loads the configuration and
// does the command's work. Help is printed to stdout; errors are returned
// (main reports them and exits with exitCode).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfgPath := "config.yaml"
	top := newFlagSet("vippskco", &cfgPath)
	if err := top.Parse(args); errors.Is(err, flag.ErrHelp) {
		printUsage(stdout)
		return nil
	} else if err != nil {
		return &usageError{msg: err.Error()}
	}
	name, rest := "serve", []string(nil)
	if top.NArg() > 0 {
		name, rest = top.Arg(0), top.Args()[1:]
	}
	cmd := lookup(name)
	if cmd == nil {
		return &usageError{msg: fmt.Sprintf("unknown command %q", name)}
	}
	if cmd.name == "help" {
		return helpCommand(rest, stdout)
	}
	fs := newFlagSet(cmd.name, &cfgPath)
	w, err := cmd.parse(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		cmd.printHelp(stdout, fs)
		return nil
	}
	var ue *usageError
	if errors.As(err, &ue) && ue.cmd == nil {
		ue.cmd = cmd
	}
	if err != nil {
		return err
	}
	cfg, err := config.Load(cfgPath, getenv)
	if err != nil {
		return err
	}
	return w(ctx, cfg, stdout, stderr)
}

// helpCommand is `help [COMMAND]`.
func helpCommand(args []string, stdout io.Writer) error {
	switch {
	case len(args) == 0, len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help"):
		printUsage(stdout)
		return nil
	case len(args) > 1:
		return &usageError{cmd: lookup("help"), msg: "name one command"}
	}
	cmd := lookup(args[0])
	if cmd == nil {
		return &usageError{cmd: lookup("help"), msg: fmt.Sprintf("unknown command %q", args[0])}
	}
	if cmd.parse == nil {
		printUsage(stdout)
		return nil
	}
	cfgPath := "config.yaml"
	fs := newFlagSet(cmd.name, &cfgPath)
	_, _ = cmd.parse(fs, nil) // defines the flags; the error (a missing argument) is not the point here
	cmd.printHelp(stdout, fs)
	return nil
}

// parseServe is `serve`: no arguments.
func parseServe(fs *flag.FlagSet, args []string) (work, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, usagef("takes no arguments, got %q", pos[0])
	}
	return func(ctx context.Context, cfg *config.Config, _, stderr io.Writer) error {
		return serve(ctx, cfg, stderr)
	}, nil
}
