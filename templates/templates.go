// Package templates holds the shopper pages, embedded into the binary and
// rendered with html/template by the bridge.
package templates

import "embed"

// FS holds layout.html, one file per page, and the payment method badges
// served as the EPM image.
//
//go:embed *.html *.svg
var FS embed.FS
