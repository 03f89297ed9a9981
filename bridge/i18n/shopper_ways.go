package i18n

// Texts for the shopper pages' ways back and the return page of a payment
// we do not know. They live apart from messages so that they merge with
// the other languages' texts in one place.
var shopperWays = map[Lang]map[string]string{
	LangNB: {
		"return_unknown_title": "Vi finner ikke betalingen",
		"back_to_shop":         "Tilbake til butikken",
	},
	LangDA: {
		"return_unknown_title": "Vi kan ikke finde betalingen",
		"back_to_shop":         "Tilbage til butikken",
	},
	LangFI: {
		"return_unknown_title": "Emme löydä maksua",
		"back_to_shop":         "Takaisin kauppaan",
	},
	LangEN: {
		"return_unknown_title": "We cannot find the payment",
		"back_to_shop":         "Back to the shop",
	},
}

func init() {
	for lang, texts := range shopperWays {
		for k, v := range texts {
			messages[lang][k] = v
		}
	}
}
