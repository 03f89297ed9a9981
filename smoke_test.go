package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vippskco/bridge/config"
	"vippskco/vipps/vippstest"
)

// smokeAgainst builds the smoke test of unit for the sandbox of e: the
// unit's client pointed at the sandbox's fake Vipps, fast polling.
func smokeAgainst(t *testing.T, e *testEnv, unit string, out, progress *bytes.Buffer) *smoke {
	t.Helper()
	cfg := e.m.Config
	u, ok := cfg.Unit(unit)
	require.True(t, ok)
	noWait := func(context.Context, time.Duration) error { return nil }
	a, err := wire(cfg, e.m.Store, Providers{VippsURL: e.m.Sandbox.VippsURL(), Sleep: noWait}, e.m.PublicURL(), nil, nil, nil)
	require.NoError(t, err)
	return &smoke{
		vc: a.vipps[unit], unit: u, baseURL: e.m.Sandbox.VippsURL(), returnURL: e.m.PublicURL() + "/",
		webhookURL: a.service.WebhookURL(unit), wait: 10 * time.Second, pollEvery: 10 * time.Millisecond,
		out: out, progress: progress,
	}
}

// approveSmoke plays the tester: it approves (or rejects) the smoke
// payment in the fake app once it exists.
func approveSmoke(t *testing.T, v *vippstest.Server, approve bool) {
	go func() {
		for range 1000 {
			for _, ref := range v.References() {
				if strings.HasPrefix(ref, "smoke-") {
					if approve {
						assert.NoError(t, v.Approve(ref))
					} else {
						assert.NoError(t, v.Reject(ref))
					}
					return
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
}

func TestSmokeMakesCapturesAndRefundsOnePayment(t *testing.T) {
	for _, tc := range []struct {
		name, currency, country string
		want                    int64
	}{{"NOK", "NOK", "NO", 200}, {"DKK", "DKK", "DK", 100}, {"EUR", "EUR", "FI", 100}} {
		t.Run(tc.name, func(t *testing.T) {
			e := startMain(t, func(c *config.Config) { c.Units[0].Currency, c.Units[0].Countries = tc.currency, []string{tc.country} })
			var out, progress bytes.Buffer
			s := smokeAgainst(t, e, "webshop", &out, &progress)
			approveSmoke(t, e.m.Sandbox.Vipps, true)
			require.NoError(t, s.run(context.Background()), out.String())

			refs := e.m.Sandbox.Vipps.References()
			require.Len(t, refs, 1, "one payment at Vipps")
			snap, ok := e.m.Sandbox.Vipps.Payment(refs[0])
			require.True(t, ok)
			assert.Equal(t, tc.want, snap.Captured)
			assert.Equal(t, tc.want, snap.Refunded)
			report := out.String()
			for _, want := range []string{
				"/landing?token=", // the Vipps link
				"█",               // the QR code
				"reference   " + refs[0],
				"ok     create", "ok     approval", "ok     capture", "ok     refund",
				"CREATED, AUTHORIZED, CAPTURED, REFUNDED", "ok     webhook registration",
				"PASSED",
			} {
				assert.Contains(t, report, want)
			}
			assert.Contains(t, progress.String(), "waiting for approval in the app")
		})
	}
}

func TestSmokeFailureNamesTheStepAndShowsVippssBody(t *testing.T) {
	e := startMain(t, nil)
	var out, progress bytes.Buffer
	s := smokeAgainst(t, e, "webshop", &out, &progress)
	e.m.Sandbox.Vipps.SetFaults(vippstest.Faults{ServerErrorRate: 1, Ops: []string{vippstest.OpCapture}})
	approveSmoke(t, e.m.Sandbox.Vipps, true)
	err := s.run(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `failed at step "capture"`)
	report := out.String()
	assert.Contains(t, report, `FAILED at step "capture"`)
	assert.Contains(t, report, `"extraDetails":[{"name":"ErrorCode","reason":"3010"}]`, "the whole body")
	assert.Contains(t, report, "the reservation was cancelled")
	snap, ok := e.m.Sandbox.Vipps.Payment(e.m.Sandbox.Vipps.References()[0])
	require.True(t, ok)
	assert.Equal(t, snap.Authorized, snap.Cancelled, "no money left reserved")
	assert.Zero(t, snap.Captured)
}

func TestSmokeRejectedInTheApp(t *testing.T) {
	e := startMain(t, nil)
	var out, progress bytes.Buffer
	s := smokeAgainst(t, e, "webshop", &out, &progress)
	approveSmoke(t, e.m.Sandbox.Vipps, false)
	err := s.run(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `failed at step "approval"`)
	assert.Contains(t, err.Error(), "ABORTED")
	assert.NotContains(t, out.String(), "capture")
}

func TestSmokeCommandLine(t *testing.T) {
	path := testConfigFile(t)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-config", path, "smoke", "-h"}, noEnv, &stdout, &stderr)
	require.NoError(t, err, "asking for help is no error")
	assert.Contains(t, stdout.String(), "usage: vippskco smoke UNIT [-phone MSISDN] [-wait 5m] [-return URL]")
	assert.Contains(t, stdout.String(), "-wait duration")
	err = run(context.Background(), []string{"-config", path, "smoke", "webshop"}, noEnv, &stdout, &stderr)
	require.ErrorContains(t, err, "in sandbox mode the fake Vipps lives inside the running service")
	err = run(context.Background(), []string{"-config", path, "smoke", "nope"}, noEnv, &stdout, &stderr)
	require.ErrorContains(t, err, `no unit "nope"`)
}
