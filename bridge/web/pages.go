package web

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"

	"vippskco/bridge"
	"vippskco/bridge/i18n"
	"vippskco/klarna"
)

// PageData is what every page template gets.
type PageData struct {
	Lang        i18n.Lang
	T           map[string]string
	Brand       bridge.Brand
	Nonce       string
	Title       string
	Body        string
	Reason      string
	Amount      string
	OrderNumber string
	Reference   string
	VippsURL    string
	ReopenLabel string
	StatusURL   string
	NextURL     string
	RetryURL    string
	RetryLabel  string
	CheckoutURL string
	// BackLabel names the way back at CheckoutURL when it is not the
	// checkout itself ("" for T.failed_back, "Back to checkout").
	BackLabel string
}

// Pages renders the shopper pages.
type Pages struct {
	pages map[string]*template.Template
}

// ParsePages parses layout.html with each page of fsys.
func ParsePages(fsys fs.FS) (*Pages, error) {
	ps := &Pages{pages: map[string]*template.Template{}}
	for _, name := range []string{"waiting", "confirmation", "failure", "error", "breakout", "finance"} {
		t, err := template.ParseFS(fsys, "layout.html", name+".html")
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", name, err)
		}
		ps.pages[name] = t
	}
	return ps, nil
}

// Render writes page with status. It sets a Content-Security-Policy whose
// script and style nonce is fresh for this response. A page with more to
// show than PageData passes its own data, which embeds d.
func (ps *Pages) Render(w http.ResponseWriter, status int, page string, d *PageData, data ...any) {
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	d.Nonce = hex.EncodeToString(nonce)
	if d.T == nil {
		d.T = i18n.Texts(d.Lang)
	}
	var buf bytes.Buffer
	var exec any = d
	if len(data) > 0 {
		exec = data[0]
	}
	if err := ps.pages[page].ExecuteTemplate(&buf, "layout", exec); err != nil {
		http.Error(w, "page rendering failed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+d.Nonce+"'; style-src 'nonce-"+d.Nonce+"'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if page != "breakout" {
		// Only the breakout page may be shown in a frame: its whole job is
		// to leave one.
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", h.Get("Content-Security-Policy")+"; frame-ancestors 'none'")
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// orderNumber is what the shopper knows the order as: the merchant's order
// number when the KCO order has one, else the KCO order id.
func orderNumber(p *bridge.Payment) string {
	var o klarna.Order
	if len(p.Order) > 0 && json.Unmarshal(p.Order, &o) == nil && o.MerchantReference1 != "" {
		return o.MerchantReference1
	}
	return p.KCOOrderID
}
