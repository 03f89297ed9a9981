//go:build !nosandbox

package sandbox

import (
	"context"
	"embed"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"vippskco/bridge"
	"vippskco/bridge/finance"
	"vippskco/bridge/i18n"
	"vippskco/klarna"
)

//go:embed shop.html
var shopFS embed.FS

// Product is one thing the demo shop sells; prices in øre including 25 % VAT.
type Product struct {
	Ref   string
	Name  string
	Price int64
}

// Catalog is the demo shop's range.
var Catalog = []Product{
	{Ref: "ullsokker", Name: "Ullsokker", Price: 19900},
	{Ref: "termokopp", Name: "Termokopp", Price: 34900},
	{Ref: "regnjakke", Name: "Regnjakke", Price: 149900},
}

const shippingPrice = 4900

// shop is the merchant's side in the sandbox: it creates KCO orders with our
// EPM entry, shows the checkout stand-in, and reads our API for the outcome.
type shop struct {
	sb        *Sandbox
	kustom    *klarna.Client
	svc       *bridge.Service
	finance   *finance.Service
	unit      string
	token     string
	tmpl      *template.Template
	apiClient *http.Client
}

// shopHandler returns the demo shop's handler, mounted at /shop/.
func (s *Sandbox) shopHandler(app App) (http.Handler, error) {
	t, err := template.New("shop.html").Funcs(template.FuncMap{"money": func(v int64) string {
		return i18n.FormatMoney(i18n.LangNB, v, "NOK")
	}}).ParseFS(shopFS, "shop.html")
	if err != nil {
		return nil, err
	}
	sh := &shop{sb: s, kustom: app.Kustom, svc: app.Service, finance: app.Finance, unit: s.cfg.Units[0].ID,
		token: app.MerchantToken, tmpl: t, apiClient: &http.Client{Timeout: 10 * time.Second}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /shop/{$}", sh.catalog)
	mux.HandleFunc("POST /shop/cart", sh.cart)
	mux.HandleFunc("GET /shop/checkout/{id}", sh.checkout)
	mux.HandleFunc("GET /shop/thanks", sh.thanks)
	mux.HandleFunc("POST /shop/orders/{ref}/{op}", sh.action)
	mux.HandleFunc("POST /shop/next-day", sh.nextDay)
	return mux, nil
}

type shopPage struct {
	Page     string
	Catalog  []Product
	Shipping int64
	OrderID  string
	FrameURL string
	Error    string
	Notice   string
	Payments []paymentView
}

func (sh *shop) render(w http.ResponseWriter, status int, p shopPage) {
	p.Catalog, p.Shipping = Catalog, shippingPrice
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := sh.tmpl.Execute(w, p); err != nil {
		sh.sb.logger.Error("rendering demo shop", "err", err)
	}
}

func (sh *shop) catalog(w http.ResponseWriter, r *http.Request) {
	sh.render(w, http.StatusOK, shopPage{Page: "catalog"})
}

// cart turns the submitted quantities into a KCO order with our EPM entry.
func (sh *shop) cart(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		sh.render(w, http.StatusBadRequest, shopPage{Page: "catalog", Error: "Ugyldig skjema."})
		return
	}
	locale := r.PostFormValue("locale")
	if locale != "en-GB" {
		locale = "nb-NO"
	}
	order := &klarna.Order{
		PurchaseCountry: "NO", PurchaseCurrency: "NOK", Locale: locale,
		MerchantReference1: "DEMO-" + strconv.FormatInt(time.Now().UnixMilli()%1_000_000, 10),
		MerchantURLs: &klarna.MerchantURLs{
			Terms:        sh.sb.publicURL + "/shop/",
			Checkout:     sh.sb.publicURL + "/shop/checkout/{checkout.order.id}",
			Confirmation: sh.sb.publicURL + "/shop/thanks?order={checkout.order.id}",
			Push:         sh.sb.publicURL + "/shop/push/{checkout.order.id}",
		},
	}
	for _, p := range Catalog {
		q, err := strconv.Atoi(r.PostFormValue("qty_" + p.Ref))
		if err != nil || q <= 0 {
			continue
		}
		if q > 20 {
			q = 20
		}
		order.OrderLines = append(order.OrderLines, line(klarna.LineTypePhysical, p.Ref, p.Name, int64(q), p.Price))
	}
	if len(order.OrderLines) == 0 {
		sh.render(w, http.StatusBadRequest, shopPage{Page: "catalog", Error: "Velg minst én vare."})
		return
	}
	order.OrderLines = append(order.OrderLines, line(klarna.LineTypeShippingFee, "frakt", "Frakt", 1, shippingPrice))
	for _, l := range order.OrderLines {
		order.OrderAmount += l.TotalAmount
		order.OrderTaxAmount += l.TotalTaxAmount
	}
	if phone := strings.TrimSpace(r.PostFormValue("phone")); phone != "" {
		order.BillingAddress = &klarna.Address{GivenName: "Kari", FamilyName: "Nordmann", Phone: phone, Country: "NO",
			Email: "kari@example.no", StreetAddress: "Storgata 1", PostalCode: "0155", City: "Oslo"}
	}
	ctx := r.Context()
	entry, err := sh.svc.EPMEntry(sh.unit, "", locale)
	if err != nil {
		sh.render(w, http.StatusInternalServerError, shopPage{Page: "catalog", Error: err.Error()})
		return
	}
	order.ExternalPaymentMethods = []klarna.PaymentProvider{entry}
	created, err := sh.kustom.CreateOrder(ctx, order)
	if err != nil {
		sh.render(w, http.StatusBadGateway, shopPage{Page: "catalog", Error: "Kustom: " + err.Error()})
		return
	}
	if sh.svc.Signer.Enabled() {
		// Once the order id is known, the shop replaces the entry with one
		// whose redirect_url is signed for this order — and sends the EPM
		// list again, because KCO caches it.
		if err := sh.signEPM(ctx, created, locale); err != nil {
			sh.render(w, http.StatusBadGateway, shopPage{Page: "catalog", Error: "Kustom: " + err.Error()})
			return
		}
	}
	http.Redirect(w, r, "/shop/checkout/"+url.PathEscape(created.OrderID), http.StatusSeeOther)
}

func (sh *shop) signEPM(ctx context.Context, o *klarna.Order, locale string) error {
	entry, err := sh.svc.EPMEntry(sh.unit, o.OrderID, locale)
	if err != nil {
		return err
	}
	upd := *o
	upd.ExternalPaymentMethods = []klarna.PaymentProvider{entry}
	upd.HTMLSnippet = ""
	_, err = sh.kustom.UpdateOrder(ctx, o.OrderID, &upd)
	return err
}

// line builds an order line with 25 % VAT included, as KCO wants it.
func line(typ, ref, name string, qty, unitPrice int64) klarna.OrderLine {
	total := qty * unitPrice
	return klarna.OrderLine{
		Type: typ, Reference: ref, Name: name, Quantity: qty, QuantityUnit: "pcs", UnitPrice: unitPrice,
		TaxRate: 2500, TotalAmount: total, TotalTaxAmount: total - total*10000/12500,
	}
}

func (sh *shop) checkout(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !bridge.ValidKCOOrderID(id) || sh.orderGone(r.Context(), id) {
		// An old link: the fake Kustom forgets its orders when the sandbox
		// restarts. Say so here, in the shop's language, rather than let
		// the checkout frame say it in English.
		sh.render(w, http.StatusNotFound, shopPage{Page: "gone", OrderID: id})
		return
	}
	sh.render(w, http.StatusOK, shopPage{Page: "checkout", OrderID: id,
		FrameURL: sh.sb.KustomURL() + "/checkout-page/" + url.PathEscape(id)})
}

// nextDay closes the sandbox's settlement day: the fakes move a day ahead,
// and the service pulls both providers' settlements, so the finance page
// has a reconciliation to show right away.
func (sh *shop) nextDay(w http.ResponseWriter, r *http.Request) {
	from := sh.sb.Now().AddDate(0, 0, -7).Format("2006-01-02")
	sh.sb.NextDay()
	to := sh.sb.Now().Format("2006-01-02")
	if _, err := sh.finance.SyncSettlements(r.Context(), from, to); err != nil {
		sh.render(w, http.StatusBadGateway, shopPage{Page: "catalog", Error: "settlement sync: " + err.Error()})
		return
	}
	http.Redirect(w, r, "/finance?from="+from+"&to="+to, http.StatusSeeOther)
}
