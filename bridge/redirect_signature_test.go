package bridge

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRedirectSignature(t *testing.T) {
	s := &RedirectSigner{Secret: []byte("k"), TTL: time.Hour}
	now := time.Unix(1_700_000_000, 0)
	sig := s.Sign("webshop", "order-1234", now)
	require.NoError(t, s.Verify("webshop", "order-1234", sig, now.Add(59*time.Minute)))

	cases := []struct {
		name, unit, order, sig string
		at                     time.Time
		reason                 string
	}{
		{"expired", "webshop", "order-1234", sig, now.Add(61 * time.Minute), "signature_expired"},
		{"other order", "webshop", "order-9999", sig, now, "signature_invalid"},
		{"other unit", "giftcards", "order-1234", sig, now, "signature_invalid"},
		{"missing", "webshop", "order-1234", "", now, "signature_missing"},
		{"no dot", "webshop", "order-1234", "abc", now, "signature_malformed"},
		{"expiry edited", "webshop", "order-1234", "9999999999" + sig[len("1700003600"):], now, "signature_invalid"},
		{"other secret", "webshop", "order-1234", (&RedirectSigner{Secret: []byte("x"), TTL: time.Hour}).Sign("webshop", "order-1234", now), now, "signature_invalid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Verify(tc.unit, tc.order, tc.sig, tc.at)
			require.Error(t, err)
			require.Equal(t, tc.reason, ErrorReason(err))
			require.Equal(t, ECodeForbidden, ErrorCode(err))
		})
	}
}
