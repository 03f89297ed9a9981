package providerlog

import (
	"encoding/json"
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
