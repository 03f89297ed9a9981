package config

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// partnerConfig is the shipped config.yaml with its unit moved onto a
// partner's keys and a second unit (another MSN) on the same partner.
func partnerConfig(t *testing.T, unitEdit string) *Config {
	t.Helper()
	raw, err := os.ReadFile("../../config.yaml")
	require.NoError(t, err)
	c, err := Decode(raw)
	require.NoError(t, err)
	c.VippsPartners = []VippsPartner{{ID: "acme", ClientIDEnv: "ACME_CLIENT_ID", ClientSecretEnv: "ACME_CLIENT_SECRET", SubscriptionKeyEnv: "ACME_SUBSCRIPTION_KEY"}}
	u := &c.Units[0]
	u.Vipps.ClientIDEnv, u.Vipps.ClientSecretEnv, u.Vipps.SubscriptionKeyEnv = "", "", ""
	u.Vipps.Partner = "acme"
	second := *u
	second.ID, second.MSN, second.ReferencePrefix = "kiosk", "223344", "ki"
	second.Countries = []string{"NO"}
	switch unitEdit {
	case "own keys too":
		second.Vipps.ClientIDEnv = "KIOSK_CLIENT_ID"
	case "unknown partner":
		second.Vipps.Partner = "nobody"
	}
	c.Units = append(c.Units, second)
	return c
}

func TestUnitsOnPartnerKeysShareThePartnersKeys(t *testing.T) {
	c := partnerConfig(t, "")
	require.NoError(t, c.Resolve(env(map[string]string{"ACME_CLIENT_ID": "acme-id", "ACME_CLIENT_SECRET": "acme-secret", "ACME_SUBSCRIPTION_KEY": "acme-sub"})))
	for _, id := range []string{"webshop", "kiosk"} {
		u, ok := c.Unit(id)
		require.True(t, ok)
		require.Equal(t, "acme-id", u.Vipps.ClientID)
		require.Equal(t, "acme-secret", u.Vipps.ClientSecret)
		require.Equal(t, "acme-sub", u.Vipps.SubscriptionKey)
		require.Contains(t, u.SettlementSyncOff(), "partner keys", "the Report API does not take partner keys")
	}
	u, _ := c.Unit("kiosk")
	require.Equal(t, "223344", u.MSN)
}

func TestPartnerConfigErrorsNameTheKey(t *testing.T) {
	for edit, want := range map[string]string{
		"own keys too":    "units[1].vipps.partner: a unit on partner keys names no keys of its own",
		"unknown partner": `units[1].vipps.partner: "nobody" is not in vipps_partners (acme)`,
	} {
		err := partnerConfig(t, edit).Resolve(env(nil))
		require.Error(t, err, edit)
		require.True(t, IsKeyError(err))
		require.Contains(t, err.Error(), want)
	}
	// Outside the sandbox the partner's variables must be set.
	c := partnerConfig(t, "")
	c.Sandbox = false
	c.Server.PublicURL = "https://pay.example"
	err := c.Resolve(env(map[string]string{"KUSTOM_API_KEY": "kco_live_api_x", "ACME_CLIENT_ID": "acme-id"}))
	require.Error(t, err)
	require.Contains(t, err.Error(), "vipps_partners[0].client_secret_env: environment variable ACME_CLIENT_SECRET is empty or unset")
}

func TestAccountingKeysTurnPartnerSyncOn(t *testing.T) {
	c := partnerConfig(t, "")
	c.VippsAccounting = []VippsAccounting{{ID: "books", ClientIDEnv: "BOOKS_ID", ClientSecretEnv: "BOOKS_SECRET"}}
	c.Units[0].Vipps.Accounting = "books"
	require.NoError(t, c.Resolve(env(map[string]string{"BOOKS_ID": "b-id", "BOOKS_SECRET": "b-secret"})))
	a, ok := c.Accounting("books")
	require.True(t, ok)
	require.Equal(t, "b-id", a.ClientID)
	require.Equal(t, "b-secret", a.ClientSecret)
	web, _ := c.Unit("webshop")
	require.Empty(t, web.SettlementSyncOff(), "accounting keys read the Report API")
	kiosk, _ := c.Unit("kiosk")
	require.Contains(t, kiosk.SettlementSyncOff(), "vipps_accounting", "the message says what to configure")

	c = partnerConfig(t, "")
	c.Units[1].Vipps.Accounting = "nobody"
	err := c.Resolve(env(nil))
	require.ErrorContains(t, err, `units[1].vipps.accounting: "nobody" is not in vipps_accounting`)
}
