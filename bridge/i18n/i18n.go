// Package i18n holds the texts shoppers and finance read, in each language
// we serve, and the rules that pick a language from a KCO locale or a
// browser's Accept-Language.
package i18n

import (
	"fmt"
	"strconv"
	"strings"
)

// Lang is a page language. Shoppers get Norwegian when the KCO order's locale
// is Norwegian (nb, nn, no), Danish for da, Finnish for fi, and English
// otherwise.
type Lang string

// The page languages.
const (
	LangNB Lang = "nb"
	LangDA Lang = "da"
	LangFI Lang = "fi"
	LangEN Lang = "en"
)

// localeLangs maps the language part of a locale to the page language.
var localeLangs = map[string]Lang{"nb": LangNB, "nn": LangNB, "no": LangNB, "da": LangDA, "fi": LangFI, "en": LangEN}

// LangFromLocale picks the page language from an RFC 1766 locale like nb-NO,
// da-DK or fi-FI.
func LangFromLocale(locale string) Lang {
	l := strings.ToLower(strings.TrimSpace(locale))
	if i := strings.IndexAny(l, "-_"); i >= 0 {
		l = l[:i]
	}
	if lang, ok := localeLangs[l]; ok {
		return lang
	}
	return LangEN
}

// CountryLang is the language of a country we serve (ISO 3166 alpha-2):
// nb for NO, da for DK, fi for FI; false for any other.
func CountryLang(cc string) (Lang, bool) {
	switch strings.ToUpper(strings.TrimSpace(cc)) {
	case "NO":
		return LangNB, true
	case "DK":
		return LangDA, true
	case "FI":
		return LangFI, true
	}
	return "", false
}

// LangFromAcceptLanguage picks the language when no order is known yet.
func LangFromAcceptLanguage(h string) Lang {
	for _, part := range strings.Split(h, ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if tag == "" || tag == "*" {
			continue
		}
		return LangFromLocale(tag)
	}
	return LangEN
}

// messages holds every user-facing text, by language and key.
var messages = map[Lang]map[string]string{
	LangNB: {
		"html_lang":                "nb",
		"brand_pay":                "Betal med %s",
		"waiting_title":            "Venter på betalingen",
		"waiting_body":             "Fullfør betalingen i %s-appen. Denne siden oppdaterer seg selv.",
		"waiting_reopen":           "Åpne %s igjen",
		"waiting_noscript":         "Siden lastes inn på nytt om noen sekunder.",
		"confirmed_title":          "Takk! Betalingen er godkjent",
		"confirmed_body":           "Vi har mottatt betalingen din med %s. Du får en bekreftelse fra butikken.",
		"confirmed_next":           "Gå videre",
		"failed_title":             "Betalingen ble ikke fullført",
		"failed_retry":             "Prøv igjen med %s",
		"failed_back":              "Tilbake til kassen",
		"failed_no_charge":         "Du har ikke blitt belastet.",
		"amount":                   "Beløp",
		"order":                    "Bestilling",
		"reference":                "Referanse",
		"error_title":              "Vi kunne ikke starte betalingen",
		"breakout_title":           "Går videre til %s",
		"breakout_body":            "Trykk på knappen hvis du ikke blir sendt videre automatisk.",
		"breakout_button":          "Fortsett til %s",
		"status_unknown":           "Vi sjekker status for betalingen …",
		"reason_ABORTED":           "Du avbrøt betalingen i %s.",
		"reason_EXPIRED":           "Betalingen ble ikke godkjent i tide. Forespørselen varer i 10 minutter.",
		"reason_TERMINATED":        "Betalingen ble stoppet av butikken, for eksempel fordi handlekurven ble endret.",
		"reason_FAILED":            "%s kunne ikke starte betalingen.",
		"err_malformed_order_id":   "Lenken til betalingen mangler en gyldig bestilling. Gå tilbake til kassen og prøv igjen.",
		"err_order_not_found":      "Vi fant ikke bestillingen. Den kan ha utløpt. Gå tilbake til kassen og prøv igjen.",
		"err_order_completed":      "Denne bestillingen er allerede betalt med Klarna. Du blir ikke belastet to ganger.",
		"err_order_already_paid":   "Denne bestillingen er allerede betalt. Du blir ikke belastet to ganger.",
		"err_order_not_incomplete": "Denne bestillingen kan ikke lenger betales. Gå tilbake til kassen.",
		"err_currency_not_served":  "%s kan ikke brukes for en bestilling i denne valutaen.",
		"err_country_not_served":   "%s kan ikke brukes for en bestilling fra dette landet.",
		"err_amount_below_minimum": "Beløpet er lavere enn det %s tillater.",
		"err_amount_above_maximum": "Beløpet er høyere enn det %s tillater.",
		"err_lines_mismatch":       "Bestillingen er ikke gyldig: varelinjene stemmer ikke med totalbeløpet. Gå tilbake til kassen.",
		"err_signature":            "Betalingslenken er ugyldig eller utløpt. Gå tilbake til kassen og prøv igjen.",
		"err_unavailable":          "Vi får ikke kontakt med betalingstjenesten akkurat nå. Prøv igjen om litt.",
		"err_vipps_refused":        "%s kunne ikke starte betalingen. Gå tilbake til kassen og prøv igjen, eller velg en annen betalingsmåte.",
		"err_too_many_attempts":    "Det har vært for mange forsøk på denne bestillingen. Start kassen på nytt.",
		"err_unknown_unit":         "Denne betalingslenken er ikke i bruk.",
		"err_not_found":            "Vi fant ikke betalingen. Lenken kan være feil.",
		"err_internal":             "Noe gikk galt hos oss. Prøv igjen om litt.",
		"try_again":                "Prøv igjen",
	},
	LangDA: {
		"html_lang":                "da",
		"brand_pay":                "Betal med %s",
		"waiting_title":            "Venter på din betaling",
		"waiting_body":             "Gennemfør betalingen i %s-appen. Siden opdaterer sig selv.",
		"waiting_reopen":           "Åbn %s igen",
		"waiting_noscript":         "Siden genindlæses om få sekunder.",
		"confirmed_title":          "Tak! Betalingen er godkendt",
		"confirmed_body":           "Vi har modtaget din betaling med %s. Du får en bekræftelse fra butikken.",
		"confirmed_next":           "Fortsæt",
		"failed_title":             "Betalingen blev ikke gennemført",
		"failed_retry":             "Prøv igen med %s",
		"failed_back":              "Tilbage til kassen",
		"failed_no_charge":         "Du er ikke blevet trukket.",
		"amount":                   "Beløb",
		"order":                    "Ordre",
		"reference":                "Reference",
		"error_title":              "Vi kunne ikke starte betalingen",
		"breakout_title":           "Du sendes videre til %s",
		"breakout_body":            "Tryk på knappen, hvis du ikke sendes videre automatisk.",
		"breakout_button":          "Fortsæt til %s",
		"status_unknown":           "Vi tjekker status for betalingen …",
		"reason_ABORTED":           "Du afbrød betalingen i %s.",
		"reason_EXPIRED":           "Betalingen blev ikke godkendt i tide. En betalingsanmodning gælder i 10 minutter.",
		"reason_TERMINATED":        "Butikken stoppede betalingen, for eksempel fordi indkøbskurven blev ændret.",
		"reason_FAILED":            "%s kunne ikke starte betalingen.",
		"err_malformed_order_id":   "Linket til betalingen mangler en gyldig ordre. Gå tilbage til kassen, og prøv igen.",
		"err_order_not_found":      "Vi kunne ikke finde ordren. Den kan være udløbet. Gå tilbage til kassen, og prøv igen.",
		"err_order_completed":      "Denne ordre er allerede betalt med Klarna. Du bliver ikke trukket to gange.",
		"err_order_already_paid":   "Denne ordre er allerede betalt. Du bliver ikke trukket to gange.",
		"err_order_not_incomplete": "Denne ordre kan ikke længere betales. Gå tilbage til kassen.",
		"err_currency_not_served":  "%s kan ikke bruges til en ordre i denne valuta.",
		"err_country_not_served":   "%s kan ikke bruges til en ordre fra dette land.",
		"err_amount_below_minimum": "Beløbet er lavere end det, %s tillader.",
		"err_amount_above_maximum": "Beløbet er højere end det, %s tillader.",
		"err_lines_mismatch":       "Ordren er ikke gyldig: varelinjerne stemmer ikke med totalbeløbet. Gå tilbage til kassen.",
		"err_signature":            "Betalingslinket er ugyldigt eller udløbet. Gå tilbage til kassen, og prøv igen.",
		"err_unavailable":          "Vi kan ikke få forbindelse til betalingstjenesten lige nu. Prøv igen om lidt.",
		"err_vipps_refused":        "%s kunne ikke starte betalingen. Gå tilbage til kassen, og prøv igen, eller vælg en anden betalingsmetode.",
		"err_too_many_attempts":    "Der har været for mange forsøg på denne ordre. Start forfra i kassen.",
		"err_unknown_unit":         "Dette betalingslink er ikke i brug.",
		"err_not_found":            "Vi kunne ikke finde betalingen. Linket kan være forkert.",
		"err_internal":             "Noget gik galt hos os. Prøv igen om lidt.",
		"try_again":                "Prøv igen",
	},
	LangFI: {
		"html_lang":                "fi",
		"brand_pay":                "Maksa %s-sovelluksella",
		"waiting_title":            "Odotamme maksuasi",
		"waiting_body":             "Viimeistele maksu %s-sovelluksessa. Tämä sivu päivittyy itsestään.",
		"waiting_reopen":           "Avaa %s uudelleen",
		"waiting_noscript":         "Sivu latautuu uudelleen muutaman sekunnin kuluttua.",
		"confirmed_title":          "Kiitos! Maksu on hyväksytty",
		"confirmed_body":           "Olemme vastaanottaneet %s-maksusi. Saat vahvistuksen kaupalta.",
		"confirmed_next":           "Jatka",
		"failed_title":             "Maksu ei onnistunut",
		"failed_retry":             "Yritä uudelleen %s-sovelluksella",
		"failed_back":              "Takaisin kassalle",
		"failed_no_charge":         "Sinua ei ole veloitettu.",
		"amount":                   "Summa",
		"order":                    "Tilaus",
		"reference":                "Viite",
		"error_title":              "Emme voineet aloittaa maksua",
		"breakout_title":           "Siirrytään palveluun %s",
		"breakout_body":            "Paina painiketta, jos siirto ei tapahdu automaattisesti.",
		"breakout_button":          "Jatka palveluun %s",
		"status_unknown":           "Tarkistamme maksun tilaa …",
		"reason_ABORTED":           "Peruutit maksun %s-sovelluksessa.",
		"reason_EXPIRED":           "Maksua ei hyväksytty ajoissa. Maksupyyntö on voimassa 10 minuuttia.",
		"reason_TERMINATED":        "Kauppa keskeytti maksun, esimerkiksi koska ostoskori muuttui.",
		"reason_FAILED":            "%s ei voinut aloittaa maksua.",
		"err_malformed_order_id":   "Maksulinkistä puuttuu kelvollinen tilaus. Palaa kassalle ja yritä uudelleen.",
		"err_order_not_found":      "Emme löytäneet tilausta. Se on voinut vanhentua. Palaa kassalle ja yritä uudelleen.",
		"err_order_completed":      "Tämä tilaus on jo maksettu Klarnalla. Sinua ei veloiteta kahdesti.",
		"err_order_already_paid":   "Tämä tilaus on jo maksettu. Sinua ei veloiteta kahdesti.",
		"err_order_not_incomplete": "Tätä tilausta ei voi enää maksaa. Palaa kassalle.",
		"err_currency_not_served":  "%s ei ole käytettävissä tämän valuutan tilauksissa.",
		"err_country_not_served":   "%s ei ole käytettävissä tästä maasta tehdyissä tilauksissa.",
		"err_amount_below_minimum": "Summa on pienempi kuin %s sallii.",
		"err_amount_above_maximum": "Summa on suurempi kuin %s sallii.",
		"err_lines_mismatch":       "Tilaus ei ole kelvollinen: tuoterivien summa ei vastaa loppusummaa. Palaa kassalle.",
		"err_signature":            "Maksulinkki on virheellinen tai vanhentunut. Palaa kassalle ja yritä uudelleen.",
		"err_unavailable":          "Emme juuri nyt saa yhteyttä maksupalveluun. Yritä hetken kuluttua uudelleen.",
		"err_vipps_refused":        "%s ei voinut aloittaa maksua. Palaa kassalle ja yritä uudelleen tai valitse toinen maksutapa.",
		"err_too_many_attempts":    "Tälle tilaukselle on tehty liian monta yritystä. Aloita kassalla alusta.",
		"err_unknown_unit":         "Tämä maksulinkki ei ole käytössä.",
		"err_not_found":            "Emme löytäneet maksua. Linkki voi olla virheellinen.",
		"err_internal":             "Meillä tapahtui virhe. Yritä hetken kuluttua uudelleen.",
		"try_again":                "Yritä uudelleen",
	},
	LangEN: {
		"html_lang":                "en",
		"brand_pay":                "Pay with %s",
		"waiting_title":            "Waiting for your payment",
		"waiting_body":             "Complete the payment in the %s app. This page updates by itself.",
		"waiting_reopen":           "Open %s again",
		"waiting_noscript":         "This page reloads in a few seconds.",
		"confirmed_title":          "Thank you! Your payment is approved",
		"confirmed_body":           "We have received your payment with %s. The shop will send you a confirmation.",
		"confirmed_next":           "Continue",
		"failed_title":             "The payment was not completed",
		"failed_retry":             "Try again with %s",
		"failed_back":              "Back to checkout",
		"failed_no_charge":         "You have not been charged.",
		"amount":                   "Amount",
		"order":                    "Order",
		"reference":                "Reference",
		"error_title":              "We could not start the payment",
		"breakout_title":           "Continuing to %s",
		"breakout_body":            "Press the button if you are not taken there automatically.",
		"breakout_button":          "Continue to %s",
		"status_unknown":           "Checking the payment status …",
		"reason_ABORTED":           "You cancelled the payment in %s.",
		"reason_EXPIRED":           "The payment was not approved in time. A payment request lasts 10 minutes.",
		"reason_TERMINATED":        "The shop stopped the payment, for example because the cart changed.",
		"reason_FAILED":            "%s could not start the payment.",
		"err_malformed_order_id":   "The payment link has no valid order. Go back to the checkout and try again.",
		"err_order_not_found":      "We could not find the order. It may have expired. Go back to the checkout and try again.",
		"err_order_completed":      "This order is already paid with Klarna. You will not be charged twice.",
		"err_order_already_paid":   "This order is already paid. You will not be charged twice.",
		"err_order_not_incomplete": "This order can no longer be paid. Go back to the checkout.",
		"err_currency_not_served":  "%s cannot be used for an order in this currency.",
		"err_country_not_served":   "%s cannot be used for an order from this country.",
		"err_amount_below_minimum": "The amount is below what %s accepts.",
		"err_amount_above_maximum": "The amount is above what %s accepts.",
		"err_lines_mismatch":       "The order is not valid: its lines do not add up to its total. Go back to the checkout.",
		"err_signature":            "The payment link is invalid or has expired. Go back to the checkout and try again.",
		"err_unavailable":          "We cannot reach the payment service right now. Please try again in a moment.",
		"err_vipps_refused":        "%s could not start the payment. Go back to the checkout and try again, or choose another payment method.",
		"err_too_many_attempts":    "There have been too many attempts for this order. Please start the checkout again.",
		"err_unknown_unit":         "This payment link is not in use.",
		"err_not_found":            "We could not find the payment. The link may be wrong.",
		"err_internal":             "Something went wrong on our side. Please try again in a moment.",
		"try_again":                "Try again",
	},
}

// Has reports whether key has a text (in English, which has them all).
func Has(key string) bool {
	_, ok := messages[LangEN][key]
	return ok
}

// Texts returns every text of lang (English for a language we do not
// have), for templates that look texts up by key.
func Texts(lang Lang) map[string]string {
	if m, ok := messages[lang]; ok {
		return m
	}
	return messages[LangEN]
}

// T returns the text for key in lang, with %s filled by args.
func T(lang Lang, key string, args ...any) string {
	m, ok := messages[lang]
	if !ok {
		m = messages[LangEN]
	}
	s, ok := m[key]
	if !ok {
		s = messages[LangEN][key]
	}
	if len(args) == 0 || !strings.Contains(s, "%") {
		return s
	}
	return sprintf(s, args...)
}

// FormatMoney formats minor units for people: "kr 1 499,00" in Norwegian,
// "1.499,00 kr." in Danish, "1 499,00 €" in Finnish, "NOK 1,499.00" in
// English.
func FormatMoney(lang Lang, value int64, currency string) string {
	neg := value < 0
	v := value
	if neg {
		v = -v
	}
	major, minor := v/100, v%100
	group, decimal := ",", "."
	switch lang {
	case LangNB, LangFI:
		group, decimal = "\u00a0", ","
	case LangDA:
		group, decimal = ".", ","
	}
	digits := itoa(major)
	var grouped strings.Builder
	for i := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			grouped.WriteString(group)
		}
		grouped.WriteByte(digits[i])
	}
	sign := ""
	if neg {
		sign = "-"
	}
	number := sign + grouped.String() + decimal + pad2(minor)
	switch lang {
	case LangNB:
		cur := currency
		if cur == "NOK" || cur == "DKK" {
			cur = "kr"
		}
		return sign + cur + "\u00a0" + grouped.String() + decimal + pad2(minor)
	case LangDA:
		if currency == "DKK" {
			return number + "\u00a0kr."
		}
		return number + "\u00a0" + currencySymbol(currency)
	case LangFI:
		return number + "\u00a0" + currencySymbol(currency)
	}
	return sign + currency + "\u00a0" + grouped.String() + decimal + pad2(minor)
}

// currencySymbol is how Danish and Finnish write a currency after the
// amount: the euro sign, else the ISO code.
func currencySymbol(currency string) string {
	if currency == "EUR" {
		return "€"
	}
	return currency
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func pad2(v int64) string {
	if v < 10 {
		return "0" + itoa(v)
	}
	return itoa(v)
}
