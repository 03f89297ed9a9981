package vippstest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
)

// SignWebhook computes the two signature headers of a Vipps webhook, as in
// the Webhooks API's request authentication (notes §5), independently of
// the client package so that each checks the other:
//
//	x-ms-content-sha256 = base64(SHA-256(body))
//	stringToSign        = "POST\n" + pathAndQuery + "\n" + date + ";" + host + ";" + contentHash
//	Authorization       = "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=" +
//	                      base64(HMAC-SHA256(key = the secret's UTF-8 bytes, stringToSign))
//
// date is the x-ms-date header (http.TimeFormat). The secret is used as
// given, not base64-decoded.
func SignWebhook(secret, pathAndQuery, host, date string, body []byte) (contentHash, authorization string) {
	sum := sha256.Sum256(body)
	contentHash = base64.StdEncoding.EncodeToString(sum[:])
	stringToSign := "POST\n" + pathAndQuery + "\n" + date + ";" + host + ";" + contentHash
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(stringToSign))
	signature := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	return contentHash, "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=" + signature
}

// WebhookTarget returns the pathAndQuery and host of a registered webhook
// URL as they enter the signature: the escaped path ("/" when empty) plus
// "?query", and the authority with a non-default port kept and a default
// one dropped (like .NET's Uri.Authority and the URL.host of JavaScript).
func WebhookTarget(rawURL string) (pathAndQuery, host string, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", "", err
	}
	if u.Host == "" {
		return "", "", fmt.Errorf("vippstest: webhook URL %q has no host", rawURL)
	}
	pathAndQuery, host = webhookTarget(u)
	return pathAndQuery, host, nil
}

func webhookTarget(u *url.URL) (pathAndQuery, host string) {
	pathAndQuery = u.EscapedPath()
	if pathAndQuery == "" {
		pathAndQuery = "/"
	}
	if u.RawQuery != "" || u.ForceQuery {
		pathAndQuery += "?" + u.RawQuery
	}
	host = strings.ToLower(u.Host)
	switch {
	case u.Scheme == "https" && u.Port() == "443":
		host = strings.TrimSuffix(host, ":443")
	case u.Scheme == "http" && u.Port() == "80":
		host = strings.TrimSuffix(host, ":80")
	}
	return pathAndQuery, host
}
