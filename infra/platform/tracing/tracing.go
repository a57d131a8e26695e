// Package tracing sets up OpenTelemetry traces (off unless an OTLP endpoint is configured)
// and holds the spans of the event store's appends and reads. The command handlers' spans are
// app/command's (Traced); the transports (HTTP, Kafka, live streams) start their own
// spans from the same TracerProvider; what follows the log continues a command's trace from
// the W3C context kept in its events' metadata (app/eventstore TraceFields, TraceOf).
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime/debug"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/infra/platform/logsample"
)

// Name is the instrumentation scope of every span the service starts.
const Name = "github.com/eventnotify/notify"

// Config is where traces go.
type Config struct {
	// Endpoint is an OTLP/HTTP endpoint URL: a base (http://collector:4318) gets /v1/traces
	// added, as OTEL_EXPORTER_OTLP_ENDPOINT does; a URL with a path is used as it is. Empty:
	// tracing off.
	Endpoint string
	// SampleRatio is the share of new traces sampled; a trace begun upstream keeps its
	// caller's decision.
	SampleRatio float64
}

// Setup returns the TracerProvider exporting to cfg.Endpoint in batches (its Shutdown
// flushes what is buffered). With no endpoint it returns nil: tracing is off.
//
// Export failures reach logger, a line per 30 s at most with the count since: the SDK
// reports them to OpenTelemetry's process-wide error handler, which Setup points there (by
// default it writes to the standard library's logger, outside the service's log format).
func Setup(ctx context.Context, cfg Config, logger *slog.Logger) (*sdktrace.TracerProvider, error) {
	if cfg.Endpoint == "" {
		return nil, nil
	}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("OTLP endpoint: %w", err)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u.String()))
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter for %s: %w", u.Redacted(), err)
	}
	failures := logsample.New(30 * time.Second)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		failures.Log("otel", func(more int) {
			logger.Warn("traces not exported", "endpoint", u.Redacted(), "err", err, "more_since_last_line", more)
		})
	}))
	return NewProvider(sdktrace.NewBatchSpanProcessor(exp), cfg.SampleRatio), nil
}

// NewProvider is the service's TracerProvider over sp: its resource names the service and
// version, and it samples ratio of new traces, following the parent's decision otherwise.
// The tests build theirs over an in-memory recorder with it.
func NewProvider(sp sdktrace.SpanProcessor, ratio float64) *sdktrace.TracerProvider {
	version := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		version = bi.Main.Version
	}
	res := resource.NewSchemaless(semconv.ServiceName("notify"), semconv.ServiceVersion(version))
	return sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(sp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
	)
}

// EventStore wraps next so each append and stream read is a client span with the stream
// and the store's kind (db.system.name: "eventstoredb", or "bbolt" for the embedded log).
// With a nil provider it returns next.
func EventStore(tp trace.TracerProvider, system string, next command.EventStore) command.EventStore {
	if tp == nil {
		return next
	}
	return tracedStore{next: next, tracer: tp.Tracer(Name), system: attribute.String("db.system.name", system)}
}

type tracedStore struct {
	next   command.EventStore
	tracer trace.Tracer
	system attribute.KeyValue
}

func (s tracedStore) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventstore.RecordedEvent, error) {
	ctx, span := s.tracer.Start(ctx, "eventstore read", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(s.system, attribute.String("notify.stream", stream)))
	defer span.End()
	recs, err := s.next.ReadStream(ctx, stream, from, limit)
	fail(span, err)
	span.SetAttributes(attribute.Int("notify.events", len(recs)))
	return recs, err
}

func (s tracedStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	ctx, span := s.tracer.Start(ctx, "eventstore append", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(s.system, attribute.String("notify.stream", stream), attribute.Int("notify.events", len(events))))
	defer span.End()
	res, err := s.next.Append(ctx, stream, expected, events...)
	if errors.Is(err, eventstore.ErrWrongExpectedRevision) {
		span.SetAttributes(attribute.Bool("notify.append.conflict", true)) // retried: not a failure
	} else {
		fail(span, err)
		span.SetAttributes(attribute.Int64("notify.position", int64(res.Position)))
	}
	return res, err
}

func fail(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
}

// LogHandler adds the trace and span ids of the record's context to every record that has
// them, when the trace is sampled (logger.InfoContext(ctx, …) and the like), so a log line leads to its trace.
func LogHandler(next slog.Handler) slog.Handler { return logHandler{next} }

type logHandler struct{ slog.Handler }

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() { // an unsampled id leads nowhere
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return logHandler{h.Handler.WithAttrs(as)}
}

func (h logHandler) WithGroup(name string) slog.Handler { return logHandler{h.Handler.WithGroup(name)} }
