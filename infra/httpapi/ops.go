package httpapi

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// Metrics observes every request and serves the Prometheus scrape (infra/metrics.Registry).
type Metrics interface {
	ObserveRequest(route, method string, status int, elapsed time.Duration)
	Handler() http.Handler
}

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

// opsRoutes serves the scrape. /metrics takes an admin key when authentication is on, unless
// the operator made it public (--metrics-public).
func opsRoutes(e *echo.Echo, d Deps) {
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
}
