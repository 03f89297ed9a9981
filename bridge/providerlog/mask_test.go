package providerlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// maskJSONByTokens is the masker as it was, a json.Decoder's tokens
// written back one by one: the oracle the one-pass masker is held to.
type tokenFrame struct {
	object  bool
	keyNext bool // in an object: the next token is a key
	n       int  // values (or pairs) written
	masked  bool // every value in it is masked
	// for the value after a key:
	valueMasked bool
}

func maskJSONByTokens(raw []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var b bytes.Buffer
	var stack []*tokenFrame
	writeString := func(s string) {
		var sb bytes.Buffer
		enc := json.NewEncoder(&sb)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(s)
		b.Write(bytes.TrimRight(sb.Bytes(), "\n"))
	}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
		var top *tokenFrame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			b.WriteByte(byte(d))
			stack = stack[:len(stack)-1]
			if len(stack) > 0 && stack[len(stack)-1].object {
				stack[len(stack)-1].keyNext = true
			}
			continue
		}
		if top != nil && top.object && top.keyNext {
			k, _ := tok.(string)
			if top.n > 0 {
				b.WriteByte(',')
			}
			top.n++
			writeString(k)
			b.WriteByte(':')
			lk := strings.ToLower(k)
			top.valueMasked = !kept[lk] && (top.masked || personal[lk])
			top.keyNext = false
			continue
		}
		mask := false
		if top != nil {
			if top.object {
				mask = top.valueMasked
			} else {
				if top.n > 0 {
					b.WriteByte(',')
				}
				top.n++
				mask = top.masked
			}
		}
		switch v := tok.(type) {
		case json.Delim:
			b.WriteByte(byte(v))
			stack = append(stack, &tokenFrame{object: v == '{', keyNext: v == '{', masked: mask})
			continue
		case string:
			if mask {
				writeString(Masked)
			} else {
				writeString(v)
			}
		case json.Number:
			if mask {
				writeString(Masked)
			} else {
				b.WriteString(v.String())
			}
		case bool:
			if v {
				b.WriteString("true")
			} else {
				b.WriteString("false")
			}
		case nil:
			b.WriteString("null")
		}
		if top != nil && top.object {
			top.keyNext = true
		}
	}
	return b.String(), nil
}

// The one-pass masker writes the same JSON values as the token-by-token
// one it replaced, for random bodies with personal keys at any depth, in
// any case, escaped or not; strings keep their spelling.
func TestMaskOnePassIsTheTokenRewrite(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []string{"reference", "state", "amount", "value", "currency", "pspReference", "aggregate", "\u00f8", "name", "country",
		"PhoneNumber", "given_name", "EMAIL", "address", "city", "zip", "address_type", "Given\u005fName"}
	strs := []string{"", "AUTHORIZED", "NOK", "Kari Nordmann", "\u00e6\u00f8\u00e5", "tab\there", "quote\"d", "<b>&", "line\u2028sep", "emoji 🙂", "back\\slash"}
	var value func(depth int) string
	value = func(depth int) string {
		switch n := rng.IntN(9); {
		case depth > 3 || n < 2:
			q, _ := json.Marshal(strs[rng.IntN(len(strs))])
			return string(q)
		case n == 2:
			return fmt.Sprint(rng.IntN(100000) - 500)
		case n == 3:
			return "[" + value(depth+1) + " , " + value(depth+1) + "]"
		case n == 4:
			return []string{"null", "true", "false", "-1.5e3"}[rng.IntN(4)]
		default:
			var parts []string
			for range rng.IntN(4) {
				parts = append(parts, "\n  \""+keys[rng.IntN(len(keys))]+"\" : "+value(depth+1))
			}
			return "{" + strings.Join(parts, ",") + "}"
		}
	}
	masked := 0
	for range 5000 {
		body := value(0)
		if c := body[0]; c != '{' && c != '[' {
			continue
		}
		require.True(t, json.Valid([]byte(body)), body)
		want, err := maskJSONByTokens([]byte(body))
		require.NoError(t, err)
		got := MaskPersonal(body)
		var w, g any
		require.NoError(t, json.Unmarshal([]byte(want), &w))
		require.NoError(t, json.Unmarshal([]byte(got), &g), got)
		require.Equal(t, w, g, "body %s", body)
		var compact bytes.Buffer
		require.NoError(t, json.Compact(&compact, []byte(body)))
		if got != compact.String() {
			masked++
		} else {
			require.NotContains(t, want, Masked, "nothing masked means the body compacted as it was")
		}
	}
	t.Logf("%d bodies had something masked", masked)
	require.Greater(t, masked, 500)
}

// BenchmarkMaskPaymentRead: a Vipps payment as the poller reads it, 800
// times a second with 2,000 waiting, through the one-pass masker and the
// token-by-token one it replaced.
func BenchmarkMaskPaymentRead(b *testing.B) {
	body := `{"aggregate":{"authorizedAmount":{"currency":"NOK","value":0},"cancelledAmount":{"currency":"NOK","value":0},
		"capturedAmount":{"currency":"NOK","value":0},"refundedAmount":{"currency":"NOK","value":0}},
		"amount":{"currency":"NOK","value":44700},"state":"CREATED","paymentMethod":{"type":"WALLET"},
		"profile":{},"pspReference":"2f0c3b1e-1d2a-4c4b-9d36-0c9f3b0a5e11","redirectUrl":"https://landing.vipps.no/?token=eyJraWQiOiJqd3RrIiwiYWxnIjoiUlMyNTYifQ",
		"reference":"ld-5f2c9a8e-0b1d-4c3e-8f7a-6d5e4c3b2a19-1"}`
	b.Run("one-pass", func(b *testing.B) {
		for b.Loop() {
			MaskPersonal(body)
		}
	})
	b.Run("tokens", func(b *testing.B) {
		raw := []byte(strings.TrimSpace(body))
		for b.Loop() {
			_, _ = maskJSONByTokens(raw)
		}
	})
}
