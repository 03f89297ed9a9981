package main

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// Every shopper page has a way on: the waiting page back to the checkout,
// the malformed-order page back to the shop; a return to a payment we do
// not know says so (not "could not start").
func TestShopperPagesWaysBack(t *testing.T) {
	e := startMain(t, nil)
	o := e.order(nil)
	_, p := e.checkout(o.OrderID)
	require.NotNil(t, p)

	resp, body := e.get(e.m.PublicURL() + "/return/" + p.ReturnToken)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `id="reopen"`, "the waiting page")
	require.Contains(t, body, `id="back" href="`+e.m.PublicURL()+`/shop/checkout/`+o.OrderID+`" target="_top">Tilbake til kassen</a>`)

	req, err := http.NewRequest(http.MethodGet, e.m.PublicURL()+"/return/no-such-token", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Accept-Language", "nb-NO,nb;q=0.9")
	resp, err = e.http.Do(req)
	require.NoError(t, err)
	body = readAll(t, resp)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Contains(t, body, "<h1 id=\"title\">Vi finner ikke betalingen</h1>")
	require.NotContains(t, body, "starte")

	resp, body = e.get(e.m.PublicURL() + "/checkout/webshop/vipps?kco_order_id=%7Bcheckout.order.id%7D")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, body)
	require.Contains(t, body, `data-reason="malformed_order_id"`)
	require.Contains(t, body, `<html lang="nb">`, "the unit's language")
	require.Contains(t, body, `id="back" href="`+e.m.PublicURL()+`/">Tilbake til butikken</a>`)
}

// The marks and the favicon: GET and HEAD both answer 200 with the type.
func TestAssetsAndFavicon(t *testing.T) {
	e := startMain(t, nil)
	for path, typ := range map[string]string{
		"/assets/vipps.svg": "image/svg+xml", "/assets/vipps.png": "image/png",
		"/assets/mobilepay.svg": "image/svg+xml", "/assets/mobilepay.png": "image/png",
		"/favicon.ico": "image/x-icon",
	} {
		resp, body := e.get(e.m.PublicURL() + path)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.Equal(t, typ, resp.Header.Get("Content-Type"), path)
		require.NotEmpty(t, body, path)
		switch typ {
		case "image/png":
			require.Equal(t, "\x89PNG", body[:4], path)
		case "image/x-icon":
			require.Equal(t, "\x00\x00\x01\x00", body[:4], path)
		}
		req, err := http.NewRequest(http.MethodHead, e.m.PublicURL()+path, nil)
		require.NoError(t, err)
		head, err := e.http.Do(req)
		require.NoError(t, err)
		head.Body.Close()
		require.Equal(t, http.StatusOK, head.StatusCode, "HEAD "+path)
		require.Equal(t, typ, head.Header.Get("Content-Type"), "HEAD "+path)
		require.Equal(t, strconv.Itoa(len(body)), head.Header.Get("Content-Length"), "HEAD "+path)
	}
	resp, _ := e.get(e.m.PublicURL() + "/assets/nope.svg")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}
