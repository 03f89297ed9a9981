package klarnatest

import (
	_ "embed"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"vippskco/klarna"
)

// The checkout page stands in for the KCO iframe in the sandbox. It shows
// the cart, takes an address, and offers "Klarna" (which completes the order
// here, as a shopper paying with Klarna would) and one choice per external
// payment method. It is meant to be framed by a demo shop, so an external
// payment method is a plain link with target="_top": the shopper's whole
// window goes to its redirect_url, as with the real checkout, and no
// JavaScript is needed.

//go:embed checkout_page.html
var checkoutPageHTML string

var checkoutPage = template.Must(template.New("checkout").Parse(checkoutPageHTML))

// Page states.
const (
	pageOpen    = "open"    // checkout_incomplete: the shopper can pay
	pagePaid    = "paid"    // checkout_complete
	pageClosed  = "closed"  // aborted or in some other status
	pageMissing = "missing" // unknown or expired
)

type pageText struct {
	Title, Sandbox, YourOrder, Total, VAT, Address, NoAddress          string
	GivenName, FamilyName, Email, Phone, Street, PostalCode, City      string
	SaveAddress, ChoosePayment, PayKlarna, KlarnaNote, Paid, PaidBody  string
	Continue, Closed, ClosedBody, Missing, MissingBody, AddressInvalid string
	// EditAddress opens the folded address form.
	EditAddress string
	// Units names the quantity units KCO orders carry in the page's
	// language ("pcs" is "stk" in Norwegian); others show as sent.
	Units map[string]string
}

// unit is a line's quantity unit in the page's language.
func (t pageText) unit(u string) string {
	if v, ok := t.Units[strings.ToLower(strings.TrimSpace(u))]; ok {
		return v
	}
	return u
}

var norwegian = pageText{
	Title:          "Kassen",
	Sandbox:        "Sandkasse: en stand-in for Kustom Checkout. Ingen ekte penger.",
	YourOrder:      "Din bestilling",
	Total:          "Totalt",
	VAT:            "Herav mva.",
	Address:        "Fakturaadresse",
	NoAddress:      "Ingen adresse ennå.",
	GivenName:      "Fornavn",
	FamilyName:     "Etternavn",
	Email:          "E-post",
	Phone:          "Mobilnummer",
	Street:         "Gateadresse",
	PostalCode:     "Postnummer",
	City:           "Poststed",
	SaveAddress:    "Lagre adresse",
	ChoosePayment:  "Velg betalingsmåte",
	PayKlarna:      "Betal med Klarna",
	KlarnaNote:     "Fullfører bestillingen i Klarna (sandkasse).",
	Paid:           "Betalt med Klarna",
	PaidBody:       "Takk! Bestillingen er betalt med Klarna.",
	Continue:       "Gå videre",
	Closed:         "Kassen er lukket",
	ClosedBody:     "Denne bestillingen kan ikke lenger betales.",
	Missing:        "Fant ikke bestillingen",
	MissingBody:    "Bestillingen finnes ikke eller er utløpt.",
	AddressInvalid: "Adressen ble ikke lagret: sjekk feltene.",
	EditAddress:    "Endre adresse",
	Units:          map[string]string{"pcs": "stk", "pc": "stk", "st": "stk", "stk": "stk"},
}

var english = pageText{
	Title:          "Checkout",
	Sandbox:        "Sandbox: a stand-in for Kustom Checkout. No real money.",
	YourOrder:      "Your order",
	Total:          "Total",
	VAT:            "Of which VAT",
	Address:        "Billing address",
	NoAddress:      "No address yet.",
	GivenName:      "Given name",
	FamilyName:     "Family name",
	Email:          "Email",
	Phone:          "Mobile number",
	Street:         "Street address",
	PostalCode:     "Postal code",
	City:           "City",
	SaveAddress:    "Save address",
	ChoosePayment:  "Choose a payment method",
	PayKlarna:      "Pay with Klarna",
	KlarnaNote:     "Completes the order in Klarna (sandbox).",
	Paid:           "Paid with Klarna",
	PaidBody:       "Thank you! The order is paid with Klarna.",
	Continue:       "Continue",
	Closed:         "Checkout closed",
	ClosedBody:     "This order can no longer be paid.",
	Missing:        "Order not found",
	MissingBody:    "The order does not exist or has expired.",
	AddressInvalid: "The address was not saved: check the fields.",
	EditAddress:    "Change address",
	Units:          map[string]string{"stk": "pcs", "st": "pcs"},
}

var danish = pageText{
	Title:          "Kassen",
	Sandbox:        "Sandkasse: en stand-in for Kustom Checkout. Ingen rigtige penge.",
	YourOrder:      "Din ordre",
	Total:          "I alt",
	VAT:            "Heraf moms",
	Address:        "Faktureringsadresse",
	NoAddress:      "Ingen adresse endnu.",
	GivenName:      "Fornavn",
	FamilyName:     "Efternavn",
	Email:          "E-mail",
	Phone:          "Mobilnummer",
	Street:         "Adresse",
	PostalCode:     "Postnummer",
	City:           "By",
	SaveAddress:    "Gem adresse",
	ChoosePayment:  "Vælg betalingsmetode",
	PayKlarna:      "Betal med Klarna",
	KlarnaNote:     "Gennemfører ordren i Klarna (sandkasse).",
	Paid:           "Betalt med Klarna",
	PaidBody:       "Tak! Ordren er betalt med Klarna.",
	Continue:       "Fortsæt",
	Closed:         "Kassen er lukket",
	ClosedBody:     "Denne ordre kan ikke længere betales.",
	Missing:        "Ordren blev ikke fundet",
	MissingBody:    "Ordren findes ikke eller er udløbet.",
	AddressInvalid: "Adressen blev ikke gemt: tjek felterne.",
	EditAddress:    "Ret adresse",
	Units:          map[string]string{"pcs": "stk.", "pc": "stk.", "st": "stk.", "stk": "stk."},
}

var finnish = pageText{
	Title:          "Kassa",
	Sandbox:        "Hiekkalaatikko: Kustom Checkoutin korvike. Ei oikeaa rahaa.",
	YourOrder:      "Tilauksesi",
	Total:          "Yhteensä",
	VAT:            "Josta ALV",
	Address:        "Laskutusosoite",
	NoAddress:      "Ei vielä osoitetta.",
	GivenName:      "Etunimi",
	FamilyName:     "Sukunimi",
	Email:          "Sähköposti",
	Phone:          "Puhelinnumero",
	Street:         "Katuosoite",
	PostalCode:     "Postinumero",
	City:           "Postitoimipaikka",
	SaveAddress:    "Tallenna osoite",
	ChoosePayment:  "Valitse maksutapa",
	PayKlarna:      "Maksa Klarnalla",
	KlarnaNote:     "Viimeistelee tilauksen Klarnassa (hiekkalaatikko).",
	Paid:           "Maksettu Klarnalla",
	PaidBody:       "Kiitos! Tilaus on maksettu Klarnalla.",
	Continue:       "Jatka",
	Closed:         "Kassa on suljettu",
	ClosedBody:     "Tätä tilausta ei voi enää maksaa.",
	Missing:        "Tilausta ei löytynyt",
	MissingBody:    "Tilausta ei ole tai se on vanhentunut.",
	AddressInvalid: "Osoitetta ei tallennettu: tarkista kentät.",
	EditAddress:    "Muuta osoitetta",
	Units:          map[string]string{"pcs": "kpl", "pc": "kpl", "st": "kpl", "stk": "kpl"},
}

// textFor picks the page's language from the order's locale: Norwegian
// (nb, no, nn), Danish, Finnish, else English.
func textFor(locale string) (string, pageText) {
	lang, _, _ := strings.Cut(strings.ToLower(locale), "-")
	switch lang {
	case "nb", "no", "nn":
		return "nb", norwegian
	case "da":
		return "da", danish
	case "fi":
		return "fi", finnish
	}
	return "en", english
}

type pageData struct {
	Lang          string
	T             pageText
	State         string
	Notice        string
	Lines         []pageLine
	Total, Tax    string
	Billing       []string // formatted address lines
	Form          addressForm
	AddressAction string
	KlarnaAction  string
	Choices       []pageChoice
	Confirmation  string // merchant confirmation URL with the id filled in
}

type pageLine struct {
	Quantity int64
	Unit     string
	Name     string
	Total    string
}

type pageChoice struct {
	ID, Name, URL, ImageURL, Description, Fee string
}

func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	rec, err := s.liveLocked(id)
	var o klarna.Order
	var aborted bool
	if err == nil {
		// Loading the checkout is client interaction.
		rec.touchedAt = s.now()
		o, aborted = cloneOrder(rec.order), rec.aborted
	}
	s.mu.Unlock()
	if err != nil {
		s.renderMissing(w)
		return
	}
	s.render(w, http.StatusOK, s.pageFor(o, aborted))
}

func (s *Server) handlePageKlarna(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	rec, err := s.liveLocked(id)
	if err != nil {
		s.mu.Unlock()
		s.renderMissing(w)
		return
	}
	if rec.order.Status == klarna.StatusCheckoutComplete {
		// A second click (or a reload of the form) changes nothing.
		s.mu.Unlock()
		http.Redirect(w, r, s.CheckoutPageURL(id), http.StatusSeeOther)
		return
	}
	err = s.completeLocked(id)
	o, aborted := cloneOrder(rec.order), rec.aborted
	s.mu.Unlock()
	if err != nil {
		s.render(w, http.StatusConflict, s.pageFor(o, aborted))
		return
	}
	http.Redirect(w, r, s.CheckoutPageURL(id), http.StatusSeeOther)
}

func (s *Server) handlePageAddress(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	formErr := r.ParseForm()
	s.mu.Lock()
	rec, err := s.liveLocked(id)
	if err != nil {
		s.mu.Unlock()
		s.renderMissing(w)
		return
	}
	if rec.aborted || rec.order.Status != klarna.StatusCheckoutIncomplete {
		o, aborted := cloneOrder(rec.order), rec.aborted
		s.mu.Unlock()
		s.render(w, http.StatusConflict, s.pageFor(o, aborted))
		return
	}
	form := addressFromForm(r.PostForm)
	if formErr != nil || !form.valid() {
		o := cloneOrder(rec.order)
		s.mu.Unlock()
		data := s.pageFor(o, false)
		data.Form = form
		data.Notice = data.T.AddressInvalid
		s.render(w, http.StatusBadRequest, data)
		return
	}
	now := s.now()
	modified := stamp(now)
	rec.order.BillingAddress = form.apply(rec.order.BillingAddress, rec.order.PurchaseCountry)
	rec.order.LastModifiedAt = &modified
	rec.touchedAt = now
	s.mu.Unlock()
	http.Redirect(w, r, s.CheckoutPageURL(id), http.StatusSeeOther)
}

func (s *Server) pageFor(o klarna.Order, aborted bool) pageData {
	lang, t := textFor(o.Locale)
	d := pageData{
		Lang:          lang,
		T:             t,
		Total:         formatAmount(o.OrderAmount, o.PurchaseCurrency),
		Tax:           formatAmount(o.OrderTaxAmount, o.PurchaseCurrency),
		Billing:       addressLines(o.BillingAddress),
		Form:          formFromAddress(o.BillingAddress),
		AddressAction: s.CheckoutPageURL(o.OrderID) + "/address",
		KlarnaAction:  s.CheckoutPageURL(o.OrderID) + "/klarna",
	}
	switch {
	case aborted:
		d.State = pageClosed
	case o.Status == klarna.StatusCheckoutIncomplete:
		d.State = pageOpen
	case o.Status == klarna.StatusCheckoutComplete:
		d.State = pagePaid
		if o.MerchantURLs != nil && o.MerchantURLs.Confirmation != "" {
			d.Confirmation = klarna.ExpandRedirectURL(o.MerchantURLs.Confirmation, o.OrderID)
		}
	default:
		d.State = pageClosed
	}
	for _, l := range o.OrderLines {
		d.Lines = append(d.Lines, pageLine{
			Quantity: l.Quantity, Unit: d.T.unit(l.QuantityUnit), Name: l.Name,
			Total: formatAmount(l.TotalAmount, o.PurchaseCurrency),
		})
	}
	country := o.PurchaseCountry
	if o.BillingAddress != nil && o.BillingAddress.Country != "" {
		country = o.BillingAddress.Country
	}
	d.Choices = append(d.Choices, choices("epm", o.ExternalPaymentMethods, o, country)...)
	d.Choices = append(d.Choices, choices("ec", o.ExternalCheckouts, o, country)...)
	return d
}

// choices turns payment providers into page choices, leaving out those
// whose countries exclude the shopper's.
func choices(prefix string, ps []klarna.PaymentProvider, o klarna.Order, country string) []pageChoice {
	var out []pageChoice
	for i, p := range ps {
		if len(p.Countries) > 0 && !containsFold(p.Countries, country) {
			continue
		}
		c := pageChoice{
			ID:          choiceID(prefix, p.Name, i),
			Name:        p.Name,
			URL:         klarna.ExpandRedirectURL(p.RedirectURL, o.OrderID),
			ImageURL:    p.ImageURL,
			Description: p.Description,
		}
		if p.Fee != nil && *p.Fee > 0 {
			c.Fee = formatAmount(*p.Fee, o.PurchaseCurrency)
		}
		out = append(out, c)
	}
	return out
}

// choiceID is "<prefix>-<name>" with the name lower-cased and every run of
// other characters than letters and digits turned into one "-", e.g.
// "epm-vipps" or "epm-vipps-mobilepay".
func choiceID(prefix, name string, index int) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		} else {
			dash = true
		}
	}
	if b.Len() == 0 {
		return prefix + "-" + strconv.Itoa(index)
	}
	return prefix + "-" + b.String()
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

func (s *Server) renderMissing(w http.ResponseWriter) {
	s.render(w, http.StatusNotFound, pageData{Lang: "en", T: english, State: pageMissing})
}

func (s *Server) render(w http.ResponseWriter, status int, d pageData) {
	var b strings.Builder
	if err := checkoutPage.Execute(&b, d); err != nil {
		http.Error(w, "checkout page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// addressForm is the address the shopper types on the page.
type addressForm struct {
	GivenName, FamilyName, Email, Phone, Street, PostalCode, City string
}

func addressFromForm(v url.Values) addressForm {
	get := func(k string) string { return strings.TrimSpace(v.Get(k)) }
	return addressForm{
		GivenName: get("given_name"), FamilyName: get("family_name"), Email: get("email"),
		Phone: get("phone"), Street: get("street_address"), PostalCode: get("postal_code"), City: get("city"),
	}
}

func formFromAddress(a *klarna.Address) addressForm {
	if a == nil {
		return addressForm{}
	}
	return addressForm{
		GivenName: a.GivenName, FamilyName: a.FamilyName, Email: a.Email, Phone: a.Phone,
		Street: a.StreetAddress, PostalCode: a.PostalCode, City: a.City,
	}
}

// valid accepts any address with at most 255 characters per field and a
// phone number made of digits, spaces and a leading "+". Empty fields are
// fine: the shopper may give only a phone number.
func (f addressForm) valid() bool {
	for _, v := range []string{f.GivenName, f.FamilyName, f.Email, f.Phone, f.Street, f.PostalCode, f.City} {
		if len(v) > 255 || strings.ContainsFunc(v, unicode.IsControl) {
			return false
		}
	}
	return validPhone(f.Phone)
}

func validPhone(p string) bool {
	digits := 0
	for i, r := range p {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == ' ':
		case r == '+' && i == 0:
		default:
			return false
		}
	}
	return p == "" || (digits >= 8 && digits <= 15)
}

// apply writes the form into the billing address, keeping fields the form
// does not have.
func (f addressForm) apply(a *klarna.Address, purchaseCountry string) *klarna.Address {
	out := klarna.Address{}
	if a != nil {
		out = *a
	}
	out.GivenName, out.FamilyName, out.Email, out.Phone = f.GivenName, f.FamilyName, f.Email, f.Phone
	out.StreetAddress, out.PostalCode, out.City = f.Street, f.PostalCode, f.City
	if out.Country == "" {
		out.Country = strings.ToUpper(purchaseCountry)
	}
	return &out
}

func addressLines(a *klarna.Address) []string {
	if a == nil {
		return nil
	}
	var lines []string
	add := func(parts ...string) {
		var nonEmpty []string
		for _, p := range parts {
			if p != "" {
				nonEmpty = append(nonEmpty, p)
			}
		}
		if len(nonEmpty) > 0 {
			lines = append(lines, strings.Join(nonEmpty, " "))
		}
	}
	add(a.OrganizationName)
	add(a.GivenName, a.FamilyName)
	add(a.CareOf)
	add(a.StreetAddress)
	add(a.StreetAddress2)
	add(a.PostalCode, a.City)
	add(a.Country)
	add(a.Phone)
	add(a.Email)
	return lines
}
