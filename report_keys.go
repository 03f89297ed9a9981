package main

import (
	"cmp"
	"fmt"
	"net/http"

	"vippskco/bridge/config"
	"vippskco/bridge/finance"
	"vippskco/bridge/providerlog"
	"vippskco/vipps"
)

// reportKeys says with which keys settlement sync reads the unit's Report
// API ledgers: the accounting-partner keys the unit names, else the
// unit's own keys (the client vc). A unit on partner keys without
// accounting keys has no sync, and fu says why: the Report API refuses
// partner keys.
func reportKeys(cfg *config.Config, u config.Unit, fu *finance.Unit, vc *vipps.Client, hc *http.Client, p Providers, rec *providerlog.Recorder) error {
	if off := u.SettlementSyncOff(); off != "" {
		fu.Report, fu.ReportOff = nil, off
		return nil
	}
	if u.Vipps.Accounting == "" {
		return nil
	}
	a, _ := cfg.Accounting(u.Vipps.Accounting) // checked by config
	rc, err := vipps.New(vipps.Config{
		BaseURL: cmp.Or(p.VippsURL, u.Vipps.BaseURL),
		Credentials: vipps.Credentials{
			ClientID: a.ClientID, ClientSecret: a.ClientSecret, MSN: u.MSN, Accounting: true,
		},
		System: vipps.SystemInfo{
			Name: cfg.System.Name, Version: cfg.System.Version,
			PluginName: cfg.System.PluginName, PluginVersion: cfg.System.PluginVersion,
		},
		HTTPClient: hc,
		Sleep:      p.Sleep,
		Observer:   rec.Vipps,
	})
	if err != nil {
		return fmt.Errorf("vipps accounting client for unit %s: %w", u.ID, err)
	}
	fu.Report = rc
	return nil
}
