// Package browser holds the browser tests of the <notify-inbox> web component: they build
// the notify binary, run it with authentication and CORS on, serve a host page from another
// origin that loads the component from the service, and drive headless Chromium through the
// DevTools protocol (github.com/chromedp/chromedp). Without Chromium they skip, unless
// NOTIFY_BROWSER_TESTS=required (CI), when they fail.
package browser
