//go:build nosandbox

package sandbox

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"vippskco/bridge/config"
)

// A production build (go build -tags nosandbox) leaves the fakes of Kustom
// and Vipps out of the binary: nothing in it can answer as a provider.
// Sandbox still exists as a type so that main compiles the same way, but
// New refuses, so none is ever made.

// ErrNotBuilt is what New returns in a build without the sandbox.
var ErrNotBuilt = errors.New("sandbox: this binary was built with -tags nosandbox and has no fakes; set sandbox: false, or run a build without that tag")

// Sandbox is never made in this build.
type Sandbox struct{}

// New reports ErrNotBuilt.
func New(*config.Config, string, *slog.Logger, func() time.Time) (*Sandbox, error) {
	return nil, ErrNotBuilt
}

// Now is never called (New made no Sandbox); it is the real time.
func (*Sandbox) Now() time.Time { return time.Now() }

// VippsURL is never called: New made no Sandbox.
func (*Sandbox) VippsURL() string { return "" }

// KustomURL is never called: New made no Sandbox.
func (*Sandbox) KustomURL() string { return "" }

// Mount reports ErrNotBuilt.
func (*Sandbox) Mount(*http.ServeMux, App) (*HookReceiver, error) { return nil, ErrNotBuilt }

// Close has nothing to stop.
func (*Sandbox) Close() {}
