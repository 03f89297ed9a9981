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

// SettlementSyncOff says why the Report API cannot be used for a unit's
// settlements, or "" when it can.
func (u *Unit) SettlementSyncOff() string {
	if u.Vipps.Partner == "" {
		return ""
	}
	return fmt.Sprintf("settlement sync is off for unit %s: it uses the keys of Vipps partner %q, and the Vipps Report API does not accept partner keys (only the sales unit's own keys or accounting-partner keys); import the unit's settlement files from portal.vippsmobilepay.com instead (POST /api/v1/finance/settlements or `settlements import`)", u.ID, u.Vipps.Partner)
}

func (c *Config) resolvePartners(getenv func(string) string) error {
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
