package vippstest

import "strings"

// landingText is the landing page in one language: the market's (NOK
// Norwegian, DKK Danish, EUR Finnish), as the app would speak to its user.
type landingText struct {
	Lang, Phone, Approve, Cancel, Back, Invalid, Footer string
	InvalidPhone, Refused                               string // Refused takes the reason
	States                                              map[State]string
}

var landingTexts = map[string]landingText{
	"nb": {
		Lang: "nb", Phone: "Mobilnummer", Approve: "Godkjenn", Cancel: "Avbryt", Back: "Tilbake til butikken",
		Invalid: "Ugyldig eller utløpt lenke", Footer: "Testmiljø for Vipps MobilePay (vippstest)",
		InvalidPhone: "Skriv inn et gyldig mobilnummer", Refused: "Betalingen ble avvist: ",
		States: map[State]string{
			StateCreated: "Venter på godkjenning", StateAuthorized: "Betalingen er godkjent",
			StateAborted: "Betalingen er avbrutt", StateExpired: "Betalingen er utløpt",
			StateTerminated: "Butikken har avbrutt betalingen",
		},
	},
	"da": {
		Lang: "da", Phone: "Mobilnummer", Approve: "Godkend", Cancel: "Afbryd", Back: "Tilbage til butikken",
		Invalid: "Ugyldigt eller udløbet link", Footer: "Testmiljø for Vipps MobilePay (vippstest)",
		InvalidPhone: "Skriv et gyldigt mobilnummer", Refused: "Betalingen blev afvist: ",
		States: map[State]string{
			StateCreated: "Venter på godkendelse", StateAuthorized: "Betalingen er godkendt",
			StateAborted: "Betalingen er afbrudt", StateExpired: "Betalingen er udløbet",
			StateTerminated: "Butikken har afbrudt betalingen",
		},
	},
	"fi": {
		Lang: "fi", Phone: "Puhelinnumero", Approve: "Hyväksy", Cancel: "Peruuta", Back: "Takaisin kauppaan",
		Invalid: "Virheellinen tai vanhentunut linkki", Footer: "Vipps MobilePayn testiympäristö (vippstest)",
		InvalidPhone: "Anna kelvollinen puhelinnumero", Refused: "Maksu hylättiin: ",
		States: map[State]string{
			StateCreated: "Odottaa hyväksyntää", StateAuthorized: "Maksu on hyväksytty",
			StateAborted: "Maksu on peruutettu", StateExpired: "Maksu on vanhentunut",
			StateTerminated: "Kauppa on perunut maksun",
		},
	},
	"en": {
		Lang: "en", Phone: "Phone number", Approve: "Approve", Cancel: "Cancel", Back: "Back to the shop",
		Invalid: "Invalid or expired link", Footer: "Vipps MobilePay test environment (vippstest)",
		InvalidPhone: "Enter a valid phone number", Refused: "The payment was refused: ",
		States: map[State]string{
			StateCreated: "Waiting for approval", StateAuthorized: "Payment approved",
			StateAborted: "Payment cancelled", StateExpired: "Payment expired",
			StateTerminated: "The shop cancelled the payment",
		},
	},
}

// landingTextFor is the language of a payment in currency.
func landingTextFor(currency string) landingText {
	switch strings.ToUpper(currency) {
	case "DKK":
		return landingTexts["da"]
	case "EUR":
		return landingTexts["fi"]
	case "NOK", "":
		return landingTexts["nb"]
	}
	return landingTexts["en"]
}

// landingTextForBrowser is the language of a page about no payment (an
// unknown token): the browser's first choice among ours, else Norwegian.
func landingTextForBrowser(acceptLanguage string) landingText {
	for _, part := range strings.Split(acceptLanguage, ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		lang, _, _ := strings.Cut(strings.ToLower(tag), "-")
		switch lang {
		case "nb", "nn", "no":
			return landingTexts["nb"]
		case "da", "fi", "en":
			return landingTexts[lang]
		}
	}
	return landingTexts["nb"]
}
