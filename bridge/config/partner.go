package config

import (
	"fmt"
	"strings"
)

// VippsPartner is a partner's key set (client id, secret and subscription
// key) that serves many sales units: each call made with it carries the
// unit's Merchant-Serial-Number. Vipps does not accept partner keys on the
// Report API, so units on partner keys have no settlement sync: their
// settlements are imported from the portal's files.
type VippsPartner struct {
	ID                 string `yaml:"id"`
	ClientIDEnv        string `yaml:"client_id_env"`
	ClientSecretEnv    string `yaml:"client_secret_env"`
	SubscriptionKeyEnv string `yaml:"subscription_key_env"`
	ClientID           string `yaml:"-"`
	ClientSecret       string `yaml:"-"`
	SubscriptionKey    string `yaml:"-"`
}

// Partner returns the vipps_partners entry with this id.
func (c *Config) Partner(id string) (*VippsPartner, bool) {
	for i := range c.VippsPartners {
		if c.VippsPartners[i].ID == id {
			return &c.VippsPartners[i], true
		}
	}
	return nil, false
}

// VippsAccounting is an accounting partner's key set (client id and
// secret, no subscription key): its token comes from POST /miami/v1/token
// and only the Report API takes it, for the sales units whose merchants
// granted the partner access in the portal.
type VippsAccounting struct {
	ID              string `yaml:"id"`
	ClientIDEnv     string `yaml:"client_id_env"`
	ClientSecretEnv string `yaml:"client_secret_env"`
	ClientID        string `yaml:"-"`
	ClientSecret    string `yaml:"-"`
}

// Accounting returns the vipps_accounting entry with this id.
func (c *Config) Accounting(id string) (*VippsAccounting, bool) {
	for i := range c.VippsAccounting {
		if c.VippsAccounting[i].ID == id {
			return &c.VippsAccounting[i], true
		}
	}
	return nil, false
}

// SettlementSyncOff says why the Report API cannot be used for a unit's
// settlements, or "" when it can: a unit on partner keys needs
// accounting-partner keys for it.
func (u *Unit) SettlementSyncOff() string {
	if u.Vipps.Partner == "" || u.Vipps.Accounting != "" {
		return ""
	}
	return fmt.Sprintf("settlement sync is off for unit %s: it uses the keys of Vipps partner %q, and the Vipps Report API does not accept partner keys; give the unit accounting-partner keys (vipps_accounting, and vipps.accounting on the unit), or import its settlement files from the Vipps MobilePay portal (POST /api/v1/settlements/vipps or `settlements import`)", u.ID, u.Vipps.Partner)
}

func (c *Config) resolvePartners(getenv func(string) string) error {
	if err := c.resolveAccounting(getenv); err != nil {
		return err
	}
	for i := range c.Units {
		if err := c.checkUnitAccounting(i); err != nil {
			return err
		}
	}
	for i := range c.VippsPartners {
		p := &c.VippsPartners[i]
		key := func(k string) string { return fmt.Sprintf("vipps_partners[%d].%s", i, k) }
		if !unitIDPattern.MatchString(p.ID) {
			return bad(key("id"), "%q must be lower-case letters, digits and dashes (1-32)", p.ID)
		}
		for _, o := range c.VippsPartners[:i] {
			if o.ID == p.ID {
				return bad(key("id"), "%q is used by two partners", p.ID)
			}
		}
		sb := func(what string) string { return "sandbox-partner-" + p.ID + "-" + what }
		var err error
		if p.ClientID, err = c.secret(key("client_id_env"), p.ClientIDEnv, getenv, true, issued, sb("client-id")); err != nil {
			return err
		}
		if p.ClientSecret, err = c.secret(key("client_secret_env"), p.ClientSecretEnv, getenv, true, issued, sb("client-secret")); err != nil {
			return err
		}
		if p.SubscriptionKey, err = c.secret(key("subscription_key_env"), p.SubscriptionKeyEnv, getenv, true, issued, sb("subscription-key")); err != nil {
			return err
		}
	}
	return nil
}

// resolvePartnerUnit gives units[i] its partner's keys: a unit on partner
// keys names none of its own.
func (c *Config) resolvePartnerUnit(i int, getenv func(string) string) error {
	u := &c.Units[i]
	key := func(k string) string { return fmt.Sprintf("units[%d].%s", i, k) }
	p, ok := c.Partner(u.Vipps.Partner)
	if !ok {
		ids := make([]string, len(c.VippsPartners))
		for j, o := range c.VippsPartners {
			ids[j] = o.ID
		}
		return bad(key("vipps.partner"), "%q is not in vipps_partners (%s)", u.Vipps.Partner, strings.Join(ids, ", "))
	}
	if u.Vipps.ClientIDEnv != "" || u.Vipps.ClientSecretEnv != "" || u.Vipps.SubscriptionKeyEnv != "" {
		return bad(key("vipps.partner"), "a unit on partner keys names no keys of its own: remove client_id_env, client_secret_env and subscription_key_env, or remove vipps.partner")
	}
	u.Vipps.ClientID, u.Vipps.ClientSecret, u.Vipps.SubscriptionKey = p.ClientID, p.ClientSecret, p.SubscriptionKey
	var err error
	if u.Vipps.WebhookSecret, err = c.secret(key("vipps.webhook_secret_env"), u.Vipps.WebhookSecretEnv, getenv, false, chosen, ""); err != nil {
		return err
	}
	return nil
}

func (c *Config) resolveAccounting(getenv func(string) string) error {
	for i := range c.VippsAccounting {
		a := &c.VippsAccounting[i]
		key := func(k string) string { return fmt.Sprintf("vipps_accounting[%d].%s", i, k) }
		if !unitIDPattern.MatchString(a.ID) {
			return bad(key("id"), "%q must be lower-case letters, digits and dashes (1-32)", a.ID)
		}
		for _, o := range c.VippsAccounting[:i] {
			if o.ID == a.ID {
				return bad(key("id"), "%q is used by two accounting key sets", a.ID)
			}
		}
		sb := func(what string) string { return "sandbox-accounting-" + a.ID + "-" + what }
		var err error
		if a.ClientID, err = c.secret(key("client_id_env"), a.ClientIDEnv, getenv, true, issued, sb("client-id")); err != nil {
			return err
		}
		if a.ClientSecret, err = c.secret(key("client_secret_env"), a.ClientSecretEnv, getenv, true, issued, sb("client-secret")); err != nil {
			return err
		}
	}
	return nil
}

// checkUnitAccounting checks that units[i].vipps.accounting names an entry
// of vipps_accounting.
func (c *Config) checkUnitAccounting(i int) error {
	u := &c.Units[i]
	if u.Vipps.Accounting == "" {
		return nil
	}
	if _, ok := c.Accounting(u.Vipps.Accounting); !ok {
		ids := make([]string, len(c.VippsAccounting))
		for j, o := range c.VippsAccounting {
			ids[j] = o.ID
		}
		return bad(fmt.Sprintf("units[%d].vipps.accounting", i), "%q is not in vipps_accounting (%s)", u.Vipps.Accounting, strings.Join(ids, ", "))
	}
	return nil
}
