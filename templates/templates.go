// Package templates holds the shopper pages, embedded into the binary and
// rendered with html/template by the bridge.
package templates

import "embed"

// FS holds layout.html, one file per page, the payment method marks
// served as the EPM image and on our pages (SVG, with PNG fallbacks; see
// SOURCES for where they come from) and the favicon.
//
//go:embed *.html *.svg *.png favicon.ico SOURCES
var FS embed.FS
