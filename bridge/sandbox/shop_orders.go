//go:build !nosandbox

package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"vippskco/bridge"
	"vippskco/bridge/i18n"
	"vippskco/klarna"
)

// The demo shop's order page: what a shop's back office does with a paid
// order, through our merchant API as any shop would. "Trekk hele beløpet"
// captures what is left to capture (the shop sends the order); "Refunder
// alt" refunds what is captured and not yet refunded. Each action has a
// fixed Idempotency-Key per payment, so a double click, or a reload that
// posts again, does the action once.

// paymentView is one payment as the order page shows it.
type paymentView struct {
	Reference string
	// State is the raw state, kept for tests and the data attribute;
	// StateText is what a person reads.
	State     string
	StateText string
	OK        bool
	Amount    string
	Captured  string
	Refunded  string
	// CanCapture and CanRefund decide which buttons the page offers.
	CanCapture bool
	CanRefund  bool
}

// stateText says in Norwegian what a payment's state and money mean for
// the shop.
func stateText(p bridge.PaymentJSON) (string, bool) {
	a := p.Aggregate
	switch p.State {
	case bridge.StatePending, bridge.StateCreated:
		return "Venter på kunden i Vipps", false
	case bridge.StateAborted:
		return "Avbrutt av kunden", false
	case bridge.StateExpired:
		return "Utløpt (ikke godkjent i tide)", false
	case bridge.StateTerminated:
		return "Stoppet av butikken", false
	case bridge.StateFailed:
		return "Feilet", false
	case bridge.StateAuthorized:
		switch {
		case a.Refunded > 0 && a.Refunded >= a.Captured:
			return "Refundert", true
		case a.Refunded > 0:
			return "Delvis refundert", true
		case a.Captured >= p.Amount.Value:
			return "Betalt og trukket", true
		case a.Captured > 0:
			return "Delvis trukket", true
		case a.Cancelled > 0:
			return "Reservasjonen er kansellert", false
		}
		return "Betalt (reservert, ikke trukket ennå)", true
	}
	return string(p.State), false
}

func newPaymentView(p bridge.PaymentJSON) paymentView {
	text, ok := stateText(p)
	a := p.Aggregate
	money := func(v int64) string { return i18n.FormatMoney(i18n.LangNB, v, p.Amount.Currency) }
	return paymentView{
		Reference: p.Reference, State: string(p.State), StateText: text, OK: ok,
		Amount: money(p.Amount.Value), Captured: money(a.Captured), Refunded: money(a.Refunded),
		CanCapture: p.State == bridge.StateAuthorized && a.Cancelled == 0 && a.Captured < p.Amount.Value,
		CanRefund:  p.State == bridge.StateAuthorized && a.Captured > a.Refunded,
	}
}

// apiError is our merchant API's error body.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"error"`
}

// errUnderWay is an answer that says the same request (same
// Idempotency-Key) is still being worked on: a double click's second post.
type errUnderWay struct{ msg string }

func (e errUnderWay) Error() string { return e.msg }

// callAPI sends one merchant API request with the shop's token and
// decodes a 2xx answer into out; any other answer becomes an error with
// the API's message.
func (sh *shop) callAPI(ctx context.Context, method, path, idemKey string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, sh.sb.publicURL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+sh.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := sh.apiClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e apiError
		if json.Unmarshal(raw, &e) == nil && e.Error.Message != "" {
			if resp.StatusCode == http.StatusConflict && (e.Error.Reason == "operation_in_progress" || e.Error.Reason == "busy") {
				return errUnderWay{e.Error.Message}
			}
			return fmt.Errorf("%d %s: %s", resp.StatusCode, e.Error.Code, e.Error.Message)
		}
		return fmt.Errorf("the merchant API answered %d", resp.StatusCode)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}

// payments reads the order's payments from our merchant API.
func (sh *shop) payments(ctx context.Context, orderID string) ([]bridge.PaymentJSON, error) {
	var body struct {
		Payments []bridge.PaymentJSON `json:"payments"`
	}
	err := sh.callAPI(ctx, http.MethodGet, "/api/v1/payments?kco_order_id="+url.QueryEscape(orderID), "", nil, &body)
	return body.Payments, err
}

// thanks is the merchant's confirmation and order page: it asks our
// merchant API, as a real shop backend would, whether the order is paid.
func (sh *shop) thanks(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("order")
	if !bridge.ValidKCOOrderID(id) {
		sh.render(w, http.StatusNotFound, shopPage{Page: "gone", Error: "Ukjent ordre."})
		return
	}
	sh.renderOrder(w, r, http.StatusOK, id, doneText[r.URL.Query().Get("done")], "")
}

// doneText is the result line after an action that succeeded.
var doneText = map[string]string{
	"capture": "Beløpet er trukket. Ordren kan sendes.",
	"refund":  "Hele beløpet er refundert til kunden.",
}

func (sh *shop) renderOrder(w http.ResponseWriter, r *http.Request, status int, orderID, notice, failure string) {
	ps, err := sh.payments(r.Context(), orderID)
	if err != nil {
		sh.render(w, http.StatusBadGateway, shopPage{Page: "thanks", OrderID: orderID, Error: "Vi fikk ikke lest betalingen: " + err.Error()})
		return
	}
	page := shopPage{Page: "thanks", OrderID: orderID, Notice: notice, Error: failure}
	for _, p := range ps {
		page.Payments = append(page.Payments, newPaymentView(p))
	}
	sh.render(w, status, page)
}

// action captures or refunds the whole of one payment of the order.
func (sh *shop) action(w http.ResponseWriter, r *http.Request) {
	op, ref := r.PathValue("op"), r.PathValue("ref")
	orderID := r.PostFormValue("order")
	if (op != "capture" && op != "refund") || !bridge.ValidKCOOrderID(orderID) {
		sh.render(w, http.StatusBadRequest, shopPage{Page: "gone", Error: "Ugyldig forespørsel."})
		return
	}
	ps, err := sh.payments(r.Context(), orderID)
	if err != nil {
		sh.render(w, http.StatusBadGateway, shopPage{Page: "thanks", OrderID: orderID, Error: "Vi fikk ikke lest betalingen: " + err.Error()})
		return
	}
	var p *bridge.PaymentJSON
	for i := range ps {
		if ps[i].Reference == ref {
			p = &ps[i]
		}
	}
	if p == nil {
		sh.renderOrder(w, r, http.StatusNotFound, orderID, "", "Denne ordren har ingen betaling "+ref+".")
		return
	}
	a := p.Aggregate
	amount := p.Amount.Value - a.Captured
	if op == "refund" {
		amount = a.Captured - a.Refunded
	}
	if amount <= 0 {
		// Done already, by this button or another: show the order as it is.
		http.Redirect(w, r, "/shop/thanks?order="+url.QueryEscape(orderID)+"&done="+op, http.StatusSeeOther)
		return
	}
	body := map[string]any{"amount": bridge.Money{Value: amount, Currency: p.Amount.Currency}}
	key := "demo-shop-" + op + "-" + ref
	path := "/api/v1/payments/" + url.PathEscape(ref) + "/" + op
	err = sh.callAPI(r.Context(), http.MethodPost, path, key, body, nil)
	// The same action under way (a double click): ask again with the same
	// key until it is done, and show its one outcome.
	for try := 0; try < 20 && errors.As(err, new(errUnderWay)); try++ {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
		err = sh.callAPI(r.Context(), http.MethodPost, path, key, body, nil)
	}
	if err != nil {
		what := "Trekk av beløpet"
		if op == "refund" {
			what = "Refusjonen"
		}
		sh.renderOrder(w, r, http.StatusBadGateway, orderID, "", what+" feilet: "+err.Error())
		return
	}
	http.Redirect(w, r, "/shop/thanks?order="+url.QueryEscape(orderID)+"&done="+op, http.StatusSeeOther)
}

// orderGone reports whether Kustom no longer has the order (the sandbox's
// fake forgets its orders when it restarts; bridge.db remembers ours).
func (sh *shop) orderGone(ctx context.Context, id string) bool {
	_, err := sh.kustom.GetOrder(ctx, id)
	return klarna.IsNotFound(err)
}
