package i18n

// financeMessages are the finance page's texts. They are merged into the
// catalogue at init; a key the catalogue already has is a programming
// error, so init panics rather than let one text silently win.
var financeMessages = map[Lang]map[string]string{
	LangEN: {
		"fin_brand": "Finance", "fin_title": "Settlement and reconciliation", "fin_from": "From", "fin_to": "To",
		"fin_show": "Show", "fin_chart": "Net settled per day", "fin_chart_desc": "Net settled per day in %s, by provider, from %s to %s. Days with exceptions are marked with a red triangle.",
		"fin_chart_table": "The chart's figures", "fin_exc_day": "day with exceptions", "fin_amount_axis": "Net (%s)", "fin_day_axis": "Day",
		"fin_exceptions": "Exceptions", "fin_no_exceptions": "No exceptions: every krone is accounted for.", "fin_payouts": "Payouts",
		"fin_days": "Days", "fin_totals": "Totals", "fin_pending": "movements still wait for settlement (not yet due)",
		"fin_csv": "Download CSV", "fin_csv_no": "CSV for a Norwegian spreadsheet (;)", "fin_csv_en": "CSV (comma-separated)",
		"fin_gross": "Gross", "fin_fees": "Fees", "fin_net": "Net", "fin_lines": "Lines", "fin_matched": "Matched",
		"fin_date": "Date", "fin_provider": "Provider", "fin_payout": "Payout", "fin_paid": "Paid", "fin_state": "Status",
		"fin_reason": "Exception", "fin_reference": "Reference", "fin_amount": "Amount", "fin_expected": "Expected", "fin_detail": "Detail",
		"fin_balanced": "Balances", "fin_unbalanced": "Does not balance",
		"fin_reason_paid_twice": "Paid twice", "fin_reason_payout_mismatch": "Payout does not add up",
		"fin_reason_captured_not_settled": "Captured, not settled", "fin_reason_refund_not_settled": "Refunded, not settled",
		"fin_reason_amount_mismatch": "Amount differs", "fin_reason_settled_unknown": "Settled, not ours",
		"fin_reason_duplicate_line": "Line read twice", "fin_reason_fee_mismatch": "Unexpected fee",
	},
	LangNB: {
		"fin_brand": "Økonomi", "fin_title": "Oppgjør og avstemming", "fin_from": "Fra", "fin_to": "Til",
		"fin_show": "Vis", "fin_chart": "Netto oppgjort per dag", "fin_chart_desc": "Netto oppgjort per dag i %s, per leverandør, fra %s til %s. Dager med avvik er merket med en rød trekant.",
		"fin_chart_table": "Tallene i diagrammet", "fin_exc_day": "dag med avvik", "fin_amount_axis": "Netto (%s)", "fin_day_axis": "Dag",
		"fin_exceptions": "Avvik", "fin_no_exceptions": "Ingen avvik: hver krone er gjort rede for.", "fin_payouts": "Utbetalinger",
		"fin_days": "Dager", "fin_totals": "Summer", "fin_pending": "bevegelser venter ennå på oppgjør (ikke forfalt)",
		"fin_csv": "Last ned CSV", "fin_csv_no": "CSV for norsk regneark (;)", "fin_csv_en": "CSV med komma (engelsk)",
		"fin_gross": "Brutto", "fin_fees": "Gebyrer", "fin_net": "Netto", "fin_lines": "Linjer", "fin_matched": "Avstemt",
		"fin_date": "Dato", "fin_provider": "Leverandør", "fin_payout": "Utbetaling", "fin_paid": "Utbetalt", "fin_state": "Status",
		"fin_reason": "Avvik", "fin_reference": "Referanse", "fin_amount": "Beløp", "fin_expected": "Forventet", "fin_detail": "Detaljer",
		"fin_balanced": "Stemmer", "fin_unbalanced": "Stemmer ikke",
		"fin_reason_paid_twice": "Betalt to ganger", "fin_reason_payout_mismatch": "Utbetalingen stemmer ikke",
		"fin_reason_captured_not_settled": "Trukket, ikke oppgjort", "fin_reason_refund_not_settled": "Refundert, ikke oppgjort",
		"fin_reason_amount_mismatch": "Beløpet avviker", "fin_reason_settled_unknown": "Oppgjort, ukjent for oss",
		"fin_reason_duplicate_line": "Linje lest to ganger", "fin_reason_fee_mismatch": "Uventet gebyr",
	},
	LangDA: {
		"fin_brand": "Økonomi", "fin_title": "Afregning og afstemning", "fin_from": "Fra", "fin_to": "Til",
		"fin_show": "Vis", "fin_chart": "Netto afregnet pr. dag", "fin_chart_desc": "Netto afregnet pr. dag i %s, pr. udbyder, fra %s til %s. Dage med afvigelser er markeret med en rød trekant.",
		"fin_chart_table": "Diagrammets tal", "fin_exc_day": "dag med afvigelser", "fin_amount_axis": "Netto (%s)", "fin_day_axis": "Dag",
		"fin_exceptions": "Afvigelser", "fin_no_exceptions": "Ingen afvigelser: hver krone er gjort rede for.", "fin_payouts": "Udbetalinger",
		"fin_days": "Dage", "fin_totals": "Summer", "fin_pending": "bevægelser venter stadig på afregning (ikke forfaldne)",
		"fin_csv": "Hent CSV", "fin_csv_no": "CSV til dansk/norsk regneark (;)", "fin_csv_en": "CSV med komma (engelsk)",
		"fin_gross": "Brutto", "fin_fees": "Gebyrer", "fin_net": "Netto", "fin_lines": "Linjer", "fin_matched": "Afstemt",
		"fin_date": "Dato", "fin_provider": "Udbyder", "fin_payout": "Udbetaling", "fin_paid": "Udbetalt", "fin_state": "Tilstand",
		"fin_reason": "Afvigelse", "fin_reference": "Reference", "fin_amount": "Beløb", "fin_expected": "Forventet", "fin_detail": "Detaljer",
		"fin_balanced": "Stemmer", "fin_unbalanced": "Stemmer ikke",
		"fin_reason_paid_twice": "Betalt to gange", "fin_reason_payout_mismatch": "Udbetalingen stemmer ikke",
		"fin_reason_captured_not_settled": "Hævet, ikke afregnet", "fin_reason_refund_not_settled": "Refunderet, ikke afregnet",
		"fin_reason_amount_mismatch": "Beløbet afviger", "fin_reason_settled_unknown": "Afregnet, ukendt for os",
		"fin_reason_duplicate_line": "Linje læst to gange", "fin_reason_fee_mismatch": "Uventet gebyr",
	},
	LangFI: {
		"fin_brand": "Talous", "fin_title": "Tilitykset ja täsmäytys", "fin_from": "Alkaen", "fin_to": "Asti",
		"fin_show": "Näytä", "fin_chart": "Netto tilitetty päivittäin", "fin_chart_desc": "Netto tilitetty päivittäin (%s) palveluntarjoajittain, %s–%s. Poikkeamapäivät on merkitty punaisella kolmiolla.",
		"fin_chart_table": "Kaavion luvut", "fin_exc_day": "poikkeamapäivä", "fin_amount_axis": "Netto (%s)", "fin_day_axis": "Päivä",
		"fin_exceptions": "Poikkeamat", "fin_no_exceptions": "Ei poikkeamia: jokainen sentti on selvitetty.", "fin_payouts": "Maksut tilille",
		"fin_days": "Päivät", "fin_totals": "Yhteensä", "fin_pending": "tapahtumaa odottaa vielä tilitystä (ei erääntynyt)",
		"fin_csv": "Lataa CSV", "fin_csv_no": "CSV pohjoismaiseen taulukkoon (;)", "fin_csv_en": "CSV pilkuilla (englanti)",
		"fin_gross": "Brutto", "fin_fees": "Maksut", "fin_net": "Netto", "fin_lines": "Rivit", "fin_matched": "Täsmätty",
		"fin_date": "Päivä", "fin_provider": "Palveluntarjoaja", "fin_payout": "Tilitys", "fin_paid": "Maksettu", "fin_state": "Tila",
		"fin_reason": "Poikkeama", "fin_reference": "Viite", "fin_amount": "Summa", "fin_expected": "Odotettu", "fin_detail": "Lisätiedot",
		"fin_balanced": "Täsmää", "fin_unbalanced": "Ei täsmää",
		"fin_reason_paid_twice": "Maksettu kahdesti", "fin_reason_payout_mismatch": "Tilitys ei täsmää",
		"fin_reason_captured_not_settled": "Veloitettu, ei tilitetty", "fin_reason_refund_not_settled": "Hyvitetty, ei tilitetty",
		"fin_reason_amount_mismatch": "Summa poikkeaa", "fin_reason_settled_unknown": "Tilitetty, ei meidän",
		"fin_reason_duplicate_line": "Rivi luettu kahdesti", "fin_reason_fee_mismatch": "Odottamaton maksu",
	},
}

func init() { mergeMessages(financeMessages) }

// LangName is a language's name in itself, for a link that switches to it.
func LangName(l Lang) string {
	switch l {
	case LangNB:
		return "Norsk"
	case LangDA:
		return "Dansk"
	case LangFI:
		return "Suomi"
	}
	return "English"
}

// mergeMessages adds more texts to the catalogue, panicking on a key the
// catalogue already has.
func mergeMessages(more map[Lang]map[string]string) {
	for lang, texts := range more {
		m := messages[lang]
		if m == nil {
			panic("i18n: texts for unknown language " + string(lang))
		}
		for k, v := range texts {
			if _, dup := m[k]; dup {
				panic("i18n: duplicate text key " + string(lang) + "/" + k)
			}
			m[k] = v
		}
	}
}
