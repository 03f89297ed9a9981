package config

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestProviderLogRetention(t *testing.T) {
	base, err := os.ReadFile("../../config.yaml")
	require.NoError(t, err)
	c, err := Parse(base, env(nil))
	require.NoError(t, err)
	require.Equal(t, 90, c.ProviderLog.RetentionDays, "the default")

	c, err = Parse([]byte(string(base)+"\nprovider_log: {retention_days: 30}\n"), env(nil))
	require.NoError(t, err)
	require.Equal(t, 30, c.ProviderLog.RetentionDays)
	_, err = Parse([]byte(string(base)+"\nprovider_log: {retention_days: -1}\n"), env(nil))
	require.ErrorContains(t, err, "provider_log.retention_days")
}
