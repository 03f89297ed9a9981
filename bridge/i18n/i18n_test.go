package i18n

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFormatMoneyAndLang(t *testing.T) {
	require.Equal(t, "kr\u00a01\u00a0499,00", FormatMoney(LangNB, 149900, "NOK"))
	require.Equal(t, "NOK\u00a01,499.00", FormatMoney(LangEN, 149900, "NOK"))
	require.Equal(t, "kr\u00a00,05", FormatMoney(LangNB, 5, "NOK"))
	require.Equal(t, "-EUR\u00a01,234,567.89", FormatMoney(LangEN, -123456789, "EUR"))
	for locale, want := range map[string]Lang{"nb-NO": LangNB, "nn-NO": LangNB, "no": LangNB, "en-GB": LangEN, "da-DK": LangEN, "": LangEN, "nbx": LangEN} {
		require.Equal(t, want, LangFromLocale(locale), locale)
	}
	require.Equal(t, LangNB, LangFromAcceptLanguage("nb-NO,nb;q=0.9,en;q=0.8"))
	require.Equal(t, LangEN, LangFromAcceptLanguage("en-US,en;q=0.9"))
	require.Equal(t, LangEN, LangFromAcceptLanguage(""))
}

func TestEveryMessageInBothLanguages(t *testing.T) {
	for key := range messages[LangEN] {
		require.NotEmpty(t, messages[LangNB][key], "Norwegian text missing for %s", key)
	}
	for key := range messages[LangNB] {
		require.NotEmpty(t, messages[LangEN][key], "English text missing for %s", key)
	}
}
