// Package httpapi is the Echo HTTP edge: the seed-compatible routes of the original Node
// service, health and readiness. Every error leaves as application/problem+json, mapped in
// one place (problemFor).
package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/app/query"
	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/infra/transport/httpapi/auth"
	"github.com/eventnotify/notify/projections"
	"github.com/eventnotify/notify/projections/inbox"
)

// MaxBody caps a request body.
const MaxBody = 64 << 10

// Command handler ports, declared where they are used.
type (
	sendHandler interface {
		Handle(context.Context, command.SendNotification) (command.Result, error)
	}
	readHandler interface {
		Handle(context.Context, command.ReadNotification) (command.Result, error)
	}
	unreadHandler interface {
		Handle(context.Context, command.UnreadNotification) (command.Result, error)
	}
	cancelHandler interface {
		Handle(context.Context, command.CancelNotification) (command.Result, error)
	}
	readAllHandler interface {
		Handle(context.Context, command.ReadAllNotifications) (command.ReadAllResult, error)
	}
	noteQueries interface {
		History(ctx context.Context, id string) (*notification.Notification, []query.HistoryEntry, error)
	}
	// Inbox answers inbox queries.
	Inbox interface {
		List(ctx context.Context, recipient string, limit int) ([]json.RawMessage, error)
		Count(ctx context.Context, recipient string) (inbox.Counts, error)
		Page(ctx context.Context, q inbox.PageQuery) (inbox.Page, error)
	}
)

// Deps are what the API serves from.
type Deps struct {
	Send   sendHandler
	Read   readHandler
	Unread unreadHandler
	Cancel cancelHandler
	// ReadAll marks a recipient's unread notifications read (nil: the route answers 404).
	ReadAll readAllHandler
	Inbox   Inbox
	// Notifications answers one-notification queries from the event store (nil: the /v1
	// notification routes answer 404).
	Notifications noteQueries
	// Ready says whether the service can serve: stores reachable, projections caught up,
	// no Kafka partition stalled.
	Ready func(context.Context) Readiness
	// WaitFor blocks until the read model reflects log position p, or fails with an error
	// wrapping projections.ErrNotReached when its bound passes (read-your-writes). Nil: reads
	// never wait.
	WaitFor func(ctx context.Context, p eventstore.Position) error
	// Head is the log head: positions a client passes back (Notify-Min-Position,
	// Last-Event-ID) beyond it are refused (nil: not checked).
	Head func(ctx context.Context) (eventstore.Position, error)
	// Projections reports each projection's position, lag behind the log head, and state.
	Projections func(ctx context.Context) (ProjectionsStatus, error)
	// Replay starts rebuilding the named projection into a fresh copy and returns its status;
	// errors wrap projections.ErrUnknown or ErrReplayRunning (nil: the route answers 404).
	Replay   func(ctx context.Context, name string) (ProjectionStatus, error)
	Logger   *slog.Logger
	Security Security
	// Metrics observes requests and serves GET /metrics (nil: nothing observed, the route
	// answers 404). MetricsPublic serves it without credentials even when auth is on.
	Metrics       Metrics
	MetricsPublic bool
	// Live fans inbox changes out to the SSE route (nil: the route answers 404); Stream tunes
	// that route.
	Live   liveHub
	Stream Stream
}

// Readiness is what /readyz answers. Reasons say, without details, why the service is not
// ready; Details (positions, errors, Kafka partitions) go only to an admin key, or to anyone
// when no authentication is configured: a connection error names hosts and users.
type Readiness struct {
	Ready   bool
	Reasons []string
	Details map[string]any
}

// ProjectionsStatus answers GET /v1/projections.
type ProjectionsStatus struct {
	LogHead     eventstore.Position `json:"logHead"`
	Projections []ProjectionStatus  `json:"projections"`
}

// ProjectionStatus is one projection: how far its live copy is, how far behind the log, and
// its state: live (caught up and following), catching-up, or replaying (a fresh copy is being
// built beside the live one, which keeps serving).
type ProjectionStatus struct {
	Name     string              `json:"name"`
	Position eventstore.Position `json:"position"`
	Lag      uint64              `json:"lag"`
	State    string              `json:"state"`
	// Replay is the running replay, else the last one this instance ran (absent if none).
	Replay *projections.ReplayStatus `json:"replay,omitempty"`
	// Parked counts the events the projection left out since the process started; the
	// first of them are listed.
	Parked       int                  `json:"parked,omitempty"`
	ParkedEvents []projections.Parked `json:"parkedEvents,omitempty"`
}

// New builds the Echo instance with every route.
func New(d Deps) *echo.Echo {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(d.Logger)
	// The client IP (the rate-limit key of callers without credentials) is the peer address:
	// X-Forwarded-For and X-Real-IP are set by clients too, and would let them pick their bucket.
	e.IPExtractor = echo.ExtractIPDirect()
	if d.Metrics != nil {
		e.Use(observe(d.Metrics)) // outermost: it sees refusals, limits and panics too
	}
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			d.Logger.Error("panic in handler", "path", c.Request().URL.Path, "err", err, "stack", string(stack))
			return err
		},
	}))

	sec := d.Security
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
	e.GET("/v1/notifications/:id", v.notification, sec.allow(noteReader))
	e.GET("/v1/notifications/:id/history", v.history, sec.allow(noteReader))
	e.GET("/v1/recipients/:recipientId/notifications/count", v.count, sec.allow(inboxReader))
	e.GET("/v1/recipients/:recipientId/notifications", v.page, sec.allow(inboxReader))
	e.POST("/v1/recipients/:recipientId/notifications/read-all", v.readAll, sec.allow(inboxChanger))
	e.GET(streamRoute, newStreamer(d).stream, sec.allow(inboxReader))

	e.GET("/v1/projections", func(c echo.Context) error {
		if d.Projections == nil {
			return echo.NewHTTPError(http.StatusNotFound, "projection status is not available")
		}
		st, err := d.Projections(c.Request().Context())
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, st)
	}, sec.allow(admin))
	e.POST("/v1/projections/:name/replay", func(c echo.Context) error {
		if d.Replay == nil {
			return echo.NewHTTPError(http.StatusNotFound, "replay is not available")
		}
		st, err := d.Replay(c.Request().Context(), c.Param("name"))
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
		r := Readiness{Ready: true}
		if d.Ready != nil {
			r = d.Ready(c.Request().Context())
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
