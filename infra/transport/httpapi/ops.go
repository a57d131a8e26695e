package httpapi

import (
	_ "embed"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// Metrics observes every request and serves the Prometheus scrape (infra/platform/metrics.Registry).
type Metrics interface {
	ObserveRequest(route, method string, status int, elapsed time.Duration)
	Handler() http.Handler
}

// OpenAPI is the document of every route, served at /openapi.json. The tests hold it to the
// routes Echo has and to the answers the API really gives.
//
//go:embed openapi.json
var OpenAPI []byte

// observe records each request under its route template (c.Path(): bounded, unlike the raw
// path), after the error handler has written any error, so the status is the one sent.
func observe(m Metrics) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			if err := next(c); err != nil {
				c.Error(err)
			}
			m.ObserveRequest(c.Path(), c.Request().Method, c.Response().Status, time.Since(start))
			return nil
		}
	}
}

// opsRoutes serves the scrape and the API document. /metrics takes an admin key when
// authentication is on, unless the operator made it public (--metrics-public); the document
// is public: it holds nothing a client does not see anyway.
func opsRoutes(e *echo.Echo, d deps) {
	pol := admin
	if d.MetricsPublic {
		pol = public
	}
	var scrape http.Handler
	if d.Metrics != nil {
		scrape = d.Metrics.Handler()
	}
	e.GET("/metrics", func(c echo.Context) error {
		if scrape == nil {
			return echo.NewHTTPError(http.StatusNotFound, "metrics are not available")
		}
		scrape.ServeHTTP(c.Response(), c.Request())
		return nil
	}, d.Security.allow(pol))
	e.GET("/openapi.json", func(c echo.Context) error {
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, OpenAPI)
	})
}
