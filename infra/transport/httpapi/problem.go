package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/app/live"
	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/infra/platform/logsample"
	"github.com/eventnotify/notify/infra/transport/httpapi/auth"
	"github.com/eventnotify/notify/projections"
)

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type     string      `json:"type"`
	Title    string      `json:"title"`
	Status   int         `json:"status"`
	Detail   string      `json:"detail,omitempty"`
	Instance string      `json:"instance,omitempty"`
	Errors   []FieldRule `json:"errors,omitempty"`
}

// FieldRule names an input field and the rule it broke.
type FieldRule struct {
	Field string `json:"field"`
	Rule  string `json:"rule"`
}

// Errors raised by the HTTP edge itself.
var (
	errBodyTooLarge     = errors.New("request body too large")
	errUnsupportedMedia = errors.New("unsupported media type")
)

// bodyError is a request body that is not the JSON the route expects.
type bodyError struct {
	field, rule string
}

func (e *bodyError) Error() string {
	if e.field == "" {
		return e.rule
	}
	return e.field + ": " + e.rule
}

// problemFor maps an error to its problem document: the one place where errors become
// HTTP statuses.
func problemFor(err error) Problem {
	var (
		ve  *notification.ValidationError
		be  *bodyError
		he  *echo.HTTPError
		rl  *rateLimitedError
		msg = err.Error()
	)
	switch {
	case errors.As(err, &ve):
		p := Problem{Type: "urn:notify:problem:invalid-input", Title: "Invalid input", Status: http.StatusBadRequest,
			Detail: ve.Error(), Errors: []FieldRule{{Field: ve.Field, Rule: ve.Rule}}}
		for _, o := range ve.Others {
			p.Errors = append(p.Errors, FieldRule{Field: o.Field, Rule: o.Rule})
		}
		return p
	case errors.As(err, &be):
		p := Problem{Type: "urn:notify:problem:malformed-body", Title: "Malformed request body", Status: http.StatusBadRequest, Detail: be.Error()}
		if be.field != "" {
			p.Errors = []FieldRule{{Field: be.field, Rule: be.rule}}
		}
		return p
	case errors.Is(err, errBodyTooLarge):
		return Problem{Type: "urn:notify:problem:body-too-large", Title: "Request body too large", Status: http.StatusRequestEntityTooLarge, Detail: msg}
	case errors.Is(err, errUnsupportedMedia):
		return Problem{Type: "urn:notify:problem:unsupported-media-type", Title: "Unsupported media type", Status: http.StatusUnsupportedMediaType, Detail: msg}
	case errors.Is(err, auth.ErrInvalidCredentials), errors.Is(err, errUnauthenticated):
		return Problem{Type: "urn:notify:problem:unauthenticated", Title: "Unauthorized", Status: http.StatusUnauthorized, Detail: msg}
	case errors.Is(err, errForbidden):
		return Problem{Type: "urn:notify:problem:forbidden", Title: "Forbidden", Status: http.StatusForbidden, Detail: msg}
	case errors.Is(err, errDemoOff):
		return Problem{Type: "urn:notify:problem:not-found", Title: "Not found", Status: http.StatusNotFound, Detail: msg}
	case errors.Is(err, errNotYours):
		return Problem{Type: "urn:notify:problem:not-found", Title: "Not found", Status: http.StatusNotFound, Detail: "no such inbox"}
	case errors.As(err, &rl):
		return Problem{Type: "urn:notify:problem:rate-limited", Title: "Too many requests", Status: http.StatusTooManyRequests, Detail: msg}
	case errors.Is(err, live.ErrTooMany):
		return Problem{Type: "urn:notify:problem:too-many-streams", Title: "Too many live streams", Status: http.StatusTooManyRequests, Detail: msg}
	case errors.Is(err, live.ErrClosed):
		return Problem{Type: "urn:notify:problem:unavailable", Title: "Service unavailable", Status: http.StatusServiceUnavailable, Detail: "the live stream is shutting down; reconnect with Last-Event-ID"}
	case errors.Is(err, notification.ErrNotFound):
		return Problem{Type: "urn:notify:problem:not-found", Title: "Notification not found", Status: http.StatusNotFound, Detail: msg}
	case errors.Is(err, projections.ErrUnknown):
		return Problem{Type: "urn:notify:problem:not-found", Title: "Projection not found", Status: http.StatusNotFound, Detail: msg}
	case errors.Is(err, projections.ErrReplayRunning):
		return Problem{Type: "urn:notify:problem:replay-running", Title: "Replay already running", Status: http.StatusConflict, Detail: msg}
	case errors.Is(err, notification.ErrConflict):
		return Problem{Type: "urn:notify:problem:conflict", Title: "Conflict", Status: http.StatusConflict, Detail: msg}
	case errors.As(err, &he):
		return Problem{Type: "about:blank", Title: http.StatusText(he.Code), Status: he.Code, Detail: detailOf(he)}
	case errors.Is(err, projections.ErrNotReached):
		return Problem{Type: "urn:notify:problem:not-caught-up", Title: "Read model not caught up", Status: http.StatusServiceUnavailable,
			Detail: "the read model has not reached the requested position in time: " + msg + "; retry shortly"}
	case errors.Is(err, projections.ErrDamaged):
		return Problem{Type: "urn:notify:problem:read-model-damaged", Title: "Read model damaged", Status: http.StatusServiceUnavailable,
			Detail: "the read model holding this answer is damaged; it is being rebuilt from the event log, retry shortly"}
	case errors.Is(err, syscall.ENOSPC):
		return Problem{Type: "urn:notify:problem:insufficient-storage", Title: "Insufficient storage", Status: http.StatusInsufficientStorage,
			Detail: "the event store's disk is full: nothing was written; retry once space is freed"}
	case errors.Is(err, eventstore.ErrUnavailable):
		return Problem{Type: "urn:notify:problem:dependency-unavailable", Title: "Service unavailable", Status: http.StatusServiceUnavailable,
			Detail: "a store the service depends on is unreachable; retry shortly (a command retried with the same Idempotency-Key is applied once)"}
	case errors.Is(err, eventstore.ErrCorrupt):
		return Problem{Type: "urn:notify:problem:corrupt-event", Title: "Corrupt event", Status: http.StatusInternalServerError,
			Detail: "the notification's history holds a record that fails its checksum (" + msg + "); it cannot be changed or shown until the event log is restored"}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return Problem{Type: "urn:notify:problem:unavailable", Title: "Service unavailable", Status: http.StatusServiceUnavailable, Detail: "the request did not complete in time; it is safe to retry with the same Idempotency-Key"}
	}
	return Problem{Type: "about:blank", Title: "Internal Server Error", Status: http.StatusInternalServerError, Detail: "an unexpected error occurred; it has been logged"}
}

func detailOf(he *echo.HTTPError) string {
	if s, ok := he.Message.(string); ok {
		return s
	}
	return http.StatusText(he.Code)
}

// errorHandler writes every error as application/problem+json.
func errorHandler(logger *slog.Logger) echo.HTTPErrorHandler {
	failures := logsample.New(10 * time.Second)
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		p := problemFor(err)
		p.Instance = c.Request().URL.Path
		var rl *rateLimitedError
		switch {
		case p.Status == http.StatusUnauthorized:
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="notify"`)
		case errors.As(err, &rl):
			c.Response().Header().Set(echo.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(rl.retryAfter.Seconds()))))
		case errors.Is(err, projections.ErrNotReached), errors.Is(err, live.ErrClosed):
			c.Response().Header().Set(echo.HeaderRetryAfter, "1")
		case errors.Is(err, live.ErrTooMany), errors.Is(err, projections.ErrDamaged), errors.Is(err, eventstore.ErrUnavailable):
			c.Response().Header().Set(echo.HeaderRetryAfter, "5")
		case errors.Is(err, syscall.ENOSPC):
			c.Response().Header().Set(echo.HeaderRetryAfter, "30")
		}
		switch p.Status {
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			if p.Type == "about:blank" { // from the router, not from a handler
				p.Detail = fmt.Sprintf("no route %s %s; GET /openapi.json lists the routes", c.Request().Method, p.Instance)
				if p.Status == http.StatusMethodNotAllowed {
					p.Detail = fmt.Sprintf("%s is not allowed on %s (allowed: %s)", c.Request().Method, p.Instance, c.Response().Header().Get(echo.HeaderAllow))
				}
			}
		}
		// A canceled request is a client that left; a read model still catching up is expected.
		if p.Status >= 500 && !errors.Is(err, context.Canceled) && !errors.Is(err, projections.ErrNotReached) && !errors.Is(err, live.ErrClosed) {
			failures.Log(p.Type, func(more int) {
				logger.ErrorContext(c.Request().Context(), "request failed", "method", c.Request().Method, "path", p.Instance, "status", p.Status, "err", err, "like_it_since_last", more)
			})
		}
		body, _ := json.Marshal(p)
		if err := c.Blob(p.Status, "application/problem+json", body); err != nil {
			logger.Debug("write problem", "err", err)
		}
	}
}
