//go:build !nosandbox

package sandbox

import (
	"slices"

	"vippskco/bridge/config"
	"vippskco/vipps/vippstest"
)

// addPartners gives the fake Vipps each configured partner, serving the
// MSNs of the units that use its keys, and each accounting partner, granted
// the MSNs of the units that name it. An MSN no unit has its own keys for
// becomes a sales unit of the fake with keys nobody uses, as a real unit
// has keys of its own that a partner integration never sees.
func addPartners(v *vippstest.Server, cfg *config.Config) {
	own := map[string]bool{}
	for _, u := range cfg.Units {
		if u.Vipps.Partner == "" {
			own[u.MSN] = true
		}
	}
	for _, p := range cfg.VippsPartners {
		var msns []string
		for _, u := range cfg.Units {
			if u.Vipps.Partner != p.ID || slices.Contains(msns, u.MSN) {
				continue
			}
			msns = append(msns, u.MSN)
			if !own[u.MSN] {
				own[u.MSN] = true
				v.AddSalesUnit(vippstest.SalesUnit{
					MSN: u.MSN, ClientID: "sandbox-msn-" + u.MSN + "-client-id", ClientSecret: "sandbox-msn-" + u.MSN + "-client-secret",
					SubscriptionKey: "sandbox-msn-" + u.MSN + "-subscription-key", Currency: u.Currency, Name: u.Name,
				})
			}
		}
		if len(msns) > 0 {
			v.AddPartner(vippstest.Partner{ClientID: p.ClientID, ClientSecret: p.ClientSecret, SubscriptionKey: p.SubscriptionKey, MSNs: msns})
		}
	}
	// Accounting partners read the ledgers of the units that name them.
	for _, a := range cfg.VippsAccounting {
		var msns []string
		for _, u := range cfg.Units {
			if u.Vipps.Accounting == a.ID && !slices.Contains(msns, u.MSN) {
				msns = append(msns, u.MSN)
			}
		}
		v.AddAccountingPartner(vippstest.AccountingPartner{ClientID: a.ClientID, ClientSecret: a.ClientSecret, MSNs: msns})
	}
}
