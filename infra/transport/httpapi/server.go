// Package httpapi is the Echo HTTP transport of an app.Application: the seed-compatible
// routes of the original Node service, the /v1 inbox API and its live stream (SSE), the
// projection status and replay routes, health, readiness, metrics and the OpenAPI document
// (openapi.json, which the tests hold every answer to). Access is checked per route
// (security.go, with auth); every error leaves as application/problem+json, mapped in one
// place (problemFor).
package httpapi

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventnotify/notify/app"
	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/app/query"
	"github.com/eventnotify/notify/infra/transport/httpapi/auth"
)

// MaxBody caps a request body.
const MaxBody = 64 << 10

// Options tune the transport: what the API needs besides the application it serves.
type Options struct {
	Logger   *slog.Logger
	Security Security
	// Metrics observes requests and serves GET /metrics (nil: nothing observed, the route
	// answers 404). MetricsPublic serves it without credentials even when auth is on.
	Metrics       Metrics
	MetricsPublic bool
	// Stream tunes the live-stream route.
	Stream Stream
	// Tracer makes every request a span and every event a live stream delivers one too
	// (nil: tracing off).
	Tracer trace.TracerProvider
	// AccessLog writes one line per request to Logger (credentials never logged).
	AccessLog bool
	// CORSOrigins are the origins of the web pages that may call the API from a browser
	// (ParseCORSOrigins; empty: none, "*" alone: any).
	CORSOrigins []string
	// UIDemo serves the demo page /ui/demo even when authentication is on (it is served
	// without authentication, the development mode).
	UIDemo bool
}

// deps is what the routes serve from: the application's commands and queries, and the
// options. Queries.Status nil: the projection routes answer 404, reads never wait for a
// position, positions clients pass back are not checked against the head, and /readyz says
// ready. Queries.Live nil: the stream route answers 404.
type deps struct {
	app.Commands
	app.Queries
	Options
}

// New builds the Echo instance with every route of the application.
func New(a app.Application, o Options) *echo.Echo {
	d := deps{Commands: a.Commands, Queries: a.Queries, Options: o}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(d.Logger)
	// The client IP (the rate-limit key of callers without credentials) is the peer address:
	// X-Forwarded-For and X-Real-IP are set by clients too, and would let them pick their bucket.
	e.IPExtractor = echo.ExtractIPDirect()
	// Outermost, in this order: the span, the access log line, the metrics; each sees
	// refusals, limits and panics too.
	if d.Tracer != nil {
		e.Use(traced(d.Tracer))
	}
	if d.AccessLog {
		e.Use(accessLog(d.Logger))
	}
	if d.Metrics != nil {
		e.Use(observe(d.Metrics))
	}
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			d.Logger.ErrorContext(c.Request().Context(), "panic in handler", "path", c.Request().URL.Path, "err", err, "stack", string(stack))
			return err
		},
	}))

	sec := d.Security
	if len(d.CORSOrigins) > 0 { // before the guard: a preflight carries no credentials
		e.Use(cors(d.CORSOrigins))
	}
	e.Use(sec.guard(newLimiter(sec.RatePerSecond, sec.Burst)))
	routes, err := declaredParams(OpenAPI)
	if err != nil {
		panic("httpapi: the embedded openapi.json does not parse: " + err.Error())
	}
	e.Use(strictParams(routes))

	s := seed{d}
	e.POST("/notifications", s.send, sec.allow(sender))
	e.PATCH("/notifications/:id/read", s.change(runRead), sec.allow(changer))
	e.PATCH("/notifications/:id/unread", s.change(runUnread), sec.allow(changer))
	e.PATCH("/notifications/:id/cancel", s.change(runCancel), sec.allow(changer))
	e.GET("/notifications/count/from/:recipientId", s.count, sec.allow(inboxReader))
	e.GET("/notifications/from/:recipientId", s.list, sec.allow(inboxReader))

	v := v1{d}
	e.POST("/v1/notifications", v.send, sec.allow(sender))
	e.POST("/v1/notifications/:id/read", v.change(runRead), sec.allow(changer))
	e.POST("/v1/notifications/:id/unread", v.change(runUnread), sec.allow(changer))
	e.POST("/v1/notifications/:id/cancel", v.change(runCancel), sec.allow(changer))
	e.POST("/v1/notifications/:id/seen", v.change(runSee), sec.allow(changer))
	e.POST("/v1/notifications/:id/archive", v.change(runArchive), sec.allow(changer))
	e.POST("/v1/notifications/:id/unarchive", v.change(runUnarchive), sec.allow(changer))
	e.GET("/v1/notifications/:id", v.notification, sec.allow(noteReader))
	e.GET("/v1/notifications/:id/history", v.history, sec.allow(noteReader))
	e.GET("/v1/recipients/:recipientId/notifications/count", v.count, sec.allow(inboxReader))
	e.GET("/v1/recipients/:recipientId/notifications", v.page, sec.allow(inboxReader))
	e.POST("/v1/recipients/:recipientId/notifications/read-all", v.readAll, sec.allow(inboxChanger))
	e.POST("/v1/recipients/:recipientId/notifications/bulk", v.bulk, sec.allow(inboxChanger))
	e.GET(streamRoute, newStreamer(d).stream, sec.allow(inboxReader))

	e.GET("/v1/projections", func(c echo.Context) error {
		if d.Status == nil {
			return echo.NewHTTPError(http.StatusNotFound, "projection status is not available")
		}
		st, err := d.Status.Projections(c.Request().Context())
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, st)
	}, sec.allow(admin))
	e.POST("/v1/projections/:name/replay", func(c echo.Context) error {
		if d.Status == nil {
			return echo.NewHTTPError(http.StatusNotFound, "replay is not available")
		}
		st, err := d.Status.Replay(c.Request().Context(), c.Param("name"))
		if err != nil {
			return err
		}
		c.Response().Header().Set(echo.HeaderLocation, "/v1/projections")
		return c.JSON(http.StatusAccepted, st)
	}, sec.allow(admin))

	e.GET("/healthz", func(c echo.Context) error {
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, []byte(`{"status":"ok"}`))
	})
	e.GET("/readyz", func(c echo.Context) error {
		r := query.Readiness{Ready: true}
		if d.Status != nil {
			r = d.Status.Ready(c.Request().Context())
		}
		body := map[string]any{}
		if p := principal(c); !sec.Auth.Enabled() || p.Has(auth.ScopeAdmin) {
			for k, v := range r.Details {
				body[k] = v
			}
		}
		if r.Ready {
			body["status"] = "ready"
			delete(body, "errors")
			return c.JSON(http.StatusOK, body)
		}
		body["type"], body["title"], body["status"] = "urn:notify:problem:not-ready", "Not ready", http.StatusServiceUnavailable
		body["detail"], body["reasons"], body["instance"] = "not ready: "+strings.Join(r.Reasons, "; "), r.Reasons, c.Request().URL.Path
		c.Response().Header().Set(echo.HeaderRetryAfter, "5")
		enc, _ := json.Marshal(body)
		return c.Blob(http.StatusServiceUnavailable, "application/problem+json", enc)
	})
	opsRoutes(e, d)
	uiRoutes(e, d.UIDemo || !sec.Auth.Enabled())
	return e
}

// commandMeta reads the command's identity from the request headers.
func commandMeta(c echo.Context) command.Meta {
	h := c.Request().Header
	corr := h.Get("X-Correlation-Id")
	if corr == "" {
		corr = h.Get(echo.HeaderXRequestID)
	}
	m := command.Meta{CommandID: h.Get("Idempotency-Key"), CorrelationID: corr}
	if p := principal(c); p.Kind == auth.Recipient {
		m.Recipient = p.Subject // the handler refuses notifications of other recipients
	}
	return m
}
