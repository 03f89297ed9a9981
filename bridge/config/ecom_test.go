package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUnitAPISetting(t *testing.T) {
	prod, full := prodConfig(t)
	cfg, err := Parse([]byte(prod), env(full))
	require.NoError(t, err)
	require.Equal(t, APIEPayment, cfg.Units[0].API, "ePayment is the default")

	ecom := strings.Replace(prod, "capture: reserve", "capture: reserve\n    api: ecom", 1)
	require.NotEqual(t, prod, ecom)
	cfg, err = Parse([]byte(ecom), env(full))
	require.NoError(t, err)
	require.Equal(t, APIEcom, cfg.Units[0].API)

	_, err = Parse([]byte(strings.Replace(ecom, "api: ecom", "api: soap", 1)), env(full))
	require.ErrorContains(t, err, "units[0].api")

	_, err = Parse([]byte(strings.Replace(ecom, "currency: NOK", "currency: DKK", 1)), env(full))
	require.ErrorContains(t, err, "units[0].currency", "eCom takes NOK only")
}
