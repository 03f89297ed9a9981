package bridge

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// A hold keeps only the successful answer of its own operation: the access
// token the client fetches first and every failed attempt it then retries
// are acted on inside the call, so they are stored at once.
func TestHoldKeepsOnlyTheOperationsAnswer(t *testing.T) {
	ctx, hold := holdExchanges(context.Background(), "vipps", vippsCreate)
	tests := []struct {
		name string
		ex   ProviderExchange
		held bool
	}{
		{"the create's answer", ProviderExchange{Provider: "vipps", Operation: "create", StatusCode: 201}, true},
		{"the token it fetched", ProviderExchange{Provider: "vipps", Operation: "token", StatusCode: 200}, false},
		{"a refused attempt", ProviderExchange{Provider: "vipps", Operation: "create", StatusCode: 401}, false},
		{"a failed attempt", ProviderExchange{Provider: "vipps", Operation: "create", StatusCode: 503}, false},
		{"an attempt not answered", ProviderExchange{Provider: "vipps", Operation: "create", Error: "timeout"}, false},
		{"another provider's", ProviderExchange{Provider: "kustom", Operation: "create", StatusCode: 200}, false},
		{"another operation", ProviderExchange{Provider: "vipps", Operation: "get", StatusCode: 200}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.held, HoldExchange(ctx, &tt.ex))
		})
	}
	require.Len(t, hold.take(), 1)
	require.Empty(t, hold.take(), "take empties the hold")
	require.False(t, HoldExchange(context.Background(), &ProviderExchange{Provider: "vipps", Operation: "create", StatusCode: 201}),
		"held without a hold")
}
