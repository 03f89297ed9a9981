package providerlog

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMaskPersonal(t *testing.T) {
	kco := `{"order_id":"3fa85f64","order_amount":44700,"purchase_country":"NO",
		"billing_address":{"given_name":"Kari","family_name":"Nordmann","email":"kari@example.no","street_address":"Storgata 1",
		"street_address2":"H0101","postal_code":"0155","city":"Oslo","phone":"+47 912 34 567","country":"NO"},
		"shipping_address":{"given_name":"Ola","family_name":"Nordmann","street_address":"Lillegata 2","postal_code":"0160","country":"no"},
		"customer":{"date_of_birth":"1990-01-01","type":"person"},
		"order_lines":[{"type":"physical","reference":"termokopp","name":"Termokopp","quantity":1,"total_amount":39800}]}`
	got := MaskPersonal(kco)
	for _, personal := range []string{"Kari", "Ola", "Nordmann", "kari@example.no", "Storgata", "Lillegata", "H0101", "0155", "0160", "Oslo", "912 34 567", "1990-01-01"} {
		require.NotContains(t, got, personal)
	}
	var o map[string]any
	require.NoError(t, json.Unmarshal([]byte(got), &o), got)
	require.Equal(t, "3fa85f64", o["order_id"])
	require.Equal(t, 44700.0, o["order_amount"])
	bill := o["billing_address"].(map[string]any)
	require.Equal(t, "NO", bill["country"], "the country stays")
	require.Equal(t, Masked, bill["email"])
	require.Equal(t, "person", o["customer"].(map[string]any)["type"])
	line := o["order_lines"].([]any)[0].(map[string]any)
	require.Equal(t, "Termokopp", line["name"], "product names stay")
	require.Equal(t, 39800.0, line["total_amount"])

	vipps := `{"amount":{"currency":"NOK","value":44700},"customer":{"phoneNumber":"4791234567"},"reference":"ws-1-1",
		"userinfo":{"sub":"c06c4afe","email":"kari@example.no","phone_number":4791234567,"address":{"street_address":"Storgata 1","postal_code":"0155","country":"NO"}}}`
	got = MaskPersonal(vipps)
	require.NotContains(t, got, "4791234567")
	require.NotContains(t, got, "Storgata")
	require.JSONEq(t, `{"amount":{"currency":"NOK","value":44700},"customer":{"phoneNumber":"***"},"reference":"ws-1-1",
		"userinfo":{"sub":"c06c4afe","email":"***","phone_number":"***","address":{"street_address":"***","postal_code":"***","country":"NO"}}}`, got)
	require.Equal(t, `{"b":1,"a":[true,null,"x<y"]}`, MaskPersonal(`{"b":1, "a":[true, null, "x<y"]}`), "keys keep their order, nothing is escaped anew")

	for _, notJSON := range []string{"", "upstream timed out", `{"truncated":`, `"a string"`} {
		require.Equal(t, notJSON, MaskPersonal(notJSON))
	}
	problem := `{"type":"https://httpstatuses.io/400","title":"Bad Request","status":400,"extraDetails":[{"name":"customer.phoneNumber","reason":"must be an MSISDN"}]}`
	require.JSONEq(t, problem, MaskPersonal(problem), "a Vipps problem keeps its words")
}

// The quick path writes exactly what the token-by-token rewrite writes,
// for every body it takes; it takes the bodies that name no personal key
// (a Vipps payment as the poller reads it), and a personal key in any case
// sends a body down the slow path.
func TestMaskQuickPathIsTheRewrite(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []string{"reference", "state", "amount", "value", "currency", "pspReference", "aggregate", "ø", "name", "country",
		"PhoneNumber", "given_name", "EMAIL", "address", "city", "zip"}
	strs := []string{"", "AUTHORIZED", "NOK", "Kari Nordmann", "æøå", "tab\there", "quote\"d", "<b>&", "line\u2028sep", "emoji 🙂", "back\\slash"}
	var value func(depth int) any
	value = func(depth int) any {
		switch n := rng.IntN(8); {
		case depth > 3 || n < 2:
			return strs[rng.IntN(len(strs))]
		case n == 2:
			return rng.IntN(100000) - 500
		case n == 3:
			return []any{value(depth + 1), value(depth + 1)}
		case n == 4:
			return nil
		default:
			m := map[string]any{}
			for range rng.IntN(4) {
				m[keys[rng.IntN(len(keys))]] = value(depth + 1)
			}
			return m
		}
	}
	quick := 0
	for i := range 3000 {
		raw, err := json.MarshalIndent(value(0), "", strings.Repeat(" ", i%3))
		require.NoError(t, err)
		var body []byte
		if i%2 == 0 {
			// Without HTML escaping, as Vipps and Kustom send most bodies.
			var b strings.Builder
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", " ")
			require.NoError(t, enc.Encode(value(0)))
			body = []byte(b.String())
		} else {
			body = raw
		}
		want, err := maskJSON(bytes.TrimSpace(body))
		require.NoError(t, err)
		if out, ok := compactWithoutPersonal(bytes.TrimSpace(body)); ok {
			quick++
			require.Equal(t, want, out, "body %s", body)
		}
		if c := bytes.TrimSpace(body)[0]; c == '{' || c == '[' {
			require.Equal(t, want, MaskPersonal(string(body)))
		}
	}
	t.Logf("%d of 3000 bodies took the quick path", quick)
	require.Greater(t, quick, 300, "the quick path is taken")

	payment := `{"aggregate":{"authorizedAmount":{"currency":"NOK","value":0}},"amount":{"currency":"NOK","value":44700},
		"state":"CREATED","pspReference":"psp-1","redirectUrl":"https://landing.vipps.no/?token=x","reference":"ld-1"}`
	_, ok := compactWithoutPersonal([]byte(payment))
	require.True(t, ok, "a payment as the poller reads it")
	for _, body := range []string{`{"PhoneNumber":"4791234567"}`, `{"customer":{"phoneNumber":"4791234567"}}`, `{"a":{"Given_Name":"Kari"}}`} {
		_, ok := compactWithoutPersonal([]byte(body))
		require.False(t, ok, body)
		require.NotContains(t, MaskPersonal(body), "Kari")
		require.NotContains(t, MaskPersonal(body), "4791234567")
	}
}

// BenchmarkMaskPaymentRead: a Vipps payment as the poller reads it, 800
// times a second with 2,000 waiting, through the quick path and through
// the rewrite it spares.
func BenchmarkMaskPaymentRead(b *testing.B) {
	body := `{"aggregate":{"authorizedAmount":{"currency":"NOK","value":0},"cancelledAmount":{"currency":"NOK","value":0},
		"capturedAmount":{"currency":"NOK","value":0},"refundedAmount":{"currency":"NOK","value":0}},
		"amount":{"currency":"NOK","value":44700},"state":"CREATED","paymentMethod":{"type":"WALLET"},
		"profile":{},"pspReference":"2f0c3b1e-1d2a-4c4b-9d36-0c9f3b0a5e11","redirectUrl":"https://landing.vipps.no/?token=eyJraWQiOiJqd3RrIiwiYWxnIjoiUlMyNTYifQ",
		"reference":"ld-5f2c9a8e-0b1d-4c3e-8f7a-6d5e4c3b2a19-1"}`
	b.Run("quick", func(b *testing.B) {
		for b.Loop() {
			MaskPersonal(body)
		}
	})
	b.Run("rewrite", func(b *testing.B) {
		raw := []byte(strings.TrimSpace(body))
		for b.Loop() {
			_, _ = maskJSON(raw)
		}
	})
}
