package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventnotify/notify/infra/platform/tracing"
)

// traced makes each request a server span named after its method and route, continuing the
// caller's trace from its W3C traceparent header; the handlers' context carries it, so the
// command a request runs, and the events it appends, are in that trace.
//
// Hand-written rather than otelecho: the contrib module for Echo stopped at v0.60 (2025) and
// pins an older otel; this is the part of it we use.
func traced(tp trace.TracerProvider) echo.MiddlewareFunc {
	tracer := tp.Tracer(tracing.Name)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if untraced(c.Path()) {
				return next(c)
			}
			req := c.Request()
			ctx := propagation.TraceContext{}.Extract(req.Context(), propagation.HeaderCarrier(req.Header))
			route := c.Path()
			if route == "" {
				route = "unmatched"
			}
			ctx, span := tracer.Start(ctx, req.Method+" "+route, trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(semconv.HTTPRequestMethodKey.String(req.Method), semconv.HTTPRoute(route), semconv.URLPath(req.URL.Path)))
			defer span.End()
			c.SetRequest(req.WithContext(ctx))
			if err := next(c); err != nil {
				c.Error(err)
			}
			status := c.Response().Status
			span.SetAttributes(semconv.HTTPResponseStatusCode(status))
			if status >= http.StatusInternalServerError {
				span.SetStatus(codes.Error, http.StatusText(status))
			}
			return nil
		}
	}
}

// untraced are the probes and the scrape: a trace each, every few seconds, would bury the
// traces of commands.
func untraced(route string) bool {
	return route == "/healthz" || route == "/readyz" || route == "/metrics"
}

// accessLog writes one line per request once it is answered: method, route, path (without
// the query, which could carry a token), status, bytes, duration, the client address and
// who called (the principal's subject: a recipient id, or "key:" and 12 hex digits of the
// key's hash; never a credential). Through the request's context the line carries the trace
// id when tracing is on.
func accessLog(logger *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			if err := next(c); err != nil {
				c.Error(err)
			}
			req, res := c.Request(), c.Response()
			route, path := c.Path(), req.URL.Path
			if route == "" { // no route: the path is whatever the client sent, cut short
				route, path = "unmatched", cut(path, 100)
			}
			attrs := []slog.Attr{
				slog.String("method", req.Method), slog.String("route", route), slog.String("path", path),
				slog.Int("status", res.Status), slog.Int64("bytes", res.Size),
				slog.Duration("took", time.Since(start)), slog.String("client", c.RealIP()),
			}
			if p := principal(c); p.Subject != "" {
				attrs = append(attrs, slog.String("caller", p.Subject))
			}
			logger.LogAttrs(req.Context(), slog.LevelInfo, "http request", attrs...)
			return nil
		}
	}
}

// deliverySpan records that a live stream handed an event to its client: a span in the
// trace of the command that caused the event, begun when the event was written and ended
// when it was flushed.
func deliverySpan(tracer trace.Tracer, parent trace.SpanContext, start time.Time, recipient string, position uint64) {
	if tracer == nil || !parent.IsValid() {
		return
	}
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), parent)
	_, span := tracer.Start(ctx, "sse deliver", trace.WithSpanKind(trace.SpanKindProducer), trace.WithTimestamp(start),
		trace.WithAttributes(attribute.String("notify.recipient", recipient), attribute.Int64("notify.position", int64(position))))
	span.End()
}

// cut shortens s to at most n bytes, on a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
