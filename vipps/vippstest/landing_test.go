package vippstest

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLandingPageRenders(t *testing.T) {
	h := newHarness(t, Options{})
	body := createBody("landing-page-1", 149900)
	body["paymentDescription"] = `Kopp <script>alert("x")</script>`
	status, raw := h.create(body, "k1")
	require.Equal(t, http.StatusCreated, status, string(raw))
	snap := mustSnap(t, h.srv, "landing-page-1")

	status, hdr, page := getPage(t, snap.RedirectURL)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "text/html; charset=utf-8", hdr.Get("Content-Type"))
	assert.Equal(t, "DENY", hdr.Get("X-Frame-Options"), "the landing page must not load in a frame")
	assert.Contains(t, hdr.Get("Content-Security-Policy"), "frame-ancestors 'none'")
	for _, want := range []string{
		"#FF5B24",
		"kr 1 499,00",
		"Kaffe &amp; Co &lt;Oslo&gt;",
		"Kopp &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;",
		`id="approve"`, `id="reject"`, "Godkjenn", "Avbryt",
		`value="4791234567"`,
		`action="` + h.srv.URL() + `/landing/approve"`,
		`action="` + h.srv.URL() + `/landing/reject"`,
		`name="token" value="` + snap.LandingToken + `"`,
	} {
		assert.Contains(t, page, want)
	}
	assert.NotContains(t, page, "<script>")
	assert.Contains(t, page, `<html lang="nb">`)
	for _, english := range []string{"Approve", "Cancel", "Phone number", "test environment", " · "} {
		assert.NotContains(t, page, english, "one language on the page: Norwegian for a NOK payment")
	}
	assert.Equal(t, 1, h.srv.Calls(OpLanding))
}

func TestLandingApproveRedirectsToReturnURL(t *testing.T) {
	h := newHarness(t, Options{})
	created := h.mustCreate("landing-approve-1", 10000)
	status, hdr, _ := postForm(t, h.srv.URL()+"/landing/approve", url.Values{
		"token": {landingToken(t, created.RedirectURL)}, "phoneNumber": {"+47 912 34 567"},
	})
	require.Equal(t, http.StatusSeeOther, status)
	assert.Equal(t, "https://shop.example/return?order=landing-approve-1&step=2", hdr.Get("Location"), "returnUrl unchanged")
	snap := mustSnap(t, h.srv, "landing-approve-1")
	assert.Equal(t, StateAuthorized, snap.State)
	assert.Equal(t, "4791234567", snap.ApprovedBy)

	// Afterwards the page shows the state and the way back.
	status, _, page := getPage(t, created.RedirectURL)
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, page, `data-state="AUTHORIZED"`)
	assert.Contains(t, page, `id="return" href="https://shop.example/return?order=landing-approve-1&amp;step=2"`)
	assert.NotContains(t, page, `id="approve"`)

	status, _, _ = postForm(t, h.srv.URL()+"/landing/reject", url.Values{"token": {landingToken(t, created.RedirectURL)}})
	assert.Equal(t, http.StatusConflict, status)
	assert.Equal(t, StateAuthorized, mustSnap(t, h.srv, "landing-approve-1").State)
}

func TestLandingRejectRedirectsToReturnURL(t *testing.T) {
	h := newHarness(t, Options{})
	body := createBody("landing-reject-1", 10000)
	body["returnUrl"] = "kcoapp://vipps/return?ref=landing-reject-1"
	status, raw := h.create(body, "k1")
	require.Equal(t, http.StatusCreated, status, string(raw))
	snap := mustSnap(t, h.srv, "landing-reject-1")

	status, hdr, _ := postForm(t, h.srv.URL()+"/landing/reject", url.Values{"token": {snap.LandingToken}})
	require.Equal(t, http.StatusSeeOther, status)
	assert.Equal(t, "kcoapp://vipps/return?ref=landing-reject-1", hdr.Get("Location"))
	assert.Equal(t, StateAborted, mustSnap(t, h.srv, "landing-reject-1").State)

	// A custom scheme survives html/template in the link back.
	_, _, page := getPage(t, snap.RedirectURL)
	assert.Contains(t, page, `href="kcoapp://vipps/return?ref=landing-reject-1"`)
}

func TestLandingRejectsBadInput(t *testing.T) {
	h := newHarness(t, Options{})
	created := h.mustCreate("landing-bad-1", 10000)
	tok := landingToken(t, created.RedirectURL)

	status, _, body := postForm(t, h.srv.URL()+"/landing/approve", url.Values{"token": {tok}, "phoneNumber": {"12"}})
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, string(body), `id="error"`)
	assert.Contains(t, string(body), `value="12"`)
	assert.Equal(t, StateCreated, mustSnap(t, h.srv, "landing-bad-1").State)

	status, _, _ = postForm(t, h.srv.URL()+"/landing/approve", url.Values{"token": {"forged"}, "phoneNumber": {"4791234567"}})
	assert.Equal(t, http.StatusNotFound, status)
	status, _, _ = getPage(t, h.srv.URL()+"/landing?token=forged")
	assert.Equal(t, http.StatusNotFound, status)
	status, _, _ = getPage(t, h.srv.URL()+"/landing")
	assert.Equal(t, http.StatusNotFound, status)
}

func TestFormatAmount(t *testing.T) {
	tests := []struct {
		in   Amount
		want string
	}{
		{Amount{"NOK", 149900}, "kr 1 499,00"},
		{Amount{"NOK", 100}, "kr 1,00"},
		{Amount{"NOK", 5}, "kr 0,05"},
		{Amount{"NOK", 65000000}, "kr 650 000,00"},
		{Amount{"NOK", 123456789}, "kr 1 234 567,89"},
		{Amount{"DKK", 149950}, "1.499,50 kr."},
		{Amount{"EUR", 99}, "0,99 €"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, formatAmount(tt.in))
		})
	}
}

func TestNormalizePhone(t *testing.T) {
	for in, want := range map[string]string{
		"4791234567": "4791234567", "+47 912 34 567": "4791234567", "91234567": "4791234567",
		"0047 91234567": "4791234567", "4512345678": "4512345678",
	} {
		got, ok := normalizePhone(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "12", "abc", strings.Repeat("9", 16)} {
		_, ok := normalizePhone(in)
		assert.False(t, ok, in)
	}
}
