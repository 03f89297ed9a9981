package bridge_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/sqlite"
	"vippskco/klarna"
	"vippskco/klarna/klarnatest"
	"vippskco/vipps"
	"vippskco/vipps/vippstest"
)

// fuzzService is a service on a temporary store with the fakes behind it.
func fuzzService(f *testing.F) (*bridge.Service, *vippstest.Server, *klarnatest.Server) {
	f.Helper()
	st, err := sqlite.Open(context.Background(), "file:"+filepath.Join(f.TempDir(), "fuzz.db"), nil)
	require.NoError(f, err)
	f.Cleanup(func() { st.Close() })
	vf := vippstest.NewServer(vippstest.Options{})
	f.Cleanup(vf.Close)
	vf.AddSalesUnit(vippstest.SalesUnit{MSN: "123456", ClientID: "id", ClientSecret: "secret", SubscriptionKey: "key", Currency: "NOK", Name: "Fuzz"})
	kf := klarnatest.NewServer(klarnatest.Options{})
	f.Cleanup(kf.Close)
	vc, err := vipps.New(vipps.Config{BaseURL: vf.URL(), Credentials: vipps.Credentials{ClientID: "id", ClientSecret: "secret", SubscriptionKey: "key", MSN: "123456"},
		System: vipps.SystemInfo{Name: "fuzz", Version: "1", PluginName: "fuzz", PluginVersion: "1"}})
	require.NoError(f, err)
	kc, err := klarna.New(klarna.Config{BaseURL: kf.URL(), APIKey: klarnatest.DefaultAPIKey})
	require.NoError(f, err)
	svc := &bridge.Service{
		Store: st, Kustom: kc, PublicURL: "https://pay.example", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Signer: &bridge.RedirectSigner{Secret: []byte("fuzz-signing-secret"), TTL: time.Hour},
		Units: map[string]*bridge.Unit{"webshop": {ID: "webshop", Name: "Fuzz", MSN: "123456", Capture: "reserve", Currency: "NOK",
			Countries: []string{"NO"}, ReferencePrefix: "ws", CheckoutURL: "https://shop.example/checkout", EPMName: "Vipps", Vipps: vc}},
	}
	require.NoError(f, st.SaveWebhookRegistration(context.Background(), &bridge.WebhookRegistration{
		Unit: "webshop", ID: "wh-1", URL: svc.WebhookURL("webshop"), Secret: "fuzz-webhook-secret", CreatedAt: time.Now()}))
	return svc, vf, kf
}

// FuzzVippsWebhook: whatever arrives at the webhook endpoint, it never
// panics, and it is accepted only when it carries a valid signature of its
// own body made with the unit's secret.
func FuzzVippsWebhook(f *testing.F) {
	svc, vf, _ := fuzzService(f)
	body := []byte(`{"msn":"123456","reference":"ws-unknown-1","pspReference":"1","name":"AUTHORIZED","amount":{"currency":"NOK","value":100},"timestamp":"2026-11-25T10:00:00Z","success":true}`)
	date := time.Now().UTC().Format(http.TimeFormat)
	hash, auth := vipps.SignWebhook("fuzz-webhook-secret", "POST", "/webhooks/vipps/webshop", "pay.example", date, body)
	f.Add(body, date, hash, auth)
	f.Add(body, date, hash, auth[:len(auth)-2]+"A=")
	f.Add([]byte(`{}`), "", "", "")
	f.Add([]byte(`not json`), date, vipps.ContentHash([]byte(`not json`)), auth)
	f.Fuzz(func(t *testing.T, body []byte, date, hash, auth string) {
		h := http.Header{}
		h.Set("x-ms-date", date)
		h.Set("x-ms-content-sha256", hash)
		h.Set("Authorization", auth)
		_, err := svc.HandleVippsWebhook(context.Background(), "webshop", h, body)
		if err != nil {
			return
		}
		wantHash, wantAuth := vipps.SignWebhook("fuzz-webhook-secret", "POST", "/webhooks/vipps/webshop", "pay.example", date, body)
		if hash != wantHash || auth != wantAuth {
			t.Fatalf("accepted a webhook that is not validly signed: hash %q auth %q", hash, auth)
		}
	})
	_ = vf
}

// FuzzRedirect: whatever the shopper's browser puts in the redirect URL, it
// never panics, and nothing reaches Vipps unless the order id is well formed
// and the signature is valid for it.
func FuzzRedirect(f *testing.F) {
	svc, vf, _ := fuzzService(f)
	good := "3fa85f64-5717-4562-b3fc-2c963f66afa6"
	f.Add("webshop", good, svc.Signer.Sign("webshop", good, time.Now()))
	f.Add("webshop", good, "")
	f.Add("webshop", "../../etc/passwd", "1.abc")
	f.Add("nope", good, "9999999999.x")
	f.Add("webshop", "", "")
	f.Fuzz(func(t *testing.T, unit, orderID, sig string) {
		before := vf.Calls(vippstest.OpCreate)
		_, err := svc.StartCheckout(context.Background(), unit, orderID, sig)
		if err == nil {
			t.Fatalf("a payment was started for unit %q order %q: no such order exists", unit, orderID)
		}
		if vf.Calls(vippstest.OpCreate) != before {
			t.Fatalf("the redirect reached Vipps for unit %q order %q sig %q", unit, orderID, sig)
		}
		if !bridge.ValidKCOOrderID(orderID) && bridge.ErrorReason(err) != "malformed_order_id" && bridge.ErrorReason(err) != "unknown_unit" {
			t.Fatalf("malformed order id %q gave %v", orderID, err)
		}
	})
}
