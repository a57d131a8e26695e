package httpapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/eventnotify/notify/infra/transport/httpapi/ui"
)

// The browser routes: the component is public and may be loaded by a page of any origin (it
// is code, not data: a module script is fetched in CORS mode); the demo page is served only
// where Options.UIDemo or the development mode (no authentication) allows it.
const (
	uiComponentRoute = "/ui/notify-inbox.js"
	uiDemoRoute      = "/ui/demo"
	uiDemoJSRoute    = "/ui/demo.js"
)

var errDemoOff = errors.New("the demo page is off: it is served in development mode (no authentication) or with --ui-demo / NOTIFY_UI_DEMO")

// uiFile is one embedded file with its type, its gzip form (compressed once, at start) and a
// strong ETag for each.
type uiFile struct {
	body, gzipped []byte
	contentType   string
	etag, gzEtag  string
}

func mustUIFile(name, contentType string) uiFile {
	b, err := ui.Files.ReadFile(name)
	if err != nil {
		panic("httpapi: embedded ui file missing: " + err.Error())
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression) // the level is valid: no error
	_, _ = zw.Write(b)                                      // a bytes.Buffer does not fail
	_ = zw.Close()
	sum := sha256.Sum256(b)
	tag := hex.EncodeToString(sum[:12])
	return uiFile{body: b, gzipped: gz.Bytes(), contentType: contentType, etag: `"` + tag + `"`, gzEtag: `"` + tag + `-gz"`}
}

// serve answers the file (gzip when the client takes it), or 304 when the client holds this
// version. Browsers revalidate it after five minutes, so a new release reaches pages soon
// without a versioned URL.
func (f uiFile) serve(c echo.Context, extra map[string]string) error {
	h := c.Response().Header()
	body, etag := f.body, f.etag
	if acceptsGzip(c.Request().Header.Get(echo.HeaderAcceptEncoding)) {
		body, etag = f.gzipped, f.gzEtag
		h.Set(echo.HeaderContentEncoding, "gzip")
	}
	h.Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
	h.Set(echo.HeaderContentType, f.contentType)
	h.Set("ETag", etag)
	h.Set(echo.HeaderCacheControl, "public, max-age=300")
	h.Set(echo.HeaderXContentTypeOptions, "nosniff")
	for k, v := range extra {
		h.Set(k, v)
	}
	for _, match := range strings.Split(c.Request().Header.Get("If-None-Match"), ",") {
		if m := strings.TrimSpace(match); m == etag || m == "*" {
			h.Del(echo.HeaderContentEncoding)
			return c.NoContent(http.StatusNotModified)
		}
	}
	return c.Blob(http.StatusOK, f.contentType, body)
}

// acceptsGzip reads Accept-Encoding: gzip listed and not refused with q=0.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

// getHead: the browser's files answer HEAD too (curl -I, link checkers).
var getHead = []string{http.MethodGet, http.MethodHead}

// uiRoutes serves the component and, when demo is on, the demo page.
func uiRoutes(e *echo.Echo, demo bool) {
	component := mustUIFile("notify-inbox.js", "text/javascript; charset=utf-8")
	e.Match(getHead, uiComponentRoute, func(c echo.Context) error {
		return component.serve(c, map[string]string{
			echo.HeaderAccessControlAllowOrigin: "*",
			"Cross-Origin-Resource-Policy":      "cross-origin",
		})
	})
	page, script := mustUIFile("demo.html", "text/html; charset=utf-8"), mustUIFile("demo.js", "text/javascript; charset=utf-8")
	off := func(echo.Context) error { return errDemoOff }
	demoHeaders := map[string]string{
		// The page's own script only; it may call any service URL a person types in.
		"Content-Security-Policy": "default-src 'self'; script-src 'self'; connect-src *; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
		"Referrer-Policy":         "no-referrer",
	}
	e.Match(getHead, uiDemoRoute, func(c echo.Context) error {
		if !demo {
			return off(c)
		}
		return page.serve(c, demoHeaders)
	})
	e.Match(getHead, uiDemoJSRoute, func(c echo.Context) error {
		if !demo {
			return off(c)
		}
		return script.serve(c, nil)
	})
}
