// Package ui is the browser side of the service, embedded in the binary: the <notify-inbox>
// web component (one plain JavaScript module, no build step) and the demo page that shows it
// working against the running service. infra/transport/httpapi serves them under /ui/.
package ui

import "embed"

// Files holds notify-inbox.js, demo.html and demo.js.
//
//go:embed notify-inbox.js demo.html demo.js
var Files embed.FS
