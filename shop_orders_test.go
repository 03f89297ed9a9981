package main

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
)

// The demo shop's order page says in words how the payment stands and
// captures and refunds through our merchant API; a double click does each
// once (a fixed Idempotency-Key per action).
func TestShopOrderPageCapturesAndRefunds(t *testing.T) {
	e := startMain(t, nil)
	p := e.paid()
	e.settle()
	page := func() string {
		t.Helper()
		resp, body := e.get(e.m.PublicURL() + "/shop/thanks?order=" + url.QueryEscape(p.KCOOrderID))
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		return body
	}
	body := page()
	require.Contains(t, body, "Betalt (reservert, ikke trukket ennå)")
	require.NotContains(t, body, ">AUTHORIZED<", "no raw state for people")
	require.Contains(t, body, "Trekk hele beløpet (send ordren)")
	require.NotContains(t, body, "Refunder alt", "nothing captured to refund yet")

	post := func(op string) *http.Response {
		resp, err := e.http.PostForm(e.m.PublicURL()+"/shop/orders/"+p.Reference+"/"+op, url.Values{"order": {p.KCOOrderID}})
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	// A double click: two posts at once, one capture.
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range codes {
		wg.Go(func() { codes[i] = post("capture").StatusCode })
	}
	wg.Wait()
	require.Equal(t, []int{http.StatusSeeOther, http.StatusSeeOther}, codes)
	e.settle()
	got := e.payment(p.Reference)
	require.Equal(t, p.Amount.Value, got.Captured, "captured once, in full")
	body = page()
	require.Contains(t, body, "Betalt og trukket")
	require.NotContains(t, body, "Trekk hele beløpet")
	require.Contains(t, body, "Refunder alt")

	resp := post("refund")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.True(t, strings.HasSuffix(resp.Header.Get("Location"), "&done=refund"), resp.Header.Get("Location"))
	e.settle()
	got = e.payment(p.Reference)
	require.Equal(t, p.Amount.Value, got.Refunded)
	resp2, body := e.get(e.m.PublicURL() + resp.Header.Get("Location"))
	require.Equal(t, http.StatusOK, resp2.StatusCode)
	require.Contains(t, body, "Hele beløpet er refundert til kunden.")
	require.Contains(t, body, ">Refundert<")
	require.NotContains(t, body, "Refunder alt")
	require.Equal(t, bridge.StateAuthorized, got.State)

	// An unknown payment on the order: said so, on the order page.
	resp, err := e.http.PostForm(e.m.PublicURL()+"/shop/orders/no-such-ref/capture", url.Values{"order": {p.KCOOrderID}})
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}
