package notifysig_test

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vippskco/bridge/notifysig"
)

// The worked example of Sign's doc comment. The expected
// header was computed independently with
//
//	printf '%s' "$id.$ts.$body" | openssl dgst -sha256 -hmac "$secret" -binary | base64
const (
	exampleSecret    = "merchant-webhook-secret"
	exampleID        = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
	exampleTimestamp = int64(1767225600)
	exampleBody      = `{"id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","type":"payment.authorized"}`
	exampleSignature = "v1,ccBGAGgXdSNtYMNDpYDNjeNXZR5GMuEkmTvViMQWEYY="
)

// A Standard Webhooks library takes the key as "whsec_" + base64(secret);
// Verify accepts that form of the same key.
func TestVerifyAcceptsStandardWebhooksKey(t *testing.T) {
	whsec := "whsec_" + base64.StdEncoding.EncodeToString([]byte(exampleSecret))
	require.NoError(t, notifysig.Verify(whsec, exampleHeader(), []byte(exampleBody), time.Unix(exampleTimestamp, 0), 0))
	require.Equal(t, exampleSignature, notifysig.Sign(whsec, exampleID, exampleTimestamp, []byte(exampleBody)))
	require.Error(t, notifysig.Verify("whsec_"+base64.StdEncoding.EncodeToString([]byte("other")), exampleHeader(), []byte(exampleBody), time.Unix(exampleTimestamp, 0), 0))
}

func TestSignNotificationWorkedExample(t *testing.T) {
	require.Equal(t, exampleSignature, notifysig.Sign(exampleSecret, exampleID, exampleTimestamp, []byte(exampleBody)))
	require.Equal(t, "2026-01-01T00:00:00Z", time.Unix(exampleTimestamp, 0).UTC().Format(time.RFC3339))

	h := exampleHeader()
	require.NoError(t, notifysig.Verify(exampleSecret, h, []byte(exampleBody), time.Unix(exampleTimestamp, 0), 0))
}

func exampleHeader() http.Header {
	h := http.Header{}
	h.Set(notifysig.HeaderID, exampleID)
	h.Set(notifysig.HeaderTimestamp, strconv.FormatInt(exampleTimestamp, 10))
	h.Set(notifysig.HeaderSignature, exampleSignature)
	return h
}

func TestVerifyNotification(t *testing.T) {
	signedAt := time.Unix(exampleTimestamp, 0)
	cases := []struct {
		name      string
		secret    string
		edit      func(h http.Header)
		body      string
		now       time.Time
		tolerance time.Duration
		reason    string // "" when valid
	}{
		{name: "valid", now: signedAt},
		{name: "valid at the edge of the default tolerance", now: signedAt.Add(5 * time.Minute)},
		{name: "receiver's clock behind", now: signedAt.Add(-4 * time.Minute)},
		{name: "one of several signatures (secret rotation)", now: signedAt, edit: func(h http.Header) {
			h.Set(notifysig.HeaderSignature, notifysig.Sign("old-secret", exampleID, exampleTimestamp, []byte(exampleBody))+" "+exampleSignature)
		}},
		{name: "extra spaces around the signature", now: signedAt, edit: func(h http.Header) {
			h.Set(notifysig.HeaderSignature, "  "+exampleSignature+"  ")
		}},
		{name: "tampered body", now: signedAt, body: `{"id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","type":"payment.captured"}`, reason: "bad_signature"},
		{name: "body with a space added", now: signedAt, body: exampleBody + " ", reason: "bad_signature"},
		{name: "other id", now: signedAt, edit: func(h http.Header) { h.Set(notifysig.HeaderID, "other") }, reason: "bad_signature"},
		{name: "other timestamp", now: signedAt, edit: func(h http.Header) {
			h.Set(notifysig.HeaderTimestamp, strconv.FormatInt(exampleTimestamp+1, 10))
		}, reason: "bad_signature"},
		{name: "wrong secret", secret: "not-the-secret", now: signedAt, reason: "bad_signature"},
		{name: "no secret configured", secret: "-", now: signedAt, reason: "bad_signature"},
		{name: "signature without version", now: signedAt, edit: func(h http.Header) {
			h.Set(notifysig.HeaderSignature, exampleSignature[3:])
		}, reason: "bad_signature"},
		{name: "signature of another version", now: signedAt, edit: func(h http.Header) {
			h.Set(notifysig.HeaderSignature, "v1a,"+exampleSignature[3:])
		}, reason: "bad_signature"},
		{name: "signature not base64", now: signedAt, edit: func(h http.Header) {
			h.Set(notifysig.HeaderSignature, "v1,!!!")
		}, reason: "bad_signature"},
		{name: "stale", now: signedAt.Add(5*time.Minute + time.Second), reason: "stale_timestamp"},
		{name: "replayed a day later", now: signedAt.Add(24 * time.Hour), reason: "stale_timestamp"},
		{name: "from the future", now: signedAt.Add(-6 * time.Minute), reason: "stale_timestamp"},
		{name: "stale under a shorter tolerance", now: signedAt.Add(31 * time.Second), tolerance: 30 * time.Second, reason: "stale_timestamp"},
		{name: "timestamp in milliseconds", now: signedAt, edit: func(h http.Header) {
			h.Set(notifysig.HeaderTimestamp, strconv.FormatInt(exampleTimestamp*1000, 10))
		}, reason: "bad_timestamp"},
		{name: "timestamp not a number", now: signedAt, edit: func(h http.Header) {
			h.Set(notifysig.HeaderTimestamp, "2026-01-01T00:00:00Z")
		}, reason: "bad_timestamp"},
		{name: "negative timestamp", now: signedAt, edit: func(h http.Header) {
			h.Set(notifysig.HeaderTimestamp, "-1")
		}, reason: "bad_timestamp"},
		{name: "huge timestamp", now: signedAt, edit: func(h http.Header) {
			h.Set(notifysig.HeaderTimestamp, "9223372036854775807")
		}, reason: "bad_timestamp"},
		{name: "no id", now: signedAt, edit: func(h http.Header) { h.Del(notifysig.HeaderID) }, reason: "missing_signature"},
		{name: "no timestamp", now: signedAt, edit: func(h http.Header) { h.Del(notifysig.HeaderTimestamp) }, reason: "missing_signature"},
		{name: "no signature", now: signedAt, edit: func(h http.Header) { h.Del(notifysig.HeaderSignature) }, reason: "missing_signature"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := exampleHeader()
			if tc.edit != nil {
				tc.edit(h)
			}
			secret := exampleSecret
			switch tc.secret {
			case "":
			case "-":
				secret = ""
			default:
				secret = tc.secret
			}
			body := exampleBody
			if tc.body != "" {
				body = tc.body
			}
			err := notifysig.Verify(secret, h, []byte(body), tc.now, tc.tolerance)
			if tc.reason == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			var verr *notifysig.Error
			require.ErrorAs(t, err, &verr)
			require.Equal(t, tc.reason, verr.Reason, "%v", err)
		})
	}
}

// FuzzVerifyNotification feeds arbitrary headers and bodies to the
// verifier: it must never panic, and must accept only what
// SignNotification signed.
func FuzzVerifyNotification(f *testing.F) {
	f.Add(exampleID, strconv.FormatInt(exampleTimestamp, 10), exampleSignature, []byte(exampleBody))
	f.Add("", "", "", []byte(nil))
	f.Add("id", "-9223372036854775808", "v1, v1,,", []byte("{}"))
	f.Add("id", "1767225600", "v1,"+string(make([]byte, 44)), []byte("{}"))
	now := time.Unix(exampleTimestamp, 0)
	f.Fuzz(func(t *testing.T, id, timestamp, signature string, body []byte) {
		h := http.Header{}
		h.Set(notifysig.HeaderID, id)
		h.Set(notifysig.HeaderTimestamp, timestamp)
		h.Set(notifysig.HeaderSignature, signature)
		if notifysig.Verify(exampleSecret, h, body, now, 0) != nil {
			return
		}
		ts, err := strconv.ParseInt(h.Get(notifysig.HeaderTimestamp), 10, 64)
		require.NoError(t, err)
		require.Contains(t, signature, notifysig.Sign(exampleSecret, h.Get(notifysig.HeaderID), ts, body)[3:])
	})
}

// A secret that claims the Standard Webhooks form but is not its base64 is
// an error, not a text key: signing with the text would never match what
// the merchant's library computes.
func TestParseSecret(t *testing.T) {
	key := []byte{0x00, 0xff, 0x10, 'k'}
	for _, tc := range []struct {
		secret string
		want   []byte
		bad    bool
	}{
		{secret: "whsec_" + base64.StdEncoding.EncodeToString(key), want: key},
		{secret: "merchant-webhook-secret", want: []byte("merchant-webhook-secret")},
		{secret: "whsec_not base64!", bad: true},
		{secret: "whsec_", bad: true},
		{secret: "", bad: true},
	} {
		got, err := notifysig.ParseSecret(tc.secret)
		if tc.bad {
			require.Error(t, err, tc.secret)
			continue
		}
		require.NoError(t, err, tc.secret)
		require.Equal(t, tc.want, got, tc.secret)
	}
	malformed := "whsec_not base64!"
	h := exampleHeader()
	h.Set(notifysig.HeaderSignature, notifysig.Sign(malformed, exampleID, exampleTimestamp, []byte(exampleBody)))
	err := notifysig.Verify(malformed, h, []byte(exampleBody), time.Unix(exampleTimestamp, 0), 0)
	require.Error(t, err, "a malformed whsec_ secret verifies nothing")
	require.Equal(t, "bad_signature", err.(*notifysig.Error).Reason)
}
