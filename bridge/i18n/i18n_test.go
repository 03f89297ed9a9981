package i18n

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFormatMoneyAndLang(t *testing.T) {
	require.Equal(t, "kr\u00a01\u00a0499,00", FormatMoney(LangNB, 149900, "NOK"))
	require.Equal(t, "NOK\u00a01,499.00", FormatMoney(LangEN, 149900, "NOK"))
	require.Equal(t, "kr\u00a00,05", FormatMoney(LangNB, 5, "NOK"))
	require.Equal(t, "-EUR\u00a01,234,567.89", FormatMoney(LangEN, -123456789, "EUR"))
	require.Equal(t, "1.499,00\u00a0kr.", FormatMoney(LangDA, 149900, "DKK"))
	require.Equal(t, "-1.234.567,89\u00a0€", FormatMoney(LangDA, -123456789, "EUR"))
	require.Equal(t, "1\u00a0499,00\u00a0€", FormatMoney(LangFI, 149900, "EUR"))
	require.Equal(t, "0,01\u00a0€", FormatMoney(LangFI, 1, "EUR"))
	for locale, want := range map[string]Lang{"nb-NO": LangNB, "nn-NO": LangNB, "no": LangNB, "en-GB": LangEN, "da-DK": LangDA, "da": LangDA, "fi-FI": LangFI, "FI_fi": LangFI, "sv-FI": LangEN, "": LangEN, "nbx": LangEN, "dax-DK": LangEN} {
		require.Equal(t, want, LangFromLocale(locale), locale)
	}
	require.Equal(t, LangNB, LangFromAcceptLanguage("nb-NO,nb;q=0.9,en;q=0.8"))
	require.Equal(t, LangEN, LangFromAcceptLanguage("en-US,en;q=0.9"))
	require.Equal(t, LangEN, LangFromAcceptLanguage(""))
	require.Equal(t, LangDA, LangFromAcceptLanguage("da-DK,da;q=0.9,en;q=0.8"))
	require.Equal(t, LangFI, LangFromAcceptLanguage("fi"))
}

// sameWord are the keys whose text is the same word in some language and
// English ("Status", "Netto (%s)", "Brutto").
var sameWord = map[string]bool{"fin_state": true, "fin_gross": true, "fin_net": true, "fin_amount_axis": true, "fin_reference": true}

func TestEveryMessageInEveryLanguage(t *testing.T) {
	for _, lang := range []Lang{LangNB, LangDA, LangFI} {
		for key, en := range messages[LangEN] {
			text := messages[lang][key]
			require.NotEmpty(t, text, "%s text missing for %s", lang, key)
			require.Equal(t, strings.Count(en, "%s"), strings.Count(text, "%s"), "%s text for %s takes other arguments than the English one", lang, key)
			if key != "html_lang" && key != "reference" && !sameWord[key] {
				require.NotEqual(t, en, text, "%s text for %s is still English", lang, key)
			}
		}
		for key := range messages[lang] {
			require.NotEmpty(t, messages[LangEN][key], "English text missing for %s", key)
		}
		require.Equal(t, string(lang), messages[lang]["html_lang"])
	}
}

func TestFinanceTextsInEveryLanguage(t *testing.T) {
	for key := range financeMessages[LangEN] {
		for _, lang := range []Lang{LangEN, LangNB, LangDA, LangFI} {
			require.NotEmpty(t, financeMessages[lang][key], "%s finance text missing for %s", lang, key)
			require.Equal(t, financeMessages[lang][key], T(lang, key), "merged into the catalogue")
		}
	}
	for _, lang := range []Lang{LangNB, LangDA, LangFI} {
		require.Len(t, financeMessages[lang], len(financeMessages[LangEN]), "%s has finance texts English lacks", lang)
	}
	require.Panics(t, func() { mergeMessages(map[Lang]map[string]string{LangEN: {"fin_title": "again"}}) })
}
